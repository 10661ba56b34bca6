package sqlite

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// TestDashboardToneMigrationRebuilds: a dashboard.db written before the
// dashboard counted sentiment scores (schema 1) is emptied by migration
// 0002, checkpoint included, so that the projection rebuilds it from
// position 0 and counts the scores it had passed.
func TestDashboardToneMigrationRebuilds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openAtFirstMigration(t, filepath.Join(dir, DashboardFile), dashboardSchema)
	for _, stmt := range []string{
		"INSERT INTO projection_checkpoints (name, position, updated_at) VALUES ('dashboard', 42, 0)",
		"INSERT INTO dash_counters (name, value) VALUES ('now:open', 3), ('d:2025-03-10:created', 5)",
		"INSERT INTO dash_tickets VALUES ('0195a000-0000-7000-8000-00000000000a', 4, 40, 'open', 'rita', 1, 0, 0)",
	} {
		if _, err := w.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()

	s, err := OpenDashboard(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if pos, found, err := s.Checkpoint(ctx, "dashboard"); found || err != nil {
		t.Fatalf("checkpoint after the migration = %d, %t, %v; want none (rebuild from 0)", pos, found, err)
	}
	var rows int
	if err := s.r.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM dash_counters) + (SELECT count(*) FROM dash_tickets)").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d rows left after the migration", rows)
	}
	day := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	d, err := s.Dashboard(ctx, day, day)
	if err != nil || d.Days[0].Created != 0 || d.Backlog[eventdesk.StatusOpen] != 0 {
		t.Errorf("dashboard after the migration: %+v, %v", d, err)
	}
}
