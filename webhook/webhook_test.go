package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/subscription"
	"github.com/eventdesk/eventdesk/webhook"
)

func TestSignMatchesTheSpecExample(t *testing.T) {
	// The example of the Standard Webhooks specification and its
	// reference libraries.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	id, ts, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)
	want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got := webhook.Sign([]string{secret}, id, ts, body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
	if err := webhook.Verify(secret, id, "1614265330", want, body, ts, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(secret, id, "1614265330", want, body, ts.Add(time.Hour), 5*time.Minute); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("an old message verified: %v", err)
	}
	if err := webhook.Verify(secret, id, "1614265330", want, []byte(`{"test": 1}`), ts, 5*time.Minute); !errors.Is(err, webhook.ErrNoMatchingSignature) {
		t.Errorf("a changed body verified: %v", err)
	}
	other, _ := webhook.NewSecret()
	both := webhook.Sign([]string{other, secret}, id, ts, body)
	if !strings.Contains(both, " ") || webhook.Verify(secret, id, "1614265330", both, body, ts, time.Minute) != nil ||
		webhook.Verify(other, id, "1614265330", both, body, ts, time.Minute) != nil {
		t.Errorf("two signatures %q do not verify with each secret", both)
	}
}

func TestNewSecret(t *testing.T) {
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+44 {
		t.Fatalf("secret %q: want whsec_ and base64 of 32 bytes", s)
	}
	s2, _ := webhook.NewSecret()
	if s == s2 {
		t.Fatal("two secrets are equal")
	}
}

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		ip     string
		public bool
	}{
		{"93.184.216.34", true}, {"8.8.8.8", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"172.31.255.255", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fc00::1", false}, {"fd12:3456::1", false},
		{"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"ff02::1", false}, {"255.255.255.255", false},
		{"100.64.0.1", false}, {"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::a00:1", false},
	} {
		if got := webhook.PublicAddr(netip.MustParseAddr(c.ip)); got != c.public {
			t.Errorf("PublicAddr(%s) = %v, want %v", c.ip, got, c.public)
		}
	}
}

func TestValidateURL(t *testing.T) {
	for _, c := range []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://hooks.example.com/in?token=1", false, true},
		{"http://example.com:8080/x", false, true},
		{"http://127.0.0.1:9000/", true, true},
		{"http://localhost:9000/", true, true},
		{"http://127.0.0.1:9000/", false, false},
		{"http://[::1]/", false, false},
		{"http://10.0.0.5/", false, false},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"http://localhost/", false, false},
		{"http://api.localhost/", false, false},
		{"ftp://example.com/", false, false},
		{"example.com/hook", false, false},
		{"https://user:pw@example.com/", false, false},
		{"https://example.com/#x", false, false},
		{"https:///path", false, false},
		{"https://example.com:99999/", false, false},
		{"", false, false},
		{"https://example.com/" + strings.Repeat("a", 2100), false, false},
	} {
		_, err := webhook.ValidateURL(c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("ValidateURL(%.60q, %v) = %v, want ok %v", c.url, c.allowPrivate, err, c.ok)
		}
		if err != nil && eventdesk.ErrorCode(err) != eventdesk.EInvalid {
			t.Errorf("ValidateURL(%.60q): error code %s", c.url, eventdesk.ErrorCode(err))
		}
	}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func event(tb testing.TB, stream string, version int64, p eventdesk.Payload) eventdesk.Event {
	tb.Helper()
	typ, schema, data, err := eventdesk.Encode(p)
	if err != nil {
		tb.Fatal(err)
	}
	return eventdesk.Event{ID: newID(), Stream: stream, Version: version, Position: version, Type: typ, Schema: schema, Data: data,
		Metadata: eventdesk.Metadata{Actor: "alice", CorrelationID: "req-1"}, RecordedAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func TestBuildMessageSendsPublicDataOnly(t *testing.T) {
	ticket := newID()
	stream := eventdesk.TicketStream(ticket)
	created := event(t, stream, 1, eventdesk.TicketCreated{Title: "Printer", Description: "On fire", Priority: "high", Requester: "rita", Tags: []string{"hw"}})
	m, ok, err := webhook.BuildMessage(created)
	if err != nil || !ok {
		t.Fatalf("created: %v %v", ok, err)
	}
	b, _ := webhook.EncodeMessage(m)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != created.ID || got["type"] != "ticket.created" || got["specversion"] != "1.0" || got["subject"] != ticket ||
		got["time"] != "2026-05-01T12:00:00Z" || got["dataschema"] != webhook.PayloadVersion {
		t.Errorf("envelope %s", b)
	}
	data := got["data"].(map[string]any)
	if data["ticketId"] != ticket || data["ticketVersion"] != 1.0 || data["title"] != "Printer" || data["requester"] != "rita" || data["status"] != "new" {
		t.Errorf("data %s", b)
	}
	for _, leak := range []string{"metadata", "correlationId", "req-1", "alice", "hash", "position"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("payload carries %q: %s", leak, b)
		}
	}

	note := event(t, stream, 2, eventdesk.TicketCommented{CommentID: newID(), Author: "alice", Body: "customer is rude", Internal: true})
	if _, ok, err := webhook.BuildMessage(note); ok || err != nil {
		t.Errorf("an internal note is sent: %v %v", ok, err)
	}
	score := event(t, stream, 3, eventdesk.SentimentScored{SourceEventID: created.ID, Score: -0.9, Label: "negative"})
	if _, ok, _ := webhook.BuildMessage(score); ok {
		t.Error("a sentiment score is sent")
	}
	public := event(t, stream, 4, eventdesk.TicketCommented{CommentID: newID(), Author: "alice", Body: "On it"})
	m, ok, _ = webhook.BuildMessage(public)
	if !ok {
		t.Fatal("a public comment is not sent")
	}
	if d := m.Data.(webhook.CommentedData); d.Body != "On it" || d.Author != "alice" || d.TicketVersion != 4 {
		t.Errorf("comment data %+v", d)
	}
	if _, ok, _ := webhook.BuildMessage(event(t, "webhook-1", 1, eventdesk.StatusChanged{From: "new", To: "open"})); ok {
		t.Error("an event of another stream is sent")
	}
	for _, typ := range webhook.EventTypes {
		if typ == eventdesk.TypeSentimentScored {
			t.Error("sentiment scores are offered to webhooks")
		}
	}
}

// receiver is a webhook endpoint for tests: it records what arrives and
// answers with what fail says.
type receiver struct {
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	got      []received
	attempts map[string]int
	fail     func(r received) int // status to answer (0: 204)
}

type received struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Message                  map[string]any
	Verified                 error
	At                       time.Time
}

func newReceiver(tb testing.TB) *receiver {
	tb.Helper()
	rc := &receiver{attempts: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := received{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"), Signature: r.Header.Get("webhook-signature"), Body: body, At: time.Now()}
		_ = json.Unmarshal(body, &m.Message)
		rc.mu.Lock()
		m.Verified = webhook.Verify(rc.secret, m.ID, m.Timestamp, m.Signature, body, time.Now(), time.Minute)
		rc.attempts[m.ID]++
		fail := rc.fail
		rc.mu.Unlock()
		if fail != nil {
			if code := fail(m); code != 0 {
				w.WriteHeader(code)
				return
			}
		}
		rc.mu.Lock()
		rc.got = append(rc.got, m)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setFail(f func(received) int) {
	rc.mu.Lock()
	rc.fail = f
	rc.mu.Unlock()
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) attemptsOf(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts[id]
}

// env is a data directory with the event store, subscriber state and the
// notifications database, and the webhook subscriber and dispatcher
// running.
type env struct {
	db       *sqlite.DB
	state    *sqlite.SubscriberState
	store    *sqlite.Notifications
	registry *webhook.Registry
	disp     *webhook.Dispatcher
	runner   *subscription.Runner
	stop     func()
}

var quiet = slog.New(slog.DiscardHandler)

func newEnv(tb testing.TB, cfg webhook.DispatcherConfig) *env {
	tb.Helper()
	dir := tb.TempDir()
	db, err := sqlite.Open(dir, sqlite.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	st, err := db.OpenSubscriberState(sqlite.SubscriberStateOptions{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	n, err := db.OpenNotifications()
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{db: db, state: st, store: n}
	cfg.Store, cfg.DeadLetters, cfg.Events = n, st, db
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.RedrivePoll == 0 {
		cfg.RedrivePoll = 20 * time.Millisecond
	}
	e.disp, err = webhook.NewDispatcher(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.registry, err = webhook.NewRegistry(webhook.RegistryConfig{Store: n, Head: db.Head, DeadLetters: st, NewID: newID, AllowPrivate: true, Changed: e.disp.Notify})
	if err != nil {
		tb.Fatal(err)
	}
	e.start(tb)
	return e
}

func (e *env) start(tb testing.TB) {
	tb.Helper()
	r := subscription.NewRunner(e.db, e.state, subscription.Options{Logger: quiet, Backoff: subscription.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	q, err := webhook.NewEnqueuer(e.store, e.disp.Notify)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.AddSideEffect(subscription.SideEffect{Name: webhook.EnqueuerName, Start: subscription.FromNow, Handler: q, Types: webhook.EventTypes}); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	wg.Go(func() { _ = e.disp.Run(ctx) })
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	tb.Cleanup(e.stop)
	e.runner = r
}
