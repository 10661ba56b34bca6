package loadgen_test

import (
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/loadgen"
)

// recorded returns the events the first n steps of t record when all of
// them are written by actor, as a load over HTTP does with one token.
func recorded(tb testing.TB, g *loadgen.Generator, t loadgen.Ticket, n int, actor string) []eventdesk.Event {
	tb.Helper()
	state := eventdesk.Ticket{}
	var out []eventdesk.Event
	add := func(cmd eventdesk.Command) {
		ps, err := eventdesk.Decide(state, cmd)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range ps {
			typ, schema, data, err := eventdesk.Encode(p)
			if err != nil {
				tb.Fatal(err)
			}
			state = eventdesk.Apply(state, p, t.At, actor)
			state.Version++
			out = append(out, eventdesk.Event{Type: typ, Schema: schema, Data: data, Metadata: eventdesk.Metadata{Actor: actor}})
		}
	}
	add(t.Create())
	for k, s := range t.Steps[:n] {
		if s.Kind == loadgen.Comment {
			add(eventdesk.AddComment{CommentID: g.EventID(t.Index, k+1, 0, s.At), Author: actor, Body: s.Body, Internal: s.Internal})
			continue
		}
		add(s.Edit())
	}
	return out
}

func TestStepsDone(t *testing.T) {
	g := newGen(t, loadgen.Config{Seed: 4, Tickets: 500})
	var tk loadgen.Ticket
	for i := range int64(500) {
		if tk = g.Ticket(i); len(tk.Steps) >= 5 {
			break
		}
	}
	for n := 0; n <= len(tk.Steps); n++ {
		events := recorded(t, g, tk, n, "loader")
		if got := loadgen.StepsDone(tk, events, "loader"); got != n {
			t.Errorf("after %d of %d steps: StepsDone = %d", n, len(tk.Steps), got)
		}
		// Events of others (a policy, another user) do not count.
		other := append([]eventdesk.Event(nil), events...)
		for i := range other {
			other[i].Metadata.Actor = "someone.else"
		}
		if got := loadgen.StepsDone(tk, other, "loader"); got != 0 {
			t.Errorf("another user's %d steps count as %d of ours", n, got)
		}
	}
	// A step that recorded nothing (a policy got there first) counts as
	// done once a later step is found.
	all := recorded(t, g, tk, len(tk.Steps), "loader")
	withoutFirst := append([]eventdesk.Event{all[0]}, all[2:]...)
	if got := loadgen.StepsDone(tk, withoutFirst, "loader"); got != len(tk.Steps) {
		t.Errorf("with the first step's event missing: %d of %d done", got, len(tk.Steps))
	}
}
