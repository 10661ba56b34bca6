package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/webhook"
)

// hookReceiver is a webhook endpoint in the test process: it verifies
// each delivery's signature and records it; down makes it answer 503,
// slow makes it take a while.
type hookReceiver struct {
	srv    *httptest.Server
	down   atomic.Bool
	slow   atomic.Int64 // nanoseconds
	secret atomic.Value

	mu       sync.Mutex
	attempts map[string]int
	ok       []hookDelivery
	bad      []string
}

type hookDelivery struct {
	ID      string
	Ticket  string
	Version float64
	Type    string
}

func newHookReceiver(tb testing.TB) *hookReceiver {
	tb.Helper()
	h := &hookReceiver{attempts: map[string]int{}}
	h.secret.Store("")
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get("webhook-id")
		h.mu.Lock()
		h.attempts[id]++
		h.mu.Unlock()
		if d := time.Duration(h.slow.Load()); d > 0 {
			time.Sleep(d)
		}
		if h.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var m struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				TicketID      string  `json:"ticketId"`
				TicketVersion float64 `json:"ticketVersion"`
			} `json:"data"`
		}
		err := webhook.Verify(h.secret.Load().(string), id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body, time.Now(), 5*time.Minute)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil || json.Unmarshal(body, &m) != nil || m.ID != id {
			h.bad = append(h.bad, fmt.Sprintf("%s: %v %s", id, err, body))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.ok = append(h.ok, hookDelivery{ID: id, Ticket: m.Data.TicketID, Version: m.Data.TicketVersion, Type: m.Type})
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) delivered() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookDelivery(nil), h.ok...)
}

func (h *hookReceiver) totalAttempts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.attempts {
		n += c
	}
	return n
}

// register creates a webhook for the receiver through the API.
func (h *hookReceiver) register(tb testing.TB, s *server, admin string) string {
	tb.Helper()
	resp, body := api(tb, s, admin, "POST", "/api/v1/webhooks", `{"url":"`+h.srv.URL+`/hook"}`)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("register webhook: %d %s", resp.StatusCode, body)
	}
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		tb.Fatal(err)
	}
	h.secret.Store(created.Secret)
	return created.ID
}

func waitUntil(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// ticketEvents returns the ids of the public events the changefeed shows
// after position after (all but sentiment scores: webhooks never carry
// them).
func ticketEvents(tb testing.TB, s *server, token string, after int) map[string]bool {
	tb.Helper()
	resp, body := api(tb, s, token, "GET", fmt.Sprintf("/api/v1/events?after=%d&limit=1000", after), "")
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("events: %d %s", resp.StatusCode, body)
	}
	var page struct {
		Items []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range page.Items {
		if e.Type != "ticket.sentiment_scored" {
			out[e.ID] = true
		}
	}
	return out
}

// TestWebhooksLoseNothing: the receiver is down for a while, then the
// server is SIGKILLed in the middle of deliveries, restarted, and the
// receiver is slow: every event arrives, in order per ticket, with valid
// signatures; repeats are retries of the same webhook-id. Events from
// before the registration (the seed) are not sent, and a replay of the
// read models sends nothing again.
func TestWebhooksLoseNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	admin := newToken(t, dir, "adam", "admin")
	agent := newToken(t, dir, "agnes", "agent")
	env := []string{"EVENTDESK_WEBHOOK_ALLOW_PRIVATE=true", "EVENTDESK_WEBHOOK_RETRY_SCHEDULE=" + strings.TrimSuffix(strings.Repeat("100ms,", 600), ",")}
	s := startServe(t, dir, env...)
	start := settle(t, s, 0)
	h := newHookReceiver(t)
	h.register(t, s, admin)
	h.down.Store(true)

	var tickets []string
	for i := range 4 {
		resp, body := api(t, s, agent, "POST", "/api/v1/tickets", fmt.Sprintf(`{"title":"Ticket %d","requester":"rita"}`, i))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
		var tk struct{ ID string }
		_ = json.Unmarshal([]byte(body), &tk)
		tickets = append(tickets, tk.ID)
	}
	comment := func(round int) {
		for _, id := range tickets {
			resp, body := api(t, s, agent, "POST", "/api/v1/tickets/"+id+"/comments", fmt.Sprintf(`{"body":"round %d"}`, round))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("comment: %d %s", resp.StatusCode, body)
			}
		}
	}
	comment(1)
	// An internal note is never sent.
	resp, body := api(t, s, agent, "POST", "/api/v1/tickets/"+tickets[0]+"/comments", `{"body":"between us","internal":true}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("note: %d %s", resp.StatusCode, body)
	}
	waitUntil(t, "failed attempts", 20*time.Second, func() bool { return h.totalAttempts() >= 10 })

	// Killed while the receiver is down and deliveries are being retried.
	kill(t, s)
	h.down.Store(false)
	h.slow.Store(int64(150 * time.Millisecond))
	s = startServe(t, dir, env...)
	comment(2)
	// Killed again while slow deliveries are in flight.
	waitUntil(t, "some deliveries", 20*time.Second, func() bool { return len(h.delivered()) >= 3 })
	kill(t, s)
	h.slow.Store(0)
	s = startServe(t, dir, env...)
	want := ticketEvents(t, s, agent, start)
	// want holds every event after the registration the changefeed shows
	// staff, the internal note included: all arrive but that one.
	waitUntil(t, "every public event", 60*time.Second, func() bool {
		got := map[string]bool{}
		for _, d := range h.delivered() {
			got[d.ID] = true
		}
		missing := 0
		for id := range want {
			if !got[id] {
				missing++
			}
		}
		return missing <= 1 // the internal note
	})
	time.Sleep(300 * time.Millisecond)

	got := h.delivered()
	h.mu.Lock()
	bad := append([]string(nil), h.bad...)
	h.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad deliveries: %v", bad)
	}
	seen := map[string]int{}
	last := map[string]float64{}
	for _, d := range got {
		if !want[d.ID] {
			t.Errorf("delivery %s (%s) is no event after the registration", d.ID, d.Type)
		}
		seen[d.ID]++
		if seen[d.ID] == 1 {
			if d.Version <= last[d.Ticket] {
				t.Errorf("ticket %s: version %v delivered after %v", d.Ticket, d.Version, last[d.Ticket])
			}
			last[d.Ticket] = d.Version
		}
	}
	missing := 0
	for id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	if missing != 1 {
		t.Errorf("%d events never delivered, want exactly one (the internal note)", missing)
	}
	for id, n := range seen {
		if n > 1 {
			t.Logf("event %s delivered %d times: a retry after a kill, same webhook-id", id, n)
		}
	}

	// The dead-letter CLI beside the running server: none.
	r := runBin(t, nil, nil, "deadletters", "list", "--data", dir)
	wantCode(t, r, 0)
	wantContains(t, "deadletters list", r.stderr, "no dead letters")

	// Replay rebuilds the read models and fires nothing again.
	s.stop(t)
	before := h.totalAttempts()
	r = runBin(t, nil, nil, "replay", "--data", dir)
	wantCode(t, r, 0)
	s = startServe(t, dir, env...)
	settle(t, s, 0)
	time.Sleep(500 * time.Millisecond)
	if after := h.totalAttempts(); after != before {
		t.Errorf("the replay and restart sent %d webhook requests", after-before)
	}
	s.stop(t)
}

// kill SIGKILLs serve and waits for it to die.
func kill(tb testing.TB, s *server) {
	tb.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		tb.Fatal("serve did not die")
	}
}

// TestDeadLettersCLI: a delivery that fails on every attempt becomes a dead
// letter that the CLI lists and redrives, and the API and /metrics show.
func TestDeadLettersCLI(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	admin := newToken(t, dir, "adam", "admin")
	s := startServe(t, dir, "EVENTDESK_WEBHOOK_ALLOW_PRIVATE=true", "EVENTDESK_WEBHOOK_RETRY_SCHEDULE=10ms,10ms")
	settle(t, s, 0)
	h := newHookReceiver(t)
	hookID := h.register(t, s, admin)
	h.down.Store(true)
	resp, body := api(t, s, admin, "POST", "/api/v1/tickets", `{"title":"Printer","requester":"rita"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var list string
	waitUntil(t, "a dead letter", 20*time.Second, func() bool {
		r := runBin(t, nil, nil, "deadletters", "list", "--data", dir, "--subscriber", "webhook:")
		list = r.stdout
		return r.code == 0 && strings.Contains(r.stdout, "webhook:"+hookID)
	})
	m := regexp.MustCompile(`(?m)^(\d+)\s+webhook:` + hookID + `\s+\S+\s+ticket\.created\s+3\s`).FindStringSubmatch(list)
	if m == nil {
		t.Fatalf("list:\n%s", list)
	}
	resp, body = api(t, s, admin, "GET", "/api/v1/deadletters", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"subscriber":"webhook:`+hookID+`"`) {
		t.Fatalf("API dead letters: %d %s", resp.StatusCode, body)
	}
	// The endpoint's delivery log over HTTP: status, attempts, the last
	// answer and its latency.
	resp, body = api(t, s, admin, "GET", "/api/v1/webhooks/"+hookID+"/deliveries", "")
	var log struct {
		Items []struct {
			EventType      string  `json:"eventType"`
			Status         string  `json:"status"`
			Attempts       int     `json:"attempts"`
			LastStatusCode *int    `json:"lastStatusCode"`
			LastLatencyMs  float64 `json:"lastLatencyMs"`
			LastError      *string `json:"lastError"`
		} `json:"items"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &log) != nil || len(log.Items) != 1 {
		t.Fatalf("deliveries: %d %s", resp.StatusCode, body)
	}
	if d := log.Items[0]; d.EventType != "ticket.created" || d.Status != "dead" || d.Attempts != 3 || d.LastStatusCode == nil ||
		*d.LastStatusCode != http.StatusServiceUnavailable || d.LastLatencyMs <= 0 || d.LastError == nil || !strings.Contains(*d.LastError, "503") {
		t.Errorf("delivery log: %s", body)
	}
	_, metrics := get(t, s.url+"/metrics")
	if !strings.Contains(metrics, `eventdesk_webhook_dead_deliveries{endpoint="`+hookID+`"} 1`) {
		t.Errorf("metrics do not count the dead delivery:\n%s", grepLines(metrics, "webhook"))
	}

	r := runBin(t, nil, nil, "deadletters", "redrive", "--data", dir, "nope")
	wantCode(t, r, 2)
	r = runBin(t, nil, nil, "deadletters", "redrive", "--data", dir, "99999")
	if r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("redrive of an unknown id: %s", r)
	}
	h.down.Store(false)
	r = runBin(t, nil, nil, "deadletters", "redrive", "--data", dir, m[1])
	wantCode(t, r, 0)
	waitUntil(t, "the redriven delivery", 30*time.Second, func() bool { return len(h.delivered()) == 1 })
	waitUntil(t, "the letter to clear", 30*time.Second, func() bool {
		r := runBin(t, nil, nil, "deadletters", "list", "--data", dir)
		return r.code == 0 && strings.Contains(r.stderr, "no dead letters")
	})
	s.stop(t)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
