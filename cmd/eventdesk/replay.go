package main

import (
	"context"
	"fmt"

	"github.com/eventdesk/eventdesk/internal/progress"
)

func runReplay(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("replay", `Usage: eventdesk replay [--data DIR]

Rebuilds the read models (ticket list, details, history, counts, and the
dashboard) from the event store: it projects every event from position 0,
in one pass, into new files and swaps them in when they have caught up, so
the old read models stay intact if the rebuild fails. Side effects (webhooks, e-mail, …) are never fired
again: their checkpoints are kept apart and are not touched.

Use it after a change to a projection, or when the read models are damaged.
The data directory is opened exclusively: stop "eventdesk serve" first.
`)
	cfg.dataFlag(f)
	if err := f.parse(args, io); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &usageError{msg: "replay: " + err.Error(), usage: f.usage()}
	}
	store, err := openExistingStore(ctx, cfg.storeLocation())
	if err != nil {
		return err
	}
	defer store.Close()

	head, err := store.events.Head(ctx)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	bar := progress.New(io.err, "replay", head, progress.Options{Unit: "events"})
	pos, err := store.rebuildReadModels(ctx, func(done, total int64) {
		bar.SetTotal(total)
		bar.Set(done)
	})
	if err != nil {
		bar.Abort()
		return err
	}
	bar.Finish()
	fmt.Fprintf(io.out, "rebuilt the read models up to position %d\n", pos)
	return nil
}
