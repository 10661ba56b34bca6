package main

// Scale-out wiring: the PostgreSQL store (--store postgres://…) and the
// NATS JetStream bus (--bus nats://…), next to the embedded SQLite default.
// See docs/scale-out.md.

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/httpapi"
	"github.com/eventdesk/eventdesk/natsbus"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/subscription"
)

// Environment variables of the scale-out configuration.
const (
	envStore = "EVENTDESK_STORE"
	envBus   = "EVENTDESK_BUS"
	envNode  = "EVENTDESK_NODE"
)

// scaleOutFromEnv fills Store, Bus and Node from the environment.
func (c *Config) scaleOutFromEnv(getenv func(string) string) {
	c.Store = getenv(envStore)
	c.Bus = getenv(envBus)
	c.Node = getenv(envNode)
}

// storeFlag registers --store on f, next to --data: every command that
// touches a store takes it.
func (c *Config) storeFlag(f *flags) {
	f.StringVar(&c.Store, "store", c.Store, "the event store: a PostgreSQL `URL` (postgres://user:pass@host/db) shared by several nodes; default: the SQLite store in --data (env "+envStore+")")
}

// busFlags registers --bus and --node on f (serve).
func (c *Config) busFlags(f *flags) {
	f.StringVar(&c.Bus, "bus", c.Bus, "NATS `URL` (nats://host:4222) for JetStream fan-out and wake-ups between nodes; needs a PostgreSQL --store (env "+envBus+")")
	f.StringVar(&c.Node, "node", c.Node, "this node's `NAME` in logs and on the bus (default: host name and process id) (env "+envNode+")")
}

// storeLocation is what the store functions open: the --store URL if one
// was given, else the data directory.
func (c Config) storeLocation() string {
	if strings.TrimSpace(c.Store) != "" {
		return c.Store
	}
	return c.DataDir
}

// serveStoreLocation is storeLocation for serve: a PostgreSQL URL gets the
// node's name as application_name (unless it has one), so that
// pg_stat_activity tells which node holds which connection and lease.
func (c Config) serveStoreLocation() string {
	loc := c.storeLocation()
	if !isPostgresURL(loc) {
		return loc
	}
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	q := u.Query()
	if q.Get("application_name") != "" {
		return loc
	}
	q.Set("application_name", "eventdesk "+c.nodeName())
	// pgx decodes the query as libpq does: %XX only, a '+' stays a '+'.
	// Encode escapes a literal '+' as %2B, so every '+' left is a space.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// storeDisplay is storeLocation fit for logs and messages: without a
// password.
func (c Config) storeDisplay() string { return redactURL(c.storeLocation()) }

// validateScaleOut reports a usage mistake in the scale-out settings.
func (c Config) validateScaleOut() error {
	if c.Store != "" && !isPostgresURL(c.Store) {
		return fmt.Errorf("--store %q: want a postgres:// URL (the SQLite store is chosen with --data)", redactURL(c.Store))
	}
	if c.Bus != "" {
		if !isPostgresURL(c.Store) {
			return fmt.Errorf("--bus needs a shared PostgreSQL store (--store postgres://…): nodes on SQLite cannot share events")
		}
		if u, err := url.Parse(c.Bus); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") {
			return fmt.Errorf("--bus %q: want a nats:// URL", redactURL(c.Bus))
		}
	}
	return nil
}

// isPostgresURL tells a PostgreSQL connection URL from a data directory.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redactURL hides the password of a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// openPostgresStore opens the PostgreSQL store at dsn (migrating its
// schema if needed).
func openPostgresStore(ctx context.Context, dsn string, logger *slog.Logger) (*storeHandle, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, dsn, postgres.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redactURL(dsn), err)
	}
	return &storeHandle{pg: db, events: db}, nil
}

// pgTokens is the token store of a PostgreSQL store opened for the token
// commands.
type pgTokens struct {
	app.TokenStore
	db *postgres.DB
}

func (t pgTokens) Close() error { return t.db.Close() }

func openPostgresTokens(dsn string) (tokenStore, error) {
	s, err := openPostgresStore(context.Background(), dsn, quietLogger())
	if err != nil {
		return nil, err
	}
	return pgTokens{TokenStore: s.pg.Tokens(), db: s.pg}, nil
}

// apiTokens returns the API token store of the open store (serve).
func (s *storeHandle) apiTokens() (app.TokenStore, error) {
	if s.pg != nil {
		return s.pg.Tokens(), nil
	}
	return s.db.OpenTokens()
}

// sessionKey returns the key that signs session cookies: a file in the
// data directory, or, on PostgreSQL, a secret in the database that every
// node shares (a login on one node is valid on all).
func (s *storeHandle) sessionKey(ctx context.Context) ([]byte, error) {
	if s.pg != nil {
		return s.pg.Secret(ctx, "session", auth.KeySize)
	}
	return auth.LoadOrCreateKey(filepath.Join(s.db.Dir(), SessionKeyFile))
}

// lease is how subscribers are given to nodes: on PostgreSQL each runs on
// exactly one node (an advisory lock); the embedded store has one node.
func (s *storeHandle) lease() subscription.Lease {
	if s.pg != nil {
		return s.pg.Leases(postgres.LeaseOptions{})
	}
	return subscription.NoLease{}
}

// nodeName names this process for logs and the bus.
func (c Config) nodeName() string {
	if c.Node != "" {
		return c.Node
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// startBus connects to NATS if --bus was given: this node publishes what
// it commits, and wakes its subscriptions and event streams when other
// nodes announce theirs. NATS being down does not stop serve.
func (m *Main) startBus() error {
	if m.Config.Bus == "" || m.store.pg == nil {
		return nil
	}
	db := m.store.pg
	bus, err := natsbus.Open(natsbus.Options{
		URL: m.Config.Bus, Node: m.Config.nodeName(), OnWake: db.Notify, Logger: m.Logger,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	m.bus = bus
	db.SetAfterCommit(bus.Publish)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := bus.Ready(ctx); err != nil {
		m.Logger.Warn("NATS is not reachable yet; serving anyway (nodes poll the store until it is)", "bus", redactURL(m.Config.Bus))
	}
	return nil
}

// addBusSubscribers adds the relay that makes the JetStream stream
// complete (it runs on one node, like every subscriber).
func (m *Main) addBusSubscribers(r *subscription.Runner) error {
	if m.bus == nil {
		return nil
	}
	return r.AddProjection(subscription.Projection{
		Name: natsbus.RelayName, Start: subscription.FromNow,
		Store: natsbus.RelayCheckpoints(m.store.subscribers), Projector: m.bus.Relay(),
		BatchSize: 500,
	})
}

// addBusMetrics puts the bus's state and counters into /metrics: whether
// the node is connected to NATS, what it published or dropped after
// commit, and how many announcements of other nodes woke it.
func (m *Main) addBusMetrics(metrics *httpapi.Metrics) error {
	if m.bus == nil {
		return nil
	}
	return metrics.AddBusSource(func() httpapi.BusCounts {
		c := m.bus.Counts()
		return httpapi.BusCounts{Connected: c.Connected, Published: c.Published, Dropped: c.Dropped, Received: c.Received}
	})
}

// closeBus stops publishing; called once the subscribers have stopped.
func (m *Main) closeBus() {
	if m.bus == nil {
		return
	}
	m.store.pg.SetAfterCommit(nil)
	m.bus.Close()
}

// importIntoPostgres is `eventdesk import --store postgres://…`: all or
// nothing, in one transaction.
func importIntoPostgres(ctx context.Context, dsn string, io stdio, readAll func(write func(context.Context, []eventdesk.Event) error) (int64, error)) error {
	s, err := openPostgresStore(ctx, dsn, quietLogger())
	if err != nil {
		return err
	}
	defer s.Close()
	im, err := s.pg.BeginImport(ctx)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer im.Rollback(context.WithoutCancel(ctx))
	n, err := readAll(im.Write)
	if err != nil {
		return err
	}
	if err := im.Commit(ctx); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	fmt.Fprintf(io.err, "imported %d events into %s\n", n, redactURL(dsn))
	return nil
}

// runMigrate is `eventdesk migrate --from DIR --to postgres://…`.
func runMigrate(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("migrate", `Usage: eventdesk migrate --from DIR --to postgres://…

Moves an event store from the embedded SQLite data directory DIR into an
empty PostgreSQL database, so that eventdesk can run as several nodes
(see "Scale out" in README.md). Every event keeps its id, stream, version,
position, time, metadata and hash; idempotency keys keep working. Each
batch is checked on the way (positions, versions, hash chains), the whole
copy commits in one transaction or not at all, and afterwards both stores
are verified and compared event by event.

The read models are not copied: the first "eventdesk serve --store
postgres://…" builds them. API tokens are not copied either (only their
hashes are kept): issue new ones with "eventdesk token create --store
postgres://…". Stop "eventdesk serve" on DIR first: the data directory is
opened exclusively.
`)
	from := f.String("from", cfg.DataDir, "the SQLite data `DIR` to copy (env "+envData+")")
	to := f.String("to", cfg.Store, "the PostgreSQL `URL` to copy into (env "+envStore+")")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if *from == "" || !isPostgresURL(*to) {
		return &usageError{msg: "migrate: want --from DIR and --to postgres://…", usage: f.usage()}
	}
	src, err := openExistingStore(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	if src.db == nil {
		return &usageError{msg: "migrate: --from must be a SQLite data directory", usage: f.usage()}
	}
	dst, err := openPostgresStore(ctx, *to, quietLogger())
	if err != nil {
		return err
	}
	defer dst.Close()

	if n, err := dst.events.Head(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	} else if n > 0 {
		return fmt.Errorf("migrate: %s already holds %d events: migrate needs an empty database", redactURL(*to), n)
	}
	head, err := src.events.Head(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	im, err := dst.pg.BeginImport(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer im.Rollback(context.WithoutCancel(ctx))
	fmt.Fprintf(io.err, "migrate: copying %d events from %s to %s\n", head, *from, redactURL(*to))
	const page = 2000
	for after := int64(0); after < head; {
		events, err := src.events.ReadAll(ctx, after, page)
		if err != nil {
			return fmt.Errorf("migrate: read: %w", err)
		}
		if len(events) == 0 {
			return fmt.Errorf("migrate: the source ends at position %d, before its head %d", after, head)
		}
		if events[len(events)-1].Position > head {
			events = events[:len(events)-countAfter(events, head)]
		}
		if err := im.Write(ctx, events); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		after = events[len(events)-1].Position
	}
	if err := im.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	// Verify both and compare, event by event.
	srcRep, err := src.verify(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: verify %s: %w", *from, err)
	}
	dstRep, err := dst.pg.Verify(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: verify %s: %w", redactURL(*to), err)
	}
	if !dstRep.OK() {
		return fmt.Errorf("migrate: the copy does not verify: %v", dstRep.Breaks)
	}
	if err := compareStores(ctx, src.events, dst.events, head); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !srcRep.OK() {
		fmt.Fprintf(io.err, "migrate: warning: the source has %d breaks (see eventdesk verify); the copy has the same events\n", len(srcRep.Breaks))
	}
	fmt.Fprintf(io.out, "migrated %d events (%d streams) to %s; verified: positions 1..%d, every hash chain intact, identical to the source\n",
		dstRep.Events, dstRep.Streams, redactURL(*to), dstRep.LastPosition)
	return nil
}

func countAfter(events []eventdesk.Event, head int64) int {
	n := 0
	for _, e := range events {
		if e.Position > head {
			n++
		}
	}
	return n
}

// compareStores reads both logs up to head and fails at the first event
// that differs in any field.
func compareStores(ctx context.Context, a, b eventdesk.EventStore, head int64) error {
	const page = 2000
	for after := int64(0); after < head; {
		x, err := a.ReadAll(ctx, after, page)
		if err != nil {
			return err
		}
		y, err := b.ReadAll(ctx, after, page)
		if err != nil {
			return err
		}
		if len(x) == 0 {
			return nil
		}
		if len(y) < len(x) && y != nil && len(y) < page {
			return fmt.Errorf("the copy has fewer events than the source after position %d", after)
		}
		for i, e := range x {
			if e.Position > head {
				return nil
			}
			if i >= len(y) || !sameEvent(e, y[i]) {
				return fmt.Errorf("event at position %d differs between the source and the copy", e.Position)
			}
		}
		after = x[len(x)-1].Position
	}
	return nil
}

func sameEvent(a, b eventdesk.Event) bool {
	return a.ID == b.ID && a.Stream == b.Stream && a.Version == b.Version && a.Position == b.Position &&
		a.Type == b.Type && a.Schema == b.Schema && a.Metadata == b.Metadata && a.RecordedAt.Equal(b.RecordedAt) &&
		a.Hash == b.Hash && eventdesk.ChainHash("", a) == eventdesk.ChainHash("", b)
}
