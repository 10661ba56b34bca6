package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/webhook"
)

// ticket appends events to a ticket stream and returns their ids.
type ticket struct {
	id      string
	version int64
}

func (e *env) newTicket(tb testing.TB) *ticket {
	tb.Helper()
	t := &ticket{id: newID()}
	e.append(tb, t, eventdesk.TicketCreated{Title: "T", Description: "D", Priority: "normal", Requester: "rita", Tags: []string{}})
	return t
}

func (e *env) append(tb testing.TB, t *ticket, ps ...eventdesk.Payload) []string {
	tb.Helper()
	var ids []string
	var evs []eventdesk.EventData
	for _, p := range ps {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			tb.Fatal(err)
		}
		id := newID()
		ids = append(ids, id)
		evs = append(evs, eventdesk.EventData{ID: id, Type: typ, Schema: schema, Data: data, Metadata: eventdesk.Metadata{Actor: "alice"}})
	}
	res, err := e.db.Append(context.Background(), eventdesk.TicketStream(t.id), eventdesk.ExactVersion(t.version), evs...)
	if err != nil {
		tb.Fatal(err)
	}
	t.version = res.Version
	return ids
}

func comment(body string) eventdesk.TicketCommented {
	return eventdesk.TicketCommented{CommentID: newID(), Author: "alice", Body: body}
}

func (e *env) register(tb testing.TB, rc *receiver, types ...string) webhook.Endpoint {
	tb.Helper()
	ep, secret, err := e.registry.Create(context.Background(), "ada", webhook.NewEndpoint{URL: rc.srv.URL + "/hook", EventTypes: types})
	if err != nil {
		tb.Fatal(err)
	}
	rc.mu.Lock()
	rc.secret = secret
	rc.mu.Unlock()
	return ep
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	s := make([]time.Duration, n)
	for i := range s {
		s[i] = d
	}
	return s
}

func TestReceiverDownForAWhileLosesNothing(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Schedule: repeat(15*time.Millisecond, 200)})
	rc := newReceiver(t)
	e.register(t, rc)
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })

	down := atomic.Bool{}
	down.Store(true)
	rc.setFail(func(received) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return 0
	})
	want := map[string]string{} // event id → ticket
	var tickets []*ticket
	for range 3 {
		tk := e.newTicket(t)
		tickets = append(tickets, tk)
	}
	for round := range 3 {
		for _, tk := range tickets {
			for _, id := range e.append(t, tk, comment(fmt.Sprintf("round %d", round))) {
				want[id] = tk.id
			}
		}
	}
	// An internal note is never sent.
	note := e.append(t, tickets[0], eventdesk.TicketCommented{CommentID: newID(), Author: "alice", Body: "secret", Internal: true})[0]
	for _, tk := range tickets {
		evs, _ := e.db.ReadStream(context.Background(), eventdesk.TicketStream(tk.id), 1, 1)
		want[evs[0].ID] = tk.id
	}
	waitFor(t, "failed attempts while the receiver is down", func() bool {
		for id := range want {
			if rc.attemptsOf(id) >= 2 {
				return true
			}
		}
		return false
	})
	time.Sleep(200 * time.Millisecond)
	down.Store(false)
	waitFor(t, "every delivery", func() bool { return len(rc.received()) >= len(want) })
	time.Sleep(100 * time.Millisecond)

	got := rc.received()
	if len(got) != len(want) {
		t.Fatalf("received %d deliveries, want %d", len(got), len(want))
	}
	seen := map[string]bool{}
	lastVersion := map[string]float64{}
	retried := 0
	for _, m := range got {
		if seen[m.ID] {
			t.Errorf("event %s delivered twice", m.ID)
		}
		seen[m.ID] = true
		if _, ok := want[m.ID]; !ok {
			t.Errorf("unexpected delivery %s", m.ID)
		}
		if m.Verified != nil {
			t.Errorf("delivery %s: %v", m.ID, m.Verified)
		}
		if m.Message["id"] != m.ID {
			t.Errorf("webhook-id %s but body id %v", m.ID, m.Message["id"])
		}
		data := m.Message["data"].(map[string]any)
		tk, v := data["ticketId"].(string), data["ticketVersion"].(float64)
		if v <= lastVersion[tk] {
			t.Errorf("ticket %s: version %v arrived after %v", tk, v, lastVersion[tk])
		}
		lastVersion[tk] = v
		if rc.attemptsOf(m.ID) > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no delivery was retried: the outage did not happen")
	}
	if rc.attemptsOf(note) != 0 {
		t.Error("an internal note was sent")
	}
}

func TestDeadLetterAndRedrive(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Schedule: []time.Duration{time.Millisecond, time.Millisecond}})
	rc := newReceiver(t)
	ep := e.register(t, rc)
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	var poison atomic.Value
	poison.Store("")
	rc.setFail(func(m received) int {
		if data, ok := m.Message["data"].(map[string]any); ok && data["body"] == "poison" {
			poison.Store(m.ID)
			return http.StatusBadRequest
		}
		return 0
	})
	tk := e.newTicket(t)
	ids := e.append(t, tk, comment("poison"))
	after := e.append(t, tk, comment("fine"))

	var letters []eventdesk.DeadLetter
	waitFor(t, "a dead letter", func() bool {
		letters, _ = e.state.DeadLetters(context.Background(), webhook.DeadLetterSubscriber(ep.ID))
		return len(letters) == 1
	})
	d := letters[0]
	if d.Event.ID != ids[0] || d.Attempts != 3 || !strings.Contains(d.Error, "400") || d.Event.Type != eventdesk.TypeTicketCommented {
		t.Fatalf("dead letter %+v", d)
	}
	if rc.attemptsOf(ids[0]) != 3 {
		t.Errorf("%d attempts, want 3", rc.attemptsOf(ids[0]))
	}
	// The ticket's next event is not held up forever by a dead one.
	waitFor(t, "the next event", func() bool { return rc.attemptsOf(after[0]) == 1 })
	log, err := e.registry.Deliveries(context.Background(), ep.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var dead webhook.Delivery
	for _, l := range log {
		if l.EventID == ids[0] {
			dead = l
		}
	}
	if dead.Status != webhook.StatusDead || dead.Attempts != 3 || dead.LastStatusCode != 400 || dead.LastLatency <= 0 {
		t.Fatalf("delivery log entry %+v", dead)
	}

	rc.setFail(nil)
	if err := e.state.Redrive(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the redriven delivery", func() bool { return rc.attemptsOf(ids[0]) == 4 })
	waitFor(t, "the dead letter to clear", func() bool {
		letters, _ := e.state.DeadLetters(context.Background(), "")
		return len(letters) == 0
	})
	got := rc.received()
	if got[len(got)-1].ID != ids[0] || got[len(got)-1].Verified != nil {
		t.Errorf("redriven delivery %+v", got[len(got)-1])
	}
}

func TestFailingEndpointIsDisabledAndEnablingResumes(t *testing.T) {
	logs := &syncWriter{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Schedule: repeat(5*time.Millisecond, 1000),
		DisableAfter: 50 * time.Millisecond, DisableMinFailures: 5, Logger: logger})
	rc := newReceiver(t)
	ep := e.register(t, rc)
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	rc.setFail(func(received) int { return http.StatusInternalServerError })
	tk := e.newTicket(t)
	waitFor(t, "the endpoint to be disabled", func() bool {
		got, _ := e.registry.Get(context.Background(), ep.ID)
		return got.Disabled
	})
	got, _ := e.registry.Get(context.Background(), ep.ID)
	if !strings.Contains(got.DisabledReason, "failed attempts") || got.DisabledAt.IsZero() || got.ConsecutiveFailures < 5 {
		t.Errorf("disabled endpoint %+v", got)
	}
	// The notice is logged just after the endpoint is marked disabled.
	waitFor(t, "the notice in the log", func() bool { return strings.Contains(logs.String(), "endpoint disabled") })
	created, _ := e.db.ReadStream(context.Background(), eventdesk.TicketStream(tk.id), 1, 1)
	n := rc.attemptsOf(created[0].ID)
	more := e.append(t, tk, comment("while disabled"))
	time.Sleep(100 * time.Millisecond)
	if rc.attemptsOf(created[0].ID) != n || rc.attemptsOf(more[0]) != 0 {
		t.Fatal("a disabled endpoint is still called")
	}
	rc.setFail(nil)
	if _, err := e.registry.Enable(context.Background(), ep.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the waiting deliveries", func() bool { return len(rc.received()) == 2 })
	if r := rc.received(); r[0].ID != created[0].ID || r[1].ID != more[0] {
		t.Errorf("after enabling: %v, %v", r[0].ID, r[1].ID)
	}
	if !strings.Contains(logs.String(), "host=") || strings.Contains(logs.String(), "whsec_") {
		t.Errorf("logs name the endpoint by host, never a secret:\n%s", logs.String())
	}
}

// syncWriter is a log buffer safe for the dispatcher's goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecretRotationSignsWithBothDuringTheOverlap(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Schedule: repeat(5*time.Millisecond, 10)})
	rc := newReceiver(t)
	ep := e.register(t, rc)
	old := rc.secret
	reg, err := webhook.NewRegistry(webhook.RegistryConfig{Store: e.store, Head: e.db.Head, NewID: newID, AllowPrivate: true, RotationOverlap: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	rotated, secret, err := reg.Rotate(context.Background(), ep.ID)
	if err != nil || secret == old || !strings.HasPrefix(secret, "whsec_") || len(rotated.Secrets) != 2 {
		t.Fatalf("rotate: %v %q %v", err, secret, rotated.Secrets)
	}
	e.newTicket(t)
	waitFor(t, "a delivery", func() bool { return len(rc.received()) == 1 })
	m := rc.received()[0]
	if len(strings.Fields(m.Signature)) != 2 {
		t.Fatalf("signature header %q: want two signatures", m.Signature)
	}
	for _, s := range []string{old, secret} {
		if err := webhook.Verify(s, m.ID, m.Timestamp, m.Signature, m.Body, time.Now(), time.Minute); err != nil {
			t.Errorf("does not verify with one of the secrets: %v", err)
		}
	}
	time.Sleep(time.Until(rotated.Secrets[1].ExpiresAt) + 50*time.Millisecond)
	e.newTicket(t)
	waitFor(t, "a second delivery", func() bool { return len(rc.received()) == 2 })
	m = rc.received()[1]
	if len(strings.Fields(m.Signature)) != 1 || webhook.Verify(secret, m.ID, m.Timestamp, m.Signature, m.Body, time.Now(), time.Minute) != nil {
		t.Errorf("after the overlap: %q", m.Signature)
	}
}

func TestInternalAddressesAreRefusedWhenConnecting(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{Schedule: []time.Duration{time.Millisecond}})
	rc := newReceiver(t)
	ep := e.register(t, rc) // the registry of the test allows it; the dialer does not
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	e.newTicket(t)
	waitFor(t, "a dead letter", func() bool {
		l, _ := e.state.DeadLetters(context.Background(), webhook.DeadLetterSubscriber(ep.ID))
		return len(l) == 1
	})
	if n := len(rc.received()); n != 0 || rc.attemptsOf(ep.ID) != 0 {
		t.Fatalf("the loopback receiver got %d requests", n)
	}
	log, _ := e.registry.Deliveries(context.Background(), ep.ID, 0, 1)
	if !strings.Contains(log[0].LastError, "not a public address") {
		t.Errorf("last error %q", log[0].LastError)
	}
}

func TestTimeoutsAndRedirectsFail(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true, Schedule: []time.Duration{time.Millisecond}, Timeout: 100 * time.Millisecond})
	slow := newReceiver(t)
	slow.setFail(func(received) int { time.Sleep(400 * time.Millisecond); return 0 })
	redirect := httptest.NewServer(http.RedirectHandler("http://example.com/", http.StatusFound))
	t.Cleanup(redirect.Close)
	epSlow := e.register(t, slow)
	epRedirect, _, err := e.registry.Create(context.Background(), "ada", webhook.NewEndpoint{URL: redirect.URL})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	e.newTicket(t)
	for _, c := range []struct {
		ep   string
		want string
		code int
	}{{epSlow.ID, "no answer within", 0}, {epRedirect.ID, "302", 302}} {
		waitFor(t, "a dead letter", func() bool {
			l, _ := e.state.DeadLetters(context.Background(), webhook.DeadLetterSubscriber(c.ep))
			return len(l) == 1
		})
		// The letter is parked just before the delivery is marked dead.
		var log []webhook.Delivery
		waitFor(t, "the delivery to be marked dead", func() bool {
			log, _ = e.registry.Deliveries(context.Background(), c.ep, 0, 1)
			return len(log) == 1 && log[0].Status == webhook.StatusDead
		})
		if !strings.Contains(log[0].LastError, c.want) || log[0].LastStatusCode != c.code || log[0].Attempts != 2 {
			t.Errorf("delivery %+v, want error with %q", log[0], c.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true})
	ctx := context.Background()
	for _, c := range []struct {
		n     webhook.NewEndpoint
		field string
	}{
		{webhook.NewEndpoint{URL: "ftp://x"}, "url"},
		{webhook.NewEndpoint{URL: "https://example.com", EventTypes: []string{"ticket.sentiment_scored"}}, "eventTypes"},
		{webhook.NewEndpoint{URL: "https://example.com", EventTypes: []string{"nope"}}, "eventTypes"},
		{webhook.NewEndpoint{URL: "https://example.com", Secret: "plain"}, "secret"},
		{webhook.NewEndpoint{URL: "https://example.com", Secret: "whsec_c2hvcnQ="}, "secret"},
		{webhook.NewEndpoint{URL: "https://example.com", Description: "a\nb"}, "description"},
	} {
		_, _, err := e.registry.Create(ctx, "ada", c.n)
		if eventdesk.ErrorCode(err) != eventdesk.EInvalid || eventdesk.ErrorFields(err)[c.field] == "" {
			t.Errorf("Create(%+v) = %v, want a problem with %s", c.n, err, c.field)
		}
	}
	strict, _ := webhook.NewRegistry(webhook.RegistryConfig{Store: e.store, Head: e.db.Head, NewID: newID})
	if _, _, err := strict.Create(ctx, "ada", webhook.NewEndpoint{URL: "http://127.0.0.1:1/"}); eventdesk.ErrorFields(err)["url"] == "" {
		t.Errorf("a loopback URL was accepted: %v", err)
	}

	given := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	ep, secret, err := e.registry.Create(ctx, "ada", webhook.NewEndpoint{URL: "https://example.com/in?token=abc", Secret: given,
		EventTypes: []string{"ticket.status_changed", "ticket.created", "ticket.created"}})
	if err != nil {
		t.Fatal(err)
	}
	if secret != given || strings.Join(ep.EventTypes, ",") != "ticket.created,ticket.status_changed" || ep.CreatedBy != "ada" {
		t.Errorf("created %+v with secret %q", ep, secret)
	}
	b, _ := json.Marshal(ep)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "endpoint", ep, "secret", ep.Secrets[0])
	if strings.Contains(string(b), "whsec_") || strings.Contains(logged.String(), "MfKQ9") || strings.Contains(logged.String(), "token=abc") {
		t.Errorf("a secret leaks: json %s, log %s", b, logged.String())
	}
	list, _ := e.registry.List(ctx)
	if len(list) != 1 || list[0].ID != ep.ID {
		t.Errorf("list %v", list)
	}
	if _, err := e.registry.Get(ctx, "nope"); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Errorf("Get(nope): %v", err)
	}
	if err := e.registry.Delete(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.registry.Delete(ctx, ep.ID); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Errorf("second delete: %v", err)
	}
}

func TestEndpointsGetOnlyTheirTypesAndOnlyLaterEvents(t *testing.T) {
	e := newEnv(t, webhook.DispatcherConfig{AllowPrivate: true})
	waitFor(t, "the subscriber to start", func() bool { return e.runner.Status()[0].Running })
	old := e.newTicket(t)
	all, statuses := newReceiver(t), newReceiver(t)
	e.register(t, all)
	e.register(t, statuses, eventdesk.TypeStatusChanged)
	e.append(t, old, comment("after registration"))
	tk := e.newTicket(t)
	e.append(t, tk, eventdesk.StatusChanged{From: "new", To: "open"})
	waitFor(t, "deliveries", func() bool { return len(all.received()) == 3 && len(statuses.received()) == 1 })
	time.Sleep(50 * time.Millisecond)
	for _, m := range all.received() {
		if d := m.Message["data"].(map[string]any); d["ticketId"] == old.id && d["ticketVersion"] == 1.0 {
			t.Error("an event from before the registration was sent")
		}
	}
	if m := statuses.received()[0]; m.Message["type"] != eventdesk.TypeStatusChanged || len(statuses.received()) != 1 {
		t.Errorf("filtered endpoint got %v", m.Message["type"])
	}
}
