package dynamodb_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/storetest"
)

// Environment of the crash test's child process (see TestConformance).
const (
	crashEndpointEnv = "EVENTDESK_DYNAMODB_CRASH_ENDPOINT"
	crashTableEnv    = "EVENTDESK_DYNAMODB_CRASH_TABLE"
)

func TestMain(m *testing.M) {
	// The crash test's child is this binary started with the endpoint and
	// table in its environment: it appends until it is killed, and runs no
	// tests (so that none is reported as skipped).
	if endpoint := os.Getenv(crashEndpointEnv); endpoint != "" {
		db := dynamodb.Open(localConfig(), endpoint)
		err := storetest.CrashWriter(context.Background(), db.EventStore(os.Getenv(crashTableEnv), dynamodb.EventStoreOptions{}), os.Stdout)
		fmt.Fprintln(os.Stderr, "crash writer:", err)
		os.Exit(1)
	}
	testenv.Main(m)
}

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
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), tableSeq.Add(1))
}

// newEventsTable creates a fresh events table.
func newEventsTable(tb testing.TB) (*dynamodb.DB, string) {
	tb.Helper()
	db, _ := openLocal(tb)
	name := tableName("events")
	if err := db.CreateEventsTable(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
	return db, name
}

// newEventStore creates a fresh events table and returns its store.
func newEventStore(tb testing.TB, opts dynamodb.EventStoreOptions) *dynamodb.EventStore {
	tb.Helper()
	db, name := newEventsTable(tb)
	s := db.EventStore(name, opts)
	tb.Cleanup(func() { s.Close() })
	return s
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.n.Add(1) }
