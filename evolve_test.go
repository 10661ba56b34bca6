package eventdesk_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
)

// baseTicket is the state after created() was recorded as version 1 by the
// requester.
func baseTicket() eventdesk.Ticket {
	return eventdesk.Ticket{
		ID: ticketID, Title: "Printer on fire", Description: "It smells of toner.", Priority: eventdesk.PriorityNormal,
		Status: eventdesk.StatusNew, Requester: requester, Tags: []string{"hardware", "printer"},
		CreatedAt: at(1), UpdatedAt: at(1), UpdatedBy: requester, Version: 1, Position: 101,
	}
}

// touched is baseTicket after a second event at(2) by actor.
func touched(actor string, edit func(*eventdesk.Ticket)) eventdesk.Ticket {
	t := baseTicket()
	t.UpdatedAt, t.UpdatedBy, t.Version, t.Position = at(2), actor, 2, 102
	if edit != nil {
		edit(&t)
	}
	return t
}

func TestEvolveEachEvent(t *testing.T) {
	cases := []struct {
		name  string
		steps []step // after created() by the requester
		want  eventdesk.Ticket
	}{
		{name: "created", want: baseTicket()},
		{name: "title changed", steps: []step{{agent, eventdesk.TitleChanged{From: "Printer on fire", To: "Toner"}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Title = "Toner" })},
		{name: "description changed", steps: []step{{agent, eventdesk.DescriptionChanged{Description: "More."}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Description = "More." })},
		{name: "priority changed", steps: []step{{agent, eventdesk.PriorityChanged{From: "normal", To: "urgent", Reason: "x"}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Priority = eventdesk.PriorityUrgent })},
		{name: "tags changed", steps: []step{{agent, eventdesk.TagsChanged{Added: []string{"zzz", "aaa"}, Removed: []string{"printer"}}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Tags = []string{"aaa", "hardware", "zzz"} })},
		{name: "tags changed, added already there, removed not there", steps: []step{{agent, eventdesk.TagsChanged{Added: []string{"printer"}, Removed: []string{"nope"}}}},
			want: touched(agent, nil)},
		{name: "all tags removed", steps: []step{{agent, eventdesk.TagsChanged{Removed: []string{"printer", "hardware"}}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Tags = []string{} })},
		{name: "assigned", steps: []step{{agent, eventdesk.TicketAssigned{Assignee: agent}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Assignee = agent })},
		{name: "unassigned", steps: []step{{agent, eventdesk.TicketAssigned{Assignee: agent}}, {"carol", eventdesk.TicketUnassigned{Previous: agent}}},
			want: touched("carol", func(t *eventdesk.Ticket) { t.UpdatedAt, t.Version, t.Position = at(3), 3, 103 })},
		{name: "opened", steps: []step{{agent, eventdesk.StatusChanged{From: "new", To: "open"}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Status = eventdesk.StatusOpen })},
		{name: "pending", steps: []step{{agent, eventdesk.StatusChanged{From: "new", To: "pending"}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Status = eventdesk.StatusPending })},
		{name: "resolved", steps: []step{{agent, eventdesk.StatusChanged{From: "new", To: "resolved"}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Status, t.ResolvedAt = eventdesk.StatusResolved, at(2) })},
		{name: "closed", steps: []step{{agent, eventdesk.StatusChanged{From: "new", To: "closed"}}},
			want: touched(agent, func(t *eventdesk.Ticket) { t.Status, t.ResolvedAt = eventdesk.StatusClosed, at(2) })},
		{name: "public reply by the team", steps: []step{{agent, eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "Hi"}}},
			want: touched(agent, func(t *eventdesk.Ticket) {
				t.Comments = []eventdesk.Comment{{ID: commentID1, Author: agent, Body: "Hi", CreatedAt: at(2)}}
				t.CommentCount, t.PublicCommentCount, t.FirstResponseAt = 1, 1, at(2)
			})},
		{name: "internal note", steps: []step{{agent, eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "Hm", Internal: true}}},
			want: touched(agent, func(t *eventdesk.Ticket) {
				t.Comments = []eventdesk.Comment{{ID: commentID1, Author: agent, Body: "Hm", Internal: true, CreatedAt: at(2)}}
				t.CommentCount = 1
			})},
		{name: "reply by the requester", steps: []step{{requester, eventdesk.TicketCommented{CommentID: commentID1, Author: requester, Body: "Still?"}}},
			want: touched(requester, func(t *eventdesk.Ticket) {
				t.Comments = []eventdesk.Comment{{ID: commentID1, Author: requester, Body: "Still?", CreatedAt: at(2)}}
				t.CommentCount, t.PublicCommentCount = 1, 1
			})},
		{name: "sentiment scored does not touch the ticket", steps: []step{{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: eventID1, Score: -0.5, Label: "negative"}}},
			want: func() eventdesk.Ticket {
				t := baseTicket()
				t.Version, t.Position = 2, 102
				t.Sentiment = []eventdesk.SentimentScore{{SourceEventID: eventID1, Score: -0.5, Label: "negative", At: at(2)}}
				return t
			}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fold(t, eventsBy(t, append([]step{{requester, created()}}, tc.steps...)...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ticket (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvolveCreatedVariants(t *testing.T) {
	c := created()
	c.Tags, c.Assignee, c.Priority = nil, agent, eventdesk.PriorityLow
	got := fold(t, events(t, c))
	want := baseTicket()
	want.Tags, want.Assignee, want.Priority, want.UpdatedBy = []string{}, agent, eventdesk.PriorityLow, agent
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ticket (-want +got):\n%s", diff)
	}
}

func TestEvolveDerivedFields(t *testing.T) {
	es := eventsBy(t,
		step{requester, created()}, // 1
		step{requester, eventdesk.TicketCommented{CommentID: commentID1, Author: requester, Body: "more"}},                                     // 2: requester, no response
		step{agent, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000003", Author: agent, Body: "note", Internal: true}}, // 3: note, no response
		step{agent, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000004", Author: agent, Body: "reply"}},                // 4: first response
		step{agent, eventdesk.StatusChanged{From: "new", To: "open"}},                                                                          // 5
		step{"carol", eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000006", Author: "carol", Body: "also"}},             // 6: second response
		step{agent, eventdesk.StatusChanged{From: "open", To: "resolved"}},                                                                     // 7: resolved
		step{agent, eventdesk.StatusChanged{From: "resolved", To: "closed"}},                                                                   // 8: closed, still resolved at 7
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: eventID1, Score: 0.5, Label: "positive"}},                            // 9
		step{requester, eventdesk.StatusChanged{From: "closed", To: "open"}},                                                                   // 10: reopened
		step{agent, eventdesk.StatusChanged{From: "open", To: "pending"}},                                                                      // 11
		step{agent, eventdesk.StatusChanged{From: "pending", To: "resolved"}},                                                                  // 12: resolved again
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: eventID2, Score: 0.1, Label: "neutral"}},                             // 13
	)
	checks := []struct {
		version                 int64
		firstResponse, resolved time.Time
		comments                int
		updatedAt               time.Time
		updatedBy               string
		status                  eventdesk.Status
	}{
		{1, time.Time{}, time.Time{}, 0, at(1), requester, "new"},
		{2, time.Time{}, time.Time{}, 1, at(2), requester, "new"},
		{3, time.Time{}, time.Time{}, 2, at(3), agent, "new"},
		{4, at(4), time.Time{}, 3, at(4), agent, "new"},
		{5, at(4), time.Time{}, 3, at(5), agent, "open"},
		{6, at(4), time.Time{}, 4, at(6), "carol", "open"},
		{7, at(4), at(7), 4, at(7), agent, "resolved"},
		{8, at(4), at(7), 4, at(8), agent, "closed"},
		{9, at(4), at(7), 4, at(8), agent, "closed"}, // sentiment: no update
		{10, at(4), time.Time{}, 4, at(10), requester, "open"},
		{11, at(4), time.Time{}, 4, at(11), agent, "pending"},
		{12, at(4), at(12), 4, at(12), agent, "resolved"},
		{13, at(4), at(12), 4, at(12), agent, "resolved"},
	}
	for _, c := range checks {
		got := fold(t, es[:c.version])
		type derived struct {
			Version                 int64
			FirstResponse, Resolved time.Time
			Comments, CommentsLen   int
			UpdatedAt               time.Time
			UpdatedBy               string
			Status                  eventdesk.Status
		}
		want := derived{c.version, c.firstResponse, c.resolved, c.comments, c.comments, c.updatedAt, c.updatedBy, c.status}
		have := derived{got.Version, got.FirstResponseAt, got.ResolvedAt, got.CommentCount, len(got.Comments), got.UpdatedAt, got.UpdatedBy, got.Status}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("at version %d (-want +got):\n%s", c.version, diff)
		}
	}
}

func TestEvolveSentimentHistoryIsBounded(t *testing.T) {
	ps := []eventdesk.Payload{created()}
	n := eventdesk.MaxSentimentHistory + 5
	for i := range n {
		ps = append(ps, eventdesk.SentimentScored{SourceEventID: fmt.Sprintf("0190a5b2-7c3d-7e4f-8a1b-e000000000%02d", i), Score: float64(i) / 100})
	}
	got := fold(t, events(t, ps...))
	if len(got.Sentiment) != eventdesk.MaxSentimentHistory {
		t.Fatalf("kept %d scores, want %d", len(got.Sentiment), eventdesk.MaxSentimentHistory)
	}
	if first, last := got.Sentiment[0].Score, got.Sentiment[len(got.Sentiment)-1].Score; first != 0.05 || last != float64(n-1)/100 {
		t.Errorf("kept scores %v … %v, want the newest (0.05 … %v)", first, last, float64(n-1)/100)
	}
	if !got.UpdatedAt.Equal(at(1)) || got.Version != int64(n+1) {
		t.Errorf("UpdatedAt %v version %d, want %v and %d", got.UpdatedAt, got.Version, at(1), n+1)
	}
}

func TestEvolveRejectsBrokenStreams(t *testing.T) {
	base := events(t, created())
	state := fold(t, base)
	next := func(edit func(*eventdesk.Event)) eventdesk.Event {
		e := encodeEvent(t, eventdesk.TitleChanged{From: "Printer on fire", To: "x"}, eventdesk.Event{
			ID: eventID2, Stream: stream, Version: 2, Position: 102, RecordedAt: at(2),
		})
		edit(&e)
		return e
	}
	firstOf := func(edit func(*eventdesk.Event)) eventdesk.Event {
		e := base[0]
		edit(&e)
		return e
	}
	cases := []struct {
		name  string
		state eventdesk.Ticket
		event eventdesk.Event
	}{
		{"version gap", state, next(func(e *eventdesk.Event) { e.Version = 3 })},
		{"duplicate version", state, next(func(e *eventdesk.Event) { e.Version = 1 })},
		{"version zero", eventdesk.Ticket{}, firstOf(func(e *eventdesk.Event) { e.Version = 0 })},
		{"first event at version 2", eventdesk.Ticket{}, firstOf(func(e *eventdesk.Event) { e.Version = 2 })},
		{"wrong stream", state, next(func(e *eventdesk.Event) { e.Stream = eventdesk.TicketStream(commentID1) })},
		{"stream not starting with created", eventdesk.Ticket{}, next(func(e *eventdesk.Event) { e.Version = 1 })},
		{"not a ticket stream", eventdesk.Ticket{}, firstOf(func(e *eventdesk.Event) { e.Stream = "order-" + ticketID })},
		{"ticket stream with a bad id", eventdesk.Ticket{}, firstOf(func(e *eventdesk.Event) { e.Stream = "ticket-42" })},
		{"created twice", state, firstOf(func(e *eventdesk.Event) { e.Version = 2 })},
		{"malformed data", state, next(func(e *eventdesk.Event) { e.Data = json.RawMessage(`{"to":`) })},
		{"data of the wrong shape", state, next(func(e *eventdesk.Event) { e.Data = json.RawMessage(`{"to":42}`) })},
		{"null data", eventdesk.Ticket{}, firstOf(func(e *eventdesk.Event) { e.Data = json.RawMessage(`null`) })},
		{"unknown type", state, next(func(e *eventdesk.Event) { e.Type = "ticket.exploded" })},
		{"unknown schema", state, next(func(e *eventdesk.Event) { e.Schema = 2 })},
		{"schema zero", state, next(func(e *eventdesk.Event) { e.Schema = 0 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eventdesk.Evolve(tc.state, tc.event)
			if err == nil {
				t.Fatalf("Evolve accepted %+v", tc.event)
			}
			if code := eventdesk.ErrorCode(err); code != eventdesk.EInternal && code != eventdesk.EInvalid {
				t.Errorf("code %q for %v", code, err)
			}
			if diff := cmp.Diff(tc.state, got); diff != "" {
				t.Errorf("state changed on error (-before +after):\n%s", diff)
			}
		})
	}
}

func TestFoldStopsAtTheFirstBrokenEvent(t *testing.T) {
	es := events(t, history(eventdesk.StatusClosed)...)
	broken := append(es[:2:2], es[3]) // version 2, then 4
	got, err := eventdesk.Fold(broken)
	if err == nil {
		t.Fatal("Fold accepted a gap")
	}
	if got.Version != 2 || got.Status != eventdesk.StatusOpen {
		t.Errorf("Fold returned version %d status %s, want the state before the gap (2, open)", got.Version, got.Status)
	}
	if empty, err := eventdesk.Fold(nil); err != nil || empty.Exists() {
		t.Errorf("Fold(nil) = %+v, %v; want no ticket", empty, err)
	}
}

func TestFoldUntil(t *testing.T) {
	es := events(t,
		created(), // 1 at(1)
		eventdesk.TitleChanged{From: "Printer on fire", To: "Two"},                     // 2 at(2)
		eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "On it"}, // 3 at(3)
		eventdesk.StatusChanged{From: "new", To: "open"},                               // 4 at(4)
	)
	berlin := time.FixedZone("CET", 3600)
	cases := []struct {
		name    string
		asOf    time.Time
		version int64
		want    int64 // version of the result, 0: no ticket
	}{
		{"no limits", time.Time{}, 0, 4},
		{"negative version means no limit", time.Time{}, -1, 4},
		{"before creation", at(1).Add(-time.Nanosecond), 0, 0},
		{"at creation", at(1), 0, 1},
		{"exactly at an event", at(2), 0, 2},
		{"between events", at(2).Add(30 * time.Second), 0, 2},
		{"same instant in another zone", at(3).In(berlin), 0, 3},
		{"after the last event", at(99), 0, 4},
		{"version 1", time.Time{}, 1, 1},
		{"version 3", time.Time{}, 3, 3},
		{"version beyond the end", time.Time{}, 99, 4},
		{"time is the tighter limit", at(2), 3, 2},
		{"version is the tighter limit", at(4), 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eventdesk.FoldUntil(es, tc.asOf, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			var want eventdesk.Ticket
			if tc.want > 0 {
				want = fold(t, es[:tc.want])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ticket (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("recorded times out of order", func(t *testing.T) {
		// Clocks of different writers disagree: version 3 claims a later
		// time than version 4. The state "as of" a time between them cannot
		// include 4 without 3, so it stops before 3.
		skewed := append([]eventdesk.Event(nil), es...)
		skewed[2].RecordedAt = at(10)
		got, err := eventdesk.FoldUntil(skewed, at(5), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 {
			t.Errorf("version %d, want 2", got.Version)
		}
	})
	t.Run("a broken event after the limit is not read", func(t *testing.T) {
		broken := append([]eventdesk.Event(nil), es...)
		broken[3].Data = json.RawMessage(`garbage`)
		if got, err := eventdesk.FoldUntil(broken, time.Time{}, 3); err != nil || got.Version != 3 {
			t.Errorf("FoldUntil(version 3) = version %d, %v; want 3, nil", got.Version, err)
		}
		if _, err := eventdesk.FoldUntil(broken, time.Time{}, 4); err == nil {
			t.Error("FoldUntil(version 4) folded a broken event")
		}
	})
}

// TestEvolveDoesNotAlias checks that evolving a state never changes an
// earlier state the caller kept, including through shared slice backing
// arrays (the classic append aliasing bug).
func TestEvolveDoesNotAlias(t *testing.T) {
	es := eventsBy(t,
		step{requester, created()},
		step{agent, eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "one"}},
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: eventID1, Score: 0.1}},
		step{agent, eventdesk.TagsChanged{Added: []string{"a"}}},
		step{agent, eventdesk.TicketCommented{CommentID: commentID2, Author: agent, Body: "two"}},
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: eventID2, Score: 0.2}},
		step{agent, eventdesk.TagsChanged{Added: []string{"b"}, Removed: []string{"hardware"}}},
		step{agent, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000003", Author: agent, Body: "three"}},
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: "0190a5b2-7c3d-7e4f-8a1b-e00000000003", Score: 0.3}},
		step{agent, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000004", Author: agent, Body: "four"}},
		step{agent, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000005", Author: agent, Body: "five"}},
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: "0190a5b2-7c3d-7e4f-8a1b-e00000000004", Score: 0.4}},
		step{"policy:sentiment", eventdesk.SentimentScored{SourceEventID: "0190a5b2-7c3d-7e4f-8a1b-e00000000005", Score: 0.5}},
	)
	// Every prefix, so that some kept states have slices with spare
	// capacity (3 or 5 comments after appends that grew them to 4 or 8):
	// an append into that capacity is what aliasing would corrupt.
	for n := 1; n <= len(es); n++ {
		kept := fold(t, es[:n])
		want := fold(t, es[:n])

		// Fold further from the kept state.
		further := kept
		for _, e := range es[n:] {
			var err error
			if further, err = eventdesk.Evolve(further, e); err != nil {
				t.Fatal(err)
			}
		}
		// Two branches from the same state, as a preview and the real thing.
		a := eventdesk.Apply(kept, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-00000000000a", Author: agent, Body: "A"}, at(50), agent)
		a = eventdesk.Apply(a, eventdesk.TagsChanged{Added: []string{"x"}}, at(50), agent)
		a = eventdesk.Apply(a, eventdesk.SentimentScored{SourceEventID: "0190a5b2-7c3d-7e4f-8a1b-e0000000000a", Score: 1}, at(50), agent)
		b := eventdesk.Apply(kept, eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-00000000000b", Author: agent, Body: "B"}, at(51), agent)
		b = eventdesk.Apply(b, eventdesk.TagsChanged{Added: []string{"y"}}, at(51), agent)
		b = eventdesk.Apply(b, eventdesk.SentimentScored{SourceEventID: "0190a5b2-7c3d-7e4f-8a1b-e0000000000b", Score: -1}, at(51), agent)

		if diff := cmp.Diff(want, kept); diff != "" {
			t.Fatalf("state at version %d changed by later events (-want +got):\n%s", n, diff)
		}
		// Branch B was built after A: aliasing would show as B's data in A.
		if last := a.Comments[len(a.Comments)-1]; last.Body != "A" {
			t.Errorf("branch A's last comment is %q, want A", last.Body)
		}
		if last := a.Sentiment[len(a.Sentiment)-1]; last.Score != 1 {
			t.Errorf("branch A's last score is %v, want 1", last.Score)
		}
		if last := b.Comments[len(b.Comments)-1]; last.Body != "B" || slices.Contains(b.Tags, "x") || slices.Contains(a.Tags, "y") {
			t.Errorf("branches share data: A tags %v, B tags %v, B's last comment %q", a.Tags, b.Tags, last.Body)
		}
		if diff := cmp.Diff(fold(t, es), further); diff != "" {
			t.Errorf("folding on from version %d differs from a full fold (-want +got):\n%s", n, diff)
		}
	}

	t.Run("payload slices", func(t *testing.T) {
		c := created()
		got := eventdesk.Apply(eventdesk.Ticket{}, c, at(1), requester)
		c.Tags[0] = "changed"
		if got.Tags[0] != "hardware" {
			t.Errorf("ticket tags alias the payload's: %v", got.Tags)
		}
		tc := eventdesk.TagsChanged{Added: []string{"new"}}
		got = eventdesk.Apply(got, tc, at(2), agent)
		tc.Added[0] = "changed"
		if diff := cmp.Diff([]string{"hardware", "new", "printer"}, got.Tags); diff != "" {
			t.Errorf("ticket tags alias the payload's (-want +got):\n%s", diff)
		}
	})
}

// TestApplyPreview checks that Apply folds undecided payloads without
// touching version or position (a preview of a decision).
func TestApplyPreview(t *testing.T) {
	state := ticketIn(t, eventdesk.StatusOpen)
	ps, err := eventdesk.Decide(state, eventdesk.EditTicket{Title: ptr("Preview"), Status: ptr(eventdesk.StatusPending)})
	if err != nil {
		t.Fatal(err)
	}
	got := state
	for _, p := range ps {
		got = eventdesk.Apply(got, p, at(9), agent)
	}
	want := state
	want.Title, want.Status, want.UpdatedAt, want.UpdatedBy = "Preview", eventdesk.StatusPending, at(9), agent
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("preview (-want +got):\n%s", diff)
	}
}
