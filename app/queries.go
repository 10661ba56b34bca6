package app

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/eventdesk/eventdesk"
)

// GetTicket asks for one ticket: from the read model, or — with AsOf or
// Version — folded from its stream as it was then.
type GetTicket struct {
	ID string
	// AsOf, when not zero, returns the ticket as it was at that time.
	AsOf time.Time
	// Version, when > 0, returns the ticket as it was at that version.
	Version int64
	// MinPosition, when > 0, waits until the read models reached it.
	MinPosition int64
}

// TicketHandler reads one ticket.
type TicketHandler struct{ d *deps }

// Handle returns the ticket as the caller may see it.
func (h *TicketHandler) Handle(ctx context.Context, q GetTicket) (eventdesk.Ticket, error) {
	d := h.d
	a, err := actor(ctx)
	if err != nil {
		return eventdesk.Ticket{}, err
	}
	if q.Version < 0 {
		return eventdesk.Ticket{}, eventdesk.FieldError("version", "must be a positive integer")
	}
	if !eventdesk.ValidID(q.ID) {
		return eventdesk.Ticket{}, errNotFound()
	}
	if !q.AsOf.IsZero() || q.Version > 0 {
		events, err := d.store.ReadStream(ctx, eventdesk.TicketStream(q.ID), 1, 0)
		if err != nil {
			return eventdesk.Ticket{}, fmt.Errorf("app: read ticket %s: %w", q.ID, err)
		}
		now, err := eventdesk.Fold(events)
		if err != nil {
			return eventdesk.Ticket{}, fmt.Errorf("app: fold ticket %s: %w", q.ID, err)
		}
		if !now.Exists() || !maySee(a, now) {
			return eventdesk.Ticket{}, errNotFound()
		}
		if q.Version > now.Version {
			return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket has no version %d (current is %d)", q.Version, now.Version)
		}
		then, err := eventdesk.FoldUntil(events, q.AsOf, q.Version)
		if err != nil {
			return eventdesk.Ticket{}, fmt.Errorf("app: fold ticket %s: %w", q.ID, err)
		}
		if !then.Exists() {
			return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket did not exist at %s", q.AsOf.UTC().Format(time.RFC3339Nano))
		}
		return visible(a, then), nil
	}
	if err := d.waitFor(ctx, q.MinPosition); err != nil {
		return eventdesk.Ticket{}, err
	}
	t, err := d.reader.Ticket(ctx, q.ID)
	if eventdesk.ErrorCode(err) == eventdesk.ENotFound {
		return eventdesk.Ticket{}, errNotFound()
	}
	if err != nil {
		return eventdesk.Ticket{}, fmt.Errorf("app: ticket %s: %w", q.ID, err)
	}
	if !maySee(a, t) {
		return eventdesk.Ticket{}, errNotFound()
	}
	return visible(a, t), nil
}

// ListTickets asks for a page of tickets.
type ListTickets struct {
	Filter      eventdesk.TicketFilter
	MinPosition int64
}

// TicketsHandler lists tickets.
type TicketsHandler struct{ d *deps }

// Handle validates the filter and returns a page. Requesters see only
// their own tickets: their filter is narrowed to them.
func (h *TicketsHandler) Handle(ctx context.Context, q ListTickets) (eventdesk.TicketPage, error) {
	d := h.d
	a, err := actor(ctx)
	if err != nil {
		return eventdesk.TicketPage{}, err
	}
	f := q.Filter
	if err := validateFilter(&f); err != nil {
		return eventdesk.TicketPage{}, err
	}
	if !a.Role.SeesAll() {
		if f.Requester != "" && f.Requester != a.Name {
			return eventdesk.TicketPage{}, &eventdesk.Error{Code: eventdesk.EForbidden,
				Message: "requesters may only list their own tickets", Fields: map[string]string{"requester": "must be you"}}
		}
		f.Requester = a.Name
	}
	if err := d.waitFor(ctx, q.MinPosition); err != nil {
		return eventdesk.TicketPage{}, err
	}
	page, err := d.reader.Tickets(ctx, f)
	if err != nil {
		if c := eventdesk.ErrorCode(err); c == eventdesk.EInvalid {
			return page, err
		}
		return page, fmt.Errorf("app: list tickets: %w", err)
	}
	if page.Items == nil {
		page.Items = []eventdesk.Ticket{}
	}
	for i, t := range page.Items {
		page.Items[i] = visible(a, t)
	}
	return page, nil
}

func validateFilter(f *eventdesk.TicketFilter) error {
	invalid := &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid filter", Fields: map[string]string{}}
	switch {
	case f.Limit == 0:
		f.Limit = eventdesk.DefaultListLimit
	case f.Limit < 0 || f.Limit > eventdesk.MaxListLimit:
		invalid.Fields["limit"] = fmt.Sprintf("must be between 1 and %d", eventdesk.MaxListLimit)
	}
	if f.Sort == "" {
		f.Sort = eventdesk.SortCreatedDesc
	} else if !f.Sort.Valid() {
		invalid.Fields["sort"] = "must be one of created, -created, updated, -updated, priority, -priority"
	}
	for _, s := range f.Status {
		if !s.Valid() {
			invalid.Fields["status"] = "must be one of new, open, pending, resolved, closed"
		}
	}
	for _, p := range f.Priority {
		if !p.Valid() {
			invalid.Fields["priority"] = "must be one of low, normal, high, urgent"
		}
	}
	if f.Assignee != "" {
		if err := eventdesk.ValidateUserName("assignee", f.Assignee); err != nil {
			invalid.Fields["assignee"] = eventdesk.ErrorFields(err)["assignee"]
		}
		if f.Unassigned {
			invalid.Fields["assignee"] = "cannot be combined with unassigned"
		}
	}
	if f.Requester != "" {
		if err := eventdesk.ValidateUserName("requester", f.Requester); err != nil {
			invalid.Fields["requester"] = eventdesk.ErrorFields(err)["requester"]
		}
	}
	if f.Tag != "" {
		if tags, err := eventdesk.NormalizeTags([]string{f.Tag}); err != nil {
			invalid.Fields["tag"] = eventdesk.ErrorFields(err)["tags"]
		} else {
			f.Tag = tags[0]
		}
	}
	if len(f.Text) > 200 {
		invalid.Fields["q"] = "must be at most 200 characters"
	}
	if len(invalid.Fields) > 0 {
		return invalid
	}
	return nil
}

// GetStats asks for ticket counts.
type GetStats struct{ MinPosition int64 }

// StatsHandler counts tickets.
type StatsHandler struct{ d *deps }

// Handle returns counts over every ticket; requesters may not see them.
func (h *StatsHandler) Handle(ctx context.Context, q GetStats) (eventdesk.Stats, error) {
	a, err := actor(ctx)
	if err != nil {
		return eventdesk.Stats{}, err
	}
	if !a.Role.SeesAll() {
		return eventdesk.Stats{}, eventdesk.Errorf(eventdesk.EForbidden, "statistics cover every ticket: agents, admins and auditors only")
	}
	if err := h.d.waitFor(ctx, q.MinPosition); err != nil {
		return eventdesk.Stats{}, err
	}
	s, err := h.d.reader.Stats(ctx)
	if err != nil {
		return s, fmt.Errorf("app: stats: %w", err)
	}
	return s, nil
}

// HistoryEntry is one event of a ticket, told for people and kept raw.
type HistoryEntry struct {
	Position int64
	Version  int64
	Type     string
	Actor    string
	At       time.Time
	// Summary tells what happened, e.g. "alice changed status from new to
	// open".
	Summary string
	Event   eventdesk.Event
}

// GetHistory asks for a ticket's history.
type GetHistory struct{ TicketID string }

// HistoryHandler tells a ticket's history.
type HistoryHandler struct{ d *deps }

// Handle returns every event of the ticket that the caller may see, oldest
// first. It reads the stream, not a read model: history is the record.
func (h *HistoryHandler) Handle(ctx context.Context, q GetHistory) ([]HistoryEntry, error) {
	a, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !eventdesk.ValidID(q.TicketID) {
		return nil, errNotFound()
	}
	events, err := h.d.store.ReadStream(ctx, eventdesk.TicketStream(q.TicketID), 1, 0)
	if err != nil {
		return nil, fmt.Errorf("app: read ticket %s: %w", q.TicketID, err)
	}
	t, err := eventdesk.Fold(events)
	if err != nil {
		return nil, fmt.Errorf("app: fold ticket %s: %w", q.TicketID, err)
	}
	if !t.Exists() || !maySee(a, t) {
		return nil, errNotFound()
	}
	out := make([]HistoryEntry, 0, len(events))
	for _, e := range events {
		if !eventVisible(a, e, t.Requester) {
			continue
		}
		out = append(out, HistoryEntry{
			Position: e.Position, Version: e.Version, Type: e.Type, Actor: e.Metadata.Actor,
			At: e.RecordedAt, Summary: Summarize(e), Event: e,
		})
	}
	return out, nil
}

// Limits of changefeed pages.
const (
	DefaultFeedLimit = 100
	MaxFeedLimit     = 1000
)

// Changefeed asks for the events after a position.
type Changefeed struct {
	After int64
	Limit int // 0: DefaultFeedLimit
}

// FeedPage is a page of the changefeed.
type FeedPage struct {
	// Events are those the caller may see, in position order.
	Events []eventdesk.Event
	// Next is the position to continue after: the last position scanned,
	// which may be past the last event returned when some were filtered.
	Next int64
}

// ChangefeedHandler reads and follows the store-wide log.
type ChangefeedHandler struct{ d *deps }

func (h *ChangefeedHandler) authorize(ctx context.Context, after int64) (eventdesk.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, err
	}
	if after < 0 {
		return a, eventdesk.FieldError("after", "must be a position ≥ 0")
	}
	return a, nil
}

// Handle returns one page of events after q.After that the caller may see.
func (h *ChangefeedHandler) Handle(ctx context.Context, q Changefeed) (FeedPage, error) {
	a, err := h.authorize(ctx, q.After)
	if err != nil {
		return FeedPage{}, err
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultFeedLimit
	case q.Limit < 0 || q.Limit > MaxFeedLimit:
		return FeedPage{}, eventdesk.FieldError("limit", fmt.Sprintf("must be between 1 and %d", MaxFeedLimit))
	}
	events, err := h.d.store.ReadAll(ctx, q.After, q.Limit)
	if err != nil {
		if eventdesk.ErrorCode(err) == eventdesk.ENotImplemented {
			return FeedPage{}, err
		}
		return FeedPage{}, fmt.Errorf("app: read changefeed after %d: %w", q.After, err)
	}
	page := FeedPage{Events: make([]eventdesk.Event, 0, len(events)), Next: q.After}
	for _, e := range events {
		ok, err := h.d.mayRead(ctx, a, e)
		if err != nil {
			return FeedPage{}, err
		}
		if ok {
			page.Events = append(page.Events, e)
		}
		page.Next = e.Position
	}
	return page, nil
}

// Follow yields every event after the position that the caller may see,
// first those stored, then new ones as they commit, until ctx ends.
// Authorization errors are returned before anything is yielded.
func (h *ChangefeedHandler) Follow(ctx context.Context, after int64) (iter.Seq2[eventdesk.Event, error], error) {
	a, err := h.authorize(ctx, after)
	if err != nil {
		return nil, err
	}
	return func(yield func(eventdesk.Event, error) bool) {
		for e, err := range h.d.store.Subscribe(ctx, after) {
			if err != nil {
				yield(e, err)
				return
			}
			ok, err := h.d.mayRead(ctx, a, e)
			if err != nil {
				yield(e, err)
				return
			}
			if ok && !yield(e, nil) {
				return
			}
		}
	}, nil
}

// mayRead decides whether a may see e in the changefeed.
func (d *deps) mayRead(ctx context.Context, a eventdesk.Actor, e eventdesk.Event) (bool, error) {
	if a.Role.SeesAll() {
		return true, nil
	}
	owner, err := d.owner(ctx, e.Stream)
	if err != nil {
		return false, err
	}
	return eventVisible(a, e, owner), nil
}
