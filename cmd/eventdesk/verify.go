package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/eventdesk/eventdesk/internal/progress"
	"github.com/eventdesk/eventdesk/verify"
)

// errBroken is returned by verify when the store has breaks: the report
// has been printed already.
var errBroken = errors.New("verify: the event store is damaged (see the report above)")

func runVerify(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("verify", `Usage: eventdesk verify [--data DIR]

Checks the integrity of the event store: that store-wide positions run 1, 2,
3… without gaps, that each stream's versions run 1, 2, 3…, and that every
event's hash chains to the previous event of its stream (so an edited,
removed or inserted event is found). It changes nothing.

Prints a report and exits 0 if the store is intact, 1 with every break
(kind, position, stream, version, event id, what is wrong) otherwise.
`)
	cfg.dataFlag(f)
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "verify: " + err.Error(), usage: f.usage()}
	}
	store, err := openExistingStore(ctx, cfg.storeLocation())
	if err != nil {
		return err
	}
	defer store.Close()

	bar := progress.New(io.err, "verify", 0, progress.Options{Unit: "event checks"})
	rep, err := store.verify(ctx, func(done, total int64) {
		bar.SetTotal(total)
		bar.Set(done)
	})
	if err != nil {
		bar.Abort()
		return err
	}
	bar.Finish()
	printReport(io.out, cfg.storeDisplay(), rep)
	if !rep.OK() {
		return errBroken
	}
	return nil
}

// printReport writes the outcome of a verification for a person.
func printReport(w io.Writer, dir string, rep verify.Report) {
	if rep.OK() {
		fmt.Fprintf(w, "OK: %d events in %d streams, positions 1 to %d, every hash chain intact (%s)\n",
			rep.Events, rep.Streams, rep.LastPosition, dir)
		return
	}
	n := int64(len(rep.Breaks)) + rep.Omitted
	fmt.Fprintf(w, "BROKEN: %d problem(s) in %d events in %d streams (%s):\n", n, rep.Events, rep.Streams, dir)
	for _, b := range rep.Breaks {
		fmt.Fprintf(w, "  %s\n", b)
	}
	if rep.Omitted > 0 {
		fmt.Fprintf(w, "  … and %d more\n", rep.Omitted)
	}
	fmt.Fprintln(w, `Restore the data directory from a backup, or import an export taken before the damage; see docs/operations.md.`)
}
