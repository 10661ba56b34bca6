package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTicketLifecycle(t *testing.T) {
	e := newEnv(t)
	tk, pos := e.createTicket(t, rita, `{"title":" Printer on fire ","description":"smoke","priority":"high","tags":["HW","hw","office"]}`)
	if tk.Title != "Printer on fire" || tk.Status != "new" || tk.Requester != "rita" || tk.Assignee != nil || tk.Version != 1 ||
		strings.Join(tk.Tags, ",") != "hw,office" || pos < 1 {
		t.Fatalf("created %+v at %d", tk, pos)
	}

	// Read your write.
	r := e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID, header: map[string]string{"X-Min-Position": strconv.FormatInt(pos, 10)}})
	mustStatus(t, r, 200)
	if r.header.Get("ETag") != `"1"` {
		t.Fatalf("ETag %q", r.header.Get("ETag"))
	}
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID, header: map[string]string{"If-None-Match": `"1"`}})
	mustStatus(t, r, http.StatusNotModified)

	// The agent assigns and opens it; null in a merge patch unassigns.
	r = e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"assignee":"agnes","status":"open"}`,
		header: map[string]string{"If-Match": `"1"`, "Content-Type": "application/merge-patch+json"}})
	mustStatus(t, r, 200)
	r.json(t, &tk)
	if tk.Assignee == nil || *tk.Assignee != "agnes" || tk.Status != "open" || tk.Version != 3 || r.header.Get("ETag") != `"3"` {
		t.Fatalf("patched %+v", tk)
	}
	r = e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"assignee":null}`, header: map[string]string{"If-Match": `"3"`}})
	mustStatus(t, r, 200)
	r.json(t, &tk)
	if tk.Assignee != nil || tk.Version != 4 {
		t.Fatalf("unassigned %+v", tk)
	}
	// A patch that changes nothing writes nothing.
	r = e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"status":"open"}`, header: map[string]string{"If-Match": `"4"`}})
	mustStatus(t, r, 200)
	r.json(t, &tk)
	if tk.Version != 4 {
		t.Fatalf("no-op patch made version %d", tk.Version)
	}

	// Comments: an internal note the requester never sees.
	r = e.do(t, agnes, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"call the fire brigade","internal":true}`})
	mustStatus(t, r, 201)
	r = e.do(t, rita, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"it is out now"}`})
	mustStatus(t, r, 201)
	pos, _ = strconv.ParseInt(r.header.Get("X-Event-Position"), 10, 64)

	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?minPosition=" + strconv.FormatInt(pos, 10)})
	mustStatus(t, r, 200)
	r.json(t, &tk)
	if len(tk.Comments) != 1 || tk.Comments[0].Body != "it is out now" || tk.CommentCount != 1 {
		t.Fatalf("requester sees comments %+v (count %d)", tk.Comments, tk.CommentCount)
	}
	r = e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?minPosition=" + strconv.FormatInt(pos, 10)})
	r.json(t, &tk)
	if len(tk.Comments) != 2 || !tk.Comments[0].Internal {
		t.Fatalf("agent sees comments %+v", tk.Comments)
	}

	// PUT replaces every editable field.
	r = e.do(t, agnes, req{method: "PUT", path: "/api/v1/tickets/" + tk.ID, body: `{"title":"Printer","priority":"low","status":"resolved"}`,
		header: map[string]string{"If-Match": r.header.Get("ETag")}})
	mustStatus(t, r, 200)
	r.json(t, &tk)
	if tk.Title != "Printer" || tk.Priority != "low" || tk.Status != "resolved" || tk.Description != "" || len(tk.Tags) != 0 {
		t.Fatalf("put %+v", tk)
	}

	// History tells it, hiding the internal note from the requester.
	var h struct {
		Items []struct {
			Version int64  `json:"version"`
			Type    string `json:"type"`
			Actor   string `json:"actor"`
			Summary string `json:"summary"`
		} `json:"items"`
	}
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "/history"})
	mustStatus(t, r, 200)
	r.json(t, &h)
	var summaries []string
	for _, it := range h.Items {
		summaries = append(summaries, it.Summary)
		if strings.Contains(it.Summary, "internal") {
			t.Errorf("requester sees %q", it.Summary)
		}
	}
	all := strings.Join(summaries, "\n")
	for _, want := range []string{`rita opened the ticket "Printer on fire"`, "agnes changed status from new to open", "agnes assigned the ticket to agnes", "agnes unassigned agnes", "rita commented"} {
		if !strings.Contains(all, want) {
			t.Errorf("history lacks %q:\n%s", want, all)
		}
	}
	r = e.do(t, audrey, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "/history"})
	r.json(t, &h)
	if !strings.Contains(string(r.body), "agnes added an internal note") {
		t.Errorf("auditor history lacks the internal note: %s", r.body)
	}

	// Time travel: by version and by time.
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?version=1"})
	mustStatus(t, r, 200)
	r.json(t, &tk)
	if tk.Title != "Printer on fire" || tk.Status != "new" || tk.Version != 1 {
		t.Fatalf("version 1: %+v", tk)
	}
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?asOf=" + q(time.Now().Add(-time.Hour).Format(time.RFC3339))})
	mustStatus(t, r, 404)
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?asOf=" + q(time.Now().Add(time.Hour).Format(time.RFC3339))})
	mustStatus(t, r, 200)
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?version=99"})
	mustStatus(t, r, 404)

	// Lists and stats.
	e.createTicket(t, otto, `{"title":"Otto's"}`)
	_, pos = e.createTicket(t, agnes, `{"title":"For otto","requester":"otto","priority":"urgent","assignee":"agnes","tags":["vip"]}`)
	var page struct {
		Items []ticketJSON `json:"items"`
		Next  *string      `json:"next"`
	}
	r = e.do(t, otto, req{method: "GET", path: "/api/v1/tickets?minPosition=" + strconv.FormatInt(pos, 10)})
	mustStatus(t, r, 200)
	r.json(t, &page)
	if len(page.Items) != 2 || page.Next != nil {
		t.Fatalf("otto's list: %s", r.body)
	}
	r = e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets?status=new&priority=urgent,high&tag=VIP&assignee=agnes"})
	mustStatus(t, r, 200)
	r.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Title != "For otto" {
		t.Fatalf("filtered list: %s", r.body)
	}
	r = e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets?limit=1&sort=created"})
	r.json(t, &page)
	if len(page.Items) != 1 || page.Next == nil || page.Items[0].Title != "Printer" {
		t.Fatalf("first page: %s", r.body)
	}
	r = e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets?limit=1&sort=created&cursor=" + q(*page.Next)})
	mustStatus(t, r, 200)
	r.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].Title != "Otto's" {
		t.Fatalf("second page: %s", r.body)
	}
	r = e.do(t, audrey, req{method: "GET", path: "/api/v1/stats"})
	mustStatus(t, r, 200)
	var st struct {
		Total    int            `json:"total"`
		ByStatus map[string]int `json:"byStatus"`
	}
	r.json(t, &st)
	if st.Total != 3 || st.ByStatus["resolved"] != 1 || st.ByStatus["new"] != 2 {
		t.Fatalf("stats %s", r.body)
	}

	// Health, readiness, metrics, the document itself.
	mustStatus(t, e.do(t, anon, req{method: "GET", path: "/healthz"}), 200)
	mustStatus(t, e.do(t, anon, req{method: "GET", path: "/readyz"}), 200)
	r = e.do(t, anon, req{method: "GET", path: "/metrics"})
	mustStatus(t, r, 200)
	for _, want := range []string{`eventdesk_http_request_duration_seconds_bucket{code="201",method="POST",route="POST /api/v1/tickets"`,
		`eventdesk_append_duration_seconds_count{result="ok"}`, `eventdesk_subscriber_lag_events{subscriber="tickets"}`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	mustStatus(t, e.do(t, anon, req{method: "GET", path: "/api/openapi.json"}), 200)
}

func TestConcurrentPatchesSameIfMatch(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.createTicket(t, agnes, `{"title":"contended"}`)
	const n = 50
	statuses := make([]int, n)
	currents := make([]int64, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID,
				body: fmt.Sprintf(`{"title":"writer %d"}`, i), header: map[string]string{"If-Match": `"1"`}})
			statuses[i] = r.status
			if r.status == 412 {
				var p problemJSON
				r.json(t, &p)
				if p.CurrentVersion != nil {
					currents[i] = *p.CurrentVersion
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, s := range statuses {
		switch s {
		case 200:
			won++
		case 412:
			if currents[i] != 2 {
				t.Errorf("412 names current version %d, want 2", currents[i])
			}
		default:
			t.Errorf("status %d", s)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want exactly 1", won)
	}
	events, err := e.db.ReadStream(context.Background(), "ticket-"+tk.ID, 1, 0)
	if err != nil || len(events) != 2 {
		t.Fatalf("stream has %d events (%v), want 2", len(events), err)
	}
}

func TestCommentsRetryWithoutIfMatch(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.createTicket(t, agnes, `{"title":"busy"}`)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(t, agnes, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: fmt.Sprintf(`{"body":"note %d","internal":true}`, i)})
			if r.status != 201 {
				t.Errorf("comment %d: %s", i, r)
			}
		}()
	}
	wg.Wait()
	events, _ := e.db.ReadStream(context.Background(), "ticket-"+tk.ID, 1, 0)
	if len(events) != n+1 {
		t.Fatalf("stream has %d events, want %d: no comment may be lost", len(events), n+1)
	}
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	body := `{"title":"once"}`
	key := map[string]string{"Idempotency-Key": "create-1"}
	r1 := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: body, header: key})
	mustStatus(t, r1, 201)
	head := e.head(t)
	r2 := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: body, header: key})
	mustStatus(t, r2, 201)
	var t1, t2 ticketJSON
	r1.json(t, &t1)
	r2.json(t, &t2)
	if t1.ID != t2.ID || r2.header.Get("Location") != r1.header.Get("Location") || r2.header.Get("Idempotent-Replayed") != "true" ||
		r2.header.Get("X-Event-Position") != r1.header.Get("X-Event-Position") {
		t.Fatalf("replay differs:\n%s %v\n%s %v", r1.body, r1.header, r2.body, r2.header)
	}
	if e.head(t) != head {
		t.Fatal("the replay wrote an event")
	}
	// Another body with the same key: 422, nothing written.
	r3 := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"twice"}`, header: key})
	mustStatus(t, r3, 422)
	var p problemJSON
	r3.json(t, &p)
	if p.Type != "https://eventdesk.dev/problems/idempotency_key_reused" {
		t.Fatalf("problem %+v", p)
	}
	// Keys are per user: otto's same key is his own.
	r4 := e.do(t, otto, req{method: "POST", path: "/api/v1/tickets", body: body, header: key})
	mustStatus(t, r4, 201)
	var t4 ticketJSON
	r4.json(t, &t4)
	if t4.ID == t1.ID || r4.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("another user's key replayed rita's ticket")
	}
	// Comments replay too, even after later changes to the ticket.
	ck := map[string]string{"Idempotency-Key": "comment-1"}
	c1 := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets/" + t1.ID + "/comments", body: `{"body":"hello"}`, header: ck})
	mustStatus(t, c1, 201)
	mustStatus(t, e.do(t, rita, req{method: "POST", path: "/api/v1/tickets/" + t1.ID + "/comments", body: `{"body":"more"}`}), 201)
	head = e.head(t)
	c2 := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets/" + t1.ID + "/comments", body: `{"body":"hello"}`, header: ck})
	mustStatus(t, c2, 201)
	if string(c1.body) != string(c2.body) || e.head(t) != head {
		t.Fatalf("comment replay:\n%s\n%s", c1.body, c2.body)
	}
	// A retry after the ticket was closed still gets the first answer,
	// although a new comment would now be refused.
	mustStatus(t, e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + t1.ID, body: `{"status":"closed"}`, header: map[string]string{"If-Match": `"3"`}}), 200)
	c3 := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets/" + t1.ID + "/comments", body: `{"body":"hello"}`, header: ck})
	mustStatus(t, c3, 201)
	if string(c1.body) != string(c3.body) || c3.header.Get("X-Event-Position") != c1.header.Get("X-Event-Position") {
		t.Fatalf("replay after close:\n%s\n%s", c1.body, c3.body)
	}
	mustStatus(t, e.do(t, rita, req{method: "POST", path: "/api/v1/tickets/" + t1.ID + "/comments", body: `{"body":"new"}`}), 409)
	// The same key on another endpoint is another request: 422.
	mustStatus(t, e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: `{"body":"hello"}`, header: ck}), 400)
	mustStatus(t, e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"hello"}`, header: ck}), 422)
}

func TestReadYourWritesTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 5 s")
	}
	t.Parallel()
	e := newEnv(t)
	start := time.Now()
	r := e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets?minPosition=1000000"})
	mustStatus(t, r, http.StatusGatewayTimeout)
	if r.header.Get("Retry-After") == "" {
		t.Error("504 without Retry-After")
	}
	if d := time.Since(start); d < 4*time.Second || d > 8*time.Second {
		t.Fatalf("waited %s, want about 5 s", d)
	}
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	id   int64
	typ  string
	data string
}

// readSSE reads events from an open stream until n were read or ctx ends.
func readSSE(ctx context.Context, t *testing.T, body *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n && ctx.Err() == nil {
		line, err := body.ReadString('\n')
		if err != nil {
			break
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if cur.typ != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

func TestEventStreamResume(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.heartbeat = 50 * time.Millisecond })
	for i := range 5 {
		e.createTicket(t, agnes, fmt.Sprintf(`{"title":"before %d"}`, i))
	}
	open := func(lastID string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		r, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/events/stream", nil)
		r.AddCookie(&http.Cookie{Name: "eventdesk_session", Value: e.sessions.Encode(actor(agnes))})
		if lastID != "" {
			r.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := e.client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return resp, cancel
	}
	resp, cancel := open("")
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	br := bufio.NewReader(resp.Body)
	first := readSSE(ctx, t, br, 3)
	cancel()
	resp.Body.Close()
	if len(first) != 3 {
		t.Fatalf("read %d events before disconnecting", len(first))
	}
	// While disconnected, more happens.
	for i := range 5 {
		e.createTicket(t, agnes, fmt.Sprintf(`{"title":"during %d"}`, i))
	}
	resp, cancel = open(strconv.FormatInt(first[len(first)-1].id, 10))
	defer cancel()
	defer resp.Body.Close()
	br = bufio.NewReader(resp.Body)
	rest := readSSE(ctx, t, br, 7)
	// And after reconnecting, live events arrive too.
	e.createTicket(t, agnes, `{"title":"after"}`)
	rest = append(rest, readSSE(ctx, t, br, 1)...)
	seen := map[int64]int{}
	for _, ev := range append(first, rest...) {
		seen[ev.id]++
		if ev.typ != "ticket.created" || !strings.Contains(ev.data, `"position":`+strconv.FormatInt(ev.id, 10)) {
			t.Errorf("event %+v", ev)
		}
	}
	head := e.head(t)
	for p := int64(1); p <= head; p++ {
		if seen[p] != 1 {
			t.Errorf("position %d seen %d times", p, seen[p])
		}
	}
	if len(seen) != int(head) || head != 11 {
		t.Fatalf("saw %d positions, head %d", len(seen), head)
	}
}

func TestChangefeedFiltering(t *testing.T) {
	e := newEnv(t)
	mine, _ := e.createTicket(t, rita, `{"title":"mine"}`)
	e.createTicket(t, otto, `{"title":"not mine"}`)
	mustStatus(t, e.do(t, agnes, req{method: "POST", path: "/api/v1/tickets/" + mine.ID + "/comments", body: `{"body":"secret","internal":true}`}), 201)
	mustStatus(t, e.do(t, agnes, req{method: "POST", path: "/api/v1/tickets/" + mine.ID + "/comments", body: `{"body":"hi rita"}`}), 201)
	var feed struct {
		Items []struct {
			Position int64  `json:"position"`
			Stream   string `json:"stream"`
			Type     string `json:"type"`
		} `json:"items"`
		Next int64 `json:"next"`
	}
	r := e.do(t, rita, req{method: "GET", path: "/api/v1/events"})
	mustStatus(t, r, 200)
	r.json(t, &feed)
	if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "not mine") {
		t.Fatalf("requester's feed leaks: %s", r.body)
	}
	// created, the public comment, and the status change it caused.
	if len(feed.Items) != 3 || feed.Next != e.head(t) {
		t.Fatalf("requester's feed: %s", r.body)
	}
	r = e.do(t, audrey, req{method: "GET", path: "/api/v1/events?after=1&limit=2"})
	r.json(t, &feed)
	if len(feed.Items) != 2 || feed.Items[0].Position != 2 || feed.Next != 3 {
		t.Fatalf("auditor's page: %s", r.body)
	}
}

func TestTokensOverAPI(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, adam, req{method: "POST", path: "/api/v1/tokens", body: `{"user":"bot","role":"agent"}`})
	mustStatus(t, r, 201)
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	r.json(t, &created)
	bot := user{header: http.Header{"Authorization": {"Bearer " + created.Token}}}
	r = e.do(t, bot, req{method: "GET", path: "/api/v1/me"})
	mustStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"name":"bot","role":"agent"`) {
		t.Fatalf("me: %s", r.body)
	}
	e.createTicket(t, bot, `{"title":"from a bot"}`)
	r = e.do(t, adam, req{method: "GET", path: "/api/v1/tokens"})
	mustStatus(t, r, 200)
	if strings.Contains(string(r.body), created.Token) {
		t.Fatal("the list shows a secret")
	}
	mustStatus(t, e.do(t, adam, req{method: "DELETE", path: "/api/v1/tokens/" + created.ID}), 204)
	mustStatus(t, e.do(t, bot, req{method: "GET", path: "/api/v1/me"}), 401)
}

func TestDemoLogin(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, anon, req{method: "GET", path: "/login?user=zoe&role=agent", header: map[string]string{"Accept": "application/json"}})
	mustStatus(t, r, 200)
	jar := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := jar.Get(e.url + "/login?user=zoe&role=agent&next=//evil.example")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q (an open redirect?)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "eventdesk_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v", cookie)
	}
	me := e.do(t, user{header: http.Header{"Cookie": {cookie.String()}}}, req{method: "GET", path: "/api/v1/me"})
	mustStatus(t, me, 200)
	if !strings.Contains(string(me.body), `"name":"zoe","role":"agent"`) {
		t.Fatalf("me: %s", me.body)
	}
	// A tampered cookie is refused, not taken as anonymous.
	forged := "f" + cookie.Value[1:]
	mustStatus(t, e.do(t, user{header: http.Header{"Cookie": {"eventdesk_session=" + forged}}}, req{method: "GET", path: "/api/v1/me"}), 401)

	// A stale cookie does not stop a new login.
	stale := user{header: http.Header{"Cookie": {"eventdesk_session=" + forged}}}
	mustStatus(t, e.do(t, stale, req{method: "GET", path: "/login?user=zoe", header: map[string]string{"Accept": "application/json"}}), 200)
	mustStatus(t, e.do(t, stale, req{method: "GET", path: "/healthz"}), 200)

	off := newEnv(t, func(o *envOptions) { o.demoOff = true })
	mustStatus(t, off.do(t, anon, req{method: "GET", path: "/login?user=zoe", header: map[string]string{"Accept": "application/json"}}), 403)
}

func TestIdempotencyConcurrentRetries(t *testing.T) {
	e := newEnv(t)
	const n = 10
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.do(t, rita, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"racing"}`, header: map[string]string{"Idempotency-Key": "same"}})
			if r.status != 201 {
				t.Errorf("retry %d: %s", i, r)
				return
			}
			var tk ticketJSON
			r.json(t, &tk)
			ids[i] = tk.ID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent retries made different tickets: %v", ids)
		}
	}
	if h := e.head(t); h != 1 {
		t.Fatalf("%d events written, want 1", h)
	}
}
