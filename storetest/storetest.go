// Package storetest is the conformance suite of the eventdesk.EventStore
// port. Every adapter (SQLite, PostgreSQL, DynamoDB) runs it unchanged from
// its own _test.go file against a real database:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, openStore,
//			storetest.WithReopen(reopenStore),
//			storetest.WithCrash(startCrashChild))
//	}
//
// Cases are named subtests, so one can be run alone with
// `go test -run 'TestConformance/OCC'`. Options declare what differs
// between adapters (no global position, how to reopen a store, how to run a
// writer in another process for the crash test).
//
// It is test support: it imports the testing package and the root package,
// plus the pure verify and projection packages and app (for the token
// store's port); it is imported only by _test.go files.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/verify"
	"github.com/google/uuid"
)

// Option declares a capability of the adapter under test.
type Option func(*config)

type config struct {
	noGlobal bool
	reopen   func(t *testing.T, closed eventdesk.EventStore) eventdesk.EventStore
	crash    func(t *testing.T) (*exec.Cmd, func(t *testing.T) eventdesk.EventStore)
	writers  int
	appends  int
}

// WithoutGlobalPosition declares a store without a store-wide order
// (DynamoDB): ReadAll, Subscribe and Head must fail with an
// eventdesk.ENotImplemented *eventdesk.Error and Position is always 0.
// Cases that need the global order then check per stream instead.
func WithoutGlobalPosition() Option { return func(c *config) { c.noGlobal = true } }

// WithReopen enables the reopen case: reopen must open again, in this
// process, the store that closed was (closed has been Closed).
func WithReopen(reopen func(t *testing.T, closed eventdesk.EventStore) eventdesk.EventStore) Option {
	return func(c *config) { c.reopen = reopen }
}

// WithCrash enables the crash case. start must prepare a fresh store and
// return, unstarted, a command that runs CrashWriter on that store in
// another process (see HelperCommand), and a function that opens the same
// store in this process once the child has been killed with SIGKILL.
func WithCrash(start func(t *testing.T) (child *exec.Cmd, reopen func(t *testing.T) eventdesk.EventStore)) Option {
	return func(c *config) { c.crash = start }
}

// WithLoad sets the size of the concurrency cases: writers goroutines that
// each make appends appends (default 32 × 40). The suite never goes below
// 32 writers.
func WithLoad(writers, appends int) Option {
	return func(c *config) { c.writers, c.appends = max(writers, 32), max(appends, 1) }
}

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; the suite closes it.
func Run(t *testing.T, open func(t *testing.T) eventdesk.EventStore, opts ...Option) {
	cfg := config{writers: 32, appends: 40}
	for _, o := range opts {
		o(&cfg)
	}
	s := &suite{cfg: cfg, open: open}
	t.Run("Append", s.testAppend)
	t.Run("OCC", s.testOCC)
	t.Run("Atomic", s.testAtomic)
	t.Run("Read", s.testRead)
	t.Run("Positions", s.testPositions)
	t.Run("Concurrent", s.testConcurrent)
	if s.global() {
		t.Run("Subscribe", s.testSubscribe)
	}
	t.Run("Idempotency", s.testIdempotency)
	t.Run("Integrity", s.testIntegrity)
	t.Run("Invalid", s.testInvalid)
	t.Run("Context", s.testContext)
	t.Run("Close", s.testClose)
	if cfg.reopen != nil {
		t.Run("Reopen", s.testReopen)
	}
	if cfg.crash != nil {
		t.Run("Crash", s.testCrash)
	}
}

type suite struct {
	cfg  config
	open func(t *testing.T) eventdesk.EventStore
}

// store opens a fresh store that is closed when the test ends.
func (s *suite) store(t *testing.T) eventdesk.EventStore {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// global reports whether the store has a store-wide order: cases that only
// make sense with it are registered only then, so that none skips.
func (s *suite) global() bool { return !s.cfg.noGlobal }

// ctx returns a context that ends with the test, bounded so that a hung
// store fails the test instead of the whole binary timing out.
func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// newID returns a UUIDv7, as the command side does.
func newID(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatalf("uuid: %v", err)
	}
	return id.String()
}

// newEvent returns an event to append with a fresh id and the given JSON.
func newEvent(tb testing.TB, typ, data string) eventdesk.EventData {
	tb.Helper()
	return eventdesk.EventData{
		ID: newID(tb), Type: typ, Schema: 1, Data: json.RawMessage(data),
		Metadata: eventdesk.Metadata{Actor: "storetest"},
	}
}

// events returns n events of one append, numbered in their data.
func events(tb testing.TB, n int) []eventdesk.EventData {
	tb.Helper()
	out := make([]eventdesk.EventData, n)
	for i := range out {
		out[i] = newEvent(tb, "test.happened", fmt.Sprintf(`{"i":%d,"n":%d}`, i, n))
	}
	return out
}

func mustAppend(tb testing.TB, st eventdesk.EventStore, stream string, exp eventdesk.ExpectedVersion, evs ...eventdesk.EventData) eventdesk.AppendResult {
	tb.Helper()
	res, err := st.Append(testContext(tb), stream, exp, evs...)
	if err != nil {
		tb.Fatalf("Append(%s, %s, %d events): %v", stream, exp, len(evs), err)
	}
	return res
}

func readStream(tb testing.TB, st eventdesk.EventStore, stream string) []eventdesk.Event {
	tb.Helper()
	evs, err := st.ReadStream(testContext(tb), stream, 1, 0)
	if err != nil {
		tb.Fatalf("ReadStream(%s): %v", stream, err)
	}
	return evs
}

// readAll reads the whole log in pages.
func readAll(tb testing.TB, st eventdesk.EventStore) []eventdesk.Event {
	tb.Helper()
	var all []eventdesk.Event
	var after int64
	for {
		page, err := st.ReadAll(testContext(tb), after, 500)
		if err != nil {
			tb.Fatalf("ReadAll(after %d): %v", after, err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// wantCode fails unless err carries code.
func wantCode(tb testing.TB, err error, code eventdesk.Code, what string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("%s: no error, want %s", what, code)
	}
	if got := eventdesk.ErrorCode(err); got != code {
		tb.Fatalf("%s: error %q has code %q, want %q", what, err, got, code)
	}
}

// wantWrongVersion fails unless err is a *WrongExpectedVersionError with
// the given actual version.
func wantWrongVersion(tb testing.TB, err error, stream string, actual int64) {
	tb.Helper()
	if !checkWrongVersion(tb, err, stream, actual) {
		tb.FailNow()
	}
}

// checkWrongVersion is wantWrongVersion for other goroutines than the
// test's: it reports with Errorf and returns whether err was as wanted.
func checkWrongVersion(tb testing.TB, err error, stream string, actual int64) bool {
	tb.Helper()
	var w *eventdesk.WrongExpectedVersionError
	switch {
	case !errors.As(err, &w):
		tb.Errorf("error = %v (%T), want *WrongExpectedVersionError", err, err)
	case !errors.Is(err, eventdesk.ErrWrongExpectedVersion):
		tb.Errorf("errors.Is(%v, ErrWrongExpectedVersion) = false", err)
	case w.Stream != stream || w.Actual != actual:
		tb.Errorf("WrongExpectedVersionError{Stream: %q, Actual: %d}, want stream %q actual %d", w.Stream, w.Actual, stream, actual)
	default:
		return true
	}
	return false
}

// checkStream asserts that a stream's versions run 1..n and its hashes
// chain, and returns its events.
func checkStream(tb testing.TB, st eventdesk.EventStore, stream string) []eventdesk.Event {
	tb.Helper()
	evs := readStream(tb, st, stream)
	chains := verify.NewChains()
	for _, e := range evs {
		if e.Stream != stream {
			tb.Fatalf("ReadStream(%s) returned an event of stream %s", stream, e.Stream)
		}
		for _, b := range chains.Check(e) {
			tb.Errorf("stream %s: %s", stream, b)
		}
	}
	return evs
}

// checkLog asserts that the whole log is intact: positions 1..n, every
// stream's versions and chains. It returns the log.
func (s *suite) checkLog(tb testing.TB, st eventdesk.EventStore) []eventdesk.Event {
	tb.Helper()
	all := readAll(tb, st)
	var pos verify.Positions
	chains := verify.NewChains()
	for _, e := range all {
		if b, ok := pos.Check(e); !ok {
			tb.Errorf("log: %s", b)
		}
		for _, b := range chains.Check(e) {
			tb.Errorf("log: %s", b)
		}
	}
	head, err := st.Head(testContext(tb))
	if err != nil {
		tb.Fatalf("Head: %v", err)
	}
	if head != pos.Last() {
		tb.Errorf("Head = %d, last position read = %d", head, pos.Last())
	}
	return all
}

// sameEvent compares two stored events field by field (JSON by meaning,
// times by instant).
func sameEvent(a, b eventdesk.Event) bool {
	return a.ID == b.ID && a.Stream == b.Stream && a.Version == b.Version && a.Position == b.Position &&
		a.Type == b.Type && a.Schema == b.Schema && jsonEqual(a.Data, b.Data) && a.Metadata == b.Metadata &&
		a.RecordedAt.Equal(b.RecordedAt) && a.Hash == b.Hash
}

// jsonEqual compares JSON texts as the hash chain does: after compaction.
func jsonEqual(a, b []byte) bool { return slices.Equal(compact(a), compact(b)) }

func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

// helperEnv names, in a re-run test binary's environment, the helper role
// it plays (see HelperCommand and RunHelper).
const helperEnv = "EVENTDESK_TEST_HELPER"

// HelperCommand returns a command that re-runs the current test binary as
// the helper process role, with the extra environment env ("KEY=value"):
// the usual way to run a helper process, used for the crash test's child.
// The binary's TestMain must call RunHelper before m.Run, so that the child
// plays its role and runs no test at all (none is reported as skipped). The
// child is killed when the test ends.
func HelperCommand(tb testing.TB, role string, env ...string) *exec.Cmd {
	tb.Helper()
	// -test.run=^$: should a TestMain forget RunHelper, the child runs no
	// test (rather than the whole suite again) and the parent notices.
	cmd := exec.CommandContext(tb.Context(), os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	return cmd
}

// RunHelper is called first thing in TestMain. In a process started by
// HelperCommand it runs the role's function and exits: with status 0 if it
// returns nil, else with the error on stderr and status 1 (an unknown role
// is an error). In any other process it returns at once.
func RunHelper(roles map[string]func() error) {
	role := os.Getenv(helperEnv)
	if role == "" {
		return
	}
	run, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "storetest: unknown helper role %q\n", role)
		os.Exit(1)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "storetest: helper %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}
