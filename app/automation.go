package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/eventdesk/eventdesk"
)

// Automation issues the commands of automated policies (sentiment
// scoring, escalation) through the same authorize → load → decide → append
// path as people's commands. Only a policy actor (eventdesk.PolicyActor)
// may call it: it is not reachable over HTTP, and its events name the
// policy as their actor and the event that caused them as their causation.
//
// Both commands are idempotent on their cause: the append carries an
// idempotency key derived from the causation id, so a subscriber that
// delivers the same event twice records one event.
type Automation struct{ d *deps }

// Automation returns the policy commands of a.
func (a *App) Automation() *Automation { return &Automation{d: a.CreateTicket.d} }

// RecordSentiment records the tone measured in the text of one event of a
// ticket.
type RecordSentiment struct {
	TicketID string
	// SourceEventID is the scored event; it is also the causation id.
	SourceEventID string
	Score         float64
	Label         string
	// CorrelationID is passed on from the source event.
	CorrelationID string
}

// RaisePriority raises a ticket's priority to To. It never lowers one and
// leaves tickets that are no longer active (resolved, closed) alone.
type RaisePriority struct {
	TicketID string
	To       eventdesk.Priority
	// Reason is recorded with the change (eventdesk.PriorityChanged).
	Reason string
	// CausationID is the event the policy reacted to.
	CausationID   string
	CorrelationID string
}

// policyActor returns the calling policy or an error.
func policyActor(ctx context.Context) (eventdesk.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, err
	}
	if !strings.HasPrefix(a.Name, "policy:") || !a.Role.IsStaff() {
		return a, eventdesk.Errorf(eventdesk.EForbidden, "only automated policies may issue this command")
	}
	return a, nil
}

// RecordSentiment appends a ticket.sentiment_scored event. A source event
// already scored writes nothing (Replayed is then true, or the result has
// the ticket's current position).
func (h *Automation) RecordSentiment(ctx context.Context, cmd RecordSentiment) (TicketResult, error) {
	a, err := policyActor(ctx)
	if err != nil {
		return TicketResult{}, err
	}
	return h.apply(ctx, a, cmd.TicketID, cmd.SourceEventID, cmd.CorrelationID, func(eventdesk.Ticket) eventdesk.Command {
		return eventdesk.RecordSentiment{SourceEventID: cmd.SourceEventID, Score: cmd.Score, Label: cmd.Label}
	})
}

// RaisePriority appends a ticket.priority_changed event if the ticket is
// active and its priority below cmd.To.
func (h *Automation) RaisePriority(ctx context.Context, cmd RaisePriority) (TicketResult, error) {
	a, err := policyActor(ctx)
	if err != nil {
		return TicketResult{}, err
	}
	if !cmd.To.Valid() {
		return TicketResult{}, eventdesk.FieldError("priority", "must be one of low, normal, high, urgent")
	}
	return h.apply(ctx, a, cmd.TicketID, cmd.CausationID, cmd.CorrelationID, func(t eventdesk.Ticket) eventdesk.Command {
		if t.Priority.Rank() >= cmd.To.Rank() || !t.Status.Active() {
			return nil
		}
		to := cmd.To
		return eventdesk.EditTicket{Priority: &to, Reason: cmd.Reason}
	})
}

// apply loads the ticket, asks decide for a command (nil: nothing to do),
// decides and appends it with the policy's metadata, retrying when another
// writer came first.
func (h *Automation) apply(ctx context.Context, a eventdesk.Actor, ticketID, causation, correlation string, decide func(eventdesk.Ticket) eventdesk.Command) (TicketResult, error) {
	d := h.d
	if !eventdesk.ValidID(causation) {
		return TicketResult{}, eventdesk.FieldError("causationId", "must be an event id (a UUID)")
	}
	key := a.Name + "/" + causation
	for attempt := 0; ; attempt++ {
		t, err := d.load(ctx, a, ticketID)
		if err != nil {
			return TicketResult{}, err
		}
		cmd := decide(t)
		if cmd == nil {
			return TicketResult{Ticket: t, Position: t.Position}, nil
		}
		changes, err := eventdesk.Decide(t, cmd)
		if err != nil {
			return TicketResult{}, err
		}
		if len(changes) == 0 {
			return TicketResult{Ticket: t, Position: t.Position}, nil
		}
		now := eventdesk.NormalizeTime(d.now())
		events, err := d.events(ctx, a, changes, now, key, "", "")
		if err != nil {
			return TicketResult{}, err
		}
		for i := range events {
			events[i].Metadata.CausationID = causation
			if correlation != "" {
				events[i].Metadata.CorrelationID = correlation
			}
		}
		res, err := d.append(ctx, eventdesk.TicketStream(t.ID), eventdesk.ExactVersion(t.Version), events)
		if dup, ok := errors.AsType[*eventdesk.DuplicateAppendError](err); ok {
			// Done before (a redelivered event): report the ticket as it is.
			return TicketResult{Ticket: t, Position: dup.Result.Position, Replayed: true}, nil
		}
		if errors.Is(err, eventdesk.ErrWrongExpectedVersion) {
			if attempt < maxRetries {
				continue
			}
			return TicketResult{}, errContention()
		}
		if err != nil {
			return TicketResult{}, fmt.Errorf("app: %s on ticket %s: %w", cmd.CommandName(), t.ID, err)
		}
		return TicketResult{Ticket: applyAll(t, changes, now, a.Name, res), Position: res.Position}, nil
	}
}

// onlyAnnotatedSince reports whether every event of t after version
// expected only annotates it (sentiment scores, recorded by a policy a
// moment after the text they score): a caller who saw version expected saw
// everything they could edit, so its precondition (If-Match) still holds.
// A read error counts as a change.
func (d *deps) onlyAnnotatedSince(ctx context.Context, t eventdesk.Ticket, expected int64) bool {
	if expected <= 0 || expected >= t.Version {
		return false
	}
	events, err := d.store.ReadStream(ctx, eventdesk.TicketStream(t.ID), expected+1, int(t.Version-expected))
	if err != nil || int64(len(events)) != t.Version-expected {
		return false
	}
	for _, e := range events {
		if e.Type != eventdesk.TypeSentimentScored {
			return false
		}
	}
	return true
}
