package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/progress"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/verify"
)

// Import limits.
const (
	importBatch   = 1000     // events per write transaction
	maxImportLine = 16 << 20 // bytes; an event is far smaller (text ≤ 64 KiB)
)

func runImport(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("import", `Usage: eventdesk import [--data DIR] [--in FILE]

Loads a JSON Lines export (see "eventdesk export") into a new, empty event
store. Every line is checked before it is written: its fields, that
positions run 1, 2, 3… without gaps, that each stream's versions run 1, 2,
3… and that every hash chains to the previous event of its stream. A
malformed or inconsistent line stops the import with its line number.

The import is all or nothing: it is written into a temporary directory next
to DIR, which is renamed to DIR only when every event is in. DIR must not
exist, be an empty directory, or hold an event store with no events (its
API tokens and session key are kept).

The read models are not part of an export: "eventdesk serve" (or
"eventdesk replay") builds them from the imported events.
`)
	cfg.dataFlag(f)
	in := f.String("in", "-", "read from `FILE` instead of standard input (\"-\")")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "import: " + err.Error(), usage: f.usage()}
	}

	src, total, closeSrc, err := openImportSource(*in, io.in)
	if err != nil {
		return err
	}
	defer closeSrc()

	if isPostgresURL(cfg.Store) {
		bar := progress.New(io.err, "import", total, progress.Options{Unit: "events"})
		err := importIntoPostgres(ctx, cfg.Store, io, func(write func(context.Context, []eventdesk.Event) error) (int64, error) {
			return readImport(ctx, src, write, bar)
		})
		if err != nil {
			bar.Abort()
			return err
		}
		bar.Finish()
		return nil
	}
	target := filepath.Clean(cfg.DataDir)
	if err := checkImportTarget(ctx, target); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(target), "."+filepath.Base(target)+".import-*")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()

	bar := progress.New(io.err, "import", total, progress.Options{Unit: "events"})
	n, err := importInto(ctx, tmp, src, bar)
	if err != nil {
		bar.Abort()
		return err
	}
	bar.Finish()
	if err := replaceDir(tmp, target); err != nil {
		return err
	}
	committed = true
	fmt.Fprintf(io.err, "imported %d events into %s\n", n, target)
	return nil
}

// openImportSource opens the input and counts its lines when it is a
// regular file, for the progress bar (0: unknown).
func openImportSource(name string, stdin io.Reader) (io.Reader, int64, func(), error) {
	if name == "-" || name == "" {
		return stdin, 0, func() {}, nil
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("import: %w", err)
	}
	var total int64
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
		total, err = countLines(fh)
		if err != nil {
			fh.Close()
			return nil, 0, nil, fmt.Errorf("import: read %s: %w", name, err)
		}
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			fh.Close()
			return nil, 0, nil, fmt.Errorf("import: %w", err)
		}
	}
	return fh, total, func() { fh.Close() }, nil
}

func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 1<<16)
	var n int64
	var last byte = '\n'
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(bytes.Count(buf[:k], []byte{'\n'}))
			last = buf[k-1]
		}
		if errors.Is(err, io.EOF) {
			if last != '\n' {
				n++
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// checkImportTarget refuses a target that holds anything but an empty
// event store.
func checkImportTarget(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("import: %w", err)
	case len(entries) == 0:
		return nil
	}
	if !storeExists(dir) {
		return fmt.Errorf("import: %s is not empty and holds no event store; import needs a new or empty directory", dir)
	}
	head, err := storeHead(ctx, dir)
	if err != nil {
		return err
	}
	if head > 0 {
		return fmt.Errorf("import: the event store in %s already holds events (last position %d); import only into an empty store: choose a new --data directory", dir, head)
	}
	return nil
}

// keptOnImport are the files of an empty data directory that an import
// into it keeps: what an operator made before the first events (API tokens,
// the session key). The rest (an empty event store, empty read models and
// subscriber state) is replaced.
var keptOnImport = []string{sqlite.TokensFile, sqlite.TokensFile + "-wal", sqlite.TokensFile + "-shm", SessionKeyFile}

// replaceDir moves the finished import tmp to target. A target that is an
// empty directory or an empty store is moved aside (its keptOnImport files
// first moved into the import) and removed after.
func replaceDir(tmp, target string) (err error) {
	if _, err := os.Stat(target); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, target); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		syncDir(filepath.Dir(target))
		return nil
	}
	var moved []string
	defer func() {
		if err != nil {
			for _, name := range moved {
				_ = os.Rename(filepath.Join(tmp, name), filepath.Join(target, name))
			}
		}
	}()
	for _, name := range keptOnImport {
		from := filepath.Join(target, name)
		if _, err := os.Lstat(from); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.Rename(from, filepath.Join(tmp, name)); err != nil {
			return fmt.Errorf("import: keep %s: %w", from, err)
		}
		moved = append(moved, name)
	}
	old := tmp + ".old"
	if err := os.Rename(target, old); err != nil {
		return fmt.Errorf("import: move the empty %s aside: %w", target, err)
	}
	if err := os.Rename(tmp, target); err != nil {
		// Put the old (empty) directory back; the import is lost.
		_ = os.Rename(old, target)
		return fmt.Errorf("import: %w", err)
	}
	syncDir(filepath.Dir(target))
	os.RemoveAll(old)
	return nil
}

// importInto creates a store in dir and writes the events read from src
// into it, checked and in batches. It returns how many it wrote.
func importInto(ctx context.Context, dir string, src io.Reader, bar *progress.Bar) (int64, error) {
	w, err := newImportWriter(ctx, dir)
	if err != nil {
		return 0, err
	}
	n, err := readImport(ctx, src, w.write, bar)
	if cerr := w.close(); err == nil && cerr != nil {
		err = cerr
	}
	return n, err
}

// lineError locates an import problem.
func lineError(line int64, format string, args ...any) error {
	return fmt.Errorf("import: line %d: %s", line, fmt.Sprintf(format, args...))
}

// readImport parses src line by line, checks each event and hands them to
// write in batches. Blank lines are skipped.
func readImport(ctx context.Context, src io.Reader, write func(context.Context, []eventdesk.Event) error, bar *progress.Bar) (int64, error) {
	r := bufio.NewReaderSize(src, 1<<16)
	var (
		line      int64
		n         int64
		positions verify.Positions
		chains    = verify.NewChains()
		ids       = make(map[string]int64)
		batch     = make([]eventdesk.Event, 0, importBatch)
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := write(ctx, batch); err != nil {
			return fmt.Errorf("import: write events at positions %d to %d: %w", batch[0].Position, batch[len(batch)-1].Position, err)
		}
		n += int64(len(batch))
		bar.Set(n)
		batch = batch[:0]
		return nil
	}
	for {
		raw, err := readLine(r)
		if errors.Is(err, io.EOF) && len(raw) == 0 {
			break
		}
		line++
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errLineTooLong) {
				return n, lineError(line, "longer than %d bytes", maxImportLine)
			}
			return n, fmt.Errorf("import: read line %d: %w", line, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		e, err := parseEvent(raw)
		if err != nil {
			return n, lineError(line, "%v", err)
		}
		if first, dup := ids[e.ID]; dup {
			return n, lineError(line, "event id %s was already used on line %d", e.ID, first)
		}
		ids[e.ID] = line
		if b, ok := positions.Check(e); !ok {
			return n, lineError(line, "%s", b)
		}
		if breaks := chains.Check(e); len(breaks) > 0 {
			msgs := make([]string, len(breaks))
			for i, b := range breaks {
				msgs[i] = b.String()
			}
			return n, lineError(line, "%s", strings.Join(msgs, "; "))
		}
		batch = append(batch, e)
		if len(batch) == importBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
	}
	if err := flush(); err != nil {
		return n, err
	}
	if n == 0 {
		return 0, errors.New("import: the input holds no events")
	}
	return n, nil
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline; at the end of input
// it returns the last line (if any) with io.EOF.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxImportLine {
			return nil, errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte{'\n'})
		buf = bytes.TrimSuffix(buf, []byte{'\r'})
		return buf, err
	}
}

// parseEvent decodes one exported envelope strictly: unknown fields,
// trailing data and missing required fields are errors.
func parseEvent(raw []byte) (eventdesk.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e eventdesk.Event
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a JSON event envelope: %v", err)
	}
	if dec.More() {
		return e, errors.New("not a JSON event envelope: more than one value on the line")
	}
	var missing []string
	for _, f := range []struct {
		name  string
		empty bool
	}{
		{"id", e.ID == ""},
		{"stream", e.Stream == ""},
		{"version", e.Version == 0},
		{"position", e.Position == 0},
		{"type", e.Type == ""},
		{"schema", e.Schema == 0},
		{"data", len(e.Data) == 0},
		{"recordedAt", e.RecordedAt.IsZero()},
		{"hash", e.Hash == ""},
	} {
		if f.empty {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return e, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	// The same checks an append makes (printable names, valid JSON data,
	// schema ≥ 1), so that nothing is imported that could not be written.
	if err := eventdesk.ValidateAppend(e.Stream, eventdesk.AnyVersion, []eventdesk.EventData{{
		ID: e.ID, Type: e.Type, Schema: e.Schema, Data: e.Data, Metadata: e.Metadata, RecordedAt: e.RecordedAt,
	}}); err != nil {
		return e, err
	}
	if e.Version < 0 || e.Position < 0 {
		return e, errors.New("version and position must be positive")
	}
	if !e.RecordedAt.Equal(eventdesk.NormalizeTime(e.RecordedAt)) {
		return e, fmt.Errorf("recordedAt %s has more than microsecond precision", e.RecordedAt.Format("2006-01-02T15:04:05.999999999Z07:00"))
	}
	e.RecordedAt = eventdesk.NormalizeTime(e.RecordedAt)
	return e, nil
}
