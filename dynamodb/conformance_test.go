package dynamodb_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestConformance runs the event-store suite against DynamoDB Local, with
// the documented difference that DynamoDB has no global position.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventdesk.EventStore {
		return newEventStore(t, dynamodb.EventStoreOptions{})
	},
		storetest.WithoutGlobalPosition(),
		// DynamoDB Local is a Java emulator that serializes transactions:
		// still 32 concurrent writers, but fewer appends each, so that the
		// case stays well inside its deadline on a busy 2-core machine.
		storetest.WithLoad(32, 16),
		storetest.WithReopen(func(t *testing.T, closed eventdesk.EventStore) eventdesk.EventStore {
			db, _ := openLocal(t)
			return db.EventStore(closed.(*dynamodb.EventStore).Table(), dynamodb.EventStoreOptions{})
		}),
		storetest.WithCrash(func(t *testing.T) (*exec.Cmd, func(t *testing.T) eventdesk.EventStore) {
			db, table := newEventsTable(t)
			_, endpoint := openLocal(t)
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), crashEndpointEnv+"="+endpoint, crashTableEnv+"="+table)
			return cmd, func(t *testing.T) eventdesk.EventStore {
				return db.EventStore(table, dynamodb.EventStoreOptions{})
			}
		}),
	)
}
