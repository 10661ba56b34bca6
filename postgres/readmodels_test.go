package postgres_test

import (
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestProjectionConformance runs the read-model suite, each case on a
// fresh database.
func TestProjectionConformance(t *testing.T) {
	storetest.RunProjections(t, func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.TicketReader) {
		db := open(tb, testenv.Postgres(tb), postgres.Options{})
		rm := db.ReadModels()
		return rm, rm
	})
}

func TestDashboardConformance(t *testing.T) {
	storetest.RunDashboard(t, func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.DashboardReader) {
		d := open(tb, testenv.Postgres(tb), postgres.Options{}).Dashboard()
		return d, d
	})
}

func TestSubscriberStoreConformance(t *testing.T) {
	storetest.RunSubscriberStore(t, func(tb testing.TB) eventdesk.SubscriberStore {
		return open(tb, testenv.Postgres(tb), postgres.Options{}).Subscribers()
	})
}
