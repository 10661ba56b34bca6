package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk/natsbus"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/subscription"
)

func runServe(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("serve", `Usage: eventdesk serve [--addr HOST:PORT] [--data DIR]

Runs the helpdesk: opens (or creates) the event store in the data directory,
starts the projections that keep the read models up to date, and serves
HTTP until SIGINT or SIGTERM, then shuts down gracefully: it stops
accepting connections, lets requests in flight finish (bounded by
--shutdown-timeout), waits for appends in flight, stops the subscribers and
closes the store.

Only one process may open a data directory at a time.

The Go heap gets a soft memory limit of 96 MiB unless GOMEMLIMIT is set
(the runtime then follows it).

Endpoints: / (start page, demo login), /api/v1/… (the REST API, described
by /api/openapi.json), GET /healthz (the process is up), GET /readyz (it
takes requests), GET /metrics (Prometheus).
`)
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen on `HOST:PORT` (port 0: any free port) (env "+envAddr+")")
	cfg.dataFlag(f)
	cfg.busFlags(f)
	cfg.notifyFlags(f)
	cfg.logFlags(f)
	f.BoolVar(&cfg.DemoLogin, "demo-login", cfg.DemoLogin, "let anyone log in by name (and pick a role) at /login (env "+envDemoLogin+")")
	f.BoolVar(&cfg.SecureCookies, "secure-cookies", cfg.SecureCookies, "mark session and sign-in cookies Secure even over plain HTTP; turn on behind a proxy that terminates TLS (env "+envSecureCookies+")")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long to wait for requests in flight when stopping")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "serve: " + err.Error(), usage: f.usage()}
	}
	if err := cfg.validateNotify(); err != nil {
		return &usageError{msg: "serve: " + err.Error(), usage: f.usage()}
	}

	if getenv("GOMEMLIMIT") == "" {
		// A soft limit on the Go heap: the collector works harder near it
		// instead of letting the heap double between collections. SQLite's
		// page caches are outside it (bounded per connection).
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	m := NewMain(cfg, cfg.newLogger(io.err))
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	fmt.Fprintf(io.out, "eventdesk is serving %s (data: %s)\n", m.URL(), cfg.storeDisplay())

	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down", "reason", "signal")
	case err := <-m.Failed():
		m.Logger.Error("shutting down", "reason", err)
		m.Close()
		return err
	}
	return m.Close()
}

// defaultMemoryLimit is serve's soft limit on the Go heap (see
// runtime/debug.SetMemoryLimit) when GOMEMLIMIT is not set.
const defaultMemoryLimit = 96 << 20

// Main is the running program: it owns every adapter and server that serve
// opens, wires them together in Run and takes them down in Close.
type Main struct {
	Config Config
	Logger *slog.Logger

	store    *storeHandle
	bus      *natsbus.Bus // nil without --bus
	runner   *subscription.Runner
	notify   *notifications // the side effects' shared parts (notify.go)
	listener net.Listener
	server   *http.Server
	ready    atomic.Bool
	// stopBackground stops the subscription runner and other goroutines
	// started by Run; background waits for them.
	stopBackground context.CancelFunc
	background     sync.WaitGroup

	// shuttingDown ends when Close begins: long-lived responses (event
	// streams) end then, rather than holding the shutdown until its
	// deadline.
	shuttingDown    context.Context
	endLongRequests context.CancelFunc

	failed    chan error
	closeOnce sync.Once
	closeErr  error
}

// NewMain returns a Main for cfg that logs to logger.
func NewMain(cfg Config, logger *slog.Logger) *Main {
	m := &Main{Config: cfg, Logger: logger, failed: make(chan error, 4)}
	m.shuttingDown, m.endLongRequests = context.WithCancel(context.Background())
	return m
}

// Run opens the data directory, starts the subscribers and starts serving
// HTTP; it returns once the listener is open (or with the first error).
// Call Close to stop, also after an error.
func (m *Main) Run(ctx context.Context) error {
	store, err := openStore(ctx, m.Config.serveStoreLocation(), m.Logger)
	if err != nil {
		return err
	}
	m.store = store
	if err := m.startBus(); err != nil {
		return err
	}

	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stopBackground = stop
	if err := m.startSubscribers(bg); err != nil {
		return err
	}

	api, err := m.newAPI()
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	m.listener = ln
	m.server = &http.Server{
		Handler:           m.handler(api),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return bg },
	}
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.fail(fmt.Errorf("serve: http: %w", err))
		}
	}()
	m.ready.Store(true)
	m.Logger.Info("serving", "url", m.URL(), "data", m.Config.storeDisplay(), "version", readBuildInfo().Version)
	return nil
}

// URL returns the base URL the server listens on ("" before Run).
func (m *Main) URL() string {
	if m.listener == nil {
		return ""
	}
	return "http://" + m.listener.Addr().String()
}

// Failed delivers errors of background work (the HTTP server, the
// subscribers) that should stop the program.
func (m *Main) Failed() <-chan error { return m.failed }

func (m *Main) fail(err error) {
	select {
	case m.failed <- err:
	default:
	}
}

// Close shuts down in dependency order: stop taking requests and finish
// those in flight (bounded by Config.ShutdownTimeout), stop the
// subscribers, then close the store, which waits for appends in flight.
// It returns the first error and is safe to call more than once.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	m.ready.Store(false)
	m.endLongRequests()
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		err := m.server.Shutdown(ctx)
		cancel()
		if err != nil {
			m.Logger.Warn("requests still in flight at the shutdown deadline; closing their connections", "timeout", m.Config.ShutdownTimeout)
			errs = append(errs, fmt.Errorf("serve: shutdown: %w", m.server.Close()))
		}
	} else if m.listener != nil {
		m.listener.Close()
	}
	if m.stopBackground != nil {
		m.stopBackground()
	}
	m.background.Wait()
	m.closeBus()
	if m.store != nil {
		if err := m.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	m.Logger.Info("stopped")
	return nil
}

// handler returns the HTTP handler: health endpoints, the API and the UI.
func (m *Main) handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", m.readyz)
	return m.endStreamsOnShutdown(mux)
}

// endStreamsOnShutdown cancels the context of event-stream requests when
// Close begins. http.Server.Shutdown waits for every request to finish,
// and a stream never does by itself; ordinary requests are left to finish.
func (m *Main) endStreamsOnShutdown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isEventStream(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(m.shuttingDown, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// isEventStream tells a request for a Server-Sent Events stream: an
// EventSource sends Accept: text/event-stream; other clients use the
// stream's path.
func isEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream") || strings.HasSuffix(r.URL.Path, "/stream")
}

// readyz answers 200 while the server takes requests, with how far the
// read models have caught up with the store, and 503 while it starts or
// stops.
func (m *Main) readyz(w http.ResponseWriter, r *http.Request) {
	if !m.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	body := map[string]any{"status": "ready"}
	if head, err := m.store.events.Head(r.Context()); err == nil {
		body["head"] = head
	}
	if pos, ok := m.readModelPosition(r.Context()); ok {
		body["readModels"] = pos
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var _ io.Closer = (*Main)(nil)

// startSubscribers opens the read models and starts the subscription
// runner that keeps them (and the side effects) up to date; ctx stops it.
func (m *Main) startSubscribers(ctx context.Context) error {
	if err := m.store.openReadSide(m.Logger); err != nil {
		return err
	}
	runner := subscription.NewRunner(m.store.events, m.store.subscribers, subscription.Options{Logger: m.Logger, Lease: m.store.lease()})
	if err := runner.AddProjection(subscription.Projection{
		Name: projection.TicketsName, Start: subscription.FromBeginning,
		Store: m.store.readModels, Projector: projection.Tickets{},
	}); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := m.addDashboard(runner); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := m.addBusSubscribers(runner); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := m.startNotifications(ctx, runner); err != nil {
		return err
	}
	m.runner = runner
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		if err := runner.Run(ctx); err != nil {
			m.fail(fmt.Errorf("serve: subscribers: %w", err))
		}
	}()
	return nil
}

// readModelPosition returns how far the read models have caught up.
func (m *Main) readModelPosition(ctx context.Context) (int64, bool) {
	if m.store.readModels == nil {
		return 0, false
	}
	pos, err := m.store.readModels.Position(ctx)
	return pos, err == nil
}
