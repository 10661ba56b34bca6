package projection_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// memTx is an in-memory eventdesk.ProjectionTx: the projection is pure
// logic over that port, and the adapters' own tests run it on real
// databases.
type memTx struct {
	tickets  map[string]eventdesk.Ticket
	counters map[string]int64
}

func newMemTx() *memTx {
	return &memTx{tickets: map[string]eventdesk.Ticket{}, counters: map[string]int64{}}
}

func (m *memTx) Ticket(_ context.Context, id string) (eventdesk.Ticket, bool, error) {
	t, ok := m.tickets[id]
	return t, ok, nil
}

func (m *memTx) SaveTicket(_ context.Context, t eventdesk.Ticket) error {
	m.tickets[t.ID] = t
	return nil
}

func (m *memTx) AddCount(_ context.Context, c string, d int64) error {
	m.counters[c] += d
	return nil
}

// history builds events of one ticket stream.
type history struct {
	id     string
	events []eventdesk.Event
}

func (h *history) add(tb testing.TB, p eventdesk.Payload, at time.Time, actor string) eventdesk.Event {
	tb.Helper()
	typ, schema, data, err := eventdesk.Encode(p)
	if err != nil {
		tb.Fatal(err)
	}
	e := eventdesk.Event{
		ID: fmt.Sprintf("%s-%d", h.id[:8], len(h.events)+1), Stream: eventdesk.TicketStream(h.id),
		Version: int64(len(h.events) + 1), Type: typ, Schema: schema, Data: data,
		Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: at,
	}
	h.events = append(h.events, e)
	return e
}

var day0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func TestDashboardProjection(t *testing.T) {
	ctx := context.Background()
	tx := newMemTx()
	p := projection.Dashboard{}
	apply := func(e eventdesk.Event) {
		t.Helper()
		if err := p.Apply(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Ticket A: opened day 0, answered by an agent 30 min later, resolved
	// day 1 (after 26h), closed day 2 (no second resolution).
	a := &history{id: "0195a000-0000-7000-8000-00000000000a"}
	apply(a.add(t, eventdesk.TicketCreated{Title: "A", Priority: "normal", Requester: "rita", Tags: []string{}}, day0, "rita"))
	apply(a.add(t, eventdesk.TicketCommented{CommentID: "c1", Author: "rita", Body: "more info"}, day0.Add(10*time.Minute), "rita"))
	apply(a.add(t, eventdesk.TicketCommented{CommentID: "c2", Author: "bob", Body: "internal", Internal: true}, day0.Add(20*time.Minute), "bob"))
	apply(a.add(t, eventdesk.StatusChanged{From: "new", To: "open"}, day0.Add(25*time.Minute), "bob"))
	apply(a.add(t, eventdesk.TicketCommented{CommentID: "c3", Author: "bob", Body: "on it"}, day0.Add(30*time.Minute), "bob"))
	apply(a.add(t, eventdesk.StatusChanged{From: "open", To: "resolved"}, day0.Add(26*time.Hour), "bob"))
	apply(a.add(t, eventdesk.StatusChanged{From: "resolved", To: "closed"}, day0.Add(50*time.Hour), "bob"))
	// Ticket B: opened day 1, pending, never answered.
	b := &history{id: "0195a000-0000-7000-8000-00000000000b"}
	apply(b.add(t, eventdesk.TicketCreated{Title: "B", Priority: "high", Requester: "sam", Tags: []string{}}, day0.Add(24*time.Hour), "sam"))
	apply(b.add(t, eventdesk.StatusChanged{From: "new", To: "pending"}, day0.Add(25*time.Hour), "bob"))
	// A redelivered event changes nothing.
	apply(b.events[1])
	apply(a.events[2])

	if got := tx.tickets[a.id]; got.Comments != nil || got.Title != "" || got.Version != 7 {
		t.Errorf("stored ticket is not slim: %+v", got)
	}
	d, err := projection.BuildDashboard(tx.counters, day0.AddDate(0, 0, -1), day0.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Days) != 4 || !d.Days[0].Day.Equal(eventdesk.Day(day0.AddDate(0, 0, -1))) {
		t.Fatalf("days: %+v", d.Days)
	}
	type row struct{ created, resolved, new, open, pending int }
	want := []row{
		{0, 0, 0, 0, 0}, // the day before: nothing yet
		{1, 0, 0, 1, 0}, // A opened and moved to open
		{1, 1, 0, 0, 1}, // B opened → pending; A resolved
		{0, 0, 0, 0, 1}, // A closed: no second resolution
	}
	for i, w := range want {
		g := d.Days[i]
		got := row{g.Created, g.Resolved, g.Backlog["new"], g.Backlog["open"], g.Backlog["pending"]}
		if got != w {
			t.Errorf("day %d: got %+v, want %+v", i, got, w)
		}
	}
	if d.Backlog["pending"] != 1 || d.Backlog["open"] != 0 || d.Backlog["new"] != 0 {
		t.Errorf("backlog now: %v", d.Backlog)
	}
	// The requester's own comment and the internal note are no response.
	if fr := d.Days[1].FirstResponse; fr.Count != 1 || !near(fr.Median, 30*time.Minute) {
		t.Errorf("first response: %+v", fr)
	}
	if r := d.Resolution; r.Count != 1 || !near(r.Median, 26*time.Hour) {
		t.Errorf("resolution: %+v", r)
	}

	// A window that ends before the last changes still sees the backlog as
	// it was then.
	d, err = projection.BuildDashboard(tx.counters, day0, day0)
	if err != nil {
		t.Fatal(err)
	}
	if g := d.Days[0]; g.Backlog["open"] != 1 || g.Backlog["pending"] != 0 {
		t.Errorf("backlog at the end of day 0: %v", g.Backlog)
	}
}

// near reports whether got is within a histogram bucket (9%) of want.
func near(got, want time.Duration) bool {
	return got >= want*91/100 && got <= want*109/100
}

func TestDashboardQuantiles(t *testing.T) {
	tx := newMemTx()
	ctx := context.Background()
	// 100 tickets resolved on one day after 1..100 hours.
	for i := 1; i <= 100; i++ {
		h := &history{id: fmt.Sprintf("0195a000-0000-7000-8000-%012d", i)}
		created := day0.Add(-time.Duration(i) * time.Hour)
		for _, e := range []eventdesk.Event{
			h.add(t, eventdesk.TicketCreated{Title: "x", Priority: "low", Requester: "r", Tags: []string{}}, created, "r"),
			h.add(t, eventdesk.StatusChanged{From: "new", To: "resolved"}, day0, "bob"),
		} {
			if err := (projection.Dashboard{}).Apply(ctx, tx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	d, err := projection.BuildDashboard(tx.counters, day0, day0)
	if err != nil {
		t.Fatal(err)
	}
	r := d.Days[0].Resolution
	if r.Count != 100 || !near(r.Median, 50*time.Hour) || !near(r.P90, 90*time.Hour) {
		t.Errorf("resolution: %+v", r)
	}
	if _, err := projection.BuildDashboard(tx.counters, day0, day0.AddDate(0, 0, -1)); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
		t.Errorf("to before from: %v", err)
	}
	if _, err := projection.BuildDashboard(tx.counters, day0, day0.AddDate(2, 0, 0)); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
		t.Errorf("two years: %v", err)
	}
}

func TestBucket(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{{0, 0}, {59 * time.Second, 0}, {time.Minute, 1}, {2 * time.Minute, 9}, {4 * time.Minute, 17}} {
		if got := projection.Bucket(c.d); got != c.want {
			t.Errorf("Bucket(%s) = %d, want %d", c.d, got, c.want)
		}
	}
}

// TestDashboardTone: sentiment scores count on the day they were
// recorded: how many, their sum (to four decimals), and how many were
// strongly negative (at or below -0.5, the boundary included); a
// redelivered score counts once.
func TestDashboardTone(t *testing.T) {
	ctx := context.Background()
	tx := newMemTx()
	p := projection.Dashboard{}
	apply := func(e eventdesk.Event) {
		t.Helper()
		if err := p.Apply(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	a := &history{id: "0195a000-0000-7000-8000-0000000000a1"}
	created := a.add(t, eventdesk.TicketCreated{Title: "Still broken!!", Priority: "normal", Requester: "rita", Tags: []string{}}, day0, "rita")
	apply(created)
	score := func(at time.Time, s float64) eventdesk.Event {
		e := a.add(t, eventdesk.SentimentScored{SourceEventID: created.ID, Score: s, Label: "x"}, at, "policy:sentiment")
		apply(e)
		return e
	}
	first := score(day0.Add(time.Second), -0.81234)
	score(day0.Add(time.Hour), 0.30006)
	score(day0.Add(25*time.Hour), -0.5)
	score(day0.Add(26*time.Hour), -0.49995)
	apply(first) // redelivered

	d, err := projection.BuildDashboard(tx.counters, day0.AddDate(0, 0, -1), day0.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := []eventdesk.ToneSummary{
		{},
		{Count: 2, Sum: -0.5122, Negative: 1},
		{Count: 2, Sum: -0.9999, Negative: 1},
	}
	for i, w := range want {
		if got := d.Days[i].Tone; got != w {
			t.Errorf("day %d: tone %+v, want %+v", i, got, w)
		}
	}
	if got := d.Tone; got != (eventdesk.ToneSummary{Count: 4, Sum: -1.5121, Negative: 2}) {
		t.Errorf("window tone: %+v", got)
	}
	if avg, ok := d.Days[1].Tone.Average(); !ok || avg != -0.2561 {
		t.Errorf("average of day 0 = %v, %t", avg, ok)
	}
	if _, ok := d.Days[0].Tone.Average(); ok {
		t.Error("a day without scores has an average")
	}
	// Scores leave the rest of the dashboard alone.
	if g := d.Days[1]; g.Created != 1 || g.Backlog["new"] != 1 || g.FirstResponse.Count != 0 {
		t.Errorf("day 0: %+v", g)
	}
}

func TestToneUnits(t *testing.T) {
	for _, c := range []struct {
		score float64
		want  int64
	}{
		{0, 0}, {1, 10000}, {-1, -10000}, {0.12344, 1234}, {-0.12346, -1235},
		{0.00005, 1}, {-0.00005, 0}, {-0.5, -5000}, {0.6249, 6249},
	} {
		if got := projection.ToneUnits(c.score); got != c.want {
			t.Errorf("ToneUnits(%v) = %d, want %d", c.score, got, c.want)
		}
	}
}
