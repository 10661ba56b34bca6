package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/benchreport"
	"github.com/eventdesk/eventdesk/internal/latency"
	"github.com/eventdesk/eventdesk/loadgen"
	"github.com/eventdesk/eventdesk/sqlite"
)

// seedSeed is the seed of the big store.
const seedSeed = 1

func (s *suite) storeDir() string { return filepath.Join(s.work, "store") }

// seed fills the big store with `eventdesk load`.
func (s *suite) seed(ctx context.Context) error {
	store, summary := s.storeDir(), filepath.Join(s.work, "seed.json")
	args := []string{"load", "--data", store, "--tickets", fmt.Sprint(s.o.tickets), "--seed", fmt.Sprint(seedSeed), "--json", summary}
	if s.o.reuseStore {
		if _, err := os.Stat(filepath.Join(store, sqlite.EventsFile)); err == nil {
			if sum, err := readSummary(summary); err == nil && sum.TicketsDone == s.o.tickets {
				st, end := s.begin(benchreport.StepSeed, s.display(s.o.bin, args))
				st.Skipped = "reused the store seeded by an earlier run (-reuse-store); its seeding figures are that run's"
				s.res.Seed = &sum
				end()
				return nil
			}
		}
	}
	if err := os.RemoveAll(store); err != nil {
		return err
	}
	st, end := s.begin(benchreport.StepSeed, s.display(s.o.bin, args))
	defer end()
	out, err := s.exec(ctx, st, "seed", 4*time.Hour, s.o.bin, args...)
	if err != nil {
		st.Error = err.Error() + ": " + lastLines(out, 3)
		return fmt.Errorf("seeding failed: %s", st.Error)
	}
	sum, err := readSummary(summary)
	if err != nil {
		st.Error = err.Error()
		return err
	}
	s.res.Seed = &sum
	return nil
}

func readSummary(file string) (benchreport.LoadSummary, error) {
	var sum benchreport.LoadSummary
	b, err := os.ReadFile(file)
	if err != nil {
		return sum, err
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return sum, fmt.Errorf("%s: %w", file, err)
	}
	return sum, nil
}

// querySpec is one list query of the benchmark.
type querySpec struct {
	name string
	f    eventdesk.TicketFilter
}

// querySpecs returns the list queries, with filter values that exist in
// the seeded store (an agent, the most frequent requester, tags).
func (s *suite) querySpecs() ([]querySpec, error) {
	g, err := loadgen.New(loadgen.Config{Seed: seedSeed, Tickets: s.o.tickets})
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	top := ""
	for i := range min(s.o.tickets, 3000) {
		r := g.Ticket(i).Requester
		count[r]++
		if count[r] > count[top] {
			top = r
		}
	}
	agent := g.Agents()[7]
	st := func(v ...eventdesk.Status) []eventdesk.Status { return v }
	pr := func(v ...eventdesk.Priority) []eventdesk.Priority { return v }
	return []querySpec{
		{"all, newest first", eventdesk.TicketFilter{}},
		{"all, recently updated first", eventdesk.TicketFilter{Sort: eventdesk.SortUpdatedDesc}},
		{"all, urgent first", eventdesk.TicketFilter{Sort: eventdesk.SortPriorityDesc}},
		{"status=open", eventdesk.TicketFilter{Status: st(eventdesk.StatusOpen)}},
		{"status=new,open,pending, recently updated first", eventdesk.TicketFilter{Status: st(eventdesk.StatusNew, eventdesk.StatusOpen, eventdesk.StatusPending), Sort: eventdesk.SortUpdatedDesc}},
		{"priority=urgent,high", eventdesk.TicketFilter{Priority: pr(eventdesk.PriorityUrgent, eventdesk.PriorityHigh)}},
		{"assignee + status=open, urgent first", eventdesk.TicketFilter{Assignee: agent, Status: st(eventdesk.StatusOpen), Sort: eventdesk.SortPriorityDesc}},
		{"unassigned", eventdesk.TicketFilter{Unassigned: true}},
		{"requester, recently updated first", eventdesk.TicketFilter{Requester: top, Sort: eventdesk.SortUpdatedDesc}},
		{"tag=login", eventdesk.TicketFilter{Tag: "login"}},
		{"tag=vip + status=resolved, oldest update first", eventdesk.TicketFilter{Tag: "vip", Status: st(eventdesk.StatusResolved), Sort: eventdesk.SortUpdatedAsc}},
		{"status=closed + priority=low, urgent first", eventdesk.TicketFilter{Status: st(eventdesk.StatusClosed), Priority: pr(eventdesk.PriorityLow), Sort: eventdesk.SortPriorityDesc}},
		{"text search \"printer\"", eventdesk.TicketFilter{Text: "printer"}},
	}, nil
}

// queryString is f as GET /api/v1/tickets parameters.
func queryString(f eventdesk.TicketFilter) url.Values {
	v := url.Values{}
	join := func(xs []string) string { return strings.Join(xs, ",") }
	if len(f.Status) > 0 {
		var xs []string
		for _, x := range f.Status {
			xs = append(xs, string(x))
		}
		v.Set("status", join(xs))
	}
	if len(f.Priority) > 0 {
		var xs []string
		for _, x := range f.Priority {
			xs = append(xs, string(x))
		}
		v.Set("priority", join(xs))
	}
	for k, x := range map[string]string{"assignee": f.Assignee, "requester": f.Requester, "tag": f.Tag, "q": f.Text, "sort": string(f.Sort)} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if f.Unassigned {
		v.Set("unassigned", "true")
	}
	v.Set("limit", "50")
	return v
}

// queryBudget bounds the repetitions of one query: reps times, or fewer
// once the budget is spent (at least minReps).
func (s *suite) queryBudget() (reps int, budget time.Duration) {
	if s.o.quick {
		return 100, 3 * time.Second
	}
	return 400, 15 * time.Second
}

const minReps = 20

// readModelQueries times the list queries on the SQLite read model in
// process: the query the API runs, without HTTP.
func (s *suite) readModelQueries(ctx context.Context) {
	reps, budget := s.queryBudget()
	st, end := s.begin(benchreport.StepQueries, fmt.Sprintf("benchreport: sqlite.OpenReadModels($WORK/store).Tickets(filter), up to %d pages per query (first page, next page, alternating; at most %s per query)", reps, budget))
	defer end()
	if _, err := os.Stat(filepath.Join(s.storeDir(), sqlite.ReadModelsFile)); err != nil {
		st.Skipped = "no seeded store with read models"
		return
	}
	specs, err := s.querySpecs()
	if err != nil {
		st.Error = err.Error()
		return
	}
	rm, err := sqlite.OpenReadModels(s.storeDir(), sqlite.ReadModelsOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		st.Error = err.Error()
		return
	}
	defer rm.Close()
	var unsupported []string
	defer func() {
		if len(unsupported) > 0 {
			st.Skipped = "not supported: " + strings.Join(unsupported, "; ")
		}
	}()
	for _, q := range specs {
		if ctx.Err() != nil {
			return
		}
		h := &latency.Histogram{}
		f := q.f
		f.Limit = 50
		first, err := rm.Tickets(ctx, f)
		if eventdesk.ErrorCode(err) == eventdesk.EInvalid {
			// A filter this read model does not offer (yet): say so.
			unsupported = append(unsupported, fmt.Sprintf("%s (%s)", q.name, eventdesk.ErrorMessage(err)))
			continue
		}
		if err != nil {
			st.Error = fmt.Sprintf("%s: %v", q.name, err)
			return
		}
		next := f
		next.Cursor = first.Next
		start := time.Now()
		for i := 0; i < reps && (i < minReps || time.Since(start) < budget); i++ {
			ff := f
			if i%2 == 1 && next.Cursor != "" {
				ff = next
			}
			t0 := time.Now()
			if _, err := rm.Tickets(ctx, ff); err != nil {
				st.Error = fmt.Sprintf("%s: %v", q.name, err)
				return
			}
			h.Record(time.Since(t0))
		}
		s.res.Queries = append(s.res.Queries, benchreport.Query{Name: q.name, Via: "read model", Items: len(first.Items), Latency: h.Summary()})
	}
}

// dirSize adds up the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// round3 keeps three decimals (seconds → milliseconds).
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
