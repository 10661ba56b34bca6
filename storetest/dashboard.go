package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// OpenDashboard opens a fresh, empty dashboard store: the ProjectionStore
// that projection.Dashboard writes and the DashboardReader over it (usually
// the same value).
type OpenDashboard func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.DashboardReader)

// RunDashboard runs the dashboard conformance suite: the adapter's answers
// must equal projection.BuildDashboard over counters kept in memory, for
// any window, after batches, redeliveries and failed transactions.
func RunDashboard(t *testing.T, open OpenDashboard) {
	t.Run("MatchesTheProjection", func(t *testing.T) { dashMatches(t, open) })
	t.Run("FailedBatchWritesNothing", func(t *testing.T) { dashAtomic(t, open) })
	t.Run("InvalidWindow", func(t *testing.T) { dashInvalid(t, open) })
	t.Run("TonePerDay", func(t *testing.T) { dashTone(t, open) })
}

// dashMemTx is the oracle: the projection over plain maps.
type dashMemTx struct {
	tickets  map[string]eventdesk.Ticket
	counters map[string]int64
}

func (m *dashMemTx) Ticket(_ context.Context, id string) (eventdesk.Ticket, bool, error) {
	t, ok := m.tickets[id]
	return t, ok, nil
}

func (m *dashMemTx) SaveTicket(_ context.Context, t eventdesk.Ticket) error {
	m.tickets[t.ID] = t
	return nil
}

func (m *dashMemTx) AddCount(_ context.Context, c string, d int64) error {
	m.counters[c] += d
	return nil
}

// dashHistory generates a few weeks of helpdesk traffic: n tickets opened
// over 20 days, answered, moved on, some reopened, most texts scored for
// sentiment.
func dashHistory(n int) []eventdesk.Event {
	rng := rand.New(rand.NewPCG(7, 11))
	scores := rand.New(rand.NewPCG(13, 17)) // apart, so the traffic stays as it was
	start := time.Date(2025, 2, 1, 8, 0, 0, 0, time.UTC)
	type tk struct {
		id      string
		version int64
		status  eventdesk.Status
		at      time.Time
	}
	var log []eventdesk.Event
	emit := func(t *tk, p eventdesk.Payload, actor string) {
		typ, schema, data, _ := eventdesk.Encode(p)
		t.version++
		log = append(log, eventdesk.Event{
			ID: fmt.Sprintf("0197%04x-0000-7000-8000-%012x", len(log), len(log)), Stream: eventdesk.TicketStream(t.id),
			Version: t.version, Position: int64(len(log) + 1), Type: typ, Schema: schema, Data: data,
			Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: eventdesk.NormalizeTime(t.at),
		})
	}
	// score records, a few seconds later, the tone of the text just
	// emitted, as the sentiment scorer does (most of the time).
	score := func(t *tk) {
		if scores.IntN(5) == 0 {
			return
		}
		source := log[len(log)-1].ID
		at := t.at
		t.at = t.at.Add(time.Duration(1+scores.IntN(30)) * time.Second)
		emit(t, eventdesk.SentimentScored{SourceEventID: source, Score: 2*scores.Float64() - 1, Label: "x"}, "policy:sentiment")
		t.at = at
	}
	tickets := make([]*tk, n)
	for i := range tickets {
		t := &tk{id: fmt.Sprintf("0198%04x-0000-7000-8000-%012x", i, i), at: start.Add(time.Duration(rng.IntN(20*24*60)) * time.Minute)}
		tickets[i] = t
		emit(t, eventdesk.TicketCreated{Title: "t", Priority: eventdesk.PriorityNormal, Requester: "user", Tags: []string{}}, "user")
		score(t)
	}
	for round := 0; round < 6; round++ {
		for _, t := range tickets {
			t.at = t.at.Add(time.Duration(1+rng.IntN(3000)) * time.Minute)
			switch rng.IntN(4) {
			case 0:
				internal := rng.IntN(3) == 0
				emit(t, eventdesk.TicketCommented{CommentID: fmt.Sprint(len(log)), Author: "agent", Body: "hi", Internal: internal}, "agent")
				if !internal {
					score(t)
				}
			case 1:
				emit(t, eventdesk.TicketCommented{CommentID: fmt.Sprint(len(log)), Author: "user", Body: "hi"}, "user")
				score(t)
			default:
				next := t.status
				if next == "" {
					next = eventdesk.StatusNew
				}
				opts := next.NextStatuses()
				to := opts[rng.IntN(len(opts))]
				emit(t, eventdesk.StatusChanged{From: next, To: to}, "agent")
				t.status = to
			}
		}
	}
	// Positions follow time, as the store assigns them.
	slicesSortStable(log)
	for i := range log {
		log[i].Position = int64(i + 1)
	}
	return log
}

// slicesSortStable orders events by time, keeping each stream's order.
func slicesSortStable(log []eventdesk.Event) {
	for i := 1; i < len(log); i++ {
		for j := i; j > 0 && log[j].RecordedAt.Before(log[j-1].RecordedAt); j-- {
			log[j], log[j-1] = log[j-1], log[j]
		}
	}
}

func dashProject(ctx context.Context, ps eventdesk.ProjectionStore, events []eventdesk.Event) error {
	var last int64
	for _, e := range events {
		last = max(last, e.Position)
	}
	return ps.Project(ctx, projection.DashboardName, last, func(tx eventdesk.ProjectionTx) error {
		return projection.Dashboard{}.ApplyAll(ctx, tx, events)
	})
}

func dashMatches(t *testing.T, open OpenDashboard) {
	ctx := projCtx(t)
	ps, dr := open(t)
	log := dashHistory(300)
	mem := &dashMemTx{tickets: map[string]eventdesk.Ticket{}, counters: map[string]int64{}}
	if err := (projection.Dashboard{}).ApplyAll(ctx, mem, log); err != nil {
		t.Fatal(err)
	}
	// Batches of varied size, and a redelivery of an earlier batch.
	for i := 0; i < len(log); {
		n := min(1+i%97, len(log)-i)
		if err := dashProject(ctx, ps, log[i:i+n]); err != nil {
			t.Fatalf("batch at %d: %v", i, err)
		}
		if i > 200 && i < 300 {
			if err := dashProject(ctx, ps, log[i-150:i-100]); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
		}
		i += n
	}
	if pos, ok, err := ps.Checkpoint(ctx, projection.DashboardName); err != nil || !ok || pos != int64(len(log)) {
		t.Fatalf("checkpoint = %d, %t, %v; want %d", pos, ok, err, len(log))
	}
	first, last := eventdesk.Day(log[0].RecordedAt), eventdesk.Day(log[len(log)-1].RecordedAt)
	for _, w := range [][2]time.Time{
		{first, last},
		{first.AddDate(0, 0, -3), first.AddDate(0, 0, 5)},
		{first.AddDate(0, 0, 10), first.AddDate(0, 0, 10)},
		{last.AddDate(0, 0, -30), last.AddDate(0, 0, 30)},
	} {
		got, err := dr.Dashboard(ctx, w[0], w[1])
		if err != nil {
			t.Fatalf("Dashboard(%s, %s): %v", w[0], w[1], err)
		}
		want, err := projection.BuildDashboard(mem.counters, w[0], w[1])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Dashboard(%s, %s) differs from the projection:\n got %+v\nwant %+v", w[0].Format(time.DateOnly), w[1].Format(time.DateOnly), got, want)
		}
	}
	// Something happened in the window: the test is not vacuous.
	d, _ := dr.Dashboard(ctx, first, last)
	var created, resolved, answered int
	for _, day := range d.Days {
		created += day.Created
		resolved += day.Resolved
		answered += day.FirstResponse.Count
	}
	if created != 300 || resolved == 0 || answered == 0 || d.Resolution.Median == 0 {
		t.Errorf("dashboard: created %d, resolved %d, answered %d, median resolution %s", created, resolved, answered, d.Resolution.Median)
	}
	var scored int
	for _, e := range log {
		if e.Type == eventdesk.TypeSentimentScored {
			scored++
		}
	}
	if d.Tone.Count != scored || scored < 300 || d.Tone.Negative == 0 {
		t.Errorf("dashboard tone: %+v; %d scores in the log", d.Tone, scored)
	}
}

func dashAtomic(t *testing.T, open OpenDashboard) {
	ctx := projCtx(t)
	ps, dr := open(t)
	log := dashHistory(20)
	if err := dashProject(ctx, ps, log[:10]); err != nil {
		t.Fatal(err)
	}
	day := eventdesk.Day(log[0].RecordedAt)
	before, err := dr.Dashboard(ctx, day.AddDate(0, 0, -1), day.AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = ps.Project(ctx, projection.DashboardName, log[len(log)-1].Position, func(tx eventdesk.ProjectionTx) error {
		if err := (projection.Dashboard{}).ApplyAll(ctx, tx, log[10:]); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Project = %v, want boom", err)
	}
	after, err := dr.Dashboard(ctx, day.AddDate(0, 0, -1), day.AddDate(0, 0, 30))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Error("a failed transaction changed the dashboard")
	}
	if pos, _, _ := ps.Checkpoint(ctx, projection.DashboardName); pos != log[9].Position {
		t.Errorf("checkpoint = %d, want %d", pos, log[9].Position)
	}
	// Going on from there, a checkpoint below the stored one stays put.
	if err := dashProject(ctx, ps, log[10:]); err != nil {
		t.Fatal(err)
	}
	if err := ps.Project(ctx, projection.DashboardName, 1, func(eventdesk.ProjectionTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if pos, _, _ := ps.Checkpoint(ctx, projection.DashboardName); pos != log[len(log)-1].Position {
		t.Errorf("checkpoint moved back to %d", pos)
	}
}

func dashInvalid(t *testing.T, open OpenDashboard) {
	ctx := projCtx(t)
	_, dr := open(t)
	day := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, w := range [][2]time.Time{
		{day, day.AddDate(0, 0, -1)},
		{day, day.AddDate(0, 0, eventdesk.MaxDashboardDays)},
	} {
		if _, err := dr.Dashboard(ctx, w[0], w[1]); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
			t.Errorf("Dashboard(%s, %s) = %v, want an EInvalid error", w[0], w[1], err)
		}
	}
	// An empty store answers with zeros for every day.
	d, err := dr.Dashboard(ctx, day, day.AddDate(0, 0, eventdesk.MaxDashboardDays-1))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Days) != eventdesk.MaxDashboardDays || d.Days[0].Backlog == nil {
		t.Errorf("empty dashboard: %d days", len(d.Days))
	}
}

// dashTone checks the tone counters against figures worked out by hand:
// scores count on the UTC day they were recorded, their sum is kept to
// four decimals, -0.5 itself is strongly negative, and a score delivered
// twice (in a later batch) counts once.
func dashTone(t *testing.T, open OpenDashboard) {
	ctx := projCtx(t)
	ps, dr := open(t)
	day := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var log []eventdesk.Event
	versions := map[string]int64{}
	emit := func(ticket string, at time.Time, p eventdesk.Payload) eventdesk.Event {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		versions[ticket]++
		e := eventdesk.Event{
			ID: fmt.Sprintf("0197ffff-0000-7000-8000-%012x", len(log)+1), Stream: eventdesk.TicketStream(ticket),
			Version: versions[ticket], Position: int64(len(log) + 1), Type: typ, Schema: schema, Data: data,
			Metadata: eventdesk.Metadata{Actor: "policy:sentiment"}, RecordedAt: eventdesk.NormalizeTime(at),
		}
		log = append(log, e)
		return e
	}
	a, b := "0198ffff-0000-7000-8000-00000000000a", "0198ffff-0000-7000-8000-00000000000b"
	src := emit(a, day.Add(9*time.Hour), eventdesk.TicketCreated{Title: "Still broken!!", Priority: eventdesk.PriorityNormal, Requester: "rita", Tags: []string{}})
	scoreOf := func(ticket string, at time.Time, s float64) eventdesk.Event {
		return emit(ticket, at, eventdesk.SentimentScored{SourceEventID: src.ID, Score: s, Label: "x"})
	}
	scoreOf(a, day.Add(9*time.Hour+time.Second), -0.91236)
	emit(b, day.Add(23*time.Hour), eventdesk.TicketCreated{Title: "Thanks", Priority: eventdesk.PriorityLow, Requester: "sam", Tags: []string{}})
	scoreOf(b, day.Add(23*time.Hour+59*time.Minute+59*time.Second), 0.6249)
	dup := scoreOf(b, day.Add(24*time.Hour), -0.5) // the next day, UTC
	scoreOf(a, day.Add(30*time.Hour), -0.49994)
	scoreOf(a, day.Add(31*time.Hour), 0)
	if err := dashProject(ctx, ps, log[:4]); err != nil {
		t.Fatal(err)
	}
	if err := dashProject(ctx, ps, log[4:]); err != nil {
		t.Fatal(err)
	}
	if err := dashProject(ctx, ps, []eventdesk.Event{dup}); err != nil {
		t.Fatal(err)
	}
	got, err := dr.Dashboard(ctx, day.AddDate(0, 0, -1), day.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := []eventdesk.ToneSummary{
		{},
		{Count: 2, Sum: -0.2875, Negative: 1},
		{Count: 3, Sum: -0.9999, Negative: 1},
		{},
	}
	for i, w := range want {
		if g := got.Days[i].Tone; g != w {
			t.Errorf("%s: tone %+v, want %+v", got.Days[i].Day.Format(time.DateOnly), g, w)
		}
	}
	if got.Tone != (eventdesk.ToneSummary{Count: 5, Sum: -1.2874, Negative: 2}) {
		t.Errorf("tone of the window: %+v", got.Tone)
	}
	if avg, ok := got.Days[2].Tone.Average(); !ok || avg != -0.3333 {
		t.Errorf("average of %s = %v, %t; want -0.3333", got.Days[2].Day.Format(time.DateOnly), avg, ok)
	}
	// A window that starts on the second day leaves the first one out.
	got, err = dr.Dashboard(ctx, day.AddDate(0, 0, 1), day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got.Tone != want[2] || got.Days[0].Tone != want[2] {
		t.Errorf("tone of the second day alone: %+v", got.Tone)
	}
}
