package web_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/web"
)

func TestNewServerNeedsItsDependencies(t *testing.T) {
	e := newEnv(t)
	sessions, _ := auth.NewSessions(make([]byte, 32), 0)
	for name, c := range map[string]web.Config{
		"no app":      {Sessions: sessions, Key: make([]byte, 32)},
		"no sessions": {App: e.App, Key: make([]byte, 32)},
		"short key":   {App: e.App, Sessions: sessions, Key: make([]byte, 16)},
	} {
		if _, err := web.NewServer(c); err == nil {
			t.Errorf("%s: NewServer accepted it", name)
		}
	}
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	r := c.get("/signin")
	mustStatus(t, r, http.StatusOK)
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows something unsafe: %q", csp)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// No inline script or style anywhere: the CSP would block them.
	mustNotContain(t, r.Body, "<script>", "style=", " onclick=", " onload=")

	form := url.Values{"method": {"demo"}, "user": {"alice"}, "role": {"agent"}, "csrf": {c.csrf("/signin")}}
	req, _ := http.NewRequest("POST", e.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.CookieName {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie over plain HTTP: %+v", session)
	}
	// Over TLS (or behind a proxy, when configured) cookies are Secure.
	rec := newRecorder()
	e.Web.ServeHTTP(rec, httpRequest("GET", "https://desk.example/signin", nil))
	if sc := rec.Header().Values("Set-Cookie"); len(sc) == 0 || !strings.Contains(strings.Join(sc, "\n"), "Secure") {
		t.Errorf("over TLS the cookies are not Secure: %v", sc)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	other := e.client(t).signin("bob", eventdesk.RoleAgent)
	foreign := other.csrf("/tickets/new")
	form := func(token string) url.Values {
		return url.Values{"title": {"Forged"}, "csrf": {token}}
	}
	mustStatus(t, c.post("/tickets", form("")), http.StatusForbidden)
	mustStatus(t, c.post("/tickets", form("bogus")), http.StatusForbidden)
	r := c.post("/tickets", form(foreign))
	mustStatus(t, r, http.StatusForbidden)
	mustContain(t, r.Body, "This form has expired or did not come from an eventdesk page")
	// The right token from another site is refused too.
	req, _ := http.NewRequest("POST", e.URL+"/tickets", strings.NewReader(form(c.csrf("/tickets/new")).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	mustStatus(t, c.do(req), http.StatusForbidden)
	// Signing out needs the token as well (no forced logout from afar).
	mustStatus(t, c.post("/signout", url.Values{}), http.StatusForbidden)
	// A sign-in form needs the pre-session token (no login CSRF).
	anon := e.client(t)
	mustStatus(t, anon.post("/signin", url.Values{"method": {"demo"}, "user": {"mallory"}, "role": {"admin"}}), http.StatusForbidden)
	page, err := e.App.Tickets.Handle(as("alice", eventdesk.RoleAgent), app.ListTickets{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("forged posts created tickets: %v, %v", page.Items, err)
	}
	// With the token, it works.
	mustStatus(t, c.submit("/tickets/new", "/tickets", form("")), http.StatusSeeOther)
}

func TestFormValidation(t *testing.T) {
	e := newEnv(t)
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	r := c.submit("/tickets/new", "/tickets", url.Values{"title": {"   "}, "tags": {"ok, not ok!"}, "description": {"kept"}})
	mustStatus(t, r, http.StatusUnprocessableEntity)
	mustContain(t, r.Body, `id="title-error"`, "Must not be empty.", `id="tags-error"`, `aria-invalid="true"`, ">kept</textarea>")

	id := c.openTicket("Valid", "", nil)
	r = c.follow("/tickets/" + id)
	v := formVersion(t, r.Body)
	r = c.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {v}, "assignee": {"not a name"}})
	mustStatus(t, r, http.StatusUnprocessableEntity)
	mustContain(t, r.Body, `id="p-assignee-error"`, `value="not a name"`)
	r = c.submit("/tickets/"+id, "/tickets/"+id+"/comments", url.Values{"version": {v}, "body": {"  "}})
	mustStatus(t, r, http.StatusUnprocessableEntity)
	mustContain(t, r.Body, `id="body-error"`)
	// A transition the domain refuses is a conflict, said next to the field.
	r = c.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {v}, "status": {"closed"}})
	mustStatus(t, r, http.StatusSeeOther)
	r = c.follow("/tickets/" + id)
	r = c.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {formVersion(t, r.Body)}, "status": {"pending"}})
	mustStatus(t, r, http.StatusConflict)
	mustContain(t, r.Body, "Status cannot change from closed to pending", "Allowed next: open.")
}

func TestErrorPages(t *testing.T) {
	e := newEnv(t)
	anon := e.client(t)
	r := anon.get("/no/such/page")
	mustStatus(t, r, http.StatusNotFound)
	mustContain(t, r.Body, "We could not find that", "<html")
	r = anon.get("/tickets")
	if r.Status != http.StatusSeeOther || r.Location != "/signin?next=%2Ftickets" {
		t.Errorf("anonymous list: %d → %q", r.Status, r.Location)
	}
	mustStatus(t, anon.post("/tickets", url.Values{"title": {"x"}}), http.StatusUnauthorized)

	c := e.client(t).signin("rita", eventdesk.RoleRequester)
	req, _ := http.NewRequest("PUT", e.URL+"/tickets", nil)
	r = c.do(req)
	mustStatus(t, r, http.StatusMethodNotAllowed)
	if r.Header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
	mustStatus(t, c.get("/tickets/not-a-ticket"), http.StatusNotFound)
	mustStatus(t, c.get("/tickets/0195a000-0000-7000-8000-000000000000"), http.StatusNotFound)
	r = c.get("/dashboard")
	mustStatus(t, r, http.StatusForbidden)
	mustContain(t, r.Body, "You are not allowed to do that")
	mustStatus(t, c.get("/tickets?sort=sideways"), http.StatusBadRequest)
	mustStatus(t, c.get("/tickets/x?version=-1"), http.StatusBadRequest)
	big := url.Values{"csrf": {c.csrf("/tickets/new")}, "title": {strings.Repeat("x", web.MaxFormBytes)}}
	mustStatus(t, c.post("/tickets", big), http.StatusRequestEntityTooLarge)
	req, _ = http.NewRequest("POST", e.URL+"/tickets", strings.NewReader(`{"title":"json"}`))
	req.Header.Set("Content-Type", "application/json")
	mustStatus(t, c.do(req), http.StatusUnsupportedMediaType)
	mustStatus(t, c.get("/static/nope.css"), http.StatusNotFound)
}

func TestRequesterIsolationHTTP(t *testing.T) {
	e := newEnv(t)
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	sam := e.client(t).signin("sam", eventdesk.RoleRequester)
	agent := e.client(t).signin("bob", eventdesk.RoleAgent)
	id := rita.openTicket("Rita's laptop", "", nil)
	e.settle(t)
	r := agent.follow("/tickets/" + id)
	mustStatus(t, agent.submit("/tickets/"+id, "/tickets/"+id+"/comments",
		url.Values{"version": {formVersion(t, r.Body)}, "body": {"Internal: warranty ends soon"}, "visibility": {"internal"}}), http.StatusSeeOther)
	for _, p := range []string{"/tickets/" + id, "/tickets/" + id + "/history", "/tickets/" + id + "?version=1"} {
		r := sam.get(p)
		mustStatus(t, r, http.StatusNotFound)
		mustNotContain(t, r.Body, "Rita's laptop")
	}
	r = rita.follow("/tickets/" + id)
	mustStatus(t, r, http.StatusOK)
	mustNotContain(t, r.Body, "warranty", "Internal note")
	// A requester cannot post an internal note, even by hand.
	r = rita.submit("/tickets/"+id, "/tickets/"+id+"/comments", url.Values{"version": {formVersion(t, r.Body)}, "body": {"sneaky"}, "visibility": {"internal"}})
	mustStatus(t, r, http.StatusForbidden)
	r = sam.submit("/tickets/new", "/tickets/"+id+"/comments", url.Values{"version": {"1"}, "body": {"hi"}})
	mustStatus(t, r, http.StatusNotFound)
}

func TestStaleFormsHTTP(t *testing.T) {
	e := newEnv(t)
	a := e.client(t).signin("alice", eventdesk.RoleAgent)
	id := a.openTicket("Shared", "", nil)
	page := a.follow("/tickets/" + id)
	v := formVersion(t, page.Body)
	// A sentiment score only annotates the ticket: the form is not stale.
	sentiment(t, e, id)
	mustStatus(t, a.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {v}, "priority": {"high"}}), http.StatusSeeOther)
	// Someone else's edit makes it stale.
	bob := as("bob", eventdesk.RoleAgent)
	title := "Shared (edited by bob)"
	if _, err := e.App.UpdateTicket.Handle(bob, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Title: &title}}); err != nil {
		t.Fatal(err)
	}
	e.settle(t)
	page = a.follow("/tickets/" + id)
	stale := formVersion(t, page.Body)
	low := eventdesk.PriorityLow
	if _, err := e.App.UpdateTicket.Handle(bob, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Priority: &low}}); err != nil {
		t.Fatal(err)
	}
	r := a.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {stale}, "tags": {"printer"}, "priority": {"high"}})
	mustStatus(t, r, http.StatusConflict)
	mustContain(t, r.Body, "bob changed priority from high to low", "<th scope=\"row\">Tags</th>", "printer", "Apply my changes")
	// Applying again at the current version works, with only the tags
	// changed (the priority field holds bob's value).
	r = a.post("/tickets/"+id, url.Values{"csrf": {a.csrf("/tickets/" + id)}, "version": {formVersion(t, r.Body)}, "tags": {"printer"}, "priority": {"low"}})
	mustStatus(t, r, http.StatusSeeOther)
	tk, err := e.App.Ticket.Handle(bob, app.GetTicket{ID: id, MinPosition: lastPosition(t, e)})
	if err != nil || tk.Priority != eventdesk.PriorityLow || strings.Join(tk.Tags, ",") != "printer" || tk.Title != title {
		t.Fatalf("after re-applying: %+v, %v", tk, err)
	}
	// No change at all is said so.
	r = a.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {strconv.FormatInt(tk.Version, 10)}, "priority": {"low"}})
	mustStatus(t, r, http.StatusSeeOther)
	mustContain(t, a.follow(r.Location).Body, "Nothing to save")
}

// sentiment appends a sentiment score to the ticket, as the sentiment
// subscriber would.
func sentiment(tb testing.TB, e *env, id string) {
	tb.Helper()
	ctx := context.Background()
	events, err := e.DB.ReadStream(ctx, eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		tb.Fatal(err)
	}
	typ, schema, data, err := eventdesk.Encode(eventdesk.SentimentScored{SourceEventID: events[0].ID, Score: 0.4, Label: "positive"})
	if err != nil {
		tb.Fatal(err)
	}
	_, err = e.DB.Append(ctx, eventdesk.TicketStream(id), eventdesk.ExactVersion(int64(len(events))), eventdesk.EventData{
		ID: app.NewID(), Type: typ, Schema: schema, Data: data, RecordedAt: time.Now(), Metadata: eventdesk.Metadata{Actor: "policy:sentiment"}})
	if err != nil {
		tb.Fatal(err)
	}
}

func lastPosition(tb testing.TB, e *env) int64 {
	tb.Helper()
	h, err := e.App.Head(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestLiveStreamHTTP(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.heartbeat = 50 * time.Millisecond })
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	sam := e.client(t).signin("sam", eventdesk.RoleRequester)
	head := lastPosition(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/live/stream?after="+strconv.FormatInt(head, 10), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := sam.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rita.openTicket("Not for sam", "", nil)
	mine := sam.openTicket("Sam's", "", nil)
	sc := bufio.NewScanner(resp.Body)
	var data []string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
			if strings.Contains(d, mine) {
				break
			}
		}
	}
	if len(data) != 1 || !strings.Contains(data[0], `"actor":"sam"`) || !strings.Contains(data[0], `"summary":"sam opened the ticket \"Sam's\""`) {
		t.Errorf("sam heard %q, want only his own ticket", data)
	}
	mustStatus(t, sam.get("/live/stream?after=-1"), http.StatusBadRequest)
}

func TestSignInWithTokenAndRedirects(t *testing.T) {
	e := newEnv(t)
	_, secret, err := e.App.CreateToken.Handle(as("root", eventdesk.RoleAdmin), app.CreateToken{User: "ops", Role: eventdesk.RoleAuditor})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	r := c.submit("/signin", "/signin", url.Values{"method": {"token"}, "token": {"wrong"}})
	mustStatus(t, r, http.StatusUnauthorized)
	mustContain(t, r.Body, "This token is not valid")
	r = c.submit("/signin?next=/dashboard", "/signin", url.Values{"method": {"token"}, "token": {secret}, "next": {"/dashboard"}})
	if r.Status != http.StatusSeeOther || r.Location != "/dashboard" {
		t.Fatalf("token sign-in: %d → %q", r.Status, r.Location)
	}
	r = c.follow("/tickets")
	mustContain(t, r.Body, "ops", "auditor")
	mustNotContain(t, r.Body, `href="/tickets/new"`)
	// An auditor reads but cannot write.
	mustStatus(t, c.get("/tickets/new"), http.StatusForbidden)
	// Open redirects are refused.
	for _, next := range []string{"//evil.example", "https://evil.example", "/\\evil.example"} {
		d := e.client(t)
		r := d.submit("/signin", "/signin", url.Values{"method": {"demo"}, "user": {"x"}, "role": {"agent"}, "next": {next}})
		if r.Location != "/tickets" {
			t.Errorf("next=%q redirected to %q", next, r.Location)
		}
	}
	// Signing out forgets the session.
	d := e.client(t).signin("zoe", eventdesk.RoleAgent)
	r = d.submit("/tickets", "/signout", url.Values{})
	mustStatus(t, r, http.StatusSeeOther)
	mustContain(t, d.follow(r.Location).Body, "You have signed out.")
	if r := d.get("/tickets"); r.Status != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", r.Status)
	}
}

func TestDemoLoginOff(t *testing.T) {
	e := newEnv(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sessions, _ := auth.NewSessions(key, 0)
	ws, err := web.NewServer(web.Config{App: e.App, Sessions: sessions, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ws.ServeHTTP(rec, httpRequest("GET", "/signin", nil))
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `value="demo"`) || !strings.Contains(rec.Body.String(), `name="token"`) {
		t.Errorf("sign-in page without demo login: %d", rec.Code)
	}
}

func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t)
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	r := c.get("/tickets/new")
	key := regexpFind(t, r.Body, `name="key" value="([^"]+)"`)
	form := url.Values{"title": {"Only once"}, "key": {key}, "csrf": {c.csrf("/tickets/new")}}
	first, second := c.post("/tickets", form), c.post("/tickets", form)
	if first.Status != http.StatusSeeOther || first.Location != second.Location {
		t.Fatalf("double submit: %d %q, %d %q", first.Status, first.Location, second.Status, second.Location)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	page := c.get("/signin")
	css := regexpFind(t, page.Body, `href="(/static/app\.css\?v=[0-9a-f]+)"`)
	r := c.get(css)
	mustStatus(t, r, http.StatusOK)
	if r.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("css headers: %v", r.Header)
	}
	req, _ := http.NewRequest("GET", e.URL+css, nil)
	req.Header.Set("If-None-Match", r.Header.Get("ETag"))
	mustStatus(t, c.do(req), http.StatusNotModified)
	if r := c.get("/static/app.css"); !strings.Contains(r.Header.Get("Cache-Control"), "no-cache") {
		t.Errorf("unversioned asset cached for good: %q", r.Header.Get("Cache-Control"))
	}
}

func TestSearchBox(t *testing.T) {
	e := newEnv(t)
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	// Without search (SQLite), the box is absent and a q is ignored.
	r := c.get("/tickets?q=printer")
	mustStatus(t, r, http.StatusOK)
	mustNotContain(t, r.Body, `name="q"`)
	// With it, the box shows; a read model that cannot search says so
	// next to it.
	key := make([]byte, 32)
	sessions, _ := auth.NewSessions(key, 0)
	ws, err := web.NewServer(web.Config{App: e.App, Sessions: sessions, Key: key, Search: true})
	if err != nil {
		t.Fatal(err)
	}
	req := httpRequest("GET", "/tickets?q=printer", nil)
	req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: sessions.Encode(eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAgent})})
	rec := newRecorder()
	ws.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `id="f-q-error"`) || !strings.Contains(rec.Body.String(), `value="printer"`) {
		t.Errorf("search on SQLite: %d", rec.Code)
	}
}

// TestRequesterNeverLearnsOfInternalNotes: an internal note on a
// requester's own ticket shows nowhere for them: not on the live stream,
// not as a stale form (their reply made before the note goes through), not
// in the conflict page of a form made stale by a public change too.
func TestRequesterNeverLearnsOfInternalNotes(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.heartbeat = 50 * time.Millisecond })
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	id := rita.openTicket("Rita's monitor", "", nil)
	e.settle(t)
	page := rita.follow("/tickets/" + id)
	v := formVersion(t, page.Body)
	head := lastPosition(t, e)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/live/stream?after="+strconv.FormatInt(head, 10), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := rita.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	bob := as("bob", eventdesk.RoleAgent)
	if _, err := e.App.AddComment.Handle(bob, app.AddComment{TicketID: id, Body: "Internal: she broke it herself", Internal: true}); err != nil {
		t.Fatal(err)
	}
	// Rita's reply from the page she opened before the note is not stale
	// for her: it goes through, with no conflict page to tell of the note.
	r := rita.submit("/tickets/"+id, "/tickets/"+id+"/comments", url.Values{"version": {v}, "body": {"Any news?"}})
	mustStatus(t, r, http.StatusSeeOther)
	e.settle(t)
	page = rita.follow("/tickets/" + id)
	mustContain(t, page.Body, "Any news?")
	mustNotContain(t, page.Body, "she broke it", "Internal note", "internal note")
	v = formVersion(t, page.Body)

	// A public change and another note: the conflict page lists the
	// public change only.
	if _, err := e.App.AddComment.Handle(bob, app.AddComment{TicketID: id, Body: "We will order a new one."}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.AddComment.Handle(bob, app.AddComment{TicketID: id, Body: "Internal: order it from the cheap shop, really", Internal: true}); err != nil {
		t.Fatal(err)
	}
	e.settle(t)
	closed := eventdesk.StatusClosed
	r = rita.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {v}, "status": {string(closed)}})
	mustStatus(t, r, http.StatusConflict)
	mustContain(t, r.Body, "bob commented")
	mustNotContain(t, r.Body, "really", "internal note", "Internal note")

	// The stream told rita of her own reply and bob's public one only.
	sc := bufio.NewScanner(resp.Body)
	var heard []string
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			heard = append(heard, d)
			if len(heard) == 2 {
				break
			}
		}
	}
	if len(heard) != 2 || !strings.Contains(heard[0], `"actor":"rita"`) || !strings.Contains(heard[1], `"summary":"bob commented"`) {
		t.Errorf("rita heard %q, want her reply and bob's public one", heard)
	}
	for _, h := range heard {
		if strings.Contains(h, "internal") || strings.Contains(h, "note") {
			t.Errorf("rita heard of an internal note: %s", h)
		}
	}
}

// TestTimeTravel: ?version=N and ?at=<time> render the ticket as it was
// (read-only, with links to the neighbouring versions); a requester's
// view of the past keeps internal notes out too.
func TestTimeTravel(t *testing.T) {
	e := newEnv(t)
	start := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
	e.Clock.at(start)
	res, err := e.App.CreateTicket.Handle(as("rita", eventdesk.RoleRequester), app.CreateTicket{Title: "Old title", Priority: eventdesk.PriorityLow})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Ticket.ID
	bob := as("bob", eventdesk.RoleAgent)
	e.Clock.at(start.Add(time.Hour))
	if _, err := e.App.AddComment.Handle(bob, app.AddComment{TicketID: id, Body: "Note to self: check the warranty", Internal: true}); err != nil {
		t.Fatal(err)
	}
	e.Clock.at(start.Add(2 * time.Hour))
	title, urgent := "New title", eventdesk.PriorityUrgent
	if _, err := e.App.UpdateTicket.Handle(bob, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Title: &title, Priority: &urgent}}); err != nil {
		t.Fatal(err)
	}
	e.Clock.reset()
	e.settle(t)
	agent := e.client(t).signin("alice", eventdesk.RoleAgent)
	now := agent.get("/tickets/" + id)
	mustStatus(t, now, http.StatusOK)
	mustContain(t, now.Body, "New title", "Urgent")
	mustNotContain(t, now.Body, "Time travel:")

	at := start.Add(90 * time.Minute).Format(time.RFC3339)
	r := agent.get("/tickets/" + id + "?at=" + url.QueryEscape(at))
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Time travel:", "version 2 of 4", "<h1>Old title</h1>", "Low", "check the warranty",
		`href="/tickets/`+id+`?version=1"`, `href="/tickets/`+id+`?version=3"`)
	mustNotContain(t, r.Body, "New title", `action="/tickets/`+id+`"`, `action="/tickets/`+id+`/comments"`)
	r = agent.get("/tickets/" + id + "?version=1")
	mustContain(t, r.Body, "version 1 of 4", "<h1>Old title</h1>")
	mustNotContain(t, r.Body, "warranty", "« Earlier")
	// Before the ticket existed there is nothing to show.
	mustStatus(t, agent.get("/tickets/"+id+"?at="+url.QueryEscape(start.Add(-time.Hour).Format(time.RFC3339))), http.StatusNotFound)
	mustStatus(t, agent.get("/tickets/"+id+"?at=yesterday"), http.StatusBadRequest)

	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	r = rita.get("/tickets/" + id + "?at=" + url.QueryEscape(at))
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "<h1>Old title</h1>")
	mustNotContain(t, r.Body, "warranty", "Internal note")
}

// TestLiveStreamResumes: a browser that reconnects with Last-Event-ID
// (EventSource does by itself) gets the events after that one, none lost
// and none twice.
func TestLiveStreamResumes(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.heartbeat = 50 * time.Millisecond })
	alice := e.client(t).signin("alice", eventdesk.RoleAgent)
	var titles []string
	for i := range 4 {
		titles = append(titles, "Resume "+strconv.Itoa(i))
		alice.openTicket(titles[i], "", nil)
	}
	read := func(lastID string, n int) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/live/stream?after=0", nil)
		req.Header.Set("Accept", "text/event-stream")
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := alice.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ids []string
		sc := bufio.NewScanner(resp.Body)
		for len(ids) < n && sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				ids = append(ids, id)
			}
		}
		return ids
	}
	all := read("", 4)
	if len(all) != 4 {
		t.Fatalf("from the start: ids %v", all)
	}
	if got := read(all[1], 2); strings.Join(got, ",") != strings.Join(all[2:], ",") {
		t.Errorf("resumed after %s: ids %v, want %v", all[1], got, all[2:])
	}
}

// TestNoLive: with live updates off (Lambda behind API Gateway), pages
// carry nothing for the script to follow and the stream says it is off.
func TestNoLive(t *testing.T) {
	e := newEnv(t)
	key := make([]byte, 32)
	sessions, _ := auth.NewSessions(key, 0)
	ws, err := web.NewServer(web.Config{App: e.App, Sessions: sessions, Key: key, NoLive: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.App.CreateTicket.Handle(as("alice", eventdesk.RoleAgent), app.CreateTicket{Title: "Still"})
	if err != nil {
		t.Fatal(err)
	}
	e.settle(t)
	cookie := &http.Cookie{Name: auth.CookieName, Value: sessions.Encode(eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAgent})}
	for _, path := range []string{"/tickets", "/tickets/" + res.Ticket.ID} {
		req := httpRequest("GET", path, nil)
		req.AddCookie(cookie)
		rec := newRecorder()
		ws.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "data-live") {
			t.Errorf("%s with live updates off: %d, data-live present: %t", path, rec.Code, strings.Contains(rec.Body.String(), "data-live"))
		}
	}
	req := httpRequest("GET", "/live/stream?after=0", nil)
	req.AddCookie(cookie)
	rec := newRecorder()
	ws.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("stream with live updates off: %d, want 501", rec.Code)
	}
	// On by default.
	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	mustContain(t, c.get("/tickets").Body, `data-live="list"`)
	mustContain(t, c.follow("/tickets/"+res.Ticket.ID).Body, `data-live="ticket"`)
}

// TestHistoryIsReadable: the timeline tells each event in words, with who
// and when, and shows titles as they were typed (quotes and all).
func TestHistoryIsReadable(t *testing.T) {
	e := newEnv(t)
	alice := e.client(t).signin("alice", eventdesk.RoleAgent)
	id := alice.openTicket(`Printer "HP 4" on C:\floor`, "", nil)
	e.settle(t)
	page := alice.follow("/tickets/" + id)
	mustStatus(t, alice.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {formVersion(t, page.Body)}, "title": {`Printer "HP 5"`}, "status": {"pending"}}), http.StatusSeeOther)
	e.settle(t)
	r := alice.get("/tickets/" + id + "/history")
	mustStatus(t, r, http.StatusOK)
	text := html.UnescapeString(r.Body)
	mustContain(t, text, `alice opened the ticket "Printer "HP 4" on C:\floor"`,
		`alice changed the title from "Printer "HP 4" on C:\floor" to "Printer "HP 5""`,
		"alice changed status from new to pending")
	mustNotContain(t, text, `\"`)
	if n, times := strings.Count(r.Body, `<li class="event`), strings.Count(r.Body, `<time datetime=`); n != 3 || times < n {
		t.Errorf("%d entries with %d times", n, times)
	}
}
