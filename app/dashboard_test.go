package app_test

import (
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/sqlite"
)

func TestDashboardHandler(t *testing.T) {
	a, db := newApp(t)
	if _, err := app.NewDashboardHandler(a, nil); err == nil {
		t.Error("NewDashboardHandler accepted no reader")
	}
	store, err := db.OpenDashboard()
	if err != nil {
		t.Fatal(err)
	}
	h, err := app.NewDashboardHandler(a, store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Handle(t.Context(), app.GetDashboard{}); eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
		t.Errorf("anonymous: %v", err)
	}
	if _, err := h.Handle(as("rita", eventdesk.RoleRequester), app.GetDashboard{}); eventdesk.ErrorCode(err) != eventdesk.EForbidden {
		t.Errorf("requester: %v", err)
	}
	for _, days := range []int{-1, eventdesk.MaxDashboardDays + 1} {
		if _, err := h.Handle(as("bob", eventdesk.RoleAgent), app.GetDashboard{Days: days}); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
			t.Errorf("%d days: %v", days, err)
		}
	}
	for _, r := range []eventdesk.Role{eventdesk.RoleAgent, eventdesk.RoleAdmin, eventdesk.RoleAuditor} {
		d, err := h.Handle(as("x", r), app.GetDashboard{})
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		// The window ends today by the application's clock (newApp's).
		today := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		if len(d.Days) != app.DefaultDashboardDays || !d.To.Equal(today) {
			t.Errorf("%s: %d days to %s", r, len(d.Days), d.To)
		}
	}
}

var _ eventdesk.DashboardReader = (*sqlite.DashboardStore)(nil)
