// Package natsbus fans eventdesk's events out over NATS JetStream. It is
// never the record: the event store is. A node publishes each event it
// commits, as a CloudEvents JSON message on the subject
// eventdesk.events.<type> with Nats-Msg-Id set to the event id; the other
// nodes take any message as a cue to read the store (wake-up), and external
// consumers read the stream. If NATS is down, appends do not fail or wait:
// nodes fall back to polling the store, and the Relay publishes what was
// missed once NATS is back.
//
// It is the only package that imports github.com/nats-io/nats.go.
package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Options.
const (
	DefaultStream        = "EVENTDESK"
	SubjectPrefix        = "eventdesk.events"
	DefaultSource        = "eventdesk"
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultDuplicates    = 2 * time.Minute
	defaultQueueSize     = 8192
	headerNode           = "Eventdesk-Node"
	headerPosition       = "Eventdesk-Position"
	cloudEventsJSON      = "application/cloudevents+json"
	streamSetupTimeout   = 5 * time.Second
	publishAsyncTimeout  = 5 * time.Second
	streamSetupRetryWait = 2 * time.Second
)

// Options configure a Bus.
type Options struct {
	// URL of the NATS server(s), e.g. nats://127.0.0.1:4222 (comma
	// separated for a cluster). Required.
	URL string
	// Stream is the JetStream stream that captures SubjectPrefix.>.
	// Default DefaultStream.
	Stream string
	// Source is the CloudEvents source of every message. Default
	// DefaultSource.
	Source string
	// MaxAge is how long the stream keeps messages. Default 7 days.
	MaxAge time.Duration
	// Duplicates is JetStream's de-duplication window on Nats-Msg-Id.
	// Default 2 minutes.
	Duplicates time.Duration
	// Node names this process; its own messages do not wake it (its
	// commits already did). Default: a random name.
	Node string
	// OnWake is called, on a NATS goroutine, when another node announces
	// events, and after each reconnect (events may have been missed). It
	// must not block: typically it broadcasts a signal.
	OnWake func()
	// QueueSize bounds the events waiting to be published; when NATS is
	// slow or down, more are dropped (the Relay publishes them later).
	// Default 8192.
	QueueSize int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Bus is a connection to NATS JetStream. It is safe for concurrent use.
type Bus struct {
	opts Options
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	sub  *nats.Subscription

	queue   chan eventdesk.Event
	stop    chan struct{}
	done    sync.WaitGroup
	closeMu sync.Mutex
	closed  bool

	streamReady atomic.Bool
	setup       chan struct{} // pokes the stream setup loop
	dropped     atomic.Int64
	published   atomic.Int64
	received    atomic.Int64 // announcements from other nodes
}

// Open connects to NATS and returns at once, even if NATS is down: the
// connection and the stream set-up are retried in the background for as
// long as the Bus is open.
func Open(opts Options) (*Bus, error) {
	if opts.URL == "" {
		return nil, errors.New("natsbus: no NATS URL")
	}
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Duplicates <= 0 {
		opts.Duplicates = DefaultDuplicates
	}
	if opts.Node == "" {
		opts.Node = nats.NewInbox()[len(nats.InboxPrefix):]
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = defaultQueueSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Bus{
		opts:  opts,
		log:   opts.Logger,
		queue: make(chan eventdesk.Event, opts.QueueSize),
		stop:  make(chan struct{}),
		setup: make(chan struct{}, 1),
	}
	wake := func() {
		if opts.OnWake != nil {
			opts.OnWake()
		}
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name("eventdesk "+opts.Node),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.PingInterval(5*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.ConnectHandler(func(*nats.Conn) {
			b.log.Info("natsbus: connected", "url", opts.URL)
			b.pokeSetup()
			wake()
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			b.log.Info("natsbus: reconnected; live wake-ups resume", "url", opts.URL)
			b.pokeSetup()
			wake()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("natsbus: disconnected; nodes poll the store until NATS is back", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect %s: %w", opts.URL, err)
	}
	b.nc = nc
	b.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(publishAsyncTimeout),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			b.dropped.Add(1)
			b.log.Debug("natsbus: publish not acknowledged", "msgid", m.Header.Get(jetstream.MsgIDHeader), "err", err)
		}))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	// A core subscription is enough for wake-ups: it costs the server no
	// consumer state, and after a disconnect the node reads the store
	// anyway.
	b.sub, err = nc.Subscribe(SubjectPrefix+".>", func(m *nats.Msg) {
		if m.Header.Get(headerNode) == opts.Node {
			return
		}
		b.received.Add(1)
		wake()
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	b.done.Add(2)
	go b.publishLoop()
	go b.setupLoop()
	b.pokeSetup()
	return b, nil
}

// Close stops publishing (events still queued are dropped: the Relay has
// them) and closes the connection.
func (b *Bus) Close() error {
	b.closeMu.Lock()
	if b.closed {
		b.closeMu.Unlock()
		return nil
	}
	b.closed = true
	close(b.stop)
	b.closeMu.Unlock()
	b.done.Wait()
	b.nc.Close()
	return nil
}

// Ready waits until the bus is connected and its stream is set up, or ctx
// ends. Nothing requires it: a Bus works (by dropping publications) before.
func (b *Bus) Ready(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !b.nc.IsConnected() || !b.streamReady.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbus: not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Connected reports whether the connection to NATS is up.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Stats returns how many events were published (sent) and how many were
// dropped or not acknowledged since Open.
func (b *Bus) Stats() (published, dropped int64) { return b.published.Load(), b.dropped.Load() }

// Counts is what a Bus counted since Open, for metrics.
type Counts struct {
	// Connected tells whether the connection to NATS is up now.
	Connected bool
	// Published and Dropped are Stats.
	Published, Dropped int64
	// Received counts the announcements of other nodes' commits that
	// woke this node: it grows while live wake-ups work.
	Received int64
}

// Counts returns the bus's counters.
func (b *Bus) Counts() Counts {
	return Counts{Connected: b.nc.IsConnected(), Published: b.published.Load(), Dropped: b.dropped.Load(), Received: b.received.Load()}
}

// Publish queues committed events for publication and returns at once; it
// never fails. It is what a store's after-commit hook calls.
func (b *Bus) Publish(events []eventdesk.Event) {
	for _, e := range events {
		select {
		case b.queue <- e:
		default:
			b.dropped.Add(1)
		}
	}
}

func (b *Bus) publishLoop() {
	defer b.done.Done()
	for {
		select {
		case <-b.stop:
			return
		case e := <-b.queue:
			if !b.nc.IsConnected() || !b.streamReady.Load() {
				// Not now: other nodes poll, the Relay catches up.
				b.dropped.Add(1)
				continue
			}
			m, err := b.message(e)
			if err == nil {
				_, err = b.js.PublishMsgAsync(m, jetstream.WithMsgID(e.ID), jetstream.WithStallWait(time.Second))
			}
			if err != nil {
				b.dropped.Add(1)
				b.log.Debug("natsbus: publish", "event", e.ID, "err", err)
				continue
			}
			b.published.Add(1)
		}
	}
}

func (b *Bus) pokeSetup() {
	select {
	case b.setup <- struct{}{}:
	default:
	}
}

// setupLoop creates or updates the stream whenever (re)connected, retrying
// until it succeeds: a NATS server restarted without its store needs the
// stream again.
func (b *Bus) setupLoop() {
	defer b.done.Done()
	for {
		select {
		case <-b.stop:
			return
		case <-b.setup:
		}
		for {
			err := b.ensureStream()
			if err == nil {
				b.streamReady.Store(true)
				break
			}
			b.streamReady.Store(false)
			if b.nc.IsConnected() {
				b.log.Warn("natsbus: set up stream", "stream", b.opts.Stream, "err", err)
			}
			select {
			case <-b.stop:
				return
			case <-b.setup:
			case <-time.After(streamSetupRetryWait):
			}
		}
	}
}

func (b *Bus) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), streamSetupTimeout)
	defer cancel()
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.opts.Stream,
		Description: "eventdesk events as CloudEvents JSON (a copy: the event store is the record)",
		Subjects:    []string{SubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      b.opts.MaxAge,
		Duplicates:  b.opts.Duplicates,
	})
	return err
}

// Subject returns the subject of an event type: SubjectPrefix + "." +
// the type, with every character other than letters, digits, '-' and '_'
// in a dot-separated token replaced by '_' (so "ticket.created" is
// eventdesk.events.ticket.created).
func Subject(eventType string) string {
	tokens := strings.Split(eventType, ".")
	for i, t := range tokens {
		var sb strings.Builder
		for _, r := range t {
			if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				sb.WriteRune(r)
			} else {
				sb.WriteByte('_')
			}
		}
		if sb.Len() == 0 {
			sb.WriteByte('_')
		}
		tokens[i] = sb.String()
	}
	return SubjectPrefix + "." + strings.Join(tokens, ".")
}

// message builds the NATS message of e.
func (b *Bus) message(e eventdesk.Event) (*nats.Msg, error) {
	body, err := json.Marshal(ToCloudEvent(e, b.opts.Source))
	if err != nil {
		return nil, fmt.Errorf("natsbus: encode event %s: %w", e.ID, err)
	}
	m := nats.NewMsg(Subject(e.Type))
	m.Data = body
	m.Header.Set("Content-Type", cloudEventsJSON)
	m.Header.Set(headerNode, b.opts.Node)
	m.Header.Set(headerPosition, strconv.FormatInt(e.Position, 10))
	return m, nil
}
