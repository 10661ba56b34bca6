package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk/subscription"
	"github.com/jackc/pgx/v5"
)

// LeaseOptions tune Leases. The zero value is a sensible default.
type LeaseOptions struct {
	// Retry is how often a node that does not hold a lease tries to take
	// it (jittered between half and all of it). It bounds how long a
	// subscriber stays without a node after its node dies. Default 1s.
	Retry time.Duration
	// Check is how often the holder checks that its lease connection is
	// alive; a failed check ends the lease, so that a node cut off from the
	// database stops its subscriber. Default 1s.
	Check time.Duration
}

// Leases gives each subscriber to exactly one node of a cluster: the
// holder of a subscriber's lease is the session that holds a PostgreSQL
// advisory lock keyed by the subscriber's name, on a connection of its
// own. When a node dies its sessions end and PostgreSQL releases the
// locks, so another node takes the subscriber over at its next retry. It
// implements subscription.Lease.
type Leases struct {
	db   *DB
	opts LeaseOptions
}

var _ subscription.Lease = (*Leases)(nil)

// Leases returns the subscriber leases of db.
func (db *DB) Leases(opts LeaseOptions) *Leases {
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Check <= 0 {
		opts.Check = time.Second
	}
	return &Leases{db: db, opts: opts}
}

// leaseKey is the advisory lock key of a subscriber: a 64-bit hash
// computed by the server, so every node agrees on it.
const leaseLock = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))"

// Acquire implements subscription.Lease. It blocks until this node holds
// the lease of name or ctx ends. held ends when the lease connection fails
// a check (the lock may then be lost) or when release is called.
func (l *Leases) Acquire(ctx context.Context, name string) (context.Context, func(), error) {
	cfg := l.db.pool.Config().ConnConfig.Copy()
	// The server notices a vanished client after these keepalives (about
	// 10 s) instead of the system default (hours), and frees the lock.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	// Named after the subscriber (and the node, if its connection string
	// names it), so pg_stat_activity shows who holds what.
	app := "eventdesk lease " + name
	if node := cfg.RuntimeParams["application_name"]; node != "" {
		app = node + ": " + app
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: lease %s: %w", name, unavailable(err))
	}
	key := "eventdesk.lease:" + name
	for {
		var ok bool
		if err := conn.QueryRow(ctx, leaseLock, key).Scan(&ok); err != nil {
			conn.Close(context.Background())
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("postgres: lease %s: %w", name, unavailable(err))
		}
		if ok {
			break
		}
		wait := l.opts.Retry/2 + rand.N(l.opts.Retry/2+1)
		select {
		case <-ctx.Done():
			conn.Close(context.Background())
			return nil, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	l.db.log.Info("postgres: lease acquired", "subscriber", name)

	held, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		// The watchdog owns conn while the lease is held.
		defer close(done)
		t := time.NewTicker(l.opts.Check)
		defer t.Stop()
		for {
			select {
			case <-held.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(held, l.opts.Check)
			_, err := conn.Exec(pctx, "SELECT 1")
			pcancel()
			if err != nil && held.Err() == nil {
				l.db.log.Warn("postgres: lease lost", "subscriber", name, "err", err)
				cancel()
				return
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			cancel()
			<-done
			uctx, ucancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer ucancel()
			// Closing the session releases the lock whatever happens to
			// the unlock.
			_, _ = conn.Exec(uctx, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
			conn.Close(uctx)
			l.db.log.Info("postgres: lease released", "subscriber", name)
		})
	}
	return held, release, nil
}
