package postgres_test

import (
	"bufio"
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/storetest"
	"github.com/jackc/pgx/v5"
)

func acquireAsync(l *postgres.Leases, ctx context.Context, name string) <-chan func() {
	got := make(chan func(), 1)
	go func() {
		_, release, err := l.Acquire(ctx, name)
		if err == nil {
			got <- release
		}
		close(got)
	}()
	return got
}

func TestLeaseExclusiveAndHandedOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t)
	opts := postgres.LeaseOptions{Retry: 100 * time.Millisecond, Check: 100 * time.Millisecond}
	a := open(t, dsn, postgres.Options{}).Leases(opts)
	b := open(t, dsn, postgres.Options{}).Leases(opts)

	heldA, releaseA, err := a.Acquire(ctx, "tickets")
	if err != nil {
		t.Fatal(err)
	}
	// Another subscriber's lease is independent.
	_, releaseOther, err := b.Acquire(ctx, "webhook")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseOther()

	gotB := acquireAsync(b, ctx, "tickets")
	select {
	case <-gotB:
		t.Fatal("two nodes hold the same lease")
	case <-time.After(500 * time.Millisecond):
	}
	releaseA()
	if heldA.Err() == nil {
		t.Fatal("held context still alive after release")
	}
	var releaseB func()
	select {
	case releaseB = <-gotB:
	case <-time.After(10 * time.Second):
		t.Fatal("the lease was not handed over after release")
	}

	// The database ends B's lease session (as when a node is cut off):
	// B's held context ends, and A takes over.
	gotA := acquireAsync(a, ctx, "tickets")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '%eventdesk lease tickets'`); err != nil {
		t.Fatal(err)
	}
	select {
	case r, ok := <-gotA:
		if !ok {
			t.Fatal("the waiting node failed to acquire the lease")
		}
		defer r()
	case <-time.After(10 * time.Second):
		t.Fatal("the lease was not taken over after the holder's session ended")
	}
	defer releaseB()
}

// TestLeaseMovesWhenNodeKilled kills, with SIGKILL, a child process that
// holds a lease; this process must get it within seconds.
func TestLeaseMovesWhenNodeKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t)
	cmd := storetest.HelperCommand(t, "lease", "EVENTDESK_LEASE_DSN="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "HELD") {
	}
	l := open(t, dsn, postgres.Options{}).Leases(postgres.LeaseOptions{Retry: 200 * time.Millisecond})
	got := acquireAsync(l, ctx, "tickets")
	select {
	case <-got:
		t.Fatal("lease acquired while the child holds it")
	case <-time.After(time.Second):
	}
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		t.Logf("lease moved %v after SIGKILL", time.Since(killed))
		r()
	case <-time.After(15 * time.Second):
		t.Fatal("lease not taken over within 15s of the holder's death")
	}
}

// leaseChild is the helper role of TestLeaseMovesWhenNodeKilled (see
// TestMain): it holds a lease until it is killed.
func leaseChild() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	db, err := postgres.Open(ctx, os.Getenv("EVENTDESK_LEASE_DSN"), postgres.Options{})
	if err != nil {
		return err
	}
	held, release, err := db.Leases(postgres.LeaseOptions{}).Acquire(ctx, "tickets")
	if err != nil {
		return err
	}
	defer release()
	os.Stdout.WriteString("HELD\n")
	<-held.Done()
	return nil
}
