// Command benchreport runs eventdesk's benchmark suite and writes
// docs/benchmarks.md and its plots from the measurements: ./scripts/bench
// is its front door.
//
// It runs the `go test -bench` benchmarks of the packages, seeds a big
// store with `eventdesk load`, measures list queries on it (in process and
// over HTTP), starts `eventdesk serve` on it (cold start, memory), loads it
// over HTTP next to a trivial handler, and renders the report through
// internal/benchreport. Every command it runs, with its output, is kept in
// the work directory; results.json there holds every measurement, and
// -from renders a report again from it without measuring.
//
// Like every main package it reads flags; it may import any package of the
// module (it opens the SQLite read models directly to time queries).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventdesk/eventdesk/internal/benchreport"
)

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "small sizes, a few minutes: a smoke test of the suite, not figures to keep")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "the report to write (its plots go to benchmarks/ beside it)")
	flag.StringVar(&o.notes, "notes", "docs/benchmarks-notes.md", "hand-written notes to place under the report's sections")
	flag.StringVar(&o.work, "work", filepath.Join(os.TempDir(), "eventdesk-bench"), "work `directory`: stores, logs of every command, results.json")
	flag.StringVar(&o.bin, "bin", "", "the eventdesk binary to measure (default: build ./cmd/eventdesk into the work directory)")
	flag.StringVar(&o.from, "from", "", "render the report from this results.json without measuring")
	flag.Int64Var(&o.tickets, "tickets", 0, "tickets of the big store (default 1,000,000; 5,000 with -quick)")
	flag.StringVar(&o.skip, "skip", "", "comma-separated step ids not to run (e.g. cluster-lag,dynamodb-append)")
	flag.BoolVar(&o.reuseStore, "reuse-store", false, "keep a big store already seeded in the work directory (and its seeding figures) instead of seeding again")
	flag.DurationVar(&o.warmup, "warmup", 0, "at most how long to watch the first start of serve catch up (default 10m; 1m with -quick); it ends sooner when every subscriber has caught up, or when those behind are too slow to within it")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if flag.NArg() > 0 {
		log.Fatalf("unexpected argument %q", flag.Arg(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	quick      bool
	out        string
	notes      string
	work       string
	bin        string
	from       string
	tickets    int64
	skip       string
	reuseStore bool
	warmup     time.Duration
}

func run(ctx context.Context, o options) error {
	var res benchreport.Results
	if o.from != "" {
		b, err := os.ReadFile(o.from)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("%s: %w", o.from, err)
		}
		return write(res, o)
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	work, err := filepath.Abs(o.work)
	if err != nil {
		return err
	}
	s := &suite{o: o, root: root, work: work, res: &res, skip: map[string]bool{}}
	for _, id := range strings.Split(o.skip, ",") {
		if id = strings.TrimSpace(id); id != "" {
			s.skip[id] = true
		}
	}
	if o.tickets == 0 {
		o.tickets = 1_000_000
		if o.quick {
			o.tickets = 5000
		}
	}
	if o.warmup == 0 {
		o.warmup = 10 * time.Minute
		if o.quick {
			o.warmup = time.Minute
		}
	}
	s.o = o
	res.Mode = "full"
	if o.quick {
		res.Mode = "quick"
	}
	res.Started = time.Now().UTC()
	res.Machine = machine(root, work)
	res.Bench = map[string][]benchreport.Bench{}
	log.Printf("%s run; work directory %s; load average %.2f on %d cores", res.Mode, work, res.Machine.LoadStart[0], res.Machine.Cores)

	err = s.all(ctx)
	res.Finished = time.Now().UTC()
	res.Machine.LoadEnd = loadAverage()
	res.Machine.LoadMax = max(res.Machine.LoadMax, res.Machine.LoadEnd[0])
	if jerr := s.saveResults(); jerr != nil && err == nil {
		err = jerr
	}
	if err != nil {
		return fmt.Errorf("%w (measurements so far are in %s; render them with -from)", err, filepath.Join(work, "results.json"))
	}
	return write(res, o)
}

// write renders the report and its plots.
func write(res benchreport.Results, o options) error {
	notes := map[string]string{}
	if b, err := os.ReadFile(o.notes); err == nil {
		notes = benchreport.ParseNotes(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	rep := benchreport.Render(res, notes)
	dir := filepath.Dir(o.out)
	plots := filepath.Join(dir, benchreport.PlotDir)
	if err := os.MkdirAll(plots, 0o755); err != nil {
		return err
	}
	// The plot directory is the report's: drop plots of an earlier run.
	old, _ := filepath.Glob(filepath.Join(plots, "*.svg"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for name, svg := range rep.Plots {
		if err := os.WriteFile(filepath.Join(dir, name), svg, 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(o.out, []byte(rep.Markdown), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s and %d plots", o.out, len(rep.Plots))
	return nil
}

// suite runs the steps and collects their results.
type suite struct {
	o    options
	root string
	work string
	res  *benchreport.Results
	skip map[string]bool
}

func (s *suite) saveResults() error {
	b, err := json.MarshalIndent(s.res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.work, "results.json"), b, 0o644)
}

// display renders a command line for the report: paths inside the work
// directory as $WORK, the binary as eventdesk.
func (s *suite) display(name string, args []string) string {
	parts := []string{name}
	if name == s.o.bin {
		parts[0] = "eventdesk"
	}
	for _, a := range args {
		a = strings.ReplaceAll(a, s.work, "$WORK")
		if strings.ContainsAny(a, " '\"$^*?()|&;<>") && !strings.HasPrefix(a, "$WORK") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// begin records a step starting now; the returned function ends it.
func (s *suite) begin(id, command string) (*benchreport.Step, func()) {
	load := loadAverage()
	s.res.Machine.LoadMax = max(s.res.Machine.LoadMax, load[0])
	s.res.Steps = append(s.res.Steps, benchreport.Step{ID: id, Command: command, Load1: load[0]})
	st := &s.res.Steps[len(s.res.Steps)-1]
	log.Printf("%s: %s (load %.1f)", id, command, load[0])
	start := time.Now()
	return st, func() {
		st.Seconds = time.Since(start).Seconds()
		if st.Error != "" {
			log.Printf("%s: FAILED after %s: %s", id, benchreport.Seconds(st.Seconds), st.Error)
		} else if st.Skipped != "" {
			log.Printf("%s: skipped: %s", id, st.Skipped)
		}
		_ = s.saveResults()
	}
}

// exec runs a command to completion in the repository root, its output
// (both streams) into logName.log in the work directory, and returns the
// output.
func (s *suite) exec(ctx context.Context, st *benchreport.Step, logName string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.root
	logFile, err := os.Create(filepath.Join(s.work, logName+".log"))
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	var buf strings.Builder
	w := io.MultiWriter(logFile, &buf)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	return buf.String(), err
}

// lastLines returns the last n non-empty lines of out, joined.
func lastLines(out string, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// goBench runs one `go test -bench` step.
type goBench struct {
	id, pkg, bench string
	// full and quick are the -benchtime (and -count) of each mode; an
	// empty quick leaves the step out of quick runs.
	full, quick []string
	timeout     time.Duration
}

var goBenches = []goBench{
	{benchreport.StepAppend, "./sqlite/", "^BenchmarkAppend$", []string{"-benchtime", "3s", "-count", "3"}, []string{"-benchtime", "300x"}, 20 * time.Minute},
	{benchreport.StepReadAll, "./sqlite/", "^(BenchmarkReadAll|BenchmarkFollowers)$", []string{"-benchtime", "3x"}, nil, 10 * time.Minute},
	{benchreport.StepReplay, "./sqlite/", "^BenchmarkReplay$", []string{"-benchtime", "2x"}, nil, 20 * time.Minute},
	{benchreport.StepLag, "./sqlite/", "^BenchmarkProjectionLag$", []string{"-benchtime", "3000x"}, []string{"-benchtime", "300x"}, 10 * time.Minute},
	{benchreport.StepListBench, "./sqlite/", "^BenchmarkListTickets$", []string{"-benchtime", "300x"}, nil, 20 * time.Minute},
	{benchreport.StepHTTPCreate, "./httpapi/", "^(BenchmarkCreateTicket|BenchmarkCreateHandler)$", []string{"-benchtime", "20000x", "-count", "2"}, []string{"-benchtime", "2000x"}, 20 * time.Minute},
	{benchreport.StepHTTPList, "./httpapi/", "^BenchmarkListTickets$", []string{"-benchtime", "2000x"}, nil, 30 * time.Minute},
	{benchreport.StepWebList, "./web/", "^BenchmarkTicketListPage$", []string{"-benchtime", "300x"}, nil, 20 * time.Minute},
	{benchreport.StepPGAppend, "./postgres/", "^BenchmarkAppend$", []string{"-benchtime", "5s", "-count", "2"}, []string{"-benchtime", "300x"}, 15 * time.Minute},
	{benchreport.StepClusterLag, "./cmd/eventdesk/clustertest/", "^BenchmarkCrossNodeLag$", []string{"-benchtime", "2000x"}, nil, 15 * time.Minute},
	{benchreport.StepLambdaCold, "./awslambda/", "^BenchmarkLambdaColdStart$", []string{"-benchtime", "20x", "-count", "3"}, nil, 15 * time.Minute},
	{benchreport.StepDynamoDB, "./dynamodb/", "^BenchmarkAppend", []string{"-benchtime", "300x", "-count", "2"}, nil, 15 * time.Minute},
	{benchreport.StepSentiment, "./sentiment/", "^BenchmarkScore$", []string{"-benchtime", "1s"}, []string{"-benchtime", "200x"}, 10 * time.Minute},
	{benchreport.StepWebhook, "./webhook/", "^BenchmarkDispatch$", []string{"-benchtime", "5x"}, nil, 10 * time.Minute},
}

// all runs every step.
func (s *suite) all(ctx context.Context) error {
	for _, b := range goBenches {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		params := b.full
		if s.o.quick {
			params = b.quick
		}
		if params == nil || s.skip[b.id] {
			continue
		}
		s.runGoBench(ctx, b, params)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !s.o.quick && !s.skip[benchreport.StepLambdaPkg] {
		s.lambdaPackage(ctx)
	}
	if err := s.build(ctx); err != nil {
		return err
	}
	if !s.skip[benchreport.StepSeed] {
		if err := s.seed(ctx); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !s.skip[benchreport.StepQueries] {
		s.readModelQueries(ctx)
	}
	if !s.skip[benchreport.StepServe] {
		if err := s.serve(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *suite) runGoBench(ctx context.Context, b goBench, params []string) {
	args := append([]string{"test", "-run", "^$", "-bench", b.bench}, params...)
	args = append(args, "-timeout", b.timeout.String(), b.pkg)
	st, end := s.begin(b.id, s.display("go", args))
	defer end()
	// A package without the benchmark (not written yet) is no failure.
	if list, err := s.exec(ctx, st, b.id+"-list", 5*time.Minute, "go", "test", "-list", b.bench, b.pkg); err != nil || !strings.Contains(list, "Benchmark") {
		st.Skipped = "no such benchmark in " + b.pkg
		if err != nil {
			st.Skipped = b.pkg + " does not build: " + lastLines(list, 2)
		}
		return
	}
	out, err := s.exec(ctx, st, b.id, b.timeout+time.Minute, "go", args...)
	benches, skipped := benchreport.ParseGoBench(out)
	s.res.Bench[b.id] = benches
	switch {
	case err != nil:
		st.Error = err.Error() + ": " + lastLines(out, 3)
	case len(benches) == 0 && len(skipped) > 0:
		for _, why := range skipped {
			st.Skipped = why
			break
		}
		if st.Skipped == "" {
			st.Skipped = "the benchmark skipped itself"
		}
	case len(benches) == 0:
		st.Error = "no benchmark results: " + lastLines(out, 3)
	}
}

// build builds the binary under test (unless -bin names one).
func (s *suite) build(ctx context.Context) error {
	if s.o.bin != "" {
		abs, err := filepath.Abs(s.o.bin)
		s.o.bin = abs
		return err
	}
	s.o.bin = filepath.Join(s.work, "eventdesk")
	st, end := s.begin("build", "go build -o $WORK/eventdesk ./cmd/eventdesk")
	defer end()
	out, err := s.exec(ctx, st, "build", 10*time.Minute, "go", "build", "-o", s.o.bin, "./cmd/eventdesk")
	if err != nil {
		st.Error = err.Error() + ": " + lastLines(out, 3)
		return fmt.Errorf("build eventdesk: %s", st.Error)
	}
	return nil
}

// repoRoot finds the module root from the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/eventdesk/eventdesk") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run benchreport inside the eventdesk repository (no go.mod above %s)", dir)
		}
	}
}

// loadAverage reads /proc/loadavg (zeros where there is none).
func loadAverage() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

// machine describes this machine.
func machine(root, work string) benchreport.Machine {
	m := benchreport.Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadStart: loadAverage()}
	m.LoadMax = m.LoadStart[0]
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryBytes = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`) + " (" + m.OS + ")"
			}
		}
	}
	if out, err := exec.Command("go", "version").Output(); err == nil {
		m.Go = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		m.Dirty = len(strings.TrimSpace(string(out))) > 0
	}
	m.Filesystem = filesystem(work)
	return m
}

// filesystem names the file system holding dir, from /proc/mounts.
func filesystem(dir string) string {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, desc := "", ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		if mp := f[1]; strings.HasPrefix(dir, mp) && len(mp) > len(best) {
			best, desc = mp, fmt.Sprintf("%s on %s (%s)", f[2], f[0], mp)
		}
	}
	return desc
}

// lambdaPackage builds the AWS Lambda package with scripts/build-lambda
// and records its size.
func (s *suite) lambdaPackage(ctx context.Context) {
	out := filepath.Join(s.work, "lambda")
	st, end := s.begin(benchreport.StepLambdaPkg, s.display("scripts/build-lambda", []string{out}))
	defer end()
	if _, err := os.Stat(filepath.Join(s.root, "scripts", "build-lambda")); err != nil {
		st.Skipped = "no scripts/build-lambda"
		return
	}
	log, err := s.exec(ctx, st, benchreport.StepLambdaPkg, 10*time.Minute, filepath.Join(s.root, "scripts", "build-lambda"), out)
	if err != nil {
		st.Error = err.Error() + ": " + lastLines(log, 2)
		return
	}
	var p benchreport.Package
	zip := filepath.Join(out, "eventdesk-lambda-arm64.zip")
	if fi, err := os.Stat(zip); err == nil {
		p.ZipBytes = fi.Size()
	} else {
		st.Error = err.Error()
		return
	}
	// "… N bytes (bootstrap M bytes)"
	if _, after, ok := strings.Cut(log, "(bootstrap "); ok {
		p.BootstrapBytes, _ = strconv.ParseInt(strings.Fields(after)[0], 10, 64)
	}
	s.res.LambdaPackage = &p
}
