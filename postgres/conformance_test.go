package postgres_test

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestConformance runs the event-store suite, each case on a fresh
// database.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	dsns := map[eventdesk.EventStore]string{}
	openStore := func(t *testing.T) eventdesk.EventStore {
		dsn := testenv.Postgres(t)
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		dsns[db] = dsn
		mu.Unlock()
		return db
	}
	reopen := func(t *testing.T, closed eventdesk.EventStore) eventdesk.EventStore {
		mu.Lock()
		dsn := dsns[closed]
		mu.Unlock()
		db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	crash := func(t *testing.T) (*exec.Cmd, func(t *testing.T) eventdesk.EventStore) {
		dsn := testenv.Postgres(t)
		cmd := storetest.HelperCommand(t, "crash", "EVENTDESK_CRASH_DSN="+dsn)
		return cmd, func(t *testing.T) eventdesk.EventStore {
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	}
	storetest.Run(t, openStore, storetest.WithReopen(reopen), storetest.WithCrash(crash))
}

// crashChild is the helper role of the conformance suite's crash case (see
// TestMain): it appends until it is killed.
func crashChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	db, err := postgres.Open(ctx, os.Getenv("EVENTDESK_CRASH_DSN"), postgres.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	return storetest.CrashWriter(ctx, db, os.Stdout)
}
