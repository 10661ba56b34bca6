package storetest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// OpenProjections opens a fresh, empty read-model store: the same value
// usually implements both ports.
type OpenProjections func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.TicketReader)

// RunProjections runs the read-model conformance suite: every adapter of
// eventdesk.ProjectionStore and eventdesk.TicketReader passes it. Events are
// applied with the ticket projection (package projection), so what is
// tested is the adapter: filters, sorts, keyset pagination, atomic
// checkpoints, counters, read-your-writes.
//
// Sort orders are: created/updated by (time, id); priority by (rank,
// created, id); a leading "-" reverses every key ("-priority": urgent
// first, then newest).
func RunProjections(t *testing.T, open OpenProjections) {
	t.Run("TicketNotFound", func(t *testing.T) { projTicketNotFound(t, open) })
	t.Run("ApplyThenGet", func(t *testing.T) { projApplyThenGet(t, open) })
	t.Run("FiltersAndSorts", func(t *testing.T) { projFiltersAndSorts(t, open) })
	t.Run("DefaultAndMaxLimit", func(t *testing.T) { projLimits(t, open) })
	t.Run("InvalidQueries", func(t *testing.T) { projInvalidQueries(t, open) })
	t.Run("BadCursor", func(t *testing.T) { projBadCursor(t, open) })
	t.Run("PaginationUnderConcurrentWrites", func(t *testing.T) { projPaginationConcurrent(t, open) })
	t.Run("IdempotentReapply", func(t *testing.T) { projIdempotent(t, open) })
	t.Run("CheckpointAtomicWithWrites", func(t *testing.T) { projAtomic(t, open) })
	t.Run("CheckpointNeverMovesBack", func(t *testing.T) { projCheckpointMonotonic(t, open) })
	t.Run("TxReadsItsOwnWrites", func(t *testing.T) { projTxOwnWrites(t, open) })
	t.Run("UnknownEventFailsLoudly", func(t *testing.T) { projUnknownEvent(t, open) })
	t.Run("StatsAfterChanges", func(t *testing.T) { projStats(t, open) })
	t.Run("WaitFor", func(t *testing.T) { projWaitFor(t, open) })
	t.Run("PublicCommentCount", func(t *testing.T) { projPublicCommentCount(t, open) })
}

// projPublicCommentCount: the read model counts public comments apart from
// internal notes, in the ticket and in list items (which carry no
// comments), so that a requester's list never counts notes they may not
// see.
func projPublicCommentCount(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	id := w.open(eventdesk.TicketCreated{Requester: "rita"}, time.Time{})
	quiet := w.open(eventdesk.TicketCreated{Requester: "rita"}, time.Time{})
	w.apply(
		w.event(id, eventdesk.TicketCommented{CommentID: "c1", Author: "rita", Body: "Any news?"}, time.Time{}, "rita"),
		w.event(id, eventdesk.TicketCommented{CommentID: "c2", Author: "alice", Body: "rita again", Internal: true}, time.Time{}, "alice"),
		w.event(quiet, eventdesk.TicketCommented{CommentID: "c3", Author: "alice", Body: "only a note", Internal: true}, time.Time{}, "alice"),
	)
	w.apply(
		w.event(id, eventdesk.TicketCommented{CommentID: "c4", Author: "alice", Body: "Looking.", Internal: false}, time.Time{}, "alice"),
		w.event(id, eventdesk.TicketCommented{CommentID: "c5", Author: "bob", Body: "dup of #12", Internal: true}, time.Time{}, "bob"),
	)
	want := map[string][2]int{id: {4, 2}, quiet: {1, 0}} // total, public
	for x, n := range want {
		got, err := w.tr.Ticket(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		projSameTicket(t, got, w.want(x), true)
		if got.CommentCount != n[0] || got.PublicCommentCount != n[1] {
			t.Errorf("Ticket(%s): commentCount %d, publicCommentCount %d; want %d, %d", x, got.CommentCount, got.PublicCommentCount, n[0], n[1])
		}
	}
	items := w.list(eventdesk.TicketFilter{Requester: "rita"}, 10)
	if len(items) != len(want) {
		t.Fatalf("list of rita's tickets: %d items, want %d", len(items), len(want))
	}
	for _, got := range items {
		projSameTicket(t, got, w.want(got.ID), false)
		if n := want[got.ID]; got.CommentCount != n[0] || got.PublicCommentCount != n[1] {
			t.Errorf("list item %s: commentCount %d, publicCommentCount %d; want %d, %d", got.ID, got.CommentCount, got.PublicCommentCount, n[0], n[1])
		}
	}
}

// projWorld builds ticket streams and applies their events, keeping the
// expected tickets (folded with eventdesk.Fold) as the oracle.
type projWorld struct {
	tb     testing.TB
	ps     eventdesk.ProjectionStore
	tr     eventdesk.TicketReader
	mu     sync.Mutex
	pos    int64
	seq    int
	now    time.Time
	events map[string][]eventdesk.Event // by ticket id
}

func newProjWorld(tb testing.TB, open OpenProjections) *projWorld {
	tb.Helper()
	ps, tr := open(tb)
	return &projWorld{tb: tb, ps: ps, tr: tr, now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), events: map[string][]eventdesk.Event{}}
}

func projCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// newTicketID returns a fresh, valid, ordered ticket id.
func (w *projWorld) newTicketID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return fmt.Sprintf("0195%04x-0000-7000-8000-%012x", w.seq, w.seq)
}

// event makes the next event of ticket id (not applied yet). A zero at
// takes the world's clock, which then moves one second.
func (w *projWorld) event(id string, p eventdesk.Payload, at time.Time, actor string) eventdesk.Event {
	w.tb.Helper()
	typ, schema, data, err := eventdesk.Encode(p)
	if err != nil {
		w.tb.Fatalf("encode %T: %v", p, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if at.IsZero() {
		w.now = w.now.Add(time.Second)
		at = w.now
	}
	w.pos++
	w.seq++
	e := eventdesk.Event{
		ID: fmt.Sprintf("0196%04x-0000-7000-8000-%012x", w.seq, w.seq), Stream: eventdesk.TicketStream(id),
		Version: int64(len(w.events[id]) + 1), Position: w.pos, Type: typ, Schema: schema, Data: data,
		Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: eventdesk.NormalizeTime(at),
	}
	w.events[id] = append(w.events[id], e)
	return e
}

// apply projects events in one transaction, checkpointing the last one.
func (w *projWorld) apply(events ...eventdesk.Event) {
	w.tb.Helper()
	if err := w.project(events...); err != nil {
		w.tb.Fatalf("project %d events: %v", len(events), err)
	}
}

func (w *projWorld) project(events ...eventdesk.Event) error {
	var last int64
	for _, e := range events {
		last = max(last, e.Position)
	}
	return w.ps.Project(context.Background(), projection.TicketsName, last, func(tx eventdesk.ProjectionTx) error {
		return projection.Tickets{}.ApplyAll(context.Background(), tx, events)
	})
}

// open creates a ticket and applies it at once.
func (w *projWorld) open(c eventdesk.TicketCreated, at time.Time) string {
	w.tb.Helper()
	id := w.newTicketID()
	if c.Requester == "" {
		c.Requester = "rita"
	}
	if c.Priority == "" {
		c.Priority = eventdesk.PriorityNormal
	}
	if c.Title == "" {
		c.Title = "Ticket " + id[:8]
	}
	w.apply(w.event(id, c, at, c.Requester))
	return id
}

// want returns the oracle's ticket id, as its events fold.
func (w *projWorld) want(id string) eventdesk.Ticket {
	w.tb.Helper()
	w.mu.Lock()
	evs := slices.Clone(w.events[id])
	w.mu.Unlock()
	t, err := eventdesk.Fold(evs)
	if err != nil {
		w.tb.Fatalf("fold %s: %v", id, err)
	}
	return t
}

func (w *projWorld) ids() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for id := range w.events {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// list pages through f with the given page size and returns every item.
func (w *projWorld) list(f eventdesk.TicketFilter, page int) []eventdesk.Ticket {
	w.tb.Helper()
	f.Limit = page
	var all []eventdesk.Ticket
	for i := 0; ; i++ {
		p, err := w.tr.Tickets(projCtx(w.tb), f)
		if err != nil {
			w.tb.Fatalf("Tickets(%+v): %v", f, err)
		}
		if len(p.Items) > page {
			w.tb.Fatalf("Tickets(limit %d) returned %d items", page, len(p.Items))
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) == 0 {
			w.tb.Fatalf("Tickets returned an empty page with a next cursor")
		}
		if i > 10000 {
			w.tb.Fatalf("Tickets never ends")
		}
		f.Cursor = p.Next
	}
}

func projWantCode(tb testing.TB, err error, code eventdesk.Code, what string) {
	tb.Helper()
	if got := eventdesk.ErrorCode(err); got != code {
		tb.Fatalf("%s: error %v has code %q, want %q", what, err, got, code)
	}
}

// sameTicket compares what a read model returns with the oracle.
func projSameTicket(tb testing.TB, got, want eventdesk.Ticket, withComments bool) {
	tb.Helper()
	if !withComments {
		want.Comments = nil
	}
	check := func(field string, ok bool) {
		tb.Helper()
		if !ok {
			tb.Errorf("ticket %s: %s differs:\n got %+v\nwant %+v", want.ID, field, got, want)
		}
	}
	check("id", got.ID == want.ID)
	check("title", got.Title == want.Title)
	check("description", got.Description == want.Description)
	check("status", got.Status == want.Status)
	check("priority", got.Priority == want.Priority)
	check("requester", got.Requester == want.Requester)
	check("assignee", got.Assignee == want.Assignee)
	check("tags", slices.Equal(got.Tags, want.Tags) && got.Tags != nil)
	check("createdAt", got.CreatedAt.Equal(want.CreatedAt))
	check("updatedAt", got.UpdatedAt.Equal(want.UpdatedAt))
	check("updatedBy", got.UpdatedBy == want.UpdatedBy)
	check("version", got.Version == want.Version)
	check("position", got.Position == want.Position)
	check("resolvedAt", got.ResolvedAt.Equal(want.ResolvedAt))
	check("firstResponseAt", got.FirstResponseAt.Equal(want.FirstResponseAt))
	check("commentCount", got.CommentCount == want.CommentCount)
	check("publicCommentCount", got.PublicCommentCount == want.PublicCommentCount)
	check("comments", len(got.Comments) == len(want.Comments))
	for i := range min(len(got.Comments), len(want.Comments)) {
		g, w := got.Comments[i], want.Comments[i]
		check(fmt.Sprintf("comment %d", i), g.ID == w.ID && g.Author == w.Author && g.Body == w.Body && g.Internal == w.Internal && g.CreatedAt.Equal(w.CreatedAt))
	}
	check("sentiment", len(got.Sentiment) == len(want.Sentiment))
}

func projTicketNotFound(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	_, err := w.tr.Ticket(ctx, "01950000-0000-7000-8000-000000000000")
	projWantCode(t, err, eventdesk.ENotFound, "unknown ticket")
	_, err = w.tr.Ticket(ctx, "not-an-id")
	projWantCode(t, err, eventdesk.ENotFound, "malformed ticket id")
	w.open(eventdesk.TicketCreated{Title: "exists"}, time.Time{})
	_, err = w.tr.Ticket(ctx, "01950000-0000-7000-8000-000000000000")
	projWantCode(t, err, eventdesk.ENotFound, "unknown ticket among others")
}

func projApplyThenGet(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	id := w.open(eventdesk.TicketCreated{Title: "Printer on fire", Description: "smoke", Priority: eventdesk.PriorityHigh, Requester: "rita", Tags: []string{"hardware", "urgent-ish"}}, time.Time{})
	w.apply(
		w.event(id, eventdesk.TicketAssigned{Assignee: "alice"}, time.Time{}, "alice"),
		w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, time.Time{}, "alice"),
		w.event(id, eventdesk.TicketCommented{CommentID: "c1", Author: "alice", Body: "On it."}, time.Time{}, "alice"),
	)
	w.apply(
		w.event(id, eventdesk.TicketCommented{CommentID: "c2", Author: "alice", Body: "needs a part", Internal: true}, time.Time{}, "alice"),
		w.event(id, eventdesk.TagsChanged{Added: []string{"printer"}, Removed: []string{"urgent-ish"}}, time.Time{}, "alice"),
		w.event(id, eventdesk.TitleChanged{From: "Printer on fire", To: "Printer smoking"}, time.Time{}, "alice"),
		w.event(id, eventdesk.DescriptionChanged{Description: "smoke, then fire"}, time.Time{}, "alice"),
		w.event(id, eventdesk.PriorityChanged{From: eventdesk.PriorityHigh, To: eventdesk.PriorityUrgent}, time.Time{}, "alice"),
		w.event(id, eventdesk.SentimentScored{SourceEventID: "x", Score: -0.5, Label: "negative"}, time.Time{}, "policy:sentiment"),
		w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusOpen, To: eventdesk.StatusResolved}, time.Time{}, "alice"),
	)
	got, err := w.tr.Ticket(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	projSameTicket(t, got, w.want(id), true)

	// A second ticket, unassigned again, in the same transaction as
	// events of the first.
	id2 := w.newTicketID()
	w.apply(
		w.event(id2, eventdesk.TicketCreated{Title: "Second", Requester: "sam", Priority: eventdesk.PriorityLow, Assignee: "bob", Tags: []string{}}, time.Time{}, "sam"),
		w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusResolved, To: eventdesk.StatusClosed}, time.Time{}, "alice"),
		w.event(id2, eventdesk.TicketUnassigned{Previous: "bob"}, time.Time{}, "bob"),
	)
	for _, x := range []string{id, id2} {
		got, err := w.tr.Ticket(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		projSameTicket(t, got, w.want(x), true)
	}
	pos, err := w.tr.Position(ctx)
	if err != nil || pos != w.pos {
		t.Fatalf("Position = %d, %v; want %d", pos, err, w.pos)
	}
	cp, found, err := w.ps.Checkpoint(ctx, projection.TicketsName)
	if err != nil || !found || cp != w.pos {
		t.Fatalf("Checkpoint = %d, %t, %v; want %d, true", cp, found, err, w.pos)
	}
}

// projSortKey orders oracle tickets as the contract says.
func projLess(s eventdesk.TicketSort) func(a, b eventdesk.Ticket) int {
	key := func(t eventdesk.Ticket) []int64 {
		switch strings.TrimPrefix(string(s), "-") {
		case "updated":
			return []int64{t.UpdatedAt.UnixMicro()}
		case "priority":
			return []int64{int64(t.Priority.Rank()), t.CreatedAt.UnixMicro()}
		}
		return []int64{t.CreatedAt.UnixMicro()}
	}
	desc := strings.HasPrefix(string(s), "-")
	return func(a, b eventdesk.Ticket) int {
		c := slices.Compare(key(a), key(b))
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			c = -c
		}
		return c
	}
}

func projMatches(f eventdesk.TicketFilter, t eventdesk.Ticket) bool {
	if len(f.Status) > 0 && !slices.Contains(f.Status, t.Status) {
		return false
	}
	if len(f.Priority) > 0 && !slices.Contains(f.Priority, t.Priority) {
		return false
	}
	if f.Assignee != "" && t.Assignee != f.Assignee {
		return false
	}
	if f.Unassigned && t.Assignee != "" {
		return false
	}
	if f.Requester != "" && t.Requester != f.Requester {
		return false
	}
	if f.Tag != "" && !slices.Contains(t.Tags, f.Tag) {
		return false
	}
	return true
}

// projPopulate makes n tickets with varied fields and histories, some
// sharing a creation time so that the id breaks ties.
func projPopulate(w *projWorld, n int) {
	w.tb.Helper()
	assignees := []string{"", "alice", "bob", "carol"}
	requesters := []string{"rita", "sam", "tom"}
	tagSets := [][]string{{}, {"billing"}, {"billing", "vip"}, {"bug"}, {"vip"}}
	var batch []eventdesk.Event
	for i := range n {
		id := w.newTicketID()
		at := time.Time{}
		if i%5 == 3 {
			at = w.now // same second as the previous ticket
		}
		p := eventdesk.Priorities[(i*7)%4]
		batch = append(batch, w.event(id, eventdesk.TicketCreated{
			Title: fmt.Sprintf("Ticket %d", i), Priority: p, Requester: requesters[i%3],
			Assignee: assignees[(i/2)%4], Tags: tagSets[i%5],
		}, at, requesters[i%3]))
		switch i % 6 {
		case 1:
			batch = append(batch, w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, time.Time{}, "alice"))
		case 2:
			batch = append(batch, w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusPending}, time.Time{}, "bob"),
				w.event(id, eventdesk.TagsChanged{Added: []string{"waiting"}}, time.Time{}, "bob"))
		case 3:
			batch = append(batch, w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusResolved}, time.Time{}, "carol"))
		case 4:
			batch = append(batch, w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusClosed}, time.Time{}, "carol"),
				w.event(id, eventdesk.PriorityChanged{From: p, To: eventdesk.PriorityUrgent}, time.Time{}, "carol"))
		}
		if len(batch) > 40 {
			w.apply(batch...)
			batch = nil
		}
	}
	if len(batch) > 0 {
		w.apply(batch...)
	}
	// Touch a few old tickets so that updated order differs from created.
	ids := w.ids()
	for i := 0; i < len(ids); i += 9 {
		w.apply(w.event(ids[i], eventdesk.TicketCommented{CommentID: "late", Author: "alice", Body: "bump"}, time.Time{}, "alice"))
	}
}

func projFiltersAndSorts(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	projPopulate(w, 90)
	var all []eventdesk.Ticket
	for _, id := range w.ids() {
		all = append(all, w.want(id))
	}
	filters := map[string]eventdesk.TicketFilter{
		"none":               {},
		"status open":        {Status: []eventdesk.Status{eventdesk.StatusOpen}},
		"status new+pending": {Status: []eventdesk.Status{eventdesk.StatusPending, eventdesk.StatusNew}},
		"priority urgent":    {Priority: []eventdesk.Priority{eventdesk.PriorityUrgent}},
		"priority low+high":  {Priority: []eventdesk.Priority{eventdesk.PriorityLow, eventdesk.PriorityHigh}},
		"assignee":           {Assignee: "alice"},
		"unassigned":         {Unassigned: true},
		"requester":          {Requester: "sam"},
		"tag":                {Tag: "billing"},
		"tag added later":    {Tag: "waiting"},
		"tag+status":         {Tag: "vip", Status: []eventdesk.Status{eventdesk.StatusNew, eventdesk.StatusClosed}},
		"assignee+priority":  {Assignee: "bob", Priority: []eventdesk.Priority{eventdesk.PriorityNormal, eventdesk.PriorityUrgent}},
		"requester+status":   {Requester: "tom", Status: []eventdesk.Status{eventdesk.StatusOpen, eventdesk.StatusResolved}},
		"status+priority":    {Status: []eventdesk.Status{eventdesk.StatusNew}, Priority: []eventdesk.Priority{eventdesk.PriorityLow, eventdesk.PriorityUrgent}},
		"everything":         {Status: []eventdesk.Status{eventdesk.StatusNew, eventdesk.StatusPending}, Priority: eventdesk.Priorities, Assignee: "carol", Requester: "rita", Tag: "billing"},
		"unassigned+tag":     {Unassigned: true, Tag: "bug"},
		"no match":           {Requester: "nobody"},
	}
	for name, f := range filters {
		for _, s := range eventdesk.TicketSorts {
			t.Run(name+"/"+string(s), func(t *testing.T) {
				f := f
				f.Sort = s
				var want []eventdesk.Ticket
				for _, tk := range all {
					if projMatches(f, tk) {
						want = append(want, tk)
					}
				}
				slices.SortFunc(want, projLess(s))
				for _, page := range []int{200, 7} {
					got := w.list(f, page)
					if len(got) != len(want) {
						t.Fatalf("page size %d: %d tickets, want %d", page, len(got), len(want))
					}
					for i := range got {
						if got[i].ID != want[i].ID {
							t.Fatalf("page size %d: item %d is %s, want %s", page, i, got[i].ID, want[i].ID)
						}
						projSameTicket(t, got[i], want[i], false)
						if got[i].Comments != nil {
							t.Fatalf("list items carry comments")
						}
					}
				}
			})
		}
	}
	// The tag filter ignores case, as tags are stored lower-cased.
	if got := w.list(eventdesk.TicketFilter{Tag: "BILLING"}, 50); len(got) != len(w.list(eventdesk.TicketFilter{Tag: "billing"}, 50)) {
		t.Errorf("tag filter is case-sensitive")
	}
}

func projLimits(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	projPopulate(w, 230)
	ctx := projCtx(t)
	p, err := w.tr.Tickets(ctx, eventdesk.TicketFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != eventdesk.DefaultListLimit || p.Next == "" {
		t.Fatalf("default page: %d items, next %q; want %d and a cursor", len(p.Items), p.Next, eventdesk.DefaultListLimit)
	}
	p, err = w.tr.Tickets(ctx, eventdesk.TicketFilter{Limit: eventdesk.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != eventdesk.MaxListLimit || p.Next == "" {
		t.Fatalf("max page: %d items, next %q", len(p.Items), p.Next)
	}
	p, err = w.tr.Tickets(ctx, eventdesk.TicketFilter{Limit: eventdesk.MaxListLimit, Cursor: p.Next})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 30 || p.Next != "" {
		t.Fatalf("last page: %d items, next %q; want 30 and none", len(p.Items), p.Next)
	}
	p, err = w.tr.Tickets(ctx, eventdesk.TicketFilter{Limit: 1})
	if err != nil || len(p.Items) != 1 {
		t.Fatalf("limit 1: %d items, %v", len(p.Items), err)
	}
	// An exact fit has no next page.
	p, err = w.tr.Tickets(ctx, eventdesk.TicketFilter{Limit: 30, Cursor: ""})
	if err != nil {
		t.Fatal(err)
	}
	all := w.list(eventdesk.TicketFilter{}, 115)
	if len(all) != 230 {
		t.Fatalf("pages of 115: %d tickets, want 230", len(all))
	}
}

func projInvalidQueries(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	w.open(eventdesk.TicketCreated{}, time.Time{})
	ctx := projCtx(t)
	for name, f := range map[string]eventdesk.TicketFilter{
		"limit too large":      {Limit: eventdesk.MaxListLimit + 1},
		"negative limit":       {Limit: -1},
		"unknown sort":         {Sort: "title"},
		"unknown status":       {Status: []eventdesk.Status{"done"}},
		"unknown priority":     {Priority: []eventdesk.Priority{"meh"}},
		"assignee+unassigned":  {Assignee: "alice", Unassigned: true},
		"status and bad value": {Status: []eventdesk.Status{eventdesk.StatusOpen, "Open"}},
	} {
		_, err := w.tr.Tickets(ctx, f)
		projWantCode(t, err, eventdesk.EInvalid, name)
	}
}

func projBadCursor(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	projPopulate(w, 12)
	ctx := projCtx(t)
	p, err := w.tr.Tickets(ctx, eventdesk.TicketFilter{Limit: 5, Status: []eventdesk.Status{eventdesk.StatusNew, eventdesk.StatusOpen, eventdesk.StatusClosed}})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v, next %q", err, p.Next)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(p.Next)
	flipped := []byte(p.Next)
	flipped[len(flipped)/2] ^= 0x01
	for name, f := range map[string]eventdesk.TicketFilter{
		"garbage":          {Cursor: "!!not a cursor!!"},
		"not base64 json":  {Cursor: base64.RawURLEncoding.EncodeToString([]byte("hello"))},
		"empty json":       {Cursor: base64.RawURLEncoding.EncodeToString([]byte("{}"))},
		"truncated":        {Cursor: p.Next[:len(p.Next)/2]},
		"bit flipped":      {Cursor: string(flipped), Status: []eventdesk.Status{eventdesk.StatusNew, eventdesk.StatusOpen, eventdesk.StatusClosed}},
		"tampered json":    {Cursor: base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), "\"", "'", 1)))},
		"other sort":       {Cursor: p.Next, Sort: eventdesk.SortPriorityDesc, Status: []eventdesk.Status{eventdesk.StatusNew, eventdesk.StatusOpen, eventdesk.StatusClosed}},
		"other filter":     {Cursor: p.Next, Status: []eventdesk.Status{eventdesk.StatusOpen}},
		"no filter at all": {Cursor: p.Next},
	} {
		_, err := w.tr.Tickets(ctx, f)
		if name == "bit flipped" && err == nil {
			// A flip inside a number can still decode to a valid cursor of
			// this very list; that is not tampering the reader can see.
			continue
		}
		projWantCode(t, err, eventdesk.EInvalid, name)
	}
	// The same statuses in another order are the same filter.
	_, err = w.tr.Tickets(ctx, eventdesk.TicketFilter{Limit: 5, Cursor: p.Next, Status: []eventdesk.Status{eventdesk.StatusClosed, eventdesk.StatusOpen, eventdesk.StatusNew}})
	if err != nil {
		t.Fatalf("cursor with statuses reordered: %v", err)
	}
}

// projPaginationConcurrent pages through every sort while, concurrently,
// tickets are created and others change: every ticket that did not change
// appears exactly once.
func projPaginationConcurrent(t *testing.T, open OpenProjections) {
	for _, s := range eventdesk.TicketSorts {
		t.Run(string(s), func(t *testing.T) {
			w := newProjWorld(t, open)
			projPopulate(w, 60)
			ctx := projCtx(t)
			ids := w.ids()
			var mu sync.Mutex
			changed := map[string]bool{}
			stop := make(chan struct{})
			writerDone := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						writerDone <- nil
						return
					default:
					}
					id := w.newTicketID()
					created := w.event(id, eventdesk.TicketCreated{Title: "new during paging", Requester: "rita", Priority: eventdesk.Priorities[i%4], Tags: []string{"billing"}}, time.Time{}, "rita")
					victim := ids[(i*13)%len(ids)]
					mu.Lock()
					changed[victim] = true // before it changes
					mu.Unlock()
					cur := w.want(victim)
					to := eventdesk.PriorityUrgent
					if cur.Priority == to {
						to = eventdesk.PriorityLow
					}
					if err := w.project(created, w.event(victim, eventdesk.PriorityChanged{From: cur.Priority, To: to}, time.Time{}, "alice")); err != nil {
						writerDone <- err
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			seen := map[string]int{}
			f := eventdesk.TicketFilter{Sort: s, Limit: 3}
			for {
				p, err := w.tr.Tickets(ctx, f)
				if err != nil {
					close(stop)
					t.Fatal(err)
				}
				for _, it := range p.Items {
					seen[it.ID]++
				}
				if p.Next == "" {
					break
				}
				f.Cursor = p.Next
				time.Sleep(time.Millisecond)
			}
			close(stop)
			if err := <-writerDone; err != nil {
				t.Fatalf("concurrent writer: %v", err)
			}
			// A ticket that changed may move past the cursor and be seen
			// again (sorted by update time, it must); any other may not.
			for id, n := range seen {
				if n > 1 && !changed[id] {
					t.Errorf("ticket %s listed %d times", id, n)
				}
			}
			for _, id := range ids {
				if !changed[id] && seen[id] != 1 {
					t.Errorf("unchanged ticket %s listed %d times, want once", id, seen[id])
				}
			}
		})
	}
}

func projIdempotent(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	id := w.newTicketID()
	e1 := w.event(id, eventdesk.TicketCreated{Title: "once", Requester: "rita", Priority: eventdesk.PriorityLow, Tags: []string{}}, time.Time{}, "rita")
	e2 := w.event(id, eventdesk.TicketCommented{CommentID: "c1", Author: "bob", Body: "hi"}, time.Time{}, "bob")
	e3 := w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, time.Time{}, "bob")
	w.apply(e1, e2, e3)
	statsBefore, err := w.tr.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Redelivery, alone and within a batch, in one transaction or several
	// (at-least-once delivery without a global position).
	w.apply(e2)
	w.apply(e1, e2, e3)
	w.apply(e3)
	got, err := w.tr.Ticket(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	projSameTicket(t, got, w.want(id), true)
	if len(got.Comments) != 1 {
		t.Fatalf("%d comments after redelivery, want 1", len(got.Comments))
	}
	statsAfter, err := w.tr.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(statsAfter) != fmt.Sprint(statsBefore) {
		t.Fatalf("stats changed on redelivery: %+v, was %+v", statsAfter, statsBefore)
	}
	// A gap (version 5 after 3) is not skipped silently.
	w.event(id, eventdesk.TicketCommented{CommentID: "c2", Author: "bob", Body: "lost"}, time.Time{}, "bob")
	e5 := w.event(id, eventdesk.TicketCommented{CommentID: "c3", Author: "bob", Body: "after a gap"}, time.Time{}, "bob")
	if err := w.project(e5); err == nil {
		t.Fatalf("applying version 5 after 3 succeeded")
	}
}

func projAtomic(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	id := w.open(eventdesk.TicketCreated{Title: "kept"}, time.Time{})
	cp, _, err := w.ps.Checkpoint(ctx, projection.TicketsName)
	if err != nil {
		t.Fatal(err)
	}
	statsBefore, _ := w.tr.Stats(ctx)
	id2 := w.newTicketID()
	created := w.event(id2, eventdesk.TicketCreated{Title: "never", Requester: "rita", Priority: eventdesk.PriorityHigh, Tags: []string{"x"}}, time.Time{}, "rita")
	changed := w.event(id, eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, time.Time{}, "bob")
	boom := errors.New("boom")
	err = w.ps.Project(ctx, projection.TicketsName, changed.Position, func(tx eventdesk.ProjectionTx) error {
		if err := (projection.Tickets{}).ApplyAll(ctx, tx, []eventdesk.Event{created, changed}); err != nil {
			return err
		}
		if _, found, err := tx.Ticket(ctx, id2); err != nil || !found {
			t.Errorf("inside the transaction: ticket found %t, %v", found, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Project returned %v, want fn's error", err)
	}
	if _, err := w.tr.Ticket(ctx, id2); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("ticket of a failed transaction: %v, want not found", err)
	}
	got, err := w.tr.Ticket(ctx, id)
	if err != nil || got.Status != eventdesk.StatusNew {
		t.Fatalf("ticket changed by a failed transaction: %+v, %v", got, err)
	}
	if p, err := w.tr.Tickets(ctx, eventdesk.TicketFilter{Tag: "x"}); err != nil || len(p.Items) != 0 {
		t.Fatalf("tag rows of a failed transaction: %d, %v", len(p.Items), err)
	}
	cp2, _, err := w.ps.Checkpoint(ctx, projection.TicketsName)
	if err != nil || cp2 != cp {
		t.Fatalf("checkpoint after a failed transaction: %d, %v; want %d", cp2, err, cp)
	}
	if st, _ := w.tr.Stats(ctx); fmt.Sprint(st) != fmt.Sprint(statsBefore) {
		t.Fatalf("stats changed by a failed transaction: %+v", st)
	}
	// The same events then commit fine.
	w.apply(created, changed)
	projSameTicket(t, projMustGet(t, w, id2), w.want(id2), true)
	projSameTicket(t, projMustGet(t, w, id), w.want(id), true)
}

func projMustGet(tb testing.TB, w *projWorld, id string) eventdesk.Ticket {
	tb.Helper()
	got, err := w.tr.Ticket(projCtx(tb), id)
	if err != nil {
		tb.Fatalf("Ticket(%s): %v", id, err)
	}
	return got
}

func projCheckpointMonotonic(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	if _, found, err := w.ps.Checkpoint(ctx, "other"); err != nil || found {
		t.Fatalf("checkpoint of a new projection: found %t, %v", found, err)
	}
	noop := func(eventdesk.ProjectionTx) error { return nil }
	for _, step := range []struct{ pos, want int64 }{{0, 0}, {10, 10}, {7, 10}, {11, 11}} {
		if err := w.ps.Project(ctx, "other", step.pos, noop); err != nil {
			t.Fatal(err)
		}
		got, found, err := w.ps.Checkpoint(ctx, "other")
		if err != nil || !found || got != step.want {
			t.Fatalf("after Project(%d): checkpoint %d, %t, %v; want %d", step.pos, got, found, err, step.want)
		}
	}
	// Checkpoints are per name.
	if got, _, _ := w.ps.Checkpoint(ctx, projection.TicketsName); got != 0 {
		t.Fatalf("tickets checkpoint %d, want 0", got)
	}
}

func projTxOwnWrites(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	id := w.newTicketID()
	e := w.event(id, eventdesk.TicketCreated{Title: "mine", Requester: "rita", Priority: eventdesk.PriorityNormal, Tags: []string{"a"}}, time.Time{}, "rita")
	err := w.ps.Project(ctx, projection.TicketsName, e.Position, func(tx eventdesk.ProjectionTx) error {
		if _, found, err := tx.Ticket(ctx, id); err != nil || found {
			t.Errorf("before save: found %t, %v", found, err)
		}
		tk, err := eventdesk.Evolve(eventdesk.Ticket{}, e)
		if err != nil {
			return err
		}
		if err := tx.SaveTicket(ctx, tk); err != nil {
			return err
		}
		got, found, err := tx.Ticket(ctx, id)
		if err != nil || !found || got.Title != "mine" {
			t.Errorf("after save: %+v, %t, %v", got, found, err)
		}
		return tx.AddCount(ctx, eventdesk.CounterTotal, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	projSameTicket(t, projMustGet(t, w, id), w.want(id), true)
	if st, _ := w.tr.Stats(ctx); st.Total != 1 {
		t.Fatalf("total %d, want 1", st.Total)
	}
}

func projUnknownEvent(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	id := w.open(eventdesk.TicketCreated{Title: "x"}, time.Time{})
	w.mu.Lock()
	w.pos++
	bad := eventdesk.Event{ID: "01960000-0000-7000-8000-ffffffffffff", Stream: eventdesk.TicketStream(id), Version: 2, Position: w.pos,
		Type: "ticket.teleported", Schema: 1, Data: []byte(`{}`), RecordedAt: w.now}
	w.mu.Unlock()
	if err := w.project(bad); err == nil {
		t.Fatalf("an unknown event type was projected without error")
	}
	if cp, _, _ := w.ps.Checkpoint(ctx, projection.TicketsName); cp == bad.Position {
		t.Fatalf("checkpoint moved past an event that failed")
	}
	// Events of other streams are ignored, and advance the checkpoint.
	w.mu.Lock()
	w.pos++
	other := eventdesk.Event{ID: "01960000-0000-7000-8000-fffffffffffe", Stream: "user-42", Version: 1, Position: w.pos,
		Type: "user.registered", Schema: 1, Data: []byte(`{}`), RecordedAt: w.now}
	w.mu.Unlock()
	w.apply(other)
	if cp, _, _ := w.ps.Checkpoint(ctx, projection.TicketsName); cp != other.Position {
		t.Fatalf("checkpoint %d after an ignored event, want %d", cp, other.Position)
	}
}

func projStats(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	st, err := w.tr.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 0 || len(st.ByStatus) != len(eventdesk.Statuses) || len(st.ByPriority) != len(eventdesk.Priorities) {
		t.Fatalf("empty stats: %+v", st)
	}
	projPopulate(w, 50)
	ids := w.ids()
	// More changes: reopen a closed ticket, change priorities.
	for _, id := range ids[:10] {
		cur := w.want(id)
		if cur.Status == eventdesk.StatusClosed {
			w.apply(w.event(id, eventdesk.StatusChanged{From: cur.Status, To: eventdesk.StatusOpen}, time.Time{}, "alice"))
		}
		if cur.Priority != eventdesk.PriorityHigh {
			w.apply(w.event(id, eventdesk.PriorityChanged{From: cur.Priority, To: eventdesk.PriorityHigh}, time.Time{}, "alice"))
		}
	}
	want := eventdesk.Stats{ByStatus: map[eventdesk.Status]int{}, ByPriority: map[eventdesk.Priority]int{}}
	for _, s := range eventdesk.Statuses {
		want.ByStatus[s] = 0
	}
	for _, p := range eventdesk.Priorities {
		want.ByPriority[p] = 0
	}
	for _, id := range ids {
		tk := w.want(id)
		want.Total++
		want.ByStatus[tk.Status]++
		want.ByPriority[tk.Priority]++
	}
	st, err = w.tr.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("stats\n got %+v\nwant %+v", st, want)
	}
}

func projWaitFor(t *testing.T, open OpenProjections) {
	w := newProjWorld(t, open)
	ctx := projCtx(t)
	w.open(eventdesk.TicketCreated{Title: "first"}, time.Time{})
	if err := w.tr.WaitFor(ctx, w.pos); err != nil {
		t.Fatalf("WaitFor a reached position: %v", err)
	}
	if err := w.tr.WaitFor(ctx, 0); err != nil {
		t.Fatalf("WaitFor(0): %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err := w.tr.WaitFor(short, w.pos+1)
	projWantCode(t, err, eventdesk.EUnavailable, "WaitFor a position not reached")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor error %v does not wrap the context's", err)
	}
	// A waiter is woken by the commit that reaches its position.
	id := w.newTicketID()
	e := w.event(id, eventdesk.TicketCreated{Title: "second", Requester: "rita", Priority: eventdesk.PriorityNormal, Tags: []string{}}, time.Time{}, "rita")
	done := make(chan error, 1)
	go func() { done <- w.tr.WaitFor(ctx, e.Position) }()
	select {
	case err := <-done:
		t.Fatalf("WaitFor returned %v before the position was reached", err)
	case <-time.After(20 * time.Millisecond):
	}
	w.apply(e)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitFor was not woken by the commit")
	}
	if _, err := w.tr.Ticket(ctx, id); err != nil {
		t.Fatalf("after WaitFor the ticket is not readable: %v", err)
	}
}
