package loadgen_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/loadgen"
	"github.com/eventdesk/eventdesk/sentiment"
)

func newGen(tb testing.TB, c loadgen.Config) *loadgen.Generator {
	tb.Helper()
	g, err := loadgen.New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// TestSameSeedSameTickets: a ticket depends on the configuration and its
// index only, not on which tickets were generated before or in parallel.
func TestSameSeedSameTickets(t *testing.T) {
	c := loadgen.Config{Seed: 7, Tickets: 5000}
	a, b := newGen(t, c), newGen(t, c)
	for i := int64(4999); i >= 0; i -= 7 {
		if ta, tb := a.Ticket(i), b.Ticket(i); !reflect.DeepEqual(ta, tb) {
			t.Fatalf("ticket %d differs between two generators:\n%+v\n%+v", i, ta, tb)
		}
	}
	first := a.Ticket(42)
	for range 3 {
		_ = a.Ticket(43)
		if again := a.Ticket(42); !reflect.DeepEqual(first, again) {
			t.Fatal("ticket 42 changed after generating others")
		}
	}
	other := newGen(t, loadgen.Config{Seed: 8, Tickets: 5000}).Ticket(42)
	if other.ID == first.ID || other.Title+other.Description == first.Title+first.Description && other.Requester == first.Requester {
		t.Errorf("seeds 7 and 8 generate the same ticket 42: %+v", other)
	}
}

// TestGoldenTicket pins the generated content, so that a change to the
// generator (or to a dependency's random numbers) is noticed: loads made
// before and after it would not resume into each other.
func TestGoldenTicket(t *testing.T) {
	g := newGen(t, loadgen.Config{Seed: 1, Tickets: 1000})
	tk := g.Ticket(3)
	got := []any{tk.ID, tk.At.Format(time.RFC3339), tk.Requester, tk.Title, tk.Priority, len(tk.Steps), tk.Events()}
	want := []any{"01a05756-8a4f-741d-9251-51cecc40df8a", "2026-08-31T10:21:24Z", "sophie.goldwasser@example.org",
		"Two-factor code never arrives", eventdesk.PriorityHigh, 4, 6}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ticket 3 of seed 1 is now %#v, was %#v", got, want)
	}
}

// TestTicketsApply: every ticket opens, and each of its steps, applied in
// order, records exactly one event, by an actor allowed to cause it.
func TestTicketsApply(t *testing.T) {
	g := newGen(t, loadgen.Config{Seed: 3, Tickets: 3000})
	kinds := map[loadgen.Kind]int{}
	var events, internal, byRequester, open int
	for i := range int64(3000) {
		tk := g.Ticket(i)
		if err := eventdesk.ValidateUserName("requester", tk.Requester); err != nil {
			t.Fatalf("ticket %d: %v", i, err)
		}
		payloads, err := eventdesk.Decide(eventdesk.Ticket{}, tk.Create())
		if err != nil || len(payloads) != 1 {
			t.Fatalf("ticket %d: open: %v, %d events", i, err, len(payloads))
		}
		if tk.Actor.Role != eventdesk.RoleAgent && tk.Assignee != "" {
			t.Fatalf("ticket %d: a requester assigns at creation", i)
		}
		state := eventdesk.Ticket{ID: tk.ID, Version: 0}
		for _, p := range payloads {
			state = eventdesk.Apply(state, p, tk.At, tk.Actor.Name)
		}
		state.Version = 1
		prev := tk.At
		for k, s := range tk.Steps {
			kinds[s.Kind]++
			if !s.At.After(prev) || !s.At.Before(g.End()) {
				t.Fatalf("ticket %d step %d at %v: after %v and before %v?", i, k, s.At, prev, g.End())
			}
			prev = s.At
			var cmd eventdesk.Command = s.Edit()
			if s.Kind == loadgen.Comment {
				cmd = eventdesk.AddComment{CommentID: g.EventID(i, k+1, 0, s.At), Author: s.Actor.Name, Body: s.Body, Internal: s.Internal}
				if s.Internal {
					internal++
				}
			}
			if s.Actor.Role == eventdesk.RoleRequester {
				byRequester++
				if s.Actor.Name != tk.Requester || s.Internal || s.Kind != loadgen.Comment {
					t.Fatalf("ticket %d step %d: a requester may not %+v", i, k, s)
				}
			}
			ps, err := eventdesk.Decide(state, cmd)
			if err != nil || len(ps) != s.Events {
				t.Fatalf("ticket %d step %d (%v %+v) on %s ticket: %v, %d events", i, k, s.Kind, s, state.Status, err, len(ps))
			}
			for _, p := range ps {
				state = eventdesk.Apply(state, p, s.At, s.Actor.Name)
				state.Version++
			}
		}
		if state.Status.Active() {
			open++
		}
		events += tk.Events()
	}
	perTicket := float64(events) / 3000
	t.Logf("%.2f events per ticket, steps %v, %d internal notes, %d steps by requesters, %d tickets still active", perTicket, kinds, internal, byRequester, open)
	if perTicket < 4 || perTicket > 9 {
		t.Errorf("%.2f events per ticket: not a plausible helpdesk", perTicket)
	}
	for _, k := range []loadgen.Kind{loadgen.Comment, loadgen.Status, loadgen.Assign, loadgen.Escalate} {
		if kinds[k] == 0 {
			t.Errorf("no %v step in 3000 tickets", k)
		}
	}
	if internal == 0 || byRequester == 0 || open == 0 || open == 3000 {
		t.Errorf("internal notes %d, requester steps %d, active tickets %d: want some of each", internal, byRequester, open)
	}
}

// TestMoodsReadAsMoods: the sentiment subscriber's scorer finds angry
// tickets negative and calm ones positive.
func TestMoodsReadAsMoods(t *testing.T) {
	g := newGen(t, loadgen.Config{Seed: 11, Tickets: 600})
	a := sentiment.NewAnalyzer()
	count := map[loadgen.Mood]int{}
	sum := map[loadgen.Mood]float64{}
	negative := 0
	for i := range int64(600) {
		tk := g.Ticket(i)
		s := a.Score(tk.Description)
		count[tk.Mood]++
		sum[tk.Mood] += s.Compound
		if s.Label == sentiment.LabelNegative {
			negative++
		}
	}
	for _, m := range []loadgen.Mood{loadgen.Calm, loadgen.Frustrated, loadgen.Angry} {
		if count[m] == 0 {
			t.Fatalf("no %v ticket in 600", m)
		}
		t.Logf("%v: %d tickets, mean compound %.2f", m, count[m], sum[m]/float64(count[m]))
	}
	if avg := sum[loadgen.Angry] / float64(count[loadgen.Angry]); avg > -0.3 {
		t.Errorf("angry tickets score %.2f on average: too mild for the escalation policy", avg)
	}
	if avg := sum[loadgen.Calm] / float64(count[loadgen.Calm]); avg < 0.2 {
		t.Errorf("calm tickets score %.2f on average", avg)
	}
	if negative < 60 || negative > 400 {
		t.Errorf("%d of 600 descriptions read negative", negative)
	}
}

// TestArrivals: tickets arrive in index order over the period, mostly on
// weekdays in office hours.
func TestArrivals(t *testing.T) {
	g := newGen(t, loadgen.Config{Seed: 5, Tickets: 20000})
	var prev time.Time
	office := 0
	for i := range int64(20000) {
		at := g.Ticket(i).At
		if at.Before(prev) || at.Before(g.Config().Start) || !at.Before(g.End()) {
			t.Fatalf("ticket %d arrives at %v (previous %v, period %v–%v)", i, at, prev, g.Config().Start, g.End())
		}
		prev = at
		if wd := at.Weekday(); wd != time.Saturday && wd != time.Sunday && at.Hour() >= 7 && at.Hour() < 20 {
			office++
		}
	}
	if office < 15000 {
		t.Errorf("%d of 20000 tickets in office hours", office)
	}
}

func TestEventIDs(t *testing.T) {
	g := newGen(t, loadgen.Config{Seed: 9, Tickets: 10})
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	seen := map[string]bool{}
	for i := range int64(50) {
		for step := range 12 {
			for n := range 3 {
				id := g.EventID(i, step, n, at)
				if !eventdesk.ValidID(id) || id[14] != '7' || id[19] < '8' || id[19] > 'b' {
					t.Fatalf("%q is no UUIDv7", id)
				}
				if seen[id] {
					t.Fatalf("id %s repeats", id)
				}
				seen[id] = true
			}
		}
	}
	if again := newGen(t, loadgen.Config{Seed: 9, Tickets: 10}); again.EventID(1, 2, 0, at) != g.EventID(1, 2, 0, at) {
		t.Error("ids are not deterministic")
	}
	if newGen(t, loadgen.Config{Seed: 10, Tickets: 10}).EventID(1, 2, 0, at) == g.EventID(1, 2, 0, at) {
		t.Error("two seeds share an id")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []loadgen.Config{{}, {Tickets: 1, Period: time.Minute}, {Tickets: 1, Agents: 1}} {
		if _, err := loadgen.New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func BenchmarkTicket(b *testing.B) {
	g := newGen(b, loadgen.Config{Seed: 1, Tickets: 1_000_000})
	for i := 0; b.Loop(); i++ {
		_ = g.Ticket(int64(i))
	}
}
