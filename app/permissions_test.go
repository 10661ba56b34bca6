package app_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// TestPermissionsAgreeWithHandlers: for every role and status, each change
// that TicketPermissions allows succeeds, and each it refuses fails
// (forbidden by the role, or in conflict with the ticket's state, e.g.
// closed) — the permissions are the handlers' rules, not a copy that can
// drift.
func TestPermissionsAgreeWithHandlers(t *testing.T) {
	a, _ := newApp(t)
	actors := []eventdesk.Actor{
		{Name: "rita", Role: eventdesk.RoleRequester},
		{Name: "bob", Role: eventdesk.RoleAgent},
		{Name: "ada", Role: eventdesk.RoleAdmin},
		{Name: "aud", Role: eventdesk.RoleAuditor},
	}
	agent := as("bob", eventdesk.RoleAgent)
	// fresh opens a ticket of rita's and moves it to status s.
	fresh := func(s eventdesk.Status) eventdesk.Ticket {
		t.Helper()
		res, err := a.CreateTicket.Handle(agent, app.CreateTicket{Title: "Printer", Description: "jammed", Requester: "rita"})
		if err != nil {
			t.Fatal(err)
		}
		if s != eventdesk.StatusNew {
			res, err = a.UpdateTicket.Handle(agent, app.UpdateTicket{ID: res.Ticket.ID, Edit: eventdesk.EditTicket{Status: &s}})
			if err != nil {
				t.Fatal(err)
			}
		}
		return res.Ticket
	}
	check := func(what string, allowed bool, err error) {
		t.Helper()
		switch {
		case allowed && err != nil:
			t.Errorf("%s: permitted, but the handler said %v", what, err)
		case !allowed && err == nil:
			t.Errorf("%s: not permitted, but the handler did it", what)
		case !allowed && !slices.Contains([]eventdesk.Code{eventdesk.EForbidden, eventdesk.EConflict}, eventdesk.ErrorCode(err)):
			t.Errorf("%s: not permitted, and the handler failed oddly: %v", what, err)
		}
	}
	str := func(s string) *string { return &s }
	for _, s := range eventdesk.Statuses {
		for _, ac := range actors {
			ctx := eventdesk.NewContextWithActor(t.Context(), ac)
			p := app.TicketPermissions(ac, fresh(s))
			name := fmt.Sprintf("%s on a %s ticket", ac.Role, s)
			for _, next := range s.NextStatuses() {
				tk := fresh(s)
				_, err := a.UpdateTicket.Handle(ctx, app.UpdateTicket{ID: tk.ID, Edit: eventdesk.EditTicket{Status: &next}})
				check(name+": status → "+string(next), slices.Contains(p.Statuses, next), err)
			}
			for _, f := range []struct {
				field   string
				allowed bool
				edit    eventdesk.EditTicket
			}{
				{"title", p.Title, eventdesk.EditTicket{Title: str("Printer on fire")}},
				{"description", p.Description, eventdesk.EditTicket{Description: str("smoke")}},
				{"priority", p.Priority, eventdesk.EditTicket{Priority: new(eventdesk.PriorityHigh)}},
				{"tags", p.Tags, eventdesk.EditTicket{Tags: &[]string{"hardware"}}},
				{"assignee", p.Assignee, eventdesk.EditTicket{Assignee: str("bob")}},
			} {
				tk := fresh(s)
				_, err := a.UpdateTicket.Handle(ctx, app.UpdateTicket{ID: tk.ID, Edit: f.edit})
				check(name+": "+f.field, f.allowed, err)
			}
			for _, internal := range []bool{false, true} {
				tk := fresh(s)
				_, err := a.AddComment.Handle(ctx, app.AddComment{TicketID: tk.ID, Body: "hello", Internal: internal})
				check(fmt.Sprintf("%s: comment (internal %t)", name, internal), map[bool]bool{false: p.Comment, true: p.InternalNote}[internal], err)
			}
		}
	}
	// Someone else's ticket allows nothing.
	if p := app.TicketPermissions(eventdesk.Actor{Name: "sam", Role: eventdesk.RoleRequester}, fresh(eventdesk.StatusOpen)); p.Comment || p.CanEdit() {
		t.Errorf("another requester's permissions: %+v", p)
	}
}

func TestCreatePermissionsAgreeWithHandler(t *testing.T) {
	a, _ := newApp(t)
	for _, r := range eventdesk.Roles {
		ac := eventdesk.Actor{Name: "user-" + string(r), Role: r}
		ctx := eventdesk.NewContextWithActor(t.Context(), ac)
		p := app.TicketCreatePermissions(ac)
		_, err := a.CreateTicket.Handle(ctx, app.CreateTicket{Title: "Mine"})
		if p.Create != (err == nil) {
			t.Errorf("%s: create permitted %t, handler said %v", r, p.Create, err)
		}
		_, err = a.CreateTicket.Handle(ctx, app.CreateTicket{Title: "For sam", Requester: "sam"})
		if p.OnBehalf != (err == nil) {
			t.Errorf("%s: on behalf permitted %t, handler said %v", r, p.OnBehalf, err)
		}
		_, err = a.CreateTicket.Handle(ctx, app.CreateTicket{Title: "Assigned", Assignee: "bob"})
		if p.Assign != (err == nil) {
			t.Errorf("%s: assign permitted %t, handler said %v", r, p.Assign, err)
		}
	}
}
