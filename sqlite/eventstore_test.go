package sqlite_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/storetest"
	"github.com/eventdesk/eventdesk/verify"
)

// Environment variables that turn this test binary into a helper process
// (the usual re-exec trick: only a test can tell a child where to work).
const (
	crashDirEnv = "EVENTDESK_SQLITE_CRASH_DIR"
	lockDirEnv  = "EVENTDESK_SQLITE_LOCK_DIR"
)

func openDB(tb testing.TB, dir string, opts ...sqlite.Option) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(dir, append([]sqlite.Option{sqlite.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		tb.Fatalf("Open(%s): %v", dir, err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) eventdesk.EventStore { return openDB(t, t.TempDir()) },
		storetest.WithReopen(func(t *testing.T, closed eventdesk.EventStore) eventdesk.EventStore {
			return openDB(t, closed.(*sqlite.DB).Dir())
		}),
		storetest.WithCrash(func(t *testing.T) (*exec.Cmd, func(t *testing.T) eventdesk.EventStore) {
			dir := t.TempDir()
			cmd := storetest.HelperCommand(t, "crash", crashDirEnv+"="+dir)
			return cmd, func(t *testing.T) eventdesk.EventStore { return openDB(t, dir) }
		}),
	)
}

// crashChild is the helper role of TestConformance/Crash (see TestMain):
// it appends until the parent kills it.
func crashChild() error {
	db, err := sqlite.Open(os.Getenv(crashDirEnv), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	return storetest.CrashWriter(context.Background(), db, os.Stdout)
}

// lockChild is the helper role of TestLock (see TestMain): it holds a data
// directory open until its stdin closes.
func lockChild() error {
	db, err := sqlite.Open(os.Getenv(lockDirEnv), sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return db.Close()
}

func TestLock(t *testing.T) {
	t.Run("SameProcess", func(t *testing.T) {
		dir := t.TempDir()
		db := openDB(t, dir)
		_, err := sqlite.Open(dir)
		if !errors.Is(err, sqlite.ErrLocked) {
			t.Fatalf("second Open: %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
			t.Fatalf("message %q does not name this process's pid", err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		openDB(t, dir).Close()
	})
	t.Run("OtherProcess", func(t *testing.T) {
		dir := t.TempDir()
		child := storetest.HelperCommand(t, "lock", lockDirEnv+"="+dir)
		stdin, err := child.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "locked\n" {
			t.Fatalf("child said %q, %v", line, err)
		}

		start := time.Now()
		_, err = sqlite.Open(dir)
		if !errors.Is(err, sqlite.ErrLocked) {
			t.Fatalf("Open of a directory held by pid %d: %v, want ErrLocked", child.Process.Pid, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("another process (pid %d)", child.Process.Pid)) {
			t.Fatalf("message %q does not name the holder, pid %d", err, child.Process.Pid)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Open waited %v instead of failing at once", d)
		}
		t.Logf("refused: %v", err)

		// The lock dies with its holder: no stale lock after a kill.
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		_ = stdin.Close()
		openDB(t, dir).Close()
	})
}

// writeFile replaces dir/events.db with b and returns a function that
// asserts the file still holds exactly b.
func writeEvents(t *testing.T, dir string, b []byte) func() {
	t.Helper()
	file := filepath.Join(dir, sqlite.EventsFile)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Fatal("Open modified the file it refused")
		}
		for _, side := range []string{"-wal", "-journal"} {
			if fi, err := os.Stat(file + side); err == nil && fi.Size() > 0 {
				t.Fatalf("Open left a non-empty %s beside the file it refused", side)
			}
		}
	}
}

// rawDB opens a file with the driver directly, as another program would.
func rawDB(t *testing.T, file string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func exec1(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// validStore returns the bytes of a small, cleanly closed event store.
func validStore(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	db := openDB(t, dir)
	for i := range 20 {
		appendN(t, db, fmt.Sprintf("s%d", i%3), 1)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, sqlite.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRefuses(t *testing.T) {
	valid := validStore(t)
	garbage := bytes.Repeat([]byte("this is not a database\n"), 400)
	damagedPage := append([]byte(nil), valid...)
	for i := 4096; i < 4096+600 && i < len(damagedPage); i++ {
		damagedPage[i] = 0xA5
	}
	newer := func(t *testing.T) []byte {
		dir := t.TempDir()
		file := filepath.Join(dir, "x.db")
		if err := os.WriteFile(file, valid, 0o644); err != nil {
			t.Fatal(err)
		}
		raw := rawDB(t, file)
		exec1(t, raw, "PRAGMA journal_mode = DELETE")
		exec1(t, raw, "PRAGMA user_version = 999")
		if err := raw.Close(); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(file)
		return b
	}
	foreign := func(t *testing.T) []byte {
		file := filepath.Join(t.TempDir(), "x.db")
		raw := rawDB(t, file)
		exec1(t, raw, "CREATE TABLE notes (body TEXT)")
		exec1(t, raw, "INSERT INTO notes VALUES ('mine')")
		_ = raw.Close()
		b, _ := os.ReadFile(file)
		return b
	}
	for _, tc := range []struct {
		name  string
		bytes func(t *testing.T) []byte
		want  error
		says  string
	}{
		{"Garbage", func(*testing.T) []byte { return garbage }, sqlite.ErrCorrupt, "not a SQLite database"},
		{"Short", func(*testing.T) []byte { return []byte("SQLite format 3\x00abc") }, sqlite.ErrCorrupt, "shorter than a SQLite header"},
		{"Truncated", func(*testing.T) []byte { return valid[:4096+1000] }, sqlite.ErrCorrupt, "truncated"},
		{"DamagedPage", func(*testing.T) []byte { return damagedPage }, sqlite.ErrCorrupt, "malformed"},
		{"NewerSchema", newer, sqlite.ErrNewerSchema, "schema version 999"},
		{"ForeignDatabase", foreign, sqlite.ErrCorrupt, "another application"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			unchanged := writeEvents(t, dir, tc.bytes(t))
			_, err := sqlite.Open(dir)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "not modified") {
				t.Fatalf("message %q should say %q and that the file was not modified", err, tc.says)
			}
			unchanged()
			t.Logf("refused: %v", err)
			// The lock was released: after a fix the directory opens.
			if err := os.Remove(filepath.Join(dir, sqlite.EventsFile)); err != nil {
				t.Fatal(err)
			}
			openDB(t, dir).Close()
		})
	}
	t.Run("NewerSchemaInWAL", func(t *testing.T) {
		// The header still says version 1; only the WAL, not yet
		// checkpointed, says 999. SQLite is asked through a read-only
		// connection, which cannot checkpoint it into the file.
		dir := t.TempDir()
		writeEvents(t, dir, valid)
		raw := rawDB(t, filepath.Join(dir, sqlite.EventsFile))
		exec1(t, raw, "PRAGMA journal_mode = WAL")
		exec1(t, raw, "PRAGMA user_version = 999")
		defer raw.Close()
		_, err := sqlite.Open(dir)
		if !errors.Is(err, sqlite.ErrNewerSchema) {
			t.Fatalf("Open: %v, want ErrNewerSchema", err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, sqlite.EventsFile))
		if !bytes.Equal(got, valid) {
			t.Fatal("Open modified the file it refused")
		}
	})
	t.Run("EmptyFile", func(t *testing.T) {
		dir := t.TempDir()
		writeEvents(t, dir, nil)
		db := openDB(t, dir)
		defer db.Close()
		appendN(t, db, "a", 1)
	})
}

func appendN(tb testing.TB, st eventdesk.EventStore, stream string, n int, mod ...func(*eventdesk.EventData)) eventdesk.AppendResult {
	tb.Helper()
	evs := make([]eventdesk.EventData, n)
	for i := range evs {
		evs[i] = eventdesk.EventData{ID: newID(tb), Type: "test.happened", Schema: 1, Data: json.RawMessage(fmt.Sprintf(`{"i": %d}`, i))}
		for _, m := range mod {
			m(&evs[i])
		}
	}
	res, err := st.Append(context.Background(), stream, eventdesk.AnyVersion, evs...)
	if err != nil {
		tb.Fatalf("Append(%s): %v", stream, err)
	}
	return res
}

var idSeq struct {
	sync.Mutex
	n int
}

// newID returns a unique id; its shape does not matter to the store.
func newID(tb testing.TB) string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("%s-%08d", strings.ReplaceAll(tb.Name(), "/", "-"), idSeq.n)
}

func TestSchema(t *testing.T) {
	dir := t.TempDir()
	openDB(t, dir).Close()
	raw := rawDB(t, filepath.Join(dir, sqlite.EventsFile))
	defer raw.Close()
	var version, appID int
	var mode string
	if err := raw.QueryRow("SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id), (SELECT journal_mode FROM pragma_journal_mode)").Scan(&version, &appID, &mode); err != nil {
		t.Fatal(err)
	}
	if version != 1 || appID == 0 || mode != "wal" {
		t.Fatalf("user_version %d, application_id %#x, journal_mode %s; want 1, set, wal", version, appID, mode)
	}
	_ = raw.Close()
	// Reopening an up-to-date store applies nothing and keeps it.
	db := openDB(t, dir)
	appendN(t, db, "a", 2)
	db.Close()
}

func TestExactBytes(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	data := "{ \"b\" : [1, 2.50],\n\t\"a\": \"\\u00e9\" }"
	appendN(t, db, "a", 1, func(e *eventdesk.EventData) { e.Data = json.RawMessage(data) })
	evs, err := db.ReadStream(context.Background(), "a", 1, 0)
	if err != nil || len(evs) != 1 || string(evs[0].Data) != data {
		t.Fatalf("read %v, %v; want data kept byte for byte", evs, err)
	}
}

func TestStreamCacheEviction(t *testing.T) {
	// With room for two stream heads, appends to five streams keep
	// missing the cache and must still check versions correctly.
	db := openDB(t, t.TempDir(), sqlite.WithStreamCache(2))
	defer db.Close()
	ctx := context.Background()
	for round := range 4 {
		for s := range 5 {
			stream := fmt.Sprintf("s%d", s)
			ev := eventdesk.EventData{ID: newID(t), Type: "t", Schema: 1, Data: json.RawMessage(`{}`)}
			if _, err := db.Append(ctx, stream, eventdesk.ExactVersion(int64(round)), ev); err != nil {
				t.Fatalf("round %d %s: %v", round, stream, err)
			}
			_, err := db.Append(ctx, stream, eventdesk.ExactVersion(int64(round)), ev)
			var w *eventdesk.WrongExpectedVersionError
			if !errors.As(err, &w) || w.Actual != int64(round+1) {
				t.Fatalf("round %d %s stale append: %v", round, stream, err)
			}
		}
	}
	// NoStream on streams the writer no longer remembers.
	for s := range 5 {
		stream := fmt.Sprintf("s%d", s)
		ev := eventdesk.EventData{ID: newID(t), Type: "t", Schema: 1, Data: json.RawMessage(`{}`)}
		ev2 := ev
		ev2.ID = newID(t)
		_, err := db.Append(ctx, stream, eventdesk.NoStream, ev, ev2)
		var w *eventdesk.WrongExpectedVersionError
		if !errors.As(err, &w) || w.Actual != 4 {
			t.Fatalf("NoStream on existing %s: %v, want actual 4", stream, err)
		}
		ev.ID = newID(t)
		if _, err := db.Append(ctx, stream, eventdesk.NoStream, ev); !errors.As(err, &w) || w.Actual != 4 {
			t.Fatalf("NoStream on existing %s: %v, want actual 4", stream, err)
		}
	}
	rep, err := db.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != 20 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}

func TestCloseDrainsAppends(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		acks = map[string]int64{}
	)
	start := make(chan struct{})
	for w := range 32 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				stream := fmt.Sprintf("w%d-%d", w, i)
				ev := eventdesk.EventData{ID: stream, Type: "t", Schema: 1, Data: json.RawMessage(`{}`)}
				res, err := db.Append(context.Background(), stream, eventdesk.NoStream, ev)
				if err != nil {
					if !errors.Is(err, sqlite.ErrClosed) {
						t.Errorf("append during Close: %v, want ErrClosed", err)
					}
					return
				}
				mu.Lock()
				acks[stream] = res.Position
				mu.Unlock()
			}
		})
	}
	close(start)
	time.Sleep(50 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	db = openDB(t, dir)
	defer db.Close()
	all, err := db.ReadAll(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(acks) {
		t.Fatalf("store holds %d events, %d appends were acknowledged", len(all), len(acks))
	}
	for _, e := range all {
		if p, ok := acks[e.Stream]; !ok || p != e.Position {
			t.Fatalf("event %s at %d, acknowledged at %d (%v)", e.Stream, e.Position, p, ok)
		}
	}
	t.Logf("%d appends acknowledged before Close", len(acks))
}

func TestImport(t *testing.T) {
	ctx := context.Background()
	src := openDB(t, t.TempDir())
	defer src.Close()
	for i := range 30 {
		appendN(t, src, fmt.Sprintf("s%d", i%4), 1+i%3, func(e *eventdesk.EventData) {
			e.RecordedAt = time.Date(2025, 1, 1, 0, 0, i, 1234567, time.UTC)
			e.Metadata.Actor = "alice"
		})
	}
	// A keyed append of three events (the key on the first, as the app
	// writes them) to check that Import rebuilds the key's result.
	evs := make([]eventdesk.EventData, 3)
	at := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i] = eventdesk.EventData{ID: newID(t), Type: "t", Schema: 1, Data: json.RawMessage(`{}`), RecordedAt: at}
	}
	evs[0].Metadata.IdempotencyKey, evs[0].Metadata.RequestHash = "k1", "h1"
	keyed, err := src.Append(ctx, "s1", eventdesk.AnyVersion, evs...)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, src, "s1", 1)
	all, err := src.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	dst := openDB(t, t.TempDir())
	defer dst.Close()
	// Batches that split the keyed append, as a CLI importing in fixed
	// batches would.
	for i := 0; i < len(all); i += 7 {
		if err := dst.Import(ctx, all[i:min(i+7, len(all))]); err != nil {
			t.Fatalf("Import batch at %d: %v", i, err)
		}
	}
	got, err := dst.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("imported %d events, want %d", len(got), len(all))
	}
	for i := range got {
		a, b := got[i], all[i]
		if a.ID != b.ID || a.Position != b.Position || a.Version != b.Version || a.Hash != b.Hash || !a.RecordedAt.Equal(b.RecordedAt) || a.Metadata != b.Metadata || string(a.Data) != string(b.Data) {
			t.Fatalf("imported %+v, want %+v", a, b)
		}
	}
	rep, err := dst.Verify(ctx, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify after import: %+v, %v", rep, err)
	}
	_, err = dst.Append(ctx, "s9", eventdesk.AnyVersion, eventdesk.EventData{ID: newID(t), Type: "t", Schema: 1, Data: json.RawMessage(`{}`), Metadata: eventdesk.Metadata{IdempotencyKey: "k1"}})
	var dup *eventdesk.DuplicateAppendError
	if !errors.As(err, &dup) || dup.Result != keyed || dup.Stream != "s1" || dup.FirstEventID != evs[0].ID || dup.RequestHash != "h1" {
		t.Fatalf("idempotency key after import: %v (%+v), want the result %+v", err, dup, keyed)
	}

	t.Run("NotEmpty", func(t *testing.T) {
		err := dst.Import(ctx, all[:1])
		if code := eventdesk.ErrorCode(err); code != eventdesk.EConflict && code != eventdesk.EInvalid {
			t.Fatalf("Import over existing events: %v", err)
		}
		st := openDB(t, t.TempDir())
		defer st.Close()
		appendN(t, st, "x", 1)
		err = st.Import(ctx, all[:1])
		if eventdesk.ErrorCode(err) != eventdesk.EConflict || !strings.Contains(err.Error(), "empty store") {
			t.Fatalf("Import into a store with appended events: %v, want a conflict", err)
		}
	})
	for _, tc := range []struct {
		name   string
		mangle func([]eventdesk.Event)
		says   string
	}{
		{"BrokenHash", func(es []eventdesk.Event) { es[5].Data = json.RawMessage(`{"i": 99}`) }, "stored hash"},
		{"PositionGap", func(es []eventdesk.Event) {
			for i := 5; i < len(es); i++ {
				es[i].Position++
			}
		}, "does not follow position 5"},
		{"VersionGap", func(es []eventdesk.Event) { es[4].Version++ }, "follows version"},
		{"BadData", func(es []eventdesk.Event) { es[3].Data = json.RawMessage(`{`) }, "valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openDB(t, t.TempDir())
			defer st.Close()
			batch := append([]eventdesk.Event(nil), all[:10]...)
			tc.mangle(batch)
			err := st.Import(ctx, batch)
			if eventdesk.ErrorCode(err) != eventdesk.EInvalid || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Import: %v, want EInvalid saying %q", err, tc.says)
			}
			if h, _ := st.Head(ctx); h != 0 {
				t.Fatalf("a failed import wrote: Head = %d", h)
			}
			if err := st.Import(ctx, all[:10]); err != nil {
				t.Fatalf("Import after a failed one: %v", err)
			}
		})
	}
	t.Run("WithoutPositions", func(t *testing.T) {
		st := openDB(t, t.TempDir())
		defer st.Close()
		batch := append([]eventdesk.Event(nil), all...)
		for i := range batch {
			batch[i].Position = 0
		}
		if err := st.Import(ctx, batch); err != nil {
			t.Fatal(err)
		}
		got, _ := st.ReadAll(ctx, 0, 0)
		if len(got) != len(all) || got[len(got)-1].Position != int64(len(all)) {
			t.Fatalf("imported %d events", len(got))
		}
	})
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, dir)
	for i := range 40 {
		appendN(t, db, fmt.Sprintf("s%d", i%4), 1+i%2)
	}
	var calls int
	var last [2]int64
	rep, err := db.Verify(ctx, func(done, total int64) { calls++; last = [2]int64{done, total} })
	if err != nil || !rep.OK() || rep.Events != 60 || rep.Streams != 4 || rep.LastPosition != 60 {
		t.Fatalf("Verify of an intact store: %+v, %v", rep, err)
	}
	if calls == 0 || last != [2]int64{120, 120} {
		t.Fatalf("progress called %d times, last %v; want done = total = 120", calls, last)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Tamper behind the store's back.
	raw := rawDB(t, filepath.Join(dir, sqlite.EventsFile))
	exec1(t, raw, `UPDATE events SET data = CAST('{"i": 42}' AS BLOB) WHERE position = 3`)
	exec1(t, raw, `DELETE FROM events WHERE position = 10`)
	var stream string
	var version int64
	if err := raw.QueryRow("SELECT stream, version FROM events WHERE position = 3").Scan(&stream, &version); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()

	db = openDB(t, dir)
	defer db.Close()
	rep, err = db.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, b := range rep.Breaks {
		kinds = append(kinds, string(b.Kind))
		t.Log(b)
	}
	// The altered event breaks its own hash; the deleted one leaves a
	// position gap, a version gap in its stream, and its successor's hash
	// chained to nothing that exists.
	want := map[string]bool{"altered": false, "gap": false, "version": false}
	for _, b := range rep.Breaks {
		switch {
		case b.Kind == verify.KindHash && b.Stream == stream && b.Version == version && b.Position == 3:
			want["altered"] = true
		case b.Kind == verify.KindPosition && strings.Contains(b.Message, "position 10 is missing"):
			want["gap"] = true
		case b.Kind == verify.KindVersion:
			want["version"] = true
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("no %s break reported; got %v", k, kinds)
		}
	}
	if len(rep.Breaks) != 4 {
		t.Errorf("%d breaks, want 4", len(rep.Breaks))
	}
}

func TestOpenCrashCopyWithoutShm(t *testing.T) {
	// A copy of a live store (events.db and its WAL, as a crash or a
	// file-level backup leaves them) without the -shm index opens with
	// every committed event.
	src := t.TempDir()
	db := openDB(t, src)
	defer db.Close()
	for i := range 10 {
		appendN(t, db, fmt.Sprintf("s%d", i%3), 2)
	}
	dst := t.TempDir()
	for _, name := range []string{sqlite.EventsFile, sqlite.EventsFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp := openDB(t, dst)
	defer cp.Close()
	if h, err := cp.Head(context.Background()); err != nil || h != 20 {
		t.Fatalf("Head of the copy = %d, %v; want 20", h, err)
	}
	rep, err := cp.Verify(context.Background(), nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify of the copy: %+v, %v", rep, err)
	}
}
