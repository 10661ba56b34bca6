package benchreport

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/latency"
)

func summary(ms ...float64) latency.Summary {
	var h latency.Histogram
	for _, v := range ms {
		h.Record(time.Duration(v * float64(time.Millisecond)))
	}
	return h.Summary()
}

func sampleResults() Results {
	appends, _ := ParseGoBench(`pkg: github.com/eventdesk/eventdesk/sqlite
BenchmarkAppend/group/writers=1-2   100  1 ns/op  1 appends/commit  400 events/s  2000 events/cpu-s
BenchmarkAppend/group/writers=8-2   100  1 ns/op  7 appends/commit  2500 events/s  12000 events/cpu-s
BenchmarkAppend/group/writers=64-2  100  1 ns/op  47 appends/commit  11000 events/s  20000 events/cpu-s
BenchmarkAppend/baseline/tx-per-event-2  100  1 ns/op  500 events/s  2400 events/cpu-s
`)
	lag, _ := ParseGoBench("BenchmarkProjectionLag-2  3000  1 ns/op  900 appends/s  3 max-ms  1.5 p50-ms  4.2 p99-ms\n")
	followers, _ := ParseGoBench(`BenchmarkFollowers/tail=false-2  2000  1 ns/op  113.5 cpu-µs/event  7559 events/s
BenchmarkFollowers/tail=true-2  2000  1 ns/op  32.5 cpu-µs/event  19007 events/s
`)
	seed := &LoadSummary{Mode: "store", Tickets: 1000, TicketsDone: 1000, TicketsCreated: 1000, Commands: 5700, Events: 7900, Seconds: 90, CPUSeconds: 60,
		CommandsPerSecond: 63, EventsPerSecond: 88, Concurrency: 256,
		Latency: map[string]latency.Summary{"create": summary(10, 20, 30), "comment": summary(12, 25), "update": summary(11)}}
	seed.Replay = &struct {
		Events          int64   `json:"events"`
		Seconds         float64 `json:"seconds"`
		EventsPerSecond float64 `json:"eventsPerSecond"`
	}{7900, 0.5, 15800}
	http := func(server string, clients int, rate float64, ms ...float64) HTTPRun {
		return HTTPRun{Server: server, Clients: clients, Summary: LoadSummary{CommandsPerSecond: rate, Latency: map[string]latency.Summary{"create": summary(ms...)}}}
	}
	return Results{
		Mode: "full", Started: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), Finished: time.Date(2026, 11, 23, 10, 25, 0, 0, time.UTC),
		Machine: Machine{CPU: "Test CPU", Cores: 2, MemoryBytes: 8e9, Kernel: "6.1", OS: "linux", Go: "go1.26", LoadStart: [3]float64{0.5, 0.4, 0.3}, LoadMax: 0.9, Commit: "abc123"},
		Steps: []Step{{ID: StepAppend, Command: "go test -bench Append ./sqlite/", Seconds: 40}, {ID: StepLag, Command: "go test -bench Lag ./sqlite/"},
			{ID: StepPGAppend, Command: "go test ./postgres/", Skipped: "no PostgreSQL here"}},
		Bench: map[string][]Bench{StepAppend: appends, StepLag: lag, StepReadAll: followers},
		Seed:  seed,
		HTTP:  []HTTPRun{http("eventdesk", 1, 300, 3, 4), http("eventdesk", 64, 12000, 5, 8, 15), http("trivial", 1, 3000, 0.3), http("trivial", 64, 40000, 1, 2)},
		Queries: []Query{{Name: "all", Via: "read model", Items: 50, Latency: summary(1, 2, 3)}, {Name: "all", Via: "http", Items: 50, Latency: summary(4, 5, 30)},
			{Name: "tag", Via: "read model", Items: 50, Latency: summary(2, 12)}},
		Serve: &Serve{Tickets: 1000, Events: 7900, StoreBytes: 5e7, ColdStarts: []float64{0.4, 0.2, 0.3}, RSSStartKB: 40000, RSSQueriesKB: 60000, HWMKB: 250000,
			WarmupSeconds: 60, Subscribers: []CatchUp{{Name: "tickets", Seconds: 0}, {Name: "sentiment", LagStart: 7900, LagEnd: 2900, Seconds: -1}}},
	}
}

func TestRender(t *testing.T) {
	notes := ParseNotes("<!-- section: appends -->\nWhy group commit wins.\n<!-- section: history -->\nAn older note.\n")
	rep := Render(sampleResults(), notes)
	md := rep.Markdown
	for _, want := range []string{
		"| [durable appends/s, 64 writers (SQLite group commit)](#appends) | 11,000 events/s = 22× | 500/s (one transaction + fsync per event) | ≥ 20× the baseline | **MET** (1.10× the goal) |",
		"**MET** (84 % of the limit)", // projection lag 4.2 ms < 5 ms
		"12,000/s",                    // creates against serve
		"| tag | read model |",
		"NOT MET", // memory 250 MB
		"Appends: not measured (skipped: no PostgreSQL here).",
		"Why group commit wins.",
		"## Further notes",
		"An older note.",
		"to go at that rate",
		"load average at start (1, 5, 15 min) | 0.50, 0.40, 0.30",
		"114 CPU-µs per appended event and 7,559 events/s when every read goes to the file, 32.5 CPU-µs and 19,007 events/s", // followers
		"(3.49× less CPU)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(md, "machine was shared") {
		t.Error("an idle machine is reported as shared")
	}
	for _, f := range []string{"benchmarks/appends.svg", "benchmarks/seed-latency.svg", "benchmarks/http-throughput.svg", "benchmarks/http-latency.svg", "benchmarks/queries-p99.svg", "benchmarks/queries-latency.svg"} {
		svg, ok := rep.Plots[f]
		if !ok {
			t.Errorf("no plot %s", f)
			continue
		}
		if !strings.Contains(md, "]("+f+")") {
			t.Errorf("the report does not show %s", f)
		}
		d := xml.NewDecoder(bytes.NewReader(svg))
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
	if again := Render(sampleResults(), notes); again.Markdown != md {
		t.Error("rendering the same results twice differs")
	}
}
