package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/jackc/pgx/v5"
)

// DashboardStore is the dashboard read model in PostgreSQL: the
// eventdesk.ProjectionStore that projection.Dashboard writes (on whichever
// node holds its lease) and the eventdesk.DashboardReader every node
// queries. It shares the DB's pool.
type DashboardStore struct {
	projStore
}

var (
	_ eventdesk.ProjectionStore = (*DashboardStore)(nil)
	_ eventdesk.DashboardReader = (*DashboardStore)(nil)
)

// Dashboard returns the dashboard read model of db.
func (db *DB) Dashboard() *DashboardStore {
	return &DashboardStore{projStore{db: db, tickets: "dash_tickets", counters: "dash_counters", slim: true}}
}

// Dashboard implements eventdesk.DashboardReader: one range scan of the
// counters from day from onwards, whatever the number of tickets.
func (s *DashboardStore) Dashboard(ctx context.Context, from, to time.Time) (eventdesk.Dashboard, error) {
	from, to = eventdesk.Day(from), eventdesk.Day(to)
	if to.Before(from) {
		return eventdesk.Dashboard{}, eventdesk.FieldError("from", "must not be after to")
	}
	if to.Sub(from) >= eventdesk.MaxDashboardDays*24*time.Hour {
		return eventdesk.Dashboard{}, eventdesk.FieldError("from", fmt.Sprintf("the window must be at most %d days", eventdesk.MaxDashboardDays))
	}
	lo, hi := projection.DashboardCounterRange(from)
	now := projection.DashboardNowPrefix
	rows, err := s.db.pool.Query(ctx, `SELECT name, value FROM dash_counters WHERE (name >= $1 AND name < $2) OR (name >= $3 AND name < $4)`,
		lo, hi, now, now[:len(now)-1]+";")
	if err != nil {
		return eventdesk.Dashboard{}, fmt.Errorf("postgres: dashboard: %w", unavailable(err))
	}
	counters := map[string]int64{}
	var name string
	var v int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &v}, func() error {
		counters[name] = v
		return nil
	}); err != nil {
		return eventdesk.Dashboard{}, fmt.Errorf("postgres: dashboard: %w", unavailable(err))
	}
	return projection.BuildDashboard(counters, from, to)
}
