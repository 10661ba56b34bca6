package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventdesk/eventdesk"
)

// DefaultDashboardDays is the window of a dashboard when none is asked for.
const DefaultDashboardDays = 30

// GetDashboard asks for the dashboard of the Days days that end today
// (UTC); 0 means DefaultDashboardDays.
type GetDashboard struct{ Days int }

// DashboardHandler reads the dashboard read model.
type DashboardHandler struct {
	d *deps
	r eventdesk.DashboardReader
}

// NewDashboardHandler returns the dashboard query of a, over the dashboard
// read model r. It is apart from New because not every deployment keeps
// that read model; it shares a's clock and rules.
func NewDashboardHandler(a *App, r eventdesk.DashboardReader) (*DashboardHandler, error) {
	if a == nil || a.Stats == nil {
		return nil, errors.New("app: dashboard: no application")
	}
	if r == nil {
		return nil, errors.New("app: dashboard: no dashboard reader")
	}
	return &DashboardHandler{d: a.Stats.d, r: r}, nil
}

// Handle returns the dashboard. Like the statistics it covers every
// ticket, so requesters may not see it.
func (h *DashboardHandler) Handle(ctx context.Context, q GetDashboard) (eventdesk.Dashboard, error) {
	a, err := actor(ctx)
	if err != nil {
		return eventdesk.Dashboard{}, err
	}
	if !a.Role.SeesAll() {
		return eventdesk.Dashboard{}, eventdesk.Errorf(eventdesk.EForbidden, "the dashboard covers every ticket: agents, admins and auditors only")
	}
	switch {
	case q.Days == 0:
		q.Days = DefaultDashboardDays
	case q.Days < 1 || q.Days > eventdesk.MaxDashboardDays:
		return eventdesk.Dashboard{}, eventdesk.FieldError("days", fmt.Sprintf("must be between 1 and %d", eventdesk.MaxDashboardDays))
	}
	to := eventdesk.Day(h.d.now())
	d, err := h.r.Dashboard(ctx, to.AddDate(0, 0, 1-q.Days), to)
	if err != nil {
		if eventdesk.ErrorCode(err) == eventdesk.EInvalid {
			return d, err
		}
		return d, fmt.Errorf("app: dashboard: %w", err)
	}
	return d, nil
}
