// Package benchreport turns the measurements of one run of ./scripts/bench
// into docs/benchmarks.md and its plots: it parses `go test -bench` output,
// reads the JSON summaries of `eventdesk load`, compares every figure with
// its baseline from the same run and with the goal of issue 9, and renders
// Markdown and SVG (through internal/plot).
//
// It is pure: the measuring (running commands, starting servers, reading
// /proc) is cmd/benchreport's; everything here works on a Results value,
// which cmd/benchreport also saves as JSON so that a report can be
// rendered again from the raw measurements. It imports internal/latency,
// internal/plot and the standard library.
package benchreport

import (
	"time"

	"github.com/eventdesk/eventdesk/internal/latency"
)

// Results is everything one run measured.
type Results struct {
	// Mode is "full" or "quick" (a smoke test with small sizes).
	Mode     string    `json:"mode"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  Machine   `json:"machine"`
	// Steps lists every command run, in order.
	Steps []Step `json:"steps"`
	// Bench holds the parsed `go test -bench` results by step id.
	Bench map[string][]Bench `json:"bench"`
	// Seed is the summary of the load that seeded the big store.
	Seed *LoadSummary `json:"seed,omitempty"`
	// HTTP holds create-only loads over HTTP: eventdesk and the trivial
	// handler, at several client counts.
	HTTP []HTTPRun `json:"http,omitempty"`
	// Mixed is a load of whole ticket lives over HTTP.
	Mixed *LoadSummary `json:"mixed,omitempty"`
	// Queries are list queries on the seeded store.
	Queries []Query `json:"queries,omitempty"`
	// Serve is what `eventdesk serve` did on the seeded store.
	Serve *Serve `json:"serve,omitempty"`
	// LambdaPackage is the size of the AWS Lambda package.
	LambdaPackage *Package `json:"lambdaPackage,omitempty"`
}

// Package is a built deployment package.
type Package struct {
	ZipBytes       int64 `json:"zipBytes"`
	BootstrapBytes int64 `json:"bootstrapBytes"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU         string     `json:"cpu"`
	Cores       int        `json:"cores"`
	MemoryBytes int64      `json:"memoryBytes"`
	Kernel      string     `json:"kernel"`
	OS          string     `json:"os"`
	Go          string     `json:"go"`
	LoadStart   [3]float64 `json:"loadStart"`
	LoadEnd     [3]float64 `json:"loadEnd"`
	// LoadMax is the highest 1-minute load average seen between steps.
	LoadMax    float64 `json:"loadMax"`
	Commit     string  `json:"commit"`
	Dirty      bool    `json:"dirty"`
	Filesystem string  `json:"filesystem,omitempty"`
}

// Step is one command of the run.
type Step struct {
	ID      string  `json:"id"`
	Command string  `json:"command"`
	Seconds float64 `json:"seconds"`
	// Error is set when the command failed; Skipped when it did not run
	// or skipped its benchmarks (with the reason).
	Error   string `json:"error,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Load1 is the 1-minute load average when the step started.
	Load1 float64 `json:"load1"`
}

// Bench is one line of `go test -bench` output.
type Bench struct {
	Pkg  string `json:"pkg"`
	Name string `json:"name"` // without the -GOMAXPROCS suffix
	N    int64  `json:"n"`
	// Metrics by unit: "ns/op", "events/s", "p99-ms", …
	Metrics map[string]float64 `json:"metrics"`
}

// LoadSummary is the JSON summary of `eventdesk load` (the fields the
// report uses).
type LoadSummary struct {
	Mode              string                     `json:"mode"`
	Tickets           int64                      `json:"tickets"`
	Concurrency       int                        `json:"concurrency"`
	Interrupted       bool                       `json:"interrupted"`
	TicketsDone       int64                      `json:"ticketsDone"`
	TicketsCreated    int64                      `json:"ticketsCreated"`
	Commands          int64                      `json:"commands"`
	Events            int64                      `json:"events"`
	Seconds           float64                    `json:"seconds"`
	CPUSeconds        float64                    `json:"cpuSeconds"`
	TicketsPerSecond  float64                    `json:"ticketsPerSecond"`
	CommandsPerSecond float64                    `json:"commandsPerSecond"`
	EventsPerSecond   float64                    `json:"eventsPerSecond"`
	Head              int64                      `json:"head"`
	Latency           map[string]latency.Summary `json:"latency"`
	Replay            *struct {
		Events          int64   `json:"events"`
		Seconds         float64 `json:"seconds"`
		EventsPerSecond float64 `json:"eventsPerSecond"`
	} `json:"replay,omitempty"`
}

// HTTPRun is a create-only load over HTTP.
type HTTPRun struct {
	// Server is "eventdesk" or "trivial" (a net/http handler that reads
	// the body and answers 201 with a fixed ticket).
	Server  string      `json:"server"`
	Clients int         `json:"clients"`
	Summary LoadSummary `json:"summary"`
}

// Query is the latency of one list query, repeated.
type Query struct {
	Name string `json:"name"`
	// Via is "read model" (the SQLite read model in process) or "http"
	// (GET /api/v1/tickets on the running server).
	Via string `json:"via"`
	// Items is the size of the first page.
	Items   int             `json:"items"`
	Latency latency.Summary `json:"latency"`
}

// Serve is what `eventdesk serve` did on the seeded store.
type Serve struct {
	Tickets    int64 `json:"tickets"`
	Events     int64 `json:"events"`
	StoreBytes int64 `json:"storeBytes"`
	// ColdStarts are the times from process start to the first 200 from
	// /readyz, in seconds, in the order measured.
	ColdStarts []float64 `json:"coldStarts"`
	// Resident memory (kB, from /proc/PID/status) after start, after the
	// list queries, after the creates over HTTP, and the peak (VmHWM).
	RSSStartKB   int64 `json:"rssStartKB"`
	RSSQueriesKB int64 `json:"rssQueriesKB"`
	RSSCreatesKB int64 `json:"rssCreatesKB"`
	HWMKB        int64 `json:"hwmKB"`
	// WarmupSeconds is how long the first start was watched while its
	// subscribers caught up with the freshly seeded store (those that
	// start from the beginning: projections, sentiment backfill).
	WarmupSeconds float64 `json:"warmupSeconds"`
	// Subscribers is what each subscriber did during the warm-up.
	Subscribers []CatchUp `json:"subscribers,omitempty"`
	// WarmupHWMKB is the peak memory of the first start.
	WarmupHWMKB int64 `json:"warmupHWMKB"`
}

// CatchUp is a subscriber's progress during the warm-up, from its lag
// behind the head (eventdesk_subscriber_lag_events on /metrics).
type CatchUp struct {
	Name     string `json:"name"`
	LagStart int64  `json:"lagStart"`
	LagEnd   int64  `json:"lagEnd"`
	// Seconds until its lag first reached 0 (-1: not within the warm-up).
	Seconds float64 `json:"seconds"`
}
