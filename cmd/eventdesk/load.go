package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk/internal/latency"
	"github.com/eventdesk/eventdesk/internal/progress"
	"github.com/eventdesk/eventdesk/loadgen"
)

// envToken is the API token of load --target.
const envToken = "EVENTDESK_TOKEN"

const loadUsage = `Usage: eventdesk load --tickets N [--seed S] (--data DIR | --store URL | --target URL --token T)

Generates a realistic helpdesk from a seed (titles and descriptions in a mix
of calm, frustrated and angry wording, priorities, tags, requesters and
agents, public comments and internal notes, assignments and status changes
over simulated weeks) and feeds it to eventdesk through the same commands a
user issues. The same --seed, --tickets, --start, --weeks, --agents and
--requesters always generate the same tickets (resume with the same flags).

Two modes:

  --data DIR / --store URL   directly into an event store (SQLite data
      directory or PostgreSQL), through the application's command handlers:
      events, not rows, each with its simulated time and deterministic ids.
      Many concurrent workers feed the store's group commit; the read models
      are rebuilt by a replay at the end (--no-replay to skip). Stop "eventdesk
      serve" first: the data directory is opened exclusively.

  --target URL --token T     over the REST API of a running eventdesk, as the
      token's user (an agent or admin: it opens tickets for requesters and
      assigns them). Times and ids are the server's. Every POST carries an
      Idempotency-Key derived from (seed, ticket, step) and every PATCH an
      If-Match, so that retries and resumed runs create no duplicates.

Interrupted (Ctrl-C), a load stops cleanly; run the same command again to
resume: tickets already complete are skipped, half-done ones are finished.

Prints a progress bar (on a terminal) and a summary: counts, throughput and
latency percentiles per command; --json FILE writes it as JSON too.
`

// loadOptions are load's flags.
type loadOptions struct {
	tickets     int64
	seed        uint64
	target      string
	token       string
	concurrency int
	rate        float64
	start       string
	weeks       int
	agents      int
	requesters  int
	createsOnly bool
	noReplay    bool
	jsonOut     string
	cpuProfile  string
	store       string // SQLite directory or PostgreSQL URL, direct mode
}

func runLoad(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	cfg := configFromEnv(getenv)
	f := newFlags("load", loadUsage)
	cfg.dataFlag(f)
	var o loadOptions
	f.Int64Var(&o.tickets, "tickets", 1000, "how many tickets to generate")
	f.Uint64Var(&o.seed, "seed", 1, "the `seed` that fixes the generated helpdesk")
	f.StringVar(&o.target, "target", "", "base `URL` of a running eventdesk to load over HTTP (e.g. http://127.0.0.1:8080)")
	f.StringVar(&o.token, "token", getenv(envToken), "API `token` of an agent or admin for --target (env "+envToken+")")
	f.IntVar(&o.concurrency, "concurrency", 0, "concurrent workers, one ticket each at a time (default 256 into a store, 32 over HTTP)")
	f.Float64Var(&o.rate, "rate", 0, "at most this many HTTP `requests/s` in all (0: as fast as the server answers)")
	f.StringVar(&o.start, "start", loadgen.DefaultStart.Format(time.DateOnly), "first `day` of the simulated period (UTC)")
	f.IntVar(&o.weeks, "weeks", int(loadgen.DefaultPeriod/(7*24*time.Hour)), "length of the simulated period in weeks")
	f.IntVar(&o.agents, "agents", loadgen.DefaultAgents, "how many agents work the tickets")
	f.IntVar(&o.requesters, "requesters", loadgen.DefaultRequesters, "how many requesters open them")
	f.BoolVar(&o.createsOnly, "creates-only", false, "only open the tickets, without their later comments and changes")
	f.BoolVar(&o.noReplay, "no-replay", false, "into a store: do not rebuild the read models at the end")
	f.StringVar(&o.jsonOut, "json", "", "also write the summary as JSON to `FILE` (- for standard output)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the load to `FILE` (go tool pprof)")
	if err := f.parse(args, io); err != nil {
		return err
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	usage := func(format string, a ...any) error {
		return &usageError{msg: "load: " + fmt.Sprintf(format, a...), usage: f.usage()}
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case o.tickets < 1:
		return usage("--tickets must be at least 1")
	case o.concurrency < 0:
		return usage("--concurrency must not be negative")
	case o.rate < 0:
		return usage("--rate must not be negative")
	case o.weeks < 1:
		return usage("--weeks must be at least 1")
	}
	start, err := time.Parse(time.DateOnly, o.start)
	if err != nil {
		return usage("--start %q: want a day as YYYY-MM-DD", o.start)
	}
	gen, err := loadgen.New(loadgen.Config{
		Seed: o.seed, Tickets: o.tickets, Start: start, Period: time.Duration(o.weeks) * 7 * 24 * time.Hour,
		Agents: o.agents, Requesters: o.requesters,
	})
	if err != nil {
		return usage("%s", strings.TrimPrefix(err.Error(), "loadgen: "))
	}
	if o.target != "" {
		if set["data"] || set["store"] {
			return usage("--target loads over HTTP: do not also give --data or --store")
		}
		if set["no-replay"] {
			return usage("--no-replay is for loading into a store; the server's projections keep its read models")
		}
		if o.token == "" {
			return usage("--target needs --token (or %s): the API token of an agent or admin", envToken)
		}
		if o.concurrency == 0 {
			o.concurrency = 32
		}
		return loadHTTP(ctx, o, gen, io)
	}
	if set["rate"] || set["token"] {
		return usage("--rate and --token are for --target (loading over HTTP)")
	}
	if err := cfg.validate(); err != nil {
		return usage("%s", err)
	}
	if o.concurrency == 0 {
		o.concurrency = 256
	}
	o.store = cfg.storeLocation()
	return loadDirect(ctx, o, gen, io)
}

// loadStats counts what a load did; it is shared by its workers.
type loadStats struct {
	ticketsDone    atomic.Int64 // complete now (created, finished or found complete)
	ticketsCreated atomic.Int64
	ticketsResumed atomic.Int64 // found half done and finished
	ticketsSkipped atomic.Int64 // found complete
	commands       atomic.Int64
	events         atomic.Int64
	replayed       atomic.Int64 // requests answered from an idempotency key
	retries        atomic.Int64
	latency        map[string]*latency.Histogram
}

// Kinds of commands, the keys of loadStats.latency.
const (
	cmdCreate  = "create"
	cmdComment = "comment"
	cmdUpdate  = "update"
	cmdRead    = "read" // HTTP only: what a resumed ticket reads back
)

func newLoadStats() *loadStats {
	s := &loadStats{latency: map[string]*latency.Histogram{}}
	for _, k := range []string{cmdCreate, cmdComment, cmdUpdate, cmdRead} {
		s.latency[k] = &latency.Histogram{}
	}
	return s
}

// loadSummary is what a load reports, as text and as JSON (--json); the
// benchmark report is built from the JSON.
type loadSummary struct {
	Mode        string  `json:"mode"` // "store" or "http"
	Store       string  `json:"store,omitempty"`
	Target      string  `json:"target,omitempty"`
	Seed        uint64  `json:"seed"`
	Tickets     int64   `json:"tickets"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	CreatesOnly bool    `json:"createsOnly,omitempty"`
	SimStart    string  `json:"simulatedStart"`
	SimEnd      string  `json:"simulatedEnd"`
	Interrupted bool    `json:"interrupted,omitempty"`

	TicketsDone    int64 `json:"ticketsDone"`
	TicketsCreated int64 `json:"ticketsCreated"`
	TicketsResumed int64 `json:"ticketsResumed"`
	TicketsSkipped int64 `json:"ticketsSkipped"`
	// Commands counts create/comment/update commands (HTTP requests that
	// change something, in HTTP mode), Events the events they recorded.
	Commands int64 `json:"commands"`
	Events   int64 `json:"events"`
	Replayed int64 `json:"replayed,omitempty"`
	Retries  int64 `json:"retries,omitempty"`

	Seconds           float64 `json:"seconds"`
	CPUSeconds        float64 `json:"cpuSeconds,omitempty"`
	TicketsPerSecond  float64 `json:"ticketsPerSecond"`
	CommandsPerSecond float64 `json:"commandsPerSecond"`
	EventsPerSecond   float64 `json:"eventsPerSecond"`
	// Head is the store's last position after the load (store mode).
	Head int64 `json:"head,omitempty"`

	Latency map[string]latency.Summary `json:"latency"`
	// Replay is the rebuild of the read models after a load into a store.
	Replay *replaySummary `json:"replay,omitempty"`
}

type replaySummary struct {
	Events          int64   `json:"events"`
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"eventsPerSecond"`
}

func (s *loadStats) summary(o loadOptions, gen *loadgen.Generator, elapsed, cpu time.Duration) loadSummary {
	c := gen.Config()
	sum := loadSummary{
		Seed: o.seed, Tickets: o.tickets, Concurrency: o.concurrency, Rate: o.rate, CreatesOnly: o.createsOnly,
		SimStart: c.Start.Format(time.RFC3339), SimEnd: gen.End().Format(time.RFC3339),
		TicketsDone: s.ticketsDone.Load(), TicketsCreated: s.ticketsCreated.Load(),
		TicketsResumed: s.ticketsResumed.Load(), TicketsSkipped: s.ticketsSkipped.Load(),
		Commands: s.commands.Load(), Events: s.events.Load(), Replayed: s.replayed.Load(), Retries: s.retries.Load(),
		Seconds: elapsed.Seconds(), CPUSeconds: cpu.Seconds(), Latency: map[string]latency.Summary{},
	}
	if secs := elapsed.Seconds(); secs > 0 {
		sum.TicketsPerSecond = float64(sum.TicketsCreated+sum.TicketsResumed) / secs
		sum.CommandsPerSecond = float64(sum.Commands) / secs
		sum.EventsPerSecond = float64(sum.Events) / secs
	}
	all := &latency.Histogram{}
	for k, h := range s.latency {
		if h.Count() > 0 {
			sum.Latency[k] = h.Summary()
			if k != cmdRead {
				all.Merge(h)
			}
		}
	}
	if all.Count() > 0 {
		sum.Latency["all"] = all.Summary()
	}
	return sum
}

// print writes the human summary.
func (s loadSummary) print(w io.Writer) {
	where := s.Store
	if s.Mode == "http" {
		where = s.Target
	}
	state := "loaded"
	if s.Interrupted {
		state = "interrupted after loading"
	}
	fmt.Fprintf(w, "%s %d of %d tickets (seed %d) into %s in %s\n", state, s.TicketsDone, s.Tickets, s.Seed, where, progress.Duration(time.Duration(s.Seconds*float64(time.Second))))
	fmt.Fprintf(w, "  tickets:  %d created, %d resumed, %d already complete\n", s.TicketsCreated, s.TicketsResumed, s.TicketsSkipped)
	fmt.Fprintf(w, "  commands: %d (%s/s), events: %d (%s/s)", s.Commands, progress.Rate(s.CommandsPerSecond), s.Events, progress.Rate(s.EventsPerSecond))
	if s.CPUSeconds > 0 && s.Events > 0 {
		fmt.Fprintf(w, ", %.0f µs CPU per event", s.CPUSeconds*1e6/float64(s.Events))
	}
	fmt.Fprintln(w)
	if s.Replayed > 0 || s.Retries > 0 {
		fmt.Fprintf(w, "  %d requests answered from their idempotency key, %d retries\n", s.Replayed, s.Retries)
	}
	kinds := make([]string, 0, len(s.Latency))
	for k := range s.Latency {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	if len(kinds) > 0 {
		fmt.Fprintf(w, "  latency (ms)   %9s %8s %8s %8s %8s\n", "count", "p50", "p90", "p99", "max")
		for _, k := range kinds {
			l := s.Latency[k]
			fmt.Fprintf(w, "    %-12s %9d %8.2f %8.2f %8.2f %8.1f\n", k, l.Count, l.P50Ms, l.P90Ms, l.P99Ms, l.MaxMs)
		}
	}
	if s.Replay != nil {
		fmt.Fprintf(w, "  read models rebuilt: %d events in %s (%s events/s)\n", s.Replay.Events,
			progress.Duration(time.Duration(s.Replay.Seconds*float64(time.Second))), progress.Rate(s.Replay.EventsPerSecond))
	}
	if s.Interrupted {
		fmt.Fprintln(w, "  run the same command again to resume")
	}
}

// finish prints the summary (and writes the JSON), then returns err, or
// the interruption.
func (s loadSummary) finish(o loadOptions, io stdio, err error) error {
	out := io.out
	if o.jsonOut == "-" {
		out = io.err
	}
	s.print(out)
	if o.jsonOut != "" {
		if werr := writeSummaryJSON(o.jsonOut, io.out, s); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func writeSummaryJSON(file string, stdout io.Writer, s loadSummary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("load: summary: %w", err)
	}
	b = append(b, '\n')
	if file == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return fmt.Errorf("load: write summary: %w", err)
	}
	return nil
}

// interrupted reports whether err is the end of ctx (Ctrl-C).
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()))
}

// startCPUProfile profiles the process into file until stop is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("load: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// runTickets makes tickets 0..o.tickets-1 with workers goroutines, each
// taking the next ticket number and calling run(ctx, k, i) as worker k,
// until every ticket is made, ctx ends or a run fails. It reports progress
// on bar (finished, or aborted on an error) and returns the first failure
// (else ctx's error), with the wall and CPU time the run took.
func runTickets(ctx context.Context, o loadOptions, workers int, bar *progress.Bar, run func(ctx context.Context, k int, i int64) error) (elapsed, cpu time.Duration, err error) {
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	cpu0, t0 := processCPU(), time.Now()
	for k := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && failed.Load() == nil {
				i := next.Add(1) - 1
				if i >= o.tickets {
					return
				}
				if err := run(ctx, k, i); err != nil {
					if ctx.Err() == nil {
						failed.CompareAndSwap(nil, &err)
					}
					return
				}
				bar.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed, cpu = time.Since(t0), processCPU()-cpu0
	if p := failed.Load(); p != nil {
		err = *p
	} else if ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		bar.Abort()
	} else {
		bar.Finish()
	}
	return elapsed, cpu, err
}
