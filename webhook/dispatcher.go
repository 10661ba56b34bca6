package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
)

// DefaultSchedule is the wait before each retry after a failed attempt:
// eight attempts over about 28 hours (the schedule of the Standard
// Webhooks reference implementation), each wait with ±20% jitter.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Defaults of DispatcherConfig.
const (
	DefaultTimeout            = 15 * time.Second
	DefaultConcurrency        = 16
	DefaultPerEndpoint        = 4
	DefaultDisableAfter       = 5 * 24 * time.Hour
	DefaultDisableMinFailures = 20
	DefaultRedrivePoll        = 5 * time.Second
	DefaultRetention          = 30 * 24 * time.Hour
)

// UserAgent is sent with every delivery.
const UserAgent = "eventdesk-webhooks/1"

// DispatcherConfig configures a Dispatcher. Store is required.
type DispatcherConfig struct {
	Store Store
	// DeadLetters receives deliveries whose schedule is exhausted. Without
	// it they are only marked dead in the Store.
	DeadLetters eventdesk.SubscriberStore
	// Events reads the event a dead letter is about (may be nil: the
	// dead letter then carries what the delivery knows).
	Events StreamReader
	// Schedule is the wait before each retry; len(Schedule)+1 attempts in
	// all. Nil: DefaultSchedule.
	Schedule []time.Duration
	// Timeout bounds one attempt (connect, send, answer).
	Timeout time.Duration
	// Concurrency bounds attempts in flight; PerEndpoint those to one
	// endpoint.
	Concurrency int
	PerEndpoint int
	// An endpoint whose attempts have all failed for DisableAfter, and
	// at least DisableMinFailures times in a row, is disabled.
	DisableAfter       time.Duration
	DisableMinFailures int
	// AllowPrivate allows deliveries to loopback, private and other
	// internal addresses (off: refused when connecting).
	AllowPrivate bool
	// RedrivePoll is how often dead letters redriven through the API or
	// CLI are looked for.
	RedrivePoll time.Duration
	// Retention is how long delivered deliveries stay in the log.
	Retention time.Duration
	// Lease, if set, makes the dispatcher run on one node of several.
	Lease Lease
	// Transport overrides the HTTP transport (tests); its dialer is then
	// the caller's business.
	Transport http.RoundTripper
	Logger    *slog.Logger
	Now       func() time.Time
}

// StreamReader reads a stream's events; eventdesk.EventStore is one.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error)
}

// Lease gives the dispatcher to one node of several (subscription.Lease
// has this shape).
type Lease interface {
	Acquire(ctx context.Context, name string) (held context.Context, release func(), err error)
}

// LeaseName is the lease the dispatcher takes.
const LeaseName = "webhook-dispatcher"

// Dispatcher sends pending deliveries. Run it once per process (or once
// per cluster with a Lease).
type Dispatcher struct {
	cfg    DispatcherConfig
	client *http.Client
	log    *slog.Logger
	wake   eventdesk.Signal

	mu       sync.Mutex
	inflight map[int64]bool
	perEP    map[string]int
	stats    map[string]*EndpointStats
	// epoch counts finished attempts; finished maps a delivery to the
	// epoch its last attempt finished in. A row read from the store
	// before that is stale (its attempt count and due time are old) and
	// must not be claimed.
	epoch    uint64
	finished map[int64]uint64
}

// EndpointStats counts what the dispatcher did for one endpoint since it
// started (and, from the store, what waits).
type EndpointStats struct {
	EndpointID string
	Attempts   int64
	Failures   int64
	Delivered  int64
	DeadLetter int64
	// Pending and Dead are the store's current counts.
	Pending int64
	Dead    int64
}

// NewDispatcher returns a dispatcher.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("webhook: a dispatcher needs a store")
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	for _, d := range cfg.Schedule {
		if d < 0 {
			return nil, fmt.Errorf("webhook: negative retry delay %s", d)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PerEndpoint <= 0 {
		cfg.PerEndpoint = DefaultPerEndpoint
	}
	if cfg.DisableAfter <= 0 {
		cfg.DisableAfter = DefaultDisableAfter
	}
	if cfg.DisableMinFailures <= 0 {
		cfg.DisableMinFailures = DefaultDisableMinFailures
	}
	if cfg.RedrivePoll <= 0 {
		cfg.RedrivePoll = DefaultRedrivePoll
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	transport := cfg.Transport
	if transport == nil {
		transport = &http.Transport{
			// No proxy: it would connect in our place, past the address
			// check, and environment proxies are not for deliveries.
			Proxy:                 nil,
			DialContext:           guardedDialer(cfg.AllowPrivate).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   cfg.PerEndpoint,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.Timeout,
			ResponseHeaderTimeout: cfg.Timeout,
		}
	}
	return &Dispatcher{
		cfg: cfg, log: cfg.Logger,
		client: &http.Client{
			Transport: transport,
			// A redirect is an answer, not a success: following it would
			// send the signed message somewhere nobody registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		inflight: map[int64]bool{}, perEP: map[string]int{}, stats: map[string]*EndpointStats{}, finished: map[int64]uint64{},
	}, nil
}

// Notify wakes the dispatcher: deliveries were enqueued or an endpoint was
// enabled.
func (d *Dispatcher) Notify() { d.wake.Broadcast() }

// MaxAttempts is how many attempts a delivery gets before it is a dead
// letter.
func (d *Dispatcher) MaxAttempts() int { return len(d.cfg.Schedule) + 1 }

// Run sends deliveries until ctx ends, then waits for attempts in flight
// (each bounded by the timeout) and returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.cfg.Lease == nil {
		d.run(ctx)
		return nil
	}
	for ctx.Err() == nil {
		held, release, err := d.cfg.Lease.Acquire(ctx, LeaseName)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("webhook: acquire the dispatcher lease", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		d.run(held)
		release()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (d *Dispatcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, d.cfg.Concurrency)
	var lastRedrive, lastPrune time.Time
	failures := 0
	for ctx.Err() == nil {
		woken := d.wake.Wait()
		now := d.cfg.Now()
		if now.Sub(lastRedrive) >= d.cfg.RedrivePoll {
			lastRedrive = now
			d.redrive(ctx)
		}
		if now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			if n, err := d.cfg.Store.Prune(ctx, now.Add(-d.cfg.Retention)); err != nil {
				d.log.Warn("webhook: prune delivery log", "err", err)
			} else if n > 0 {
				d.log.Info("webhook: pruned delivery log", "deliveries", n)
			}
		}
		snapshot := d.snapshot()
		due, err := d.cfg.Store.Due(ctx, now, 2*d.cfg.Concurrency+d.inflightCount())
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d.log.Error("webhook: read due deliveries", "err", err)
			sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, 10*time.Second))
			continue
		}
		failures = 0
	start:
		for _, dl := range due {
			if !d.claim(dl, snapshot) {
				continue
			}
			select {
			case sem <- struct{}{}:
			default:
				d.release(dl)
				break start
			}
			wg.Go(func() {
				defer func() { <-sem; d.release(dl); d.wake.Broadcast() }()
				d.attempt(ctx, dl)
			})
		}
		wait := d.cfg.RedrivePoll
		if next, ok, err := d.cfg.Store.NextDue(ctx); err == nil && ok {
			if w := next.Sub(d.cfg.Now()); w > 0 {
				wait = min(wait, w)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-woken:
		case <-t.C:
		}
		t.Stop()
	}
}

func (d *Dispatcher) inflightCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inflight)
}

// snapshot returns the epoch before a read of due deliveries, and forgets
// attempts that finished before it (no later read can be older).
func (d *Dispatcher) snapshot() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	for seq, e := range d.finished {
		if e <= d.epoch {
			delete(d.finished, seq)
		}
	}
	return d.epoch
}

// claim marks dl in flight unless it already is, its endpoint is busy, or
// it was read (at epoch snapshot) before its last attempt finished.
func (d *Dispatcher) claim(dl Delivery, snapshot uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inflight[dl.Seq] || d.perEP[dl.EndpointID] >= d.cfg.PerEndpoint || d.finished[dl.Seq] > snapshot {
		return false
	}
	d.inflight[dl.Seq] = true
	d.perEP[dl.EndpointID]++
	return true
}

func (d *Dispatcher) release(dl Delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.epoch++
	d.finished[dl.Seq] = d.epoch
	delete(d.inflight, dl.Seq)
	if d.perEP[dl.EndpointID]--; d.perEP[dl.EndpointID] <= 0 {
		delete(d.perEP, dl.EndpointID)
	}
}

func (d *Dispatcher) count(endpoint string, f func(*EndpointStats)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats[endpoint]
	if s == nil {
		s = &EndpointStats{EndpointID: endpoint}
		d.stats[endpoint] = s
	}
	f(s)
}

// Stats reports, per endpoint, the dispatcher's counts since start and the
// store's current pending and dead deliveries.
func (d *Dispatcher) Stats(ctx context.Context) ([]EndpointStats, error) {
	counts, err := d.cfg.Store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	out := make([]EndpointStats, 0, len(counts))
	seen := map[string]bool{}
	for id, c := range counts {
		s := EndpointStats{EndpointID: id}
		if m := d.stats[id]; m != nil {
			s = *m
		}
		s.Pending, s.Dead = c[StatusPending], c[StatusDead]
		out = append(out, s)
		seen[id] = true
	}
	for id, m := range d.stats {
		if !seen[id] {
			out = append(out, *m)
		}
	}
	d.mu.Unlock()
	return out, nil
}

// jitter spreads a delay by ±20% so that retries of many deliveries that
// failed together do not arrive together.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := int64(d) * 2 / 5
	if spread <= 0 {
		return d
	}
	return time.Duration(int64(d) - spread/2 + rand.Int64N(spread+1))
}

// maxErrorLen bounds the error text kept per attempt.
const maxErrorLen = 500

// attempt makes one attempt of dl and records its outcome.
func (d *Dispatcher) attempt(ctx context.Context, dl Delivery) {
	ep, err := d.cfg.Store.Endpoint(ctx, dl.EndpointID)
	if eventdesk.ErrorCode(err) == eventdesk.ENotFound {
		return // deleted meanwhile, with its deliveries
	}
	if err != nil {
		d.log.Error("webhook: load endpoint", "endpoint", dl.EndpointID, "err", err)
		return
	}
	if ep.Disabled {
		return
	}
	now := d.cfg.Now()
	code, latency, sendErr := d.send(ctx, ep, dl, now)
	if ctx.Err() != nil {
		// Shutting down: the attempt may or may not have arrived. It is
		// not recorded, so it is made again, with the same webhook-id,
		// after the restart.
		return
	}
	a := Attempt{Seq: dl.Seq, EndpointID: ep.ID, At: now.UTC().Truncate(time.Microsecond), StatusCode: code, Latency: latency}
	attempts := dl.Attempts + 1
	d.count(ep.ID, func(s *EndpointStats) { s.Attempts++ })
	switch {
	case sendErr == nil:
		a.Status = StatusDelivered
		d.count(ep.ID, func(s *EndpointStats) { s.Delivered++ })
	case attempts >= d.MaxAttempts():
		a.Status, a.Error = StatusDead, truncateText(sendErr.Error(), maxErrorLen)
		d.count(ep.ID, func(s *EndpointStats) { s.Failures++; s.DeadLetter++ })
	default:
		a.Status, a.Error = StatusPending, truncateText(sendErr.Error(), maxErrorLen)
		a.NextAttemptAt = now.Add(jitter(d.cfg.Schedule[attempts-1])).UTC().Truncate(time.Microsecond)
		d.count(ep.ID, func(s *EndpointStats) { s.Failures++ })
	}
	record := context.WithoutCancel(ctx)
	if a.Status == StatusDead && d.cfg.DeadLetters != nil {
		// Park before marking the delivery dead: if the process stops in
		// between, the delivery is still pending and is parked again
		// (an upsert) rather than dead with no letter to redrive.
		ev := d.event(record, dl)
		if _, err := d.cfg.DeadLetters.Park(record, DeadLetterSubscriber(ep.ID), ev, attempts, a.Error); err != nil {
			d.log.Error("webhook: park dead letter", "endpoint", ep, "event", dl.EventID, "err", err)
			return
		}
		d.log.Warn("webhook: delivery failed on every attempt; parked as a dead letter", "endpoint", ep, "event", dl.EventID, "type", dl.EventType, "attempts", attempts, "err", a.Error)
	}
	failingSince, failures, err := d.cfg.Store.RecordAttempt(record, a)
	if err != nil {
		// The delivery stays as it was: it is attempted again (at least
		// once, same webhook-id).
		d.log.Error("webhook: record attempt", "endpoint", ep, "event", dl.EventID, "err", err)
		return
	}
	if sendErr == nil {
		if dl.Attempts > 0 {
			d.log.Info("webhook: delivered after retries", "endpoint", ep, "event", dl.EventID, "attempts", attempts)
		}
		return
	}
	d.log.Debug("webhook: attempt failed", "endpoint", ep, "event", dl.EventID, "attempt", attempts, "err", sendErr, "next", a.NextAttemptAt)
	gone := code == http.StatusGone
	if gone || failures >= d.cfg.DisableMinFailures && !failingSince.IsZero() && now.Sub(failingSince) >= d.cfg.DisableAfter {
		reason := fmt.Sprintf("disabled after %d failed attempts in a row since %s; last error: %s",
			failures, failingSince.UTC().Format(time.RFC3339), truncateText(sendErr.Error(), 200))
		if gone {
			// The Standard Webhooks spec: 410 Gone is the receiver saying
			// it wants no more; retrying for days would only annoy it.
			reason = "disabled: the endpoint answered 410 Gone (it asks for no more deliveries)"
		}
		if err := d.cfg.Store.SetDisabled(record, ep.ID, true, reason, now.UTC().Truncate(time.Microsecond)); err != nil {
			d.log.Error("webhook: disable endpoint", "endpoint", ep, "err", err)
			return
		}
		d.log.Warn("webhook: endpoint disabled: it keeps failing; its deliveries wait until it is enabled again", "endpoint", ep, "reason", reason)
	}
}

// event returns the event a dead letter is about.
func (d *Dispatcher) event(ctx context.Context, dl Delivery) eventdesk.Event {
	if d.cfg.Events != nil {
		evs, err := d.cfg.Events.ReadStream(ctx, dl.Stream, dl.Version, 1)
		if err == nil && len(evs) == 1 && evs[0].ID == dl.EventID {
			return evs[0]
		}
	}
	return eventdesk.Event{ID: dl.EventID, Stream: dl.Stream, Version: dl.Version, Position: dl.Position, Type: dl.EventType, Schema: eventdesk.CurrentSchema(dl.EventType), Data: dl.Payload}
}

// errStatus is a non-2xx answer.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string {
	if e.body == "" {
		return "answered " + strconv.Itoa(e.code) + " " + http.StatusText(e.code)
	}
	return fmt.Sprintf("answered %d %s: %s", e.code, http.StatusText(e.code), e.body)
}

// send makes the request; a nil error means a 2xx answer.
func (d *Dispatcher) send(ctx context.Context, ep Endpoint, dl Delivery, now time.Time) (code int, latency time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return 0, 0, fmt.Errorf("build request: %w", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h[HeaderID] = []string{dl.EventID}
	h[HeaderTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	h[HeaderSignature] = []string{Sign(ep.activeSecrets(now), dl.EventID, now, dl.Payload)}
	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		latency = time.Since(start)
		var forbidden *ErrForbiddenAddress
		if errors.As(err, &forbidden) {
			return 0, latency, forbidden
		}
		// Either timer may fire first: the attempt's context or the
		// transport's bound on the answer's headers (both cfg.Timeout).
		// The receiver was just as slow either way, so say the same.
		var netErr net.Error
		if ctx.Err() == context.DeadlineExceeded || errors.As(err, &netErr) && netErr.Timeout() {
			return 0, latency, fmt.Errorf("no answer within %s", d.cfg.Timeout)
		}
		return 0, latency, scrub(err, ep.URL)
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	latency = time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, latency, &errStatus{code: resp.StatusCode, body: truncateText(strings.TrimSpace(string(snippet)), 200)}
	}
	return resp.StatusCode, latency, nil
}

// scrub removes the URL (whose path or query may hold a token) from a
// client error.
func scrub(err error, rawURL string) error {
	msg := err.Error()
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, RedactURL(rawURL))
		msg = strings.ReplaceAll(msg, strconv.Quote(rawURL), strconv.Quote(RedactURL(rawURL)))
	}
	return errors.New(msg)
}

// truncateText cuts s to n bytes of valid UTF-8 without control
// characters.
func truncateText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// redrive requeues deliveries whose dead letters were redriven through the
// API or CLI. The letter stays until the delivery succeeds (it is then
// marked handled) or fails again (parked anew, no longer redriven).
func (d *Dispatcher) redrive(ctx context.Context) {
	if d.cfg.DeadLetters == nil {
		return
	}
	letters, err := d.cfg.DeadLetters.DeadLetters(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("webhook: list dead letters", "err", err)
		}
		return
	}
	requeued := false
	for _, l := range letters {
		epID, ok := strings.CutPrefix(l.Subscriber, DeadLetterPrefix)
		if !ok || !l.Redriven {
			continue
		}
		before, err := d.cfg.Store.Requeue(ctx, epID, l.Event.ID, d.cfg.Now().UTC().Truncate(time.Microsecond))
		if err != nil {
			d.log.Error("webhook: requeue redriven dead letter", "deadLetter", l.ID, "err", err)
			continue
		}
		switch before {
		case StatusDead:
			requeued = true
			d.log.Info("webhook: redriving dead letter", "deadLetter", l.ID, "endpoint", epID, "event", l.Event.ID)
			continue
		case StatusPending:
			continue // being retried
		}
		// Delivered since (the letter is cleared here, at the next poll
		// after the success), or the endpoint is gone: either way the
		// letter is done with.
		if err := d.cfg.DeadLetters.MarkHandled(ctx, l.Subscriber, l.Event); err != nil {
			d.log.Error("webhook: clear dead letter", "deadLetter", l.ID, "err", err)
		}
	}
	if requeued {
		d.wake.Broadcast()
	}
}

// DispatchDue is Run for a process that lives only for a while (an AWS
// Lambda invocation): it requeues redriven dead letters, then sends the
// deliveries due now — in order per ticket and endpoint, so a ticket's
// next event goes once its previous one is delivered or parked — until
// none is due, and returns how many attempts it made. Failed deliveries
// wait for their next attempt (the schedule's backoff, kept in the
// store), for a later call. Each delivery is attempted at most once per
// call.
func (d *Dispatcher) DispatchDue(ctx context.Context) (int, error) {
	d.redrive(ctx)
	tried := map[int64]bool{}
	made := 0
	for ctx.Err() == nil {
		snapshot := d.snapshot()
		due, err := d.cfg.Store.Due(ctx, d.cfg.Now(), 2*d.cfg.Concurrency)
		if err != nil {
			return made, fmt.Errorf("webhook: read due deliveries: %w", err)
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, d.cfg.Concurrency)
		started := 0
		for _, dl := range due {
			if tried[dl.Seq] || !d.claim(dl, snapshot) {
				continue
			}
			tried[dl.Seq] = true
			started++
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem; d.release(dl) }()
				d.attempt(ctx, dl)
			})
		}
		wg.Wait()
		made += started
		if started == 0 {
			break
		}
	}
	return made, ctx.Err()
}
