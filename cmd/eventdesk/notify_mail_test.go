package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/smtptest"
)

// mailbox receives serve's e-mail: a real SMTP server (smtptest, no TLS,
// no auth: serve talks to it on loopback).
type mailbox struct{ *smtptest.Server }

func newMailbox(tb testing.TB) *mailbox {
	tb.Helper()
	return &mailbox{smtptest.Start(tb)}
}

// messages returns "recipients: message" for each message so far.
func (b *mailbox) messages() []string {
	var out []string
	for _, m := range b.Messages() {
		out = append(out, strings.Join(m.To, ",")+": "+string(m.Data))
	}
	return out
}

// slackReceiver is a Slack incoming webhook in the test process; down
// makes it answer 500.
type slackReceiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  []string // bodies answered 200
	all  int      // every request
}

func newSlackReceiver(tb testing.TB) *slackReceiver {
	tb.Helper()
	s := &slackReceiver{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.all++
		if s.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		s.got = append(s.got, string(body))
		_, _ = io.WriteString(w, "ok")
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *slackReceiver) counts() (ok []string, all int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...), s.all
}

// metric returns the value of one series on /metrics (-1 if absent).
func metric(tb testing.TB, s *server, series string) float64 {
	tb.Helper()
	_, body := get(tb, s.url+"/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatalf("%s: %q", series, l)
			}
			return f
		}
	}
	return -1
}

// TestEmailAndSlackMetricsAndReplay: on the real binary, with e-mail and
// Slack configured, a public comment mails the requester once, a new urgent
// ticket is posted to Slack, a Slack outage makes a dead letter that
// /metrics counts per subscriber (attempts, failures, dead letters, lag)
// and the API redrives; then a replay of the read models and a restart
// send no e-mail and no Slack message again.
func TestEmailAndSlackMetricsAndReplay(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	admin := newToken(t, dir, "adam", "admin")
	agent := newToken(t, dir, "agnes", "agent")
	box := newMailbox(t)
	sl := newSlackReceiver(t)
	sl.down.Store(true)
	env := []string{
		"EVENTDESK_SMTP_URL=smtp://" + box.Addr, "EVENTDESK_EMAIL_DOMAIN=example.com",
		"EVENTDESK_SLACK_WEBHOOK_URL=" + sl.srv.URL + "/services/T0/B0/tok", "EVENTDESK_SIDE_EFFECT_ATTEMPTS=2",
	}
	s := startServe(t, dir, env...)
	settle(t, s, 0)

	resp, body := api(t, s, agent, "POST", "/api/v1/tickets", `{"title":"Checkout page","description":"The checkout page shows an error.","requester":"rita","priority":"urgent"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var tk struct{ ID string }
	_ = json.Unmarshal([]byte(body), &tk)
	resp, body = api(t, s, agent, "POST", "/api/v1/tickets/"+tk.ID+"/comments", `{"body":"We are looking into it."}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("comment: %d %s", resp.StatusCode, body)
	}
	// An internal note mails nobody.
	resp, body = api(t, s, agent, "POST", "/api/v1/tickets/"+tk.ID+"/comments", `{"body":"between us","internal":true}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("note: %d %s", resp.StatusCode, body)
	}

	waitUntil(t, "the requester's e-mails", 30*time.Second, func() bool { return len(box.messages()) >= 2 })

	// Slack is down: both attempts fail and the event is parked.
	var letters struct {
		Items []struct {
			ID         int64  `json:"id"`
			Subscriber string `json:"subscriber"`
			EventType  string `json:"eventType"`
		} `json:"items"`
	}
	waitUntil(t, "a Slack dead letter", 30*time.Second, func() bool {
		_, body := api(t, s, admin, "GET", "/api/v1/deadletters?subscriber=slack", "")
		return json.Unmarshal([]byte(body), &letters) == nil && len(letters.Items) == 1
	})
	if l := letters.Items[0]; l.Subscriber != "slack" || l.EventType != "ticket.created" {
		t.Fatalf("dead letter %+v", l)
	}
	if _, all := sl.counts(); all != 2 {
		t.Errorf("Slack was called %d times, want 2 (--side-effect-attempts)", all)
	}

	// Per subscriber: attempts, failures, dead letters and lag.
	for series, want := range map[string]float64{
		`eventdesk_subscriber_attempts_total{subscriber="slack"}`: 2,
		`eventdesk_subscriber_failures_total{subscriber="slack"}`: 2,
		`eventdesk_subscriber_dead_letters{subscriber="slack"}`:   1,
		`eventdesk_subscriber_failures_total{subscriber="email"}`: 0,
		`eventdesk_subscriber_dead_letters{subscriber="email"}`:   0,
	} {
		if got := metric(t, s, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := metric(t, s, `eventdesk_subscriber_attempts_total{subscriber="email"}`); got < 2 {
		t.Errorf("email attempts %v, want at least the comment and the note", got)
	}
	for _, name := range []string{"sentiment", "escalation", "webhooks", "email", "slack"} {
		series := `eventdesk_subscriber_lag_events{subscriber="` + name + `"}`
		waitUntil(t, series+" 0", 30*time.Second, func() bool { return metric(t, s, series) == 0 })
	}

	// Redriven through the API once Slack is back.
	sl.down.Store(false)
	resp, body = api(t, s, admin, "POST", fmt.Sprintf("/api/v1/deadletters/%d/redrive", letters.Items[0].ID), "")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("redrive: %d %s", resp.StatusCode, body)
	}
	waitUntil(t, "the Slack message", 30*time.Second, func() bool { ok, _ := sl.counts(); return len(ok) == 1 })
	waitUntil(t, "the letter to clear", 30*time.Second, func() bool {
		_, body := api(t, s, admin, "GET", "/api/v1/deadletters", "")
		return strings.Contains(body, `"items":[]`)
	})
	settle(t, s, 0)
	time.Sleep(300 * time.Millisecond)

	// The reply, and the status change it made (an agent's first public
	// reply opens a new ticket); the internal note mails nobody.
	mails := box.messages()
	if len(mails) != 2 {
		t.Fatalf("%d mails, want 2: %q", len(mails), mails)
	}
	all := strings.Join(mails, "\n")
	for _, m := range mails {
		if !strings.HasPrefix(m, "rita@example.com: ") {
			t.Errorf("mail to someone else than the requester: %.200q", m)
		}
	}
	if !strings.Contains(all, "We are looking into it.") || !strings.Contains(all, "Your ticket is now open") || strings.Contains(all, "between us") {
		t.Errorf("mails: %q", mails)
	}
	okPosts, allPosts := sl.counts()
	if !regexp.MustCompile(`New urgent ticket`).MatchString(okPosts[0]) {
		t.Errorf("Slack message %s", okPosts[0])
	}
	s.stop(t)

	// Replay rebuilds the read models; the restart after it sends nothing.
	r := runBin(t, nil, nil, "replay", "--data", dir)
	wantCode(t, r, 0)
	s = startServe(t, dir, env...)
	settle(t, s, 0)
	time.Sleep(time.Second)
	if got := box.messages(); len(got) != len(mails) {
		t.Errorf("the replay and restart sent %d e-mails again", len(got)-len(mails))
	}
	if _, all := sl.counts(); all != allPosts {
		t.Errorf("the replay and restart posted %d Slack messages again", all-allPosts)
	}
	s.stop(t)
}

// TestWebhookPrivateAddressesRefusedByDefault: without
// --webhook-allow-private, registering a loopback receiver is a clear 400
// on the url field (and the dialer would refuse it too, see the webhook
// package); with the flag it is accepted.
func TestWebhookPrivateAddressesRefusedByDefault(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	admin := newToken(t, dir, "adam", "admin")
	h := newHookReceiver(t)
	body := `{"url":"` + h.srv.URL + `/hook"}`

	s := startServe(t, dir)
	resp, got := api(t, s, admin, "POST", "/api/v1/webhooks", body)
	var p struct {
		Errors map[string]string `json:"errors"`
	}
	if resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(got), &p) != nil || p.Errors["url"] == "" {
		t.Fatalf("a loopback webhook by default: %d %s", resp.StatusCode, got)
	}
	s.stop(t)

	s = startServeWith(t, dir, []string{"--webhook-allow-private"})
	resp, got = api(t, s, admin, "POST", "/api/v1/webhooks", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("with --webhook-allow-private: %d %s", resp.StatusCode, got)
	}
	s.stop(t)
}
