package sqlite_test

import (
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/storetest"
)

func TestDashboardConformance(t *testing.T) {
	storetest.RunDashboard(t, func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.DashboardReader) {
		s, err := sqlite.OpenDashboard(tb.TempDir(), nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			if err := s.Close(); err != nil {
				tb.Error(err)
			}
		})
		return s, s
	})
}

// TestDashboardReopen: the dashboard survives a restart, and a second
// Close is harmless.
func TestDashboardReopen(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.OpenDashboard()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Project(t.Context(), "dashboard", 42, func(tx eventdesk.ProjectionTx) error {
		return tx.AddCount(t.Context(), "now:open", 3)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	s, err = sqlite.OpenDashboard(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if pos, ok, err := s.Checkpoint(t.Context(), "dashboard"); pos != 42 || !ok || err != nil {
		t.Fatalf("checkpoint after reopen = %d, %t, %v", pos, ok, err)
	}
	d, err := s.Dashboard(t.Context(), time.Now(), time.Now())
	if err != nil || d.Backlog[eventdesk.StatusOpen] != 3 {
		t.Fatalf("backlog after reopen: %v, %v", d.Backlog, err)
	}
}
