package app

import (
	"slices"

	"github.com/eventdesk/eventdesk"
)

// Permissions tells what an actor may do to one ticket now, so that an
// interface offers only what would succeed (a form shows only the fields
// and the status transitions the caller may use). It is computed by asking
// the same rules the handlers apply — Decide on the ticket, then
// authorizeChanges on what Decide would cause — rather than by a second
// copy of them; the handlers remain the authority.
type Permissions struct {
	// Comment: may add a public comment; InternalNote: an internal note.
	Comment, InternalNote bool
	// Fields the actor may change (none while the ticket is closed: it
	// must be reopened first).
	Title, Description, Priority, Tags, Assignee bool
	// Statuses lists the statuses the ticket may move to next that the
	// actor may choose, in the domain's order.
	Statuses []eventdesk.Status
}

// CanEdit reports whether any field or the status may be changed.
func (p Permissions) CanEdit() bool {
	return p.Title || p.Description || p.Priority || p.Tags || p.Assignee || len(p.Statuses) > 0
}

// TicketPermissions returns what a may do to t (as the application loaded
// it for a). A ticket a may not see allows nothing.
func TicketPermissions(a eventdesk.Actor, t eventdesk.Ticket) Permissions {
	var p Permissions
	if !a.Role.Valid() || !t.Exists() || !maySee(a, t) || mayWrite(a) != nil {
		return p
	}
	// allowed reports whether cmd would be decided and authorized.
	allowed := func(cmd eventdesk.Command) bool {
		changes, err := eventdesk.Decide(t, cmd)
		return err == nil && len(changes) > 0 && authorizeChanges(a, changes) == nil
	}
	comment := func(internal bool) bool {
		// AddCommentHandler refuses internal notes of non-staff before
		// anything else.
		if internal && !a.Role.IsStaff() {
			return false
		}
		return allowed(eventdesk.AddComment{CommentID: NewID(), Author: a.Name, Body: "probe", Internal: internal})
	}
	other := func(current string, candidates ...string) *string {
		for _, c := range candidates {
			if c != current {
				return &c
			}
		}
		return nil
	}
	p.Comment, p.InternalNote = comment(false), comment(true)
	p.Title = allowed(eventdesk.EditTicket{Title: other(t.Title, "Probe", "Probe 2")})
	p.Description = allowed(eventdesk.EditTicket{Description: other(t.Description, "Probe", "Probe 2")})
	prio := eventdesk.PriorityLow
	if t.Priority == prio {
		prio = eventdesk.PriorityHigh
	}
	p.Priority = allowed(eventdesk.EditTicket{Priority: &prio})
	tags := []string{"probe"}
	if len(t.Tags) > 0 {
		tags = slices.Clone(t.Tags[1:])
	}
	p.Tags = allowed(eventdesk.EditTicket{Tags: &tags})
	p.Assignee = allowed(eventdesk.EditTicket{Assignee: other(t.Assignee, "probe", "probe2")})
	if t.Assignee != "" {
		// Unassigning is the same right; ask anyway.
		none := ""
		p.Assignee = p.Assignee && allowed(eventdesk.EditTicket{Assignee: &none})
	}
	for _, s := range t.Status.NextStatuses() {
		if allowed(eventdesk.EditTicket{Status: &s}) {
			p.Statuses = append(p.Statuses, s)
		}
	}
	return p
}

// CreatePermissions tells what an actor may set when opening a ticket, as
// CreateTicketHandler decides it.
type CreatePermissions struct {
	// Create: may open tickets at all.
	Create bool
	// OnBehalf: may open a ticket for another requester; Assign: may set
	// the assignee.
	OnBehalf, Assign bool
}

// TicketCreatePermissions returns what a may set on a new ticket. (The
// test of this file checks it against CreateTicketHandler for every role.)
func TicketCreatePermissions(a eventdesk.Actor) CreatePermissions {
	if !a.Role.Valid() || mayWrite(a) != nil {
		return CreatePermissions{}
	}
	staff := a.Role.IsStaff()
	return CreatePermissions{Create: true, OnBehalf: staff, Assign: staff}
}
