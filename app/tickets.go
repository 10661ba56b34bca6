package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
)

// maxRetries bounds how often a command without an expected version is
// decided again after losing a race with another writer; each loser
// reloads the stream, so with n writers on one ticket at most n-1 retries
// are needed.
const maxRetries = 64

// errContention reports a command that kept losing races.
func errContention() error {
	return eventdesk.Errorf(eventdesk.EConflict, "the ticket changed too often while this request was decided; try again")
}

// MaxIdempotencyKeyLen bounds an idempotency key.
const MaxIdempotencyKeyLen = 200

// TicketResult is what a ticket command returns.
type TicketResult struct {
	// Ticket is the ticket after the command, as the caller may see it.
	Ticket eventdesk.Ticket
	// Position is the store position of the last event written (or, when
	// nothing changed or the request was replayed, of the ticket's last
	// event).
	Position int64
	// Replayed is true when an earlier request with the same idempotency
	// key already did the work; nothing new was written.
	Replayed bool
}

type requestKey struct{}

// Request describes the request a command comes from; it travels in the
// context and ends up in each event's metadata.
type Request struct {
	CorrelationID string
	TraceParent   string
}

// NewContextWithRequest returns ctx carrying r.
func NewContextWithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

func requestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// Idempotency makes a POST happen at most once per caller and key.
type Idempotency struct {
	// Key is the caller's Idempotency-Key ("" for none).
	Key string
	// RequestHash fingerprints the request (method, path and body) so that
	// a reused key with another request is told apart.
	RequestHash string
}

// scopedKey returns the store key: keys are per user, so two users cannot
// collide or see each other's results.
func (i Idempotency) scopedKey(a eventdesk.Actor) (string, error) {
	if i.Key == "" {
		return "", nil
	}
	if len(i.Key) > MaxIdempotencyKeyLen {
		return "", eventdesk.FieldError("Idempotency-Key", "must be at most 200 characters")
	}
	for _, r := range i.Key {
		if r < 0x21 || r > 0x7e {
			return "", eventdesk.FieldError("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return a.Name + "/" + i.Key, nil
}

// events turns decided payloads into events for append. The first event's
// id is firstID when given.
func (d *deps) events(ctx context.Context, a eventdesk.Actor, changes []eventdesk.Payload, now time.Time, key, hash, firstID string) ([]eventdesk.EventData, error) {
	req := requestFrom(ctx)
	out := make([]eventdesk.EventData, len(changes))
	for i, p := range changes {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			return nil, fmt.Errorf("app: encode %s: %w", p.EventType(), err)
		}
		id := firstID
		if i > 0 || id == "" {
			id = d.newID()
		}
		out[i] = eventdesk.EventData{
			ID: id, Type: typ, Schema: schema, Data: data, RecordedAt: now,
			Metadata: eventdesk.Metadata{Actor: a.Name, CorrelationID: req.CorrelationID, TraceParent: req.TraceParent},
		}
	}
	if len(out) > 0 {
		out[0].Metadata.IdempotencyKey = key
		out[0].Metadata.RequestHash = hash
	}
	return out, nil
}

// append appends and reports the latency to the observer.
func (d *deps) append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events []eventdesk.EventData) (eventdesk.AppendResult, error) {
	start := time.Now()
	res, err := d.store.Append(ctx, stream, expected, events...)
	if d.observer != nil {
		d.observer.ObserveAppend(time.Since(start), len(events), err)
	}
	return res, err
}

// load folds a ticket's stream, hiding tickets a may not see.
func (d *deps) load(ctx context.Context, a eventdesk.Actor, id string) (eventdesk.Ticket, error) {
	t, _, err := d.loadEvents(ctx, a, id)
	return t, err
}

// loadEvents is load that also returns the stream's events.
func (d *deps) loadEvents(ctx context.Context, a eventdesk.Actor, id string) (eventdesk.Ticket, []eventdesk.Event, error) {
	if !eventdesk.ValidID(id) {
		return eventdesk.Ticket{}, nil, errNotFound()
	}
	events, err := d.store.ReadStream(ctx, eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		return eventdesk.Ticket{}, nil, fmt.Errorf("app: read ticket %s: %w", id, err)
	}
	t, err := eventdesk.Fold(events)
	if err != nil {
		return t, nil, fmt.Errorf("app: fold ticket %s: %w", id, err)
	}
	if !t.Exists() || !maySee(a, t) {
		return eventdesk.Ticket{}, nil, errNotFound()
	}
	return t, events, nil
}

// keyedAppend finds, in a loaded stream, the append that carried the
// idempotency key: a retry is answered from it before anything is decided,
// so that it gets the first answer even if the ticket has changed since
// (e.g. was closed, which would now refuse the comment). The append is the
// keyed event and the events after it from the same request (same actor,
// time and correlation id).
func keyedAppend(events []eventdesk.Event, key string) (first, last int, ok bool) {
	for i, e := range events {
		if e.Metadata.IdempotencyKey != key {
			continue
		}
		last = i
		for j := i + 1; j < len(events); j++ {
			n := events[j]
			if n.Metadata.IdempotencyKey != "" || n.Metadata.Actor != e.Metadata.Actor ||
				n.Metadata.CorrelationID != e.Metadata.CorrelationID || !n.RecordedAt.Equal(e.RecordedAt) {
				break
			}
			last = j
		}
		return i, last, true
	}
	return 0, 0, false
}

// replay answers a request whose idempotency key was already used: with
// the same request it rebuilds the first answer from the stream as it was
// right after the first append; with another request it fails.
func (d *deps) replay(ctx context.Context, a eventdesk.Actor, dup *eventdesk.DuplicateAppendError, hash string) (eventdesk.Ticket, error) {
	if dup.RequestHash != hash {
		return eventdesk.Ticket{}, eventdesk.Errorf(EIdempotencyKeyReused, "this Idempotency-Key was already used for a different request")
	}
	events, err := d.store.ReadStream(ctx, dup.Stream, 1, int(dup.Result.Version))
	if err != nil {
		return eventdesk.Ticket{}, fmt.Errorf("app: replay %s: %w", dup.Stream, err)
	}
	t, err := eventdesk.Fold(events)
	if err != nil {
		return t, fmt.Errorf("app: replay %s: %w", dup.Stream, err)
	}
	if !t.Exists() || !maySee(a, t) {
		return eventdesk.Ticket{}, errNotFound()
	}
	return t, nil
}

// applyAll folds freshly appended payloads into t without reading them back.
func applyAll(t eventdesk.Ticket, changes []eventdesk.Payload, now time.Time, actor string, res eventdesk.AppendResult) eventdesk.Ticket {
	for _, p := range changes {
		t = eventdesk.Apply(t, p, now, actor)
	}
	t.Version, t.Position = res.Version, res.Position
	return t
}

// CreateTicket opens a ticket.
type CreateTicket struct {
	Title       string
	Description string
	Priority    eventdesk.Priority // "": normal
	// Requester is whom the ticket is for; "" means the caller. Only staff
	// may open a ticket for someone else.
	Requester string
	// Assignee may be set by staff only.
	Assignee    string
	Tags        []string
	Idempotency Idempotency
}

// CreateTicketHandler opens tickets.
type CreateTicketHandler struct{ d *deps }

// Handle opens a ticket. A new stream needs no read: it is appended with
// NoStream, and the answer is folded from the decided events.
func (h *CreateTicketHandler) Handle(ctx context.Context, cmd CreateTicket) (TicketResult, error) {
	d := h.d
	a, err := actor(ctx)
	if err != nil {
		return TicketResult{}, err
	}
	if err := mayWrite(a); err != nil {
		return TicketResult{}, err
	}
	requester := cmd.Requester
	if requester == "" {
		requester = a.Name
	}
	if !a.Role.IsStaff() {
		if requester != a.Name {
			return TicketResult{}, &eventdesk.Error{Code: eventdesk.EForbidden, Message: "requesters may only open tickets for themselves",
				Fields: map[string]string{"requester": "must be you"}}
		}
		if cmd.Assignee != "" {
			return TicketResult{}, &eventdesk.Error{Code: eventdesk.EForbidden, Message: "only agents may assign tickets",
				Fields: map[string]string{"assignee": "set by the team"}}
		}
	}
	key, err := cmd.Idempotency.scopedKey(a)
	if err != nil {
		return TicketResult{}, err
	}
	changes, err := eventdesk.Decide(eventdesk.Ticket{}, eventdesk.OpenTicket{
		Title: cmd.Title, Description: cmd.Description, Priority: cmd.Priority,
		Requester: requester, Assignee: cmd.Assignee, Tags: cmd.Tags,
	})
	if err != nil {
		return TicketResult{}, err
	}
	now := eventdesk.NormalizeTime(d.now())
	id := d.newID()
	stream := eventdesk.TicketStream(id)
	events, err := d.events(ctx, a, changes, now, key, cmd.Idempotency.RequestHash, "")
	if err != nil {
		return TicketResult{}, err
	}
	res, err := d.append(ctx, stream, eventdesk.NoStream, events)
	if dup, ok := errors.AsType[*eventdesk.DuplicateAppendError](err); ok {
		t, err := d.replay(ctx, a, dup, cmd.Idempotency.RequestHash)
		if err != nil {
			return TicketResult{}, err
		}
		return TicketResult{Ticket: visible(a, t), Position: dup.Result.Position, Replayed: true}, nil
	}
	if err != nil {
		return TicketResult{}, fmt.Errorf("app: create ticket: %w", err)
	}
	d.owners.put(stream, requester)
	t := applyAll(eventdesk.Ticket{ID: id}, changes, now, a.Name, res)
	return TicketResult{Ticket: visible(a, t), Position: res.Position}, nil
}

// UpdateTicket changes editable fields of a ticket.
type UpdateTicket struct {
	ID string
	// ExpectedVersion, when > 0, must be the ticket's current version, or
	// the update fails with EPrecondition (a *WrongExpectedVersionError
	// carrying the current version). 0 means: decide on the latest version,
	// retrying if another writer comes first.
	ExpectedVersion int64
	Edit            eventdesk.EditTicket
}

// UpdateTicketHandler changes tickets.
type UpdateTicketHandler struct{ d *deps }

// Handle applies the edit; a change to nothing writes nothing.
func (h *UpdateTicketHandler) Handle(ctx context.Context, cmd UpdateTicket) (TicketResult, error) {
	d := h.d
	a, err := actor(ctx)
	if err != nil {
		return TicketResult{}, err
	}
	if err := mayWrite(a); err != nil {
		return TicketResult{}, err
	}
	for attempt := 0; ; attempt++ {
		t, err := d.load(ctx, a, cmd.ID)
		if err != nil {
			return TicketResult{}, err
		}
		if cmd.ExpectedVersion > 0 && t.Version != cmd.ExpectedVersion && !d.onlyAnnotatedSince(ctx, t, cmd.ExpectedVersion) {
			return TicketResult{}, &eventdesk.WrongExpectedVersionError{
				Stream: eventdesk.TicketStream(t.ID), Expected: eventdesk.ExactVersion(cmd.ExpectedVersion), Actual: t.Version}
		}
		changes, err := eventdesk.Decide(t, cmd.Edit)
		if err != nil {
			return TicketResult{}, err
		}
		if err := authorizeChanges(a, changes); err != nil {
			return TicketResult{}, err
		}
		if len(changes) == 0 {
			return TicketResult{Ticket: visible(a, t), Position: t.Position}, nil
		}
		now := eventdesk.NormalizeTime(d.now())
		events, err := d.events(ctx, a, changes, now, "", "", "")
		if err != nil {
			return TicketResult{}, err
		}
		res, err := d.append(ctx, eventdesk.TicketStream(t.ID), eventdesk.ExactVersion(t.Version), events)
		if errors.Is(err, eventdesk.ErrWrongExpectedVersion) {
			// Another writer came first: decide again on the new state.
			// With an ExpectedVersion, the reload checks it again, so a
			// score recorded meanwhile (an annotation) does not fail it
			// and any other change does.
			if attempt < maxRetries {
				continue
			}
			return TicketResult{}, errContention()
		}
		if err != nil {
			return TicketResult{}, fmt.Errorf("app: update ticket %s: %w", t.ID, err)
		}
		return TicketResult{Ticket: visible(a, applyAll(t, changes, now, a.Name, res)), Position: res.Position}, nil
	}
}

// AddComment adds a public comment or (staff only) an internal note.
type AddComment struct {
	TicketID string
	Body     string
	Internal bool
	// ExpectedVersion as in UpdateTicket; comments usually leave it 0.
	ExpectedVersion int64
	Idempotency     Idempotency
}

// CommentResult is what AddComment returns.
type CommentResult struct {
	TicketResult
	Comment eventdesk.Comment
}

// AddCommentHandler adds comments.
type AddCommentHandler struct{ d *deps }

// Handle adds the comment. Its id is the id of the event that records it.
func (h *AddCommentHandler) Handle(ctx context.Context, cmd AddComment) (CommentResult, error) {
	d := h.d
	a, err := actor(ctx)
	if err != nil {
		return CommentResult{}, err
	}
	if err := mayWrite(a); err != nil {
		return CommentResult{}, err
	}
	if cmd.Internal && !a.Role.IsStaff() {
		// Checked before loading so that the answer does not depend on
		// the ticket's state.
		return CommentResult{}, &eventdesk.Error{Code: eventdesk.EForbidden, Message: "only agents may add internal notes",
			Fields: map[string]string{"internal": "agents only"}}
	}
	key, err := cmd.Idempotency.scopedKey(a)
	if err != nil {
		return CommentResult{}, err
	}
	for attempt := 0; ; attempt++ {
		t, events, err := d.loadEvents(ctx, a, cmd.TicketID)
		if err != nil {
			return CommentResult{}, err
		}
		if key != "" {
			if first, last, ok := keyedAppend(events, key); ok {
				if events[first].Metadata.RequestHash != cmd.Idempotency.RequestHash {
					return CommentResult{}, eventdesk.Errorf(EIdempotencyKeyReused, "this Idempotency-Key was already used for a different request")
				}
				then, err := eventdesk.Fold(events[:last+1])
				if err != nil {
					return CommentResult{}, fmt.Errorf("app: replay %s: %w", events[first].Stream, err)
				}
				c, _ := findComment(then, events[first].ID)
				return CommentResult{TicketResult: TicketResult{Ticket: visible(a, then), Position: events[last].Position, Replayed: true}, Comment: c}, nil
			}
		}
		if cmd.ExpectedVersion > 0 && t.Version != cmd.ExpectedVersion && !d.onlyAnnotatedSince(ctx, t, cmd.ExpectedVersion) {
			return CommentResult{}, &eventdesk.WrongExpectedVersionError{
				Stream: eventdesk.TicketStream(t.ID), Expected: eventdesk.ExactVersion(cmd.ExpectedVersion), Actual: t.Version}
		}
		commentID := d.newID()
		changes, err := eventdesk.Decide(t, eventdesk.AddComment{CommentID: commentID, Author: a.Name, Body: cmd.Body, Internal: cmd.Internal})
		if err != nil {
			return CommentResult{}, err
		}
		if err := authorizeChanges(a, changes); err != nil {
			return CommentResult{}, err
		}
		now := eventdesk.NormalizeTime(d.now())
		data, err := d.events(ctx, a, changes, now, key, cmd.Idempotency.RequestHash, commentID)
		if err != nil {
			return CommentResult{}, err
		}
		res, err := d.append(ctx, eventdesk.TicketStream(t.ID), eventdesk.ExactVersion(t.Version), data)
		if dup, ok := errors.AsType[*eventdesk.DuplicateAppendError](err); ok {
			t, err := d.replay(ctx, a, dup, cmd.Idempotency.RequestHash)
			if err != nil {
				return CommentResult{}, err
			}
			c, _ := findComment(t, dup.FirstEventID)
			return CommentResult{TicketResult: TicketResult{Ticket: visible(a, t), Position: dup.Result.Position, Replayed: true}, Comment: c}, nil
		}
		if errors.Is(err, eventdesk.ErrWrongExpectedVersion) {
			// As in UpdateTicket: the reload checks ExpectedVersion again.
			if attempt < maxRetries {
				continue
			}
			return CommentResult{}, errContention()
		}
		if err != nil {
			return CommentResult{}, fmt.Errorf("app: comment on ticket %s: %w", t.ID, err)
		}
		t = applyAll(t, changes, now, a.Name, res)
		c, _ := findComment(t, commentID)
		return CommentResult{TicketResult: TicketResult{Ticket: visible(a, t), Position: res.Position}, Comment: c}, nil
	}
}

func findComment(t eventdesk.Ticket, id string) (eventdesk.Comment, bool) {
	for _, c := range t.Comments {
		if c.ID == id {
			return c, true
		}
	}
	return eventdesk.Comment{}, false
}
