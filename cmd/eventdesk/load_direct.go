package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/internal/progress"
	"github.com/eventdesk/eventdesk/loadgen"
)

// loadDirect loads into the event store at o.store through the
// application's command handlers, many tickets at a time, then rebuilds
// the read models.
func loadDirect(ctx context.Context, o loadOptions, gen *loadgen.Generator, io stdio) (err error) {
	store, err := openStore(ctx, o.store, quietLogger())
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("load: close the store: %w", cerr)
		}
	}()
	head, err := store.events.Head(ctx)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	stats := newLoadStats()
	workers := make([]*directWorker, o.concurrency)
	for k := range workers {
		if workers[k], err = newDirectWorker(store.events, gen, stats, head > 0, o.createsOnly); err != nil {
			return err
		}
	}

	bar := progress.New(io.err, "load", o.tickets, progress.Options{Unit: "tickets"})
	elapsed, cpu, err := runTickets(ctx, o, len(workers), bar, func(ctx context.Context, k int, i int64) error { return workers[k].run(ctx, i) })
	sum := stats.summary(o, gen, elapsed, cpu)
	sum.Mode, sum.Store, sum.Interrupted = "store", redactURL(o.store), interrupted(ctx, err)
	if sum.Head, _ = store.events.Head(context.WithoutCancel(ctx)); err == nil && !o.noReplay {
		sum.Replay, err = replayAfterLoad(ctx, store, io)
		if err != nil && interrupted(ctx, err) {
			err = fmt.Errorf("load: the tickets are in; the rebuild of the read models was interrupted: run \"eventdesk replay\" (or serve, which catches up): %w", err)
		}
	}
	return sum.finish(o, io, err)
}

// replayAfterLoad rebuilds the read models of the freshly loaded store.
func replayAfterLoad(ctx context.Context, store *storeHandle, io stdio) (*replaySummary, error) {
	head, err := store.events.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	bar := progress.New(io.err, "replay", head, progress.Options{Unit: "events"})
	t0 := time.Now()
	pos, err := store.rebuildReadModels(ctx, func(done, total int64) {
		bar.SetTotal(total)
		bar.Set(done)
	})
	if err != nil {
		bar.Abort()
		return nil, err
	}
	bar.Finish()
	secs := time.Since(t0).Seconds()
	return &replaySummary{Events: pos, Seconds: secs, EventsPerSecond: float64(pos) / secs}, nil
}

// directWorker issues the commands of one ticket at a time through its own
// application instance, whose clock and id generator it steers: each
// command happens at its simulated time and gets the generator's ids.
type directWorker struct {
	gen         *loadgen.Generator
	store       eventdesk.EventStore
	app         *app.App
	stats       *loadStats
	resume      bool // the store was not empty: look for tickets already there
	createsOnly bool

	// The step being run: its simulated time and how many ids it took.
	ticket int64
	step   int
	ids    int
	now    time.Time
}

func newDirectWorker(store eventdesk.EventStore, gen *loadgen.Generator, stats *loadStats, resume, createsOnly bool) (*directWorker, error) {
	cached := &streamCache{EventStore: store}
	w := &directWorker{gen: gen, store: cached, stats: stats, resume: resume, createsOnly: createsOnly}
	a, err := app.New(app.Config{Store: cached, Reader: noReadModels{}, Clock: w.clock, NewID: w.newID})
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	w.app = a
	return w, nil
}

func (w *directWorker) clock() time.Time { return w.now }

// newID hands out the generator's ids for the current step, in the order
// the handlers ask for them.
func (w *directWorker) newID() string {
	id := w.gen.EventID(w.ticket, w.step, w.ids, w.now)
	w.ids++
	return id
}

func (w *directWorker) at(ticket int64, step int, t time.Time) {
	w.ticket, w.step, w.ids, w.now = ticket, step, 0, t
}

// run loads ticket i, or what is missing of it. Commands run to their end
// even when ctx ends (the load stops between commands), so that an
// interruption never leaves a command half done in the worker's view.
func (w *directWorker) run(ctx context.Context, i int64) error {
	t := w.gen.Ticket(i)
	steps := t.Steps
	if w.createsOnly {
		steps = nil
	}
	cmdCtx := context.WithoutCancel(ctx)
	from := 0 // 0: open the ticket; k ≥ 1: run steps[k-1] next
	if w.resume {
		var err error
		if from, err = w.progress(cmdCtx, t, steps); err != nil {
			return err
		}
	}
	if from > len(steps) {
		w.stats.ticketsSkipped.Add(1)
		w.stats.ticketsDone.Add(1)
		return nil
	}
	var version int64
	if from == 0 {
		w.at(i, 0, t.At)
		start := time.Now()
		res, err := w.app.CreateTicket.Handle(eventdesk.NewContextWithActor(cmdCtx, t.Actor.Actor()), app.CreateTicket{
			Title: t.Title, Description: t.Description, Priority: t.Priority,
			Requester: t.Requester, Assignee: t.Assignee, Tags: t.Tags,
		})
		w.stats.latency[cmdCreate].Record(time.Since(start))
		if err != nil {
			return fmt.Errorf("load: ticket %d: open: %w", i, err)
		}
		if res.Ticket.ID != t.ID {
			return fmt.Errorf("load: ticket %d got id %s, not the generated %s: the application asks for ids in another order than the loader expects", i, res.Ticket.ID, t.ID)
		}
		version = res.Ticket.Version
		w.stats.commands.Add(1)
		w.stats.events.Add(version)
		w.stats.ticketsCreated.Add(1)
		from = 1
	} else {
		w.stats.ticketsResumed.Add(1)
	}
	for k := from; k <= len(steps); k++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s := steps[k-1]
		w.at(i, k, s.At)
		actx := eventdesk.NewContextWithActor(cmdCtx, s.Actor.Actor())
		start := time.Now()
		var res app.TicketResult
		var err error
		kind := cmdUpdate
		if s.Kind == loadgen.Comment {
			kind = cmdComment
			var cr app.CommentResult
			cr, err = w.app.AddComment.Handle(actx, app.AddComment{TicketID: t.ID, Body: s.Body, Internal: s.Internal})
			res = cr.TicketResult
		} else {
			res, err = w.app.UpdateTicket.Handle(actx, app.UpdateTicket{ID: t.ID, Edit: s.Edit()})
		}
		w.stats.latency[kind].Record(time.Since(start))
		if err != nil {
			return fmt.Errorf("load: ticket %d (%s) step %d (%s by %s): %w", i, t.ID, k, s.Kind, s.Actor.Name, err)
		}
		w.stats.commands.Add(1)
		if version > 0 {
			w.stats.events.Add(res.Ticket.Version - version)
		} else {
			w.stats.events.Add(int64(s.Events))
		}
		version = res.Ticket.Version
	}
	w.stats.ticketsDone.Add(1)
	return nil
}

// progress returns where ticket t stands in the store: 0 if it is not
// there, else 1 + the number of its steps already done, recognized by the
// id of each step's first event.
func (w *directWorker) progress(ctx context.Context, t loadgen.Ticket, steps []loadgen.Step) (int, error) {
	events, err := w.store.ReadStream(ctx, eventdesk.TicketStream(t.ID), 1, 0)
	if err != nil {
		return 0, fmt.Errorf("load: ticket %d: %w", t.Index, err)
	}
	if len(events) == 0 {
		return 0, nil
	}
	ids := make(map[string]bool, len(events))
	for _, e := range events {
		ids[e.ID] = true
	}
	from := 1
	for k, s := range steps {
		if ids[w.gen.EventID(t.Index, k+1, 0, s.At)] {
			from = k + 2
		}
	}
	return from, nil
}

// noReadModels is the read side of a load into a store: none. Commands do
// not read the read models (they fold the ticket's stream), which are
// rebuilt by a replay when the load is done.
type noReadModels struct{}

var errNoReadModels = errors.New("load: no read models while loading")

func (noReadModels) Ticket(context.Context, string) (eventdesk.Ticket, error) {
	return eventdesk.Ticket{}, errNoReadModels
}

func (noReadModels) Tickets(context.Context, eventdesk.TicketFilter) (eventdesk.TicketPage, error) {
	return eventdesk.TicketPage{}, errNoReadModels
}

func (noReadModels) Stats(context.Context) (eventdesk.Stats, error) {
	return eventdesk.Stats{}, errNoReadModels
}

func (noReadModels) Position(context.Context) (int64, error) { return 0, errNoReadModels }

func (noReadModels) WaitFor(context.Context, int64) error { return errNoReadModels }

// streamCache is a worker's view of the event store: it remembers the
// stream of the ticket the worker is on, as read or as appended by the
// worker itself, so that each command folds the ticket without reading
// back what the worker just wrote (two thirds of the CPU of a load went
// there). Every append still goes to the store and is checked there
// against the expected version: if anyone else wrote to the stream, the
// append fails, the cache forgets the stream, and the application's retry
// reads it from the store. One goroutine uses a streamCache.
type streamCache struct {
	eventdesk.EventStore
	stream string
	events []eventdesk.Event // the whole stream, when stream != ""
}

// Append appends to the store and, on success, to the cached stream.
func (c *streamCache) Append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events ...eventdesk.EventData) (eventdesk.AppendResult, error) {
	res, err := c.EventStore.Append(ctx, stream, expected, events...)
	if err != nil || len(events) == 0 {
		if err != nil && stream == c.stream {
			c.stream, c.events = "", nil
		}
		return res, err
	}
	switch {
	case expected == eventdesk.NoStream:
		c.stream, c.events = stream, c.events[:0]
	case stream != c.stream || int64(len(c.events)) != res.Version-int64(len(events)):
		c.stream, c.events = "", nil
		return res, nil
	}
	first := res.Version - int64(len(events)) + 1
	for k, e := range events {
		c.events = append(c.events, eventdesk.Event{
			ID: e.ID, Stream: stream, Version: first + int64(k), Position: res.Position - int64(len(events)-1-k),
			Type: e.Type, Schema: e.Schema, Data: e.Data, Metadata: e.Metadata, RecordedAt: eventdesk.NormalizeTime(e.RecordedAt),
		})
	}
	return res, nil
}

// ReadStream answers from the cached stream, or reads the store (and
// caches a whole stream it reads).
func (c *streamCache) ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error) {
	if stream != c.stream || c.stream == "" {
		events, err := c.EventStore.ReadStream(ctx, stream, fromVersion, limit)
		if err == nil && fromVersion <= 1 && limit <= 0 && len(events) > 0 {
			c.stream, c.events = stream, append(c.events[:0], events...)
		}
		return events, err
	}
	var out []eventdesk.Event
	for _, e := range c.events {
		if e.Version >= fromVersion && (limit <= 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}
