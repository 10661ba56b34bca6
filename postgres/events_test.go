package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestMain lets this test binary be its own helper process (started by
// storetest.HelperCommand, it plays the named role and runs no tests) and
// sets up the shared PostgreSQL otherwise.
func TestMain(m *testing.M) {
	storetest.RunHelper(map[string]func() error{
		"crash":   crashChild,
		"gapfree": gapFreeChild,
		"lease":   leaseChild,
	})
	testenv.Main(m)
}

// open opens a store on dsn, closed when tb ends.
func open(tb testing.TB, dsn string, opts postgres.Options) *postgres.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

var idSeq struct {
	sync.Mutex
	n int
}

// newID returns a unique event id for this test binary.
func newID(prefix string) string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), idSeq.n)
}

func ev(typ string, data string) eventdesk.EventData {
	return eventdesk.EventData{ID: newID("e"), Type: typ, Schema: 1, Data: json.RawMessage(data)}
}

func TestAppendRead(t *testing.T) {
	ctx := context.Background()
	db := open(t, testenv.Postgres(t), postgres.Options{})

	res, err := db.Append(ctx, "s1", eventdesk.NoStream, ev("a", `{"n": 1}`), ev("b", `{"n":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.Position != 2 {
		t.Fatalf("result = %+v, want version 2 position 2", res)
	}
	if _, err := db.Append(ctx, "s1", eventdesk.NoStream, ev("c", `{}`)); !errors.Is(err, eventdesk.ErrWrongExpectedVersion) {
		t.Fatalf("append with stale expectation: err = %v", err)
	} else {
		var w *eventdesk.WrongExpectedVersionError
		if !errors.As(err, &w) || w.Actual != 2 {
			t.Fatalf("err = %#v, want actual 2", err)
		}
	}
	if _, err := db.Append(ctx, "s2", eventdesk.AnyVersion, ev("c", `{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "s1", eventdesk.ExactVersion(2), ev("d", `[1, 2]`)); err != nil {
		t.Fatal(err)
	}
	got, err := db.ReadStream(ctx, "s1", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read stream: %d events, want 3", len(got))
	}
	prev := ""
	for i, e := range got {
		if e.Version != int64(i+1) || e.Stream != "s1" {
			t.Errorf("event %d: %+v", i, e)
		}
		if e.Hash != eventdesk.ChainHash(prev, e) {
			t.Errorf("event %d: hash does not chain", i)
		}
		prev = e.Hash
		if e.RecordedAt.IsZero() || e.RecordedAt.Location() != time.UTC {
			t.Errorf("event %d: recordedAt %v", i, e.RecordedAt)
		}
	}
	if string(got[0].Data) != `{"n": 1}` {
		t.Errorf("data not kept byte for byte: %s", got[0].Data)
	}
	all, err := db.ReadAll(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		if e.Position != int64(i+1) {
			t.Fatalf("read all: positions %v", all)
		}
	}
	if head, err := db.Head(ctx); err != nil || head != 4 {
		t.Fatalf("head = %d, %v; want 4", head, err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	db := open(t, testenv.Postgres(t), postgres.Options{})
	first := ev("a", `{}`)
	first.Metadata = eventdesk.Metadata{IdempotencyKey: "k1", RequestHash: "h1"}
	res, err := db.Append(ctx, "s", eventdesk.NoStream, first, ev("b", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	again := ev("a", `{}`)
	again.Metadata = eventdesk.Metadata{IdempotencyKey: "k1", RequestHash: "h2"}
	_, err = db.Append(ctx, "s", eventdesk.AnyVersion, again)
	var dup *eventdesk.DuplicateAppendError
	if !errors.As(err, &dup) {
		t.Fatalf("err = %v, want duplicate append", err)
	}
	if dup.FirstEventID != first.ID || dup.Result != res || dup.RequestHash != "h1" || dup.Stream != "s" {
		t.Fatalf("duplicate = %+v, want first %s result %+v", dup, first.ID, res)
	}
	if head, _ := db.Head(ctx); head != 2 {
		t.Fatalf("head = %d after duplicate", head)
	}
}

// TestConcurrentMigrations opens many stores on a fresh database at once,
// as nodes of a cluster starting together do: every one opens and works,
// and each migration is applied exactly once, by one of them. (Without the
// migration lock, the nodes' CREATE TABLEs collide and Open fails.)
func TestConcurrentMigrations(t *testing.T) {
	dsn := testenv.Postgres(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	start := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			<-start
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{Logger: logger})
			if err != nil {
				errs <- err
				return
			}
			_, err = db.Append(context.Background(), newID("s"), eventdesk.AnyVersion, ev("a", `{}`))
			errs <- err
			db.Close()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	for _, f := range files {
		if n := strings.Count(logs.String(), "migration="+filepath.Base(f)); n != 1 {
			t.Errorf("%s applied %d times, want once", filepath.Base(f), n)
		}
	}
	if n := strings.Count(logs.String(), "applied migration"); n != len(files) {
		t.Errorf("%d migrations applied by the nodes, want %d:\n%s", n, len(files), logs.String())
	}
}

// lockedBuffer is a bytes.Buffer that several goroutines may write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSubscribeWakesOnLocalCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db := open(t, testenv.Postgres(t), postgres.Options{PollInterval: time.Hour})
	got := make(chan eventdesk.Event)
	go func() {
		for e, err := range db.Subscribe(ctx, 0) {
			if err != nil {
				return
			}
			got <- e
		}
	}()
	for i := 1; i <= 3; i++ {
		if _, err := db.Append(ctx, "s", eventdesk.AnyVersion, ev("a", `{}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Position != int64(i) {
				t.Fatalf("got position %d, want %d", e.Position, i)
			}
		case <-ctx.Done():
			t.Fatal("subscriber was not woken by a local commit")
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	db := open(t, testenv.Postgres(t), postgres.Options{})
	cases := map[string]func() error{
		"empty stream": func() error { _, err := db.Append(ctx, "", eventdesk.AnyVersion, ev("a", `{}`)); return err },
		"no id": func() error {
			_, err := db.Append(ctx, "s", eventdesk.AnyVersion, eventdesk.EventData{Type: "a"})
			return err
		},
		"duplicate id in append": func() error {
			e := ev("a", `{}`)
			_, err := db.Append(ctx, "s", eventdesk.AnyVersion, e, e)
			return err
		},
	}
	for name, f := range cases {
		if err := f(); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
			t.Errorf("%s: err = %v, want invalid", name, err)
		}
	}
	e := ev("a", `{}`)
	if _, err := db.Append(ctx, "s", eventdesk.AnyVersion, e); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, "t", eventdesk.AnyVersion, e); eventdesk.ErrorCode(err) != eventdesk.EConflict {
		t.Errorf("reused event id: err = %v, want conflict", err)
	}
	if _, err := postgres.Open(ctx, "postgres://x:y@127.0.0.1:1/nope?connect_timeout=1", postgres.Options{}); err == nil {
		t.Error("open of an unreachable server succeeded")
	} else if eventdesk.ErrorCode(err) != eventdesk.EUnavailable {
		t.Errorf("unreachable server: code %s (%v)", eventdesk.ErrorCode(err), err)
	}
}
