package subscription_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/subscription"
)

// env is a real data directory: the SQLite event store, read models and
// subscriber state.
type env struct {
	dir   string
	db    *sqlite.DB
	rm    *sqlite.ReadModels
	state *sqlite.SubscriberState
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{dir: tb.TempDir()}
	e.open(tb)
	return e
}

func (e *env) open(tb testing.TB) {
	tb.Helper()
	db, err := sqlite.Open(e.dir)
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := db.OpenSubscriberState(sqlite.SubscriberStateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	e.db, e.rm, e.state = db, rm, st
	tb.Cleanup(func() { _ = db.Close() })
}

func (e *env) close(tb testing.TB) {
	tb.Helper()
	if err := e.db.Close(); err != nil {
		tb.Fatal(err)
	}
}

func ctxFor(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func newID(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

func data(tb testing.TB, p eventdesk.Payload, actor string) eventdesk.EventData {
	tb.Helper()
	typ, schema, raw, err := eventdesk.Encode(p)
	if err != nil {
		tb.Fatal(err)
	}
	return eventdesk.EventData{ID: newID(tb), Type: typ, Schema: schema, Data: raw, Metadata: eventdesk.Metadata{Actor: actor}}
}

// openTicket appends a new ticket with a comment: two events.
func openTicket(tb testing.TB, st eventdesk.EventStore, title string) (string, eventdesk.AppendResult) {
	tb.Helper()
	id := newID(tb)
	res, err := st.Append(ctxFor(tb), eventdesk.TicketStream(id), eventdesk.NoStream,
		data(tb, eventdesk.TicketCreated{Title: title, Requester: "rita", Priority: eventdesk.PriorityNormal, Tags: []string{"t"}}, "rita"),
		data(tb, eventdesk.TicketCommented{CommentID: newID(tb), Author: "rita", Body: "hello"}, "rita"))
	if err != nil {
		tb.Fatal(err)
	}
	return id, res
}

func comment(tb testing.TB, st eventdesk.EventStore, id string) eventdesk.AppendResult {
	tb.Helper()
	res, err := st.Append(ctxFor(tb), eventdesk.TicketStream(id), eventdesk.AnyVersion,
		data(tb, eventdesk.TicketCommented{CommentID: newID(tb), Author: "bob", Body: "more"}, "bob"))
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// start runs r until the test ends (or stop is called).
func start(tb testing.TB, r *subscription.Runner) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				tb.Errorf("Run did not stop within 30s of its context ending")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

func fastOptions() subscription.Options {
	return subscription.Options{Backoff: subscription.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}, RedrivePoll: 50 * time.Millisecond}
}

func ticketsRunner(e *env, opts subscription.Options) *subscription.Runner {
	r := subscription.NewRunner(e.db, e.state, opts)
	if err := r.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: e.rm, Projector: projection.Tickets{}, BatchSize: 64}); err != nil {
		panic(err)
	}
	return r
}

// checkTickets compares each ticket of the read model with its stream
// folded.
func checkTickets(tb testing.TB, e *env, ids []string) {
	tb.Helper()
	ctx := ctxFor(tb)
	for _, id := range ids {
		events, err := e.db.ReadStream(ctx, eventdesk.TicketStream(id), 1, 0)
		if err != nil {
			tb.Fatal(err)
		}
		want, err := eventdesk.Fold(events)
		if err != nil {
			tb.Fatal(err)
		}
		got, err := e.rm.Ticket(ctx, id)
		if err != nil {
			tb.Fatalf("ticket %s: %v", id, err)
		}
		if got.Version != want.Version || len(got.Comments) != len(want.Comments) || got.Title != want.Title || got.Position != want.Position {
			tb.Fatalf("ticket %s: version %d, %d comments, position %d; want %d, %d, %d", id, got.Version, len(got.Comments), got.Position, want.Version, len(want.Comments), want.Position)
		}
	}
}

func waitFor(tb testing.TB, r eventdesk.TicketReader, pos int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, pos); err != nil {
		tb.Fatalf("read model did not reach position %d: %v", pos, err)
	}
}

// eventually polls cond for a condition of the runner's status.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func status(r *subscription.Runner, name string) subscription.SubscriberStatus {
	for _, s := range r.Status() {
		if s.Name == name {
			return s
		}
	}
	panic("no subscriber " + name)
}

func TestProjectionCatchesUpThenFollowsLive(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 150 {
		id, _ := openTicket(t, e.db, fmt.Sprintf("before %d", i))
		ids = append(ids, id)
	}
	for _, id := range ids[:50] {
		comment(t, e.db, id)
	}
	r := ticketsRunner(e, fastOptions())
	start(t, r)
	head, _ := e.db.Head(ctxFor(t))
	waitFor(t, e.rm, head)
	checkTickets(t, e, ids)

	// Live: appends after the catch-up are projected as they commit.
	var res eventdesk.AppendResult
	for i := range 20 {
		id, _ := openTicket(t, e.db, fmt.Sprintf("live %d", i))
		ids = append(ids, id)
		res = comment(t, e.db, ids[i])
	}
	waitFor(t, e.rm, res.Position)
	checkTickets(t, e, ids)
	st, err := e.rm.Stats(ctxFor(t))
	if err != nil || st.Total != len(ids) {
		t.Fatalf("stats total %d, %v; want %d", st.Total, err, len(ids))
	}
	s := status(r, projection.TicketsName)
	if s.Checkpoint != res.Position || s.Lag != 0 || !s.Running || s.Kind != subscription.KindProjection {
		t.Fatalf("status %+v", s)
	}
}

// countProjector counts every event it is given in one counter, with no
// idempotency of its own: the count is exact only if every event is
// applied exactly once.
type countProjector struct{}

func (countProjector) Apply(ctx context.Context, tx eventdesk.ProjectionTx, _ eventdesk.Event) error {
	return tx.AddCount(ctx, eventdesk.CounterTotal, 1)
}

func TestProjectionRestartResumesExactlyOnce(t *testing.T) {
	e := newEnv(t)
	counts, err := sqlite.OpenReadModels(t.TempDir(), sqlite.ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer counts.Close()
	newRunner := func() *subscription.Runner {
		r := ticketsRunner(e, fastOptions())
		if err := r.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: counts, Projector: countProjector{}, BatchSize: 7}); err == nil {
			t.Fatal("two subscribers with one name were accepted")
		}
		if err := r.AddProjection(subscription.Projection{Name: "count", Store: counts, Projector: countProjector{}, BatchSize: 7}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	var ids []string
	for range 40 {
		id, _ := openTicket(t, e.db, "x")
		ids = append(ids, id)
	}
	stop := start(t, newRunner())
	// Stop while appends go on: the runner is stopped mid-stream.
	for i := range 40 {
		comment(t, e.db, ids[i])
		if i == 20 {
			stop()
		}
	}
	head, _ := e.db.Head(ctxFor(t))
	start(t, newRunner())
	waitFor(t, e.rm, head)
	eventually(t, "count projection caught up", func() bool {
		p, _, _ := counts.Checkpoint(ctxFor(t), "count")
		return p == head
	})
	st, err := counts.Stats(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if int64(st.Total) != head {
		t.Fatalf("%d events applied across a restart, want exactly %d", st.Total, head)
	}
	checkTickets(t, e, ids)
}

// flakyProjector fails its first failures calls, then projects tickets.
type flakyProjector struct {
	failures atomic.Int32
}

func (f *flakyProjector) Apply(ctx context.Context, tx eventdesk.ProjectionTx, e eventdesk.Event) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("transient failure")
	}
	return projection.Tickets{}.Apply(ctx, tx, e)
}

func TestProjectionRetriesAndNeverSkips(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 10 {
		id, _ := openTicket(t, e.db, "x")
		ids = append(ids, id)
	}
	f := &flakyProjector{}
	f.failures.Store(3)
	r := subscription.NewRunner(e.db, nil, fastOptions())
	if err := r.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: e.rm, Projector: f}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	head, _ := e.db.Head(ctxFor(t))
	waitFor(t, e.rm, head)
	checkTickets(t, e, ids)
	s := status(r, projection.TicketsName)
	if s.Failures != 3 || s.LastError == "" || s.Attempts < 4 {
		t.Fatalf("status after 3 failures: %+v", s)
	}

	// A poison event (an unknown type in a ticket stream) stops the
	// projection there: it is retried, never skipped.
	bad := eventdesk.EventData{ID: newID(t), Type: "ticket.teleported", Schema: 1, Data: []byte(`{}`)}
	poison, err := e.db.Append(ctxFor(t), eventdesk.TicketStream(ids[0]), eventdesk.AnyVersion, bad)
	if err != nil {
		t.Fatal(err)
	}
	after := comment(t, e.db, ids[1])
	eventually(t, "retries of the poison event", func() bool { return status(r, projection.TicketsName).Failures >= 6 })
	s = status(r, projection.TicketsName)
	if s.Checkpoint >= poison.Position || s.Lag < 2 {
		t.Fatalf("the projection moved past a poison event: %+v (poison at %d)", s, poison.Position)
	}
	if pos, _ := e.rm.Position(ctxFor(t)); pos >= poison.Position {
		t.Fatalf("read model position %d passed the poison event at %d", pos, poison.Position)
	}
	if got, _ := e.rm.Ticket(ctxFor(t), ids[1]); got.Position == after.Position {
		t.Fatalf("an event after the poison event was applied")
	}
}

// recorder is a side effect that records the events it handles and fails
// as told.
type recorder struct {
	mu      sync.Mutex
	handled []eventdesk.Event
	calls   map[string]int
	fail    func(e eventdesk.Event, call int) error
}

func (r *recorder) Handle(_ context.Context, e eventdesk.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[e.ID]++
	if r.fail != nil {
		if err := r.fail(e, r.calls[e.ID]); err != nil {
			return err
		}
	}
	r.handled = append(r.handled, e)
	return nil
}

func (r *recorder) ids() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, e := range r.handled {
		out[e.ID]++
	}
	return out
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handled)
}

func TestSideEffectFromNowVersusBackfill(t *testing.T) {
	e := newEnv(t)
	for range 5 {
		openTicket(t, e.db, "old")
	}
	before, _ := e.db.Head(ctxFor(t)) // 10 events
	all, recent := &recorder{}, &recorder{}
	newRunner := func() *subscription.Runner {
		r := subscription.NewRunner(e.db, e.state, fastOptions())
		if err := r.AddSideEffect(subscription.SideEffect{Name: "all", Start: subscription.FromBeginning, Handler: all}); err != nil {
			t.Fatal(err)
		}
		if err := r.AddSideEffect(subscription.SideEffect{Name: "recent", Start: subscription.FromNow, Handler: recent,
			Types: []string{eventdesk.TypeTicketCreated}}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newRunner()
	stop := start(t, r)
	eventually(t, "both started", func() bool {
		return status(r, "recent").Running && status(r, "all").Checkpoint == before
	})
	if s := status(r, "recent"); s.Checkpoint != before {
		t.Fatalf("a from-now subscriber starts at %d, want the head %d", s.Checkpoint, before)
	}
	openTicket(t, e.db, "new")
	eventually(t, "the new ticket handled", func() bool { return recent.count() == 1 && all.count() == int(before)+2 })
	stop()

	// Appended while stopped: a restart resumes from the checkpoint, it
	// does not jump to the head again.
	openTicket(t, e.db, "while stopped")
	head, _ := e.db.Head(ctxFor(t))
	r = newRunner()
	start(t, r)
	eventually(t, "caught up after restart", func() bool {
		return status(r, "recent").Checkpoint == head && status(r, "all").Checkpoint == head
	})
	if recent.count() != 2 || all.count() != int(head) {
		t.Fatalf("handled %d (from now) and %d (backfill); want 2 and %d", recent.count(), all.count(), head)
	}
	for id, n := range all.ids() {
		if n != 1 {
			t.Fatalf("event %s handled %d times", id, n)
		}
	}
	for _, ev := range recent.handled {
		if ev.Type != eventdesk.TypeTicketCreated || ev.Position <= before {
			t.Fatalf("from-now subscriber handled %s at %d", ev.Type, ev.Position)
		}
	}
}

func TestSideEffectRetriedThenDeadLetteredThenRedriven(t *testing.T) {
	e := newEnv(t)
	var broken atomic.Bool
	broken.Store(true)
	var poisonID, panicID atomic.Value
	poisonID.Store("")
	panicID.Store("")
	h := &recorder{fail: func(ev eventdesk.Event, call int) error {
		switch {
		case ev.ID == poisonID.Load().(string) && broken.Load():
			return errors.New("webhook endpoint said 500")
		case ev.ID == panicID.Load().(string) && call == 1:
			panic("boom")
		}
		return nil
	}}
	r := subscription.NewRunner(e.db, e.state, fastOptions())
	if err := r.AddSideEffect(subscription.SideEffect{Name: "webhook", Handler: h, MaxAttempts: 3, Types: []string{eventdesk.TypeTicketCommented}}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	id, _ := openTicket(t, e.db, "x")
	eventually(t, "first comment handled", func() bool { return h.count() == 1 })
	ev := data(t, eventdesk.TicketCommented{CommentID: newID(t), Author: "bob", Body: "poison"}, "bob")
	poisonID.Store(ev.ID)
	if _, err := e.db.Append(ctxFor(t), eventdesk.TicketStream(id), eventdesk.AnyVersion, ev); err != nil {
		t.Fatal(err)
	}
	last := comment(t, e.db, id)
	// It moves on past the dead letter.
	eventually(t, "event after the dead letter handled", func() bool { return status(r, "webhook").Checkpoint == last.Position })
	h.mu.Lock()
	calls := h.calls[ev.ID]
	h.mu.Unlock()
	if calls != 3 {
		t.Fatalf("the failing event was tried %d times, want 3", calls)
	}
	s := status(r, "webhook")
	if s.DeadLetters != 1 || s.Failures != 3 || s.LastError == "" {
		t.Fatalf("status %+v", s)
	}
	letters, err := r.DeadLetters(ctxFor(t), "webhook")
	if err != nil || len(letters) != 1 {
		t.Fatalf("dead letters %+v, %v", letters, err)
	}
	d := letters[0]
	if d.Event.ID != ev.ID || d.Attempts != 3 || d.Error != "webhook endpoint said 500" || d.Redriven || d.Subscriber != "webhook" || d.FailedAt.IsZero() {
		t.Fatalf("dead letter %+v", d)
	}
	if _, err := r.DeadLetters(ctxFor(t), "nobody"); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("dead letters of an unknown subscriber: %v", err)
	}
	if err := r.Redrive(ctxFor(t), 9999); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("redrive of an unknown letter: %v", err)
	}

	// Redriven while still broken: tried again, parked again.
	if err := r.Redrive(ctxFor(t), d.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "re-parked", func() bool {
		l, _ := r.DeadLetters(ctxFor(t), "webhook")
		return len(l) == 1 && l[0].Attempts == 6 && !l[0].Redriven
	})
	// Fixed, then redriven: handled once, and the letter is gone.
	broken.Store(false)
	if err := r.Redrive(ctxFor(t), d.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "redriven letter handled", func() bool {
		l, _ := r.DeadLetters(ctxFor(t), "")
		return len(l) == 0 && status(r, "webhook").DeadLetters == 0
	})
	if n := h.ids()[ev.ID]; n != 1 {
		t.Fatalf("redriven event handled %d times", n)
	}

	// A handler that panics is retried like one that fails.
	pe := data(t, eventdesk.TicketCommented{CommentID: newID(t), Author: "bob", Body: "panics once"}, "bob")
	panicID.Store(pe.ID)
	res, err := e.db.Append(ctxFor(t), eventdesk.TicketStream(id), eventdesk.AnyVersion, pe)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "panicking event handled on retry", func() bool { return status(r, "webhook").Checkpoint == res.Position })
	if n := h.ids()[pe.ID]; n != 1 {
		t.Fatalf("panicking event handled %d times", n)
	}
	if s := status(r, "webhook"); s.DeadLetters != 0 || !strings.Contains(s.LastError, "panicked") {
		t.Fatalf("status after a panic: %+v", s)
	}
}

func TestSideEffectDeadLettersSurviveRestartAndRedriveFromAnotherProcess(t *testing.T) {
	e := newEnv(t)
	var broken atomic.Bool
	broken.Store(true)
	h := &recorder{fail: func(ev eventdesk.Event, _ int) error {
		if broken.Load() && ev.Type == eventdesk.TypeTicketCreated {
			return errors.New("smtp: connection refused")
		}
		return nil
	}}
	newRunner := func() *subscription.Runner {
		r := subscription.NewRunner(e.db, e.state, fastOptions())
		if err := r.AddSideEffect(subscription.SideEffect{Name: "email", Handler: h, MaxAttempts: 2}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newRunner()
	stop := start(t, r)
	_, res := openTicket(t, e.db, "x")
	eventually(t, "parked", func() bool { return status(r, "email").Checkpoint == res.Position })
	stop()
	e.close(t)
	e.open(t)
	broken.Store(false)
	r = newRunner()
	start(t, r)
	eventually(t, "running", func() bool { return status(r, "email").Running })
	letters, err := e.state.DeadLetters(ctxFor(t), "email")
	if err != nil || len(letters) != 1 || status(r, "email").DeadLetters != 1 {
		t.Fatalf("after restart: %+v, %v", letters, err)
	}
	// Redriven through the store (as another process would), found by
	// the runner's poll.
	if err := e.state.Redrive(ctxFor(t), letters[0].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "redriven", func() bool { return status(r, "email").DeadLetters == 0 })
	if n := h.ids()[letters[0].Event.ID]; n != 1 {
		t.Fatalf("handled %d times", n)
	}
}

func TestStatusReportsLag(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var once sync.Once
	blocking := subscription.HandlerFunc(func(ctx context.Context, _ eventdesk.Event) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	now := time.Now()
	opts := fastOptions()
	opts.Now = func() time.Time { return now.Add(time.Hour) }
	r := subscription.NewRunner(e.db, e.state, opts)
	if err := r.AddSideEffect(subscription.SideEffect{Name: "slow", Handler: blocking}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		openTicket(t, e.db, "x")
	}
	start(t, r)
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	eventually(t, "running", func() bool { return status(r, "slow").Running })
	s := status(r, "slow")
	if s.Head != 6 || s.Checkpoint != 0 || s.Lag != 6 || s.TimeLag < 59*time.Minute || !s.LeaseHeld {
		t.Fatalf("status of a blocked subscriber: %+v", s)
	}
	once.Do(func() { close(release) })
	eventually(t, "caught up", func() bool { return status(r, "slow").Lag == 0 })
	if s := status(r, "slow"); s.TimeLag != 0 || s.Handled != 6 {
		t.Fatalf("status when caught up: %+v", s)
	}
}

// gate is a Lease that is held only while open.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
	lost context.CancelFunc
}

func (g *gate) Acquire(ctx context.Context, _ string) (context.Context, func(), error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	held, cancel := context.WithCancel(ctx)
	g.mu.Lock()
	g.lost = cancel
	g.mu.Unlock()
	return held, cancel, nil
}

func TestLeaseGatesSubscriber(t *testing.T) {
	e := newEnv(t)
	g := &gate{open: make(chan struct{})}
	opts := fastOptions()
	opts.Lease = g
	r := ticketsRunner(e, opts)
	start(t, r)
	_, res := openTicket(t, e.db, "x")
	time.Sleep(50 * time.Millisecond)
	if s := status(r, projection.TicketsName); s.LeaseHeld || s.Checkpoint != 0 {
		t.Fatalf("ran without the lease: %+v", s)
	}
	close(g.open)
	waitFor(t, e.rm, res.Position)
	// Losing the lease stops the subscriber; it then waits to reacquire.
	g.mu.Lock()
	g.open = make(chan struct{})
	lost := g.lost
	g.mu.Unlock()
	lost()
	eventually(t, "lease lost", func() bool { return !status(r, projection.TicketsName).LeaseHeld })
	_, res = openTicket(t, e.db, "y")
	time.Sleep(50 * time.Millisecond)
	if pos, _ := e.rm.Position(ctxFor(t)); pos >= res.Position {
		t.Fatalf("projected without the lease")
	}
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
	waitFor(t, e.rm, res.Position)
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	b := subscription.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := b.Delay(attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: no jitter", attempt)
		}
	}
}

// TestCheckpointBeyondHeadStops: a read model ahead of the store (the
// store was restored from an older copy) is reported, never followed.
func TestCheckpointBeyondHeadStops(t *testing.T) {
	e := newEnv(t)
	openTicket(t, e.db, "x")
	if err := e.rm.Project(ctxFor(t), projection.TicketsName, 100, func(eventdesk.ProjectionTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r := ticketsRunner(e, fastOptions())
	start(t, r)
	eventually(t, "the error reported", func() bool {
		return strings.Contains(status(r, projection.TicketsName).LastError, "older copy")
	})
	if st, err := e.rm.Stats(ctxFor(t)); err != nil || st.Total != 0 {
		t.Fatalf("projected events below a checkpoint beyond the head: %+v, %v", st, err)
	}
}

// streamOrder is a handler that checks that the events of each stream
// arrive in order and one at a time, and counts how many run at once.
type streamOrder struct {
	recorder
	mu      sync.Mutex
	last    map[string]int64
	busy    map[string]bool
	running int
	peak    int
	errs    []string
}

func (h *streamOrder) Handle(ctx context.Context, e eventdesk.Event) error {
	h.mu.Lock()
	if h.busy[e.Stream] {
		h.errs = append(h.errs, fmt.Sprintf("two events of %s handled at once", e.Stream))
	}
	if e.Version <= h.last[e.Stream] {
		h.errs = append(h.errs, fmt.Sprintf("%s: version %d after %d", e.Stream, e.Version, h.last[e.Stream]))
	}
	h.busy[e.Stream] = true
	h.running++
	h.peak = max(h.peak, h.running)
	h.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // long enough for other streams to overlap
	err := h.recorder.Handle(ctx, e)
	h.mu.Lock()
	h.busy[e.Stream] = false
	h.running--
	if err == nil {
		h.last[e.Stream] = e.Version
	}
	h.mu.Unlock()
	return err
}

func TestSideEffectConcurrentBatchesKeepStreamOrderAndHandleOnce(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for range 20 {
		id, _ := openTicket(t, e.db, "t")
		ids = append(ids, id)
	}
	var poison string
	for i := range 3 {
		for _, id := range ids {
			res := comment(t, e.db, id)
			if i == 1 && id == ids[3] {
				evs, err := e.db.ReadAll(ctxFor(t), res.Position-1, 1)
				if err != nil || len(evs) != 1 {
					t.Fatal(evs, err)
				}
				poison = evs[0].ID
			}
		}
	}
	head, _ := e.db.Head(ctxFor(t)) // 100 events
	h := &streamOrder{last: map[string]int64{}, busy: map[string]bool{}}
	h.fail = func(ev eventdesk.Event, _ int) error {
		if ev.ID == poison {
			return errors.New("always fails")
		}
		return nil
	}
	newRunner := func() *subscription.Runner {
		r := subscription.NewRunner(e.db, e.state, fastOptions())
		if err := r.AddSideEffect(subscription.SideEffect{Name: "scorer", Handler: h, MaxAttempts: 2, Concurrency: 8, BatchSize: 32}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newRunner()
	stop := start(t, r)
	eventually(t, "caught up", func() bool { return status(r, "scorer").Checkpoint == head })
	stop()
	h.mu.Lock()
	if len(h.errs) > 0 {
		t.Fatalf("order broken: %v", h.errs)
	}
	if h.peak < 2 || h.peak > 8 {
		t.Errorf("at most %d events were handled at once; want between 2 and the concurrency, 8", h.peak)
	}
	h.mu.Unlock()
	got := h.ids()
	if len(got) != int(head)-1 {
		t.Fatalf("handled %d distinct events, want %d", len(got), head-1)
	}
	for id, n := range got {
		if n != 1 {
			t.Fatalf("event %s handled %d times", id, n)
		}
	}
	letters, err := r.DeadLetters(ctxFor(t), "scorer")
	if err != nil || len(letters) != 1 || letters[0].Event.ID != poison {
		t.Fatalf("dead letters %v, %v; want the poison event %s", letters, err, poison)
	}

	// A restart handles nothing again.
	openTicket(t, e.db, "after")
	head, _ = e.db.Head(ctxFor(t))
	r = newRunner()
	start(t, r)
	eventually(t, "caught up after restart", func() bool { return status(r, "scorer").Checkpoint == head })
	for id, n := range h.ids() {
		if n != 1 {
			t.Fatalf("event %s handled %d times after a restart", id, n)
		}
	}
	if n := len(h.ids()); n != int(head)-1 {
		t.Fatalf("handled %d distinct events, want %d", n, head-1)
	}
}

// TestStatusCountsHandlerAttemptsOnly: a side effect's attempts and
// failures are its handler calls and their failures, not the runtime's
// bookkeeping (inbox lookups, checkpoints, redrive polls), so that the
// metrics built on them stay still while nothing happens.
func TestStatusCountsHandlerAttemptsOnly(t *testing.T) {
	e := newEnv(t)
	openTicket(t, e.db, "one")
	openTicket(t, e.db, "two")
	rec := &recorder{fail: func(e eventdesk.Event, call int) error {
		if e.Type == eventdesk.TypeTicketCommented && call == 1 {
			return errors.New("first call fails")
		}
		return nil
	}}
	r := subscription.NewRunner(e.db, e.state, fastOptions())
	if err := r.AddSideEffect(subscription.SideEffect{Name: "counted", Start: subscription.FromBeginning, Handler: rec, MaxAttempts: 3}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	eventually(t, "caught up", func() bool { return status(r, "counted").Handled == 4 })
	// Several redrive polls (every 50ms) and idle waits later.
	time.Sleep(300 * time.Millisecond)
	s := status(r, "counted")
	calls := 0
	for _, n := range rec.callCounts() {
		calls += n
	}
	if calls != 6 || s.Attempts != int64(calls) || s.Failures != 2 || s.Handled != 4 || s.DeadLetters != 0 || s.Lag != 0 {
		t.Fatalf("status %+v after %d handler calls; want 6 attempts, 2 failures, 4 handled", s, calls)
	}
}

func (r *recorder) callCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for id, n := range r.calls {
		out[id] = n
	}
	return out
}

// TestSideEffectSkipsWhatTheInboxHasAboveTheCheckpoint starts a
// subscriber where a crash left it: events handled (in the inbox) above
// its checkpoint, interleaved with events not handled. On restart it
// handles exactly the others, once each; the inbox is read only up to the
// store's bound, beyond which nothing can be in it.
func TestSideEffectSkipsWhatTheInboxHasAboveTheCheckpoint(t *testing.T) {
	e := newEnv(t)
	for range 5 {
		openTicket(t, e.db, "t") // positions 1..10
	}
	ctx := ctxFor(t)
	evs, err := e.db.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.state.SaveCheckpoint(ctx, "mailer", 0); err != nil {
		t.Fatal(err)
	}
	// Handled before the crash: 5 and 7 (concurrently, in other streams
	// than 4 and 6), with the checkpoint left at 3.
	if err := e.state.MarkHandledBatch(ctx, "mailer", []eventdesk.Event{evs[0], evs[1], evs[2], evs[4], evs[6]}, 3); err != nil {
		t.Fatal(err)
	}
	if b, err := e.state.InboxBound(ctx, "mailer"); err != nil || b != 7 {
		t.Fatalf("InboxBound = %d, %v; want 7", b, err)
	}
	if b, err := e.state.InboxBound(ctx, "nobody"); err != nil || b != 0 {
		t.Fatalf("InboxBound of an unknown subscriber = %d, %v; want 0", b, err)
	}
	rec := &recorder{}
	r := subscription.NewRunner(e.db, e.state, fastOptions())
	if err := r.AddSideEffect(subscription.SideEffect{Name: "mailer", Start: subscription.FromBeginning, Handler: rec, Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	eventually(t, "caught up", func() bool { return status(r, "mailer").Checkpoint == 10 })
	comment(t, e.db, evs[0].Stream[len(eventdesk.StreamPrefix):]) // 11: live, after the bound
	eventually(t, "the live event handled", func() bool { return status(r, "mailer").Checkpoint == 11 })
	var got []int64
	rec.mu.Lock()
	for _, ev := range rec.handled {
		got = append(got, ev.Position)
	}
	rec.mu.Unlock()
	slices.Sort(got)
	if want := []int64{4, 6, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Fatalf("handled positions %v, want %v", got, want)
	}
	if b, _ := e.state.InboxBound(ctx, "mailer"); b != 11 {
		t.Fatalf("InboxBound after handling 11 = %d", b)
	}
}
