package dynamodb_test

import (
	"context"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/storetest"
)

// newReadModels creates a fresh read-model table.
func newReadModels(tb testing.TB) *dynamodb.ReadModels {
	tb.Helper()
	db, _ := openLocal(tb)
	name := tableName("read")
	if err := db.CreateReadTable(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
	return db.ReadModels(name)
}

// TestProjections runs the read-model suite against DynamoDB Local.
func TestProjections(t *testing.T) {
	storetest.RunProjections(t, func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.TicketReader) {
		r := newReadModels(tb)
		return r, r
	})
}

// TestDashboard runs the dashboard suite against DynamoDB Local.
func TestDashboard(t *testing.T) {
	storetest.RunDashboard(t, func(tb testing.TB) (eventdesk.ProjectionStore, eventdesk.DashboardReader) {
		db, _ := openLocal(tb)
		d := db.Dashboard(newReadModels(tb).Table())
		return d, d
	})
}
