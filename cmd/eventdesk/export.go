package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/progress"
)

// exportPage is how many events export reads per ReadAll.
const exportPage = 2000

func runExport(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("export", `Usage: eventdesk export [--data DIR] [--out FILE]

Writes every event of the store as JSON Lines, one full envelope per line
(id, stream, version, position, type, schema, data, metadata, recordedAt,
hash), in position order. "eventdesk import" reads the same format.

The output goes to standard output, or with --out to FILE: written to a
temporary file next to it and renamed at the end, so a failed export never
leaves a partial FILE behind. Progress goes to standard error.

The event store is opened exclusively: stop "eventdesk serve" first.
`)
	cfg.dataFlag(f)
	out := f.String("out", "-", "write to `FILE` instead of standard output (\"-\")")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "export: " + err.Error(), usage: f.usage()}
	}
	store, err := openExistingStore(ctx, cfg.storeLocation())
	if err != nil {
		return err
	}
	defer store.Close()

	if *out == "-" || *out == "" {
		w := bufio.NewWriterSize(io.out, 1<<16)
		if _, err := exportEvents(ctx, store.events, w, io.err); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("export: write: %w", err)
		}
		return nil
	}
	n, err := exportToFile(ctx, store.events, *out, io.err)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.err, "exported %d events to %s\n", n, *out)
	return nil
}

// exportToFile writes the export to a temporary file in path's directory,
// syncs it and renames it to path, so that path is either the complete
// export or untouched.
func exportToFile(ctx context.Context, store eventdesk.EventStore, path string, progressOut io.Writer) (n int64, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<16)
	if n, err = exportEvents(ctx, store, w, progressOut); err != nil {
		return n, err
	}
	if err = w.Flush(); err != nil {
		return n, fmt.Errorf("export: write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return n, fmt.Errorf("export: sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return n, fmt.Errorf("export: close %s: %w", tmp.Name(), err)
	}
	// CreateTemp makes the file 0600; an export is as private as the data
	// directory, but readable by the group like a normal file would be.
	if err = os.Chmod(tmp.Name(), 0o640); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return n, fmt.Errorf("export: %w", err)
	}
	syncDir(dir)
	return n, nil
}

// exportEvents writes every event with position ≤ the head at the start as
// one JSON line each, in position order, and returns how many it wrote.
func exportEvents(ctx context.Context, store eventdesk.EventStore, w io.Writer, progressOut io.Writer) (int64, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	bar := progress.New(progressOut, "export", head, progress.Options{Unit: "events"})
	enc := json.NewEncoder(w)
	// Data is kept byte for byte (compact): escaping <, > and & would
	// change the bytes that the hash chain covers.
	enc.SetEscapeHTML(false)
	var n, after int64
	for done := false; !done && after < head; {
		events, err := store.ReadAll(ctx, after, exportPage)
		if err != nil {
			bar.Abort()
			return n, fmt.Errorf("export: read after position %d: %w", after, err)
		}
		done = len(events) == 0
		for _, e := range events {
			if e.Position > head {
				done = true
				break
			}
			if err := enc.Encode(e); err != nil {
				bar.Abort()
				return n, fmt.Errorf("export: event at position %d: %w", e.Position, err)
			}
			n++
			after = e.Position
		}
		bar.Set(n)
	}
	bar.Finish()
	return n, nil
}

// syncDir makes a rename in dir durable; failure only weakens durability
// on a crash, so it is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
