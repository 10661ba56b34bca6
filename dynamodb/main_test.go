package dynamodb_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// localConfig is an SDK configuration for DynamoDB Local, which accepts any
// static credentials.
func localConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("eventdesk", "test", ""),
	}
}

// openLocal connects to the shared DynamoDB Local.
func openLocal(tb testing.TB) (*dynamodb.DB, string) {
	tb.Helper()
	endpoint := testenv.DynamoDB(tb)
	return dynamodb.Open(localConfig(), endpoint), endpoint
}

var tableSeq atomic.Int64

// tableName returns a table name no other test of this process uses.
func tableName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, tableSeq.Add(1))
}

// newEventStore creates a fresh events table and returns its store.
func newEventStore(tb testing.TB, opts dynamodb.EventStoreOptions) *dynamodb.EventStore {
	tb.Helper()
	db, _ := openLocal(tb)
	name := tableName("events")
	if err := db.CreateEventsTable(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
	s := db.EventStore(name, opts)
	tb.Cleanup(func() { s.Close() })
	return s
}
