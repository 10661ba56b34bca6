package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/eventdesk/eventdesk"
)

// errNotFound hides whether a ticket exists from a caller who may not see it.
func errNotFound() error { return eventdesk.Errorf(eventdesk.ENotFound, "ticket not found") }

// mayWrite rejects the read-only auditor.
func mayWrite(a eventdesk.Actor) error {
	if a.Role == eventdesk.RoleAuditor {
		return eventdesk.Errorf(eventdesk.EForbidden, "auditors may not change tickets")
	}
	return nil
}

// maySee reports whether a may read ticket t at all.
func maySee(a eventdesk.Actor, t eventdesk.Ticket) bool {
	return a.Role.SeesAll() || t.Requester == a.Name
}

// visible returns t as a may see it: a requester gets neither internal
// notes nor sentiment scores, and a comment count of what they can see.
func visible(a eventdesk.Actor, t eventdesk.Ticket) eventdesk.Ticket {
	if a.Role.SeesAll() {
		return t
	}
	// The read model keeps the public count next to the total, so that a
	// list item (which carries no comments) shows the requester only what
	// they can see, and never that internal notes exist.
	t.CommentCount = t.PublicCommentCount
	if t.Comments != nil {
		comments := make([]eventdesk.Comment, 0, len(t.Comments))
		for _, c := range t.Comments {
			if !c.Internal {
				comments = append(comments, c)
			}
		}
		t.Comments = comments
		t.CommentCount = len(comments)
	}
	t.Sentiment = nil
	t.UpdatedBy = ""
	return t
}

// authorizeChanges checks each decided change against a's role. Staff may
// do anything Decide allows; a requester may retitle, redescribe, close and
// reopen their own ticket and add public comments.
func authorizeChanges(a eventdesk.Actor, changes []eventdesk.Payload) error {
	if a.Role.IsStaff() {
		return nil
	}
	if err := mayWrite(a); err != nil {
		return err
	}
	for _, p := range changes {
		switch v := p.(type) {
		case eventdesk.TitleChanged, eventdesk.DescriptionChanged:
		case eventdesk.TicketCommented:
			if v.Internal {
				return eventdesk.Errorf(eventdesk.EForbidden, "only agents may add internal notes")
			}
		case eventdesk.StatusChanged:
			switch {
			case v.To == eventdesk.StatusClosed:
			case v.To == eventdesk.StatusOpen && (v.From == eventdesk.StatusResolved || v.From == eventdesk.StatusClosed):
			case v.To == eventdesk.StatusOpen && v.From == eventdesk.StatusPending && len(changes) > 1 && isComment(changes[0]):
				// A requester's reply reopens a pending ticket (Decide).
			default:
				return &eventdesk.Error{Code: eventdesk.EForbidden, Message: "requesters may only close or reopen their tickets",
					Fields: map[string]string{"status": "may only be closed, or reopened when resolved or closed"}}
			}
		case eventdesk.PriorityChanged:
			return &eventdesk.Error{Code: eventdesk.EForbidden, Message: "only agents may change the priority", Fields: map[string]string{"priority": "set by the team"}}
		case eventdesk.TagsChanged:
			return &eventdesk.Error{Code: eventdesk.EForbidden, Message: "only agents may change tags", Fields: map[string]string{"tags": "set by the team"}}
		case eventdesk.TicketAssigned, eventdesk.TicketUnassigned:
			return &eventdesk.Error{Code: eventdesk.EForbidden, Message: "only agents may assign tickets", Fields: map[string]string{"assignee": "set by the team"}}
		default:
			return eventdesk.Errorf(eventdesk.EForbidden, "requesters may not cause %s", p.EventType())
		}
	}
	return nil
}

func isComment(p eventdesk.Payload) bool {
	_, ok := p.(eventdesk.TicketCommented)
	return ok
}

// eventVisible reports whether a may see event e of a ticket whose
// requester is owner.
func eventVisible(a eventdesk.Actor, e eventdesk.Event, owner string) bool {
	if a.Role.SeesAll() {
		return true
	}
	if owner != a.Name {
		return false
	}
	switch e.Type {
	case eventdesk.TypeSentimentScored:
		return false
	case eventdesk.TypeTicketCommented:
		p, err := eventdesk.Decode(e)
		if err != nil {
			return false
		}
		c, _ := p.(eventdesk.TicketCommented)
		return !c.Internal
	}
	return true
}

// ownerCache remembers the requester of each ticket stream: it never
// changes, and the changefeed asks for it once per event.
type ownerCache struct {
	mu  sync.Mutex
	max int
	m   map[string]string
}

func newOwnerCache(max int) *ownerCache {
	return &ownerCache{max: max, m: make(map[string]string)}
}

func (c *ownerCache) put(stream, owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Crude but bounded: forget everything; entries are cheap to
		// recompute from the stream's first event.
		clear(c.m)
	}
	c.m[stream] = owner
}

// owner returns the requester of a ticket stream ("" if it is none).
func (d *deps) owner(ctx context.Context, stream string) (string, error) {
	d.owners.mu.Lock()
	o, ok := d.owners.m[stream]
	d.owners.mu.Unlock()
	if ok {
		return o, nil
	}
	events, err := d.store.ReadStream(ctx, stream, 1, 1)
	if err != nil {
		return "", fmt.Errorf("app: read %s: %w", stream, err)
	}
	if len(events) == 0 {
		return "", nil
	}
	if p, err := eventdesk.Decode(events[0]); err == nil {
		if c, ok := p.(eventdesk.TicketCreated); ok {
			o = c.Requester
		}
	}
	d.owners.put(stream, o)
	return o, nil
}
