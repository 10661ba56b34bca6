package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eventdesk/eventdesk/internal/benchreport"
	"github.com/eventdesk/eventdesk/internal/latency"
)

// serveProc is a running `eventdesk serve`.
type serveProc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
	log  *os.File
}

var client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServe starts serve on store, with extra flags, and returns once
// /readyz answers 200, with the time from starting the process to that
// answer.
func (s *suite) startServe(ctx context.Context, logName string, extra ...string) (*serveProc, float64, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	logFile, err := os.Create(filepath.Join(s.work, logName+".log"))
	if err != nil {
		return nil, 0, err
	}
	p := &serveProc{url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1), log: logFile}
	p.cmd = exec.Command(s.o.bin, append([]string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data", s.storeDir(), "--log-level", "warn"}, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, 0, err
	}
	go func() { p.done <- p.cmd.Wait() }()
	probe := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-p.done:
			logFile.Close()
			return nil, 0, fmt.Errorf("serve exited before it was ready (%v); see %s", err, logFile.Name())
		case <-ctx.Done():
			p.stop()
			return nil, 0, ctx.Err()
		default:
		}
		if resp, err := probe.Get(p.url + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, time.Since(start).Seconds(), nil
			}
		}
		if time.Since(start) > 10*time.Minute {
			p.stop()
			return nil, 0, errors.New("serve was not ready within 10 minutes")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop asks serve to shut down (SIGTERM), killing it if it does not
// within a minute.
func (p *serveProc) stop() {
	defer p.log.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// memory returns VmRSS and VmHWM of the process in kB.
func (p *serveProc) memory() (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

// lags reads every subscriber's lag from /metrics.
func (p *serveProc) lags() (map[string]int64, int64, error) {
	resp, err := client.Get(p.url + "/metrics")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	var head int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if v, ok := strings.CutPrefix(l, "eventdesk_store_head_position "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			head = int64(f)
		}
		rest, ok := strings.CutPrefix(l, `eventdesk_subscriber_lag_events{subscriber="`)
		if !ok {
			continue
		}
		name, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(val, 64)
		out[name] = int64(f)
	}
	return out, head, sc.Err()
}

// serve measures `eventdesk serve` on the seeded store: the first start,
// watched while its subscribers catch up; two more cold starts; memory;
// list queries and creates over HTTP.
func (s *suite) serve(ctx context.Context) error {
	if _, err := os.Stat(s.storeDir()); err != nil {
		st, end := s.begin(benchreport.StepServe, "eventdesk serve")
		st.Skipped = "no seeded store"
		end()
		return nil
	}
	st, end := s.begin(benchreport.StepServe, s.display(s.o.bin, []string{"serve", "--addr", "127.0.0.1:PORT", "--data", s.storeDir(), "--log-level", "warn"})+
		fmt.Sprintf(" — three starts, each timed from process start to the first 200 from /readyz; the first watched for up to %s while its subscribers catch up; the second and third with --sentiment=false, so that the memory and HTTP figures measure serving the store, not the hours-long sentiment backfill of a seeded store (its rate is the first start's)", s.o.warmup))
	sv := &benchreport.Serve{}
	if s.res.Seed != nil {
		sv.Tickets = s.res.Seed.TicketsDone
	}
	s.res.Serve = sv
	fail := func(err error) error {
		st.Error = err.Error()
		end()
		return err
	}

	p, cold, err := s.startServe(ctx, "serve-1")
	if err != nil {
		return fail(err)
	}
	sv.ColdStarts = append(sv.ColdStarts, round3(cold))
	s.watchCatchUp(ctx, p, sv)
	_, sv.WarmupHWMKB = p.memory()
	p.stop()
	for i := 2; i <= 3; i++ {
		if p, cold, err = s.startServe(ctx, fmt.Sprintf("serve-%d", i), "--sentiment=false"); err != nil {
			return fail(err)
		}
		sv.ColdStarts = append(sv.ColdStarts, round3(cold))
		if i < 3 {
			p.stop()
		}
	}
	sv.RSSStartKB, _ = p.memory()
	end()

	token, err := s.token(ctx)
	if err == nil {
		s.httpQueries(ctx, p.url, token)
		sv.RSSQueriesKB, _ = p.memory()
		s.httpCreates(ctx, "eventdesk", p.url, token)
		sv.RSSCreatesKB, _ = p.memory()
		s.httpMixed(ctx, p.url, token)
	}
	_, sv.HWMKB = p.memory()
	if _, head, lerr := p.lags(); lerr == nil {
		sv.Events = head
	}
	p.stop()
	sv.StoreBytes = dirSize(s.storeDir())
	s.trivialBaseline(ctx)
	return nil
}

// watchCatchUp follows the subscribers' lag on the first start until all
// have caught up (twice in a row) or the warm-up time is over.
func (s *suite) watchCatchUp(ctx context.Context, p *serveProc, sv *benchreport.Serve) {
	start := time.Now()
	byName := map[string]*benchreport.CatchUp{}
	var order []string
	zeros := 0
	for time.Since(start) < s.o.warmup && ctx.Err() == nil {
		lags, _, err := p.lags()
		if err == nil {
			all := len(lags) > 0
			for name, lag := range lags {
				c := byName[name]
				if c == nil {
					c = &benchreport.CatchUp{Name: name, LagStart: lag, Seconds: -1}
					byName[name] = c
					order = append(order, name)
				}
				c.LagEnd = lag
				if lag == 0 && c.Seconds < 0 {
					c.Seconds = round3(time.Since(start).Seconds())
				}
				if lag > 0 {
					all = false
				}
			}
			if all {
				zeros++
			} else {
				zeros = 0
			}
			if zeros >= 2 || s.hopeless(byName, time.Since(start)) {
				break
			}
		}
		time.Sleep(2 * time.Second)
	}
	sv.WarmupSeconds = round3(time.Since(start).Seconds())
	for _, n := range order {
		sv.Subscribers = append(sv.Subscribers, *byName[n])
	}
}

// hopeless reports whether, after a while, every subscriber still behind
// is too slow to catch up within the rest of the warm-up (a backfill of
// hours): then waiting longer measures nothing more.
func (s *suite) hopeless(subs map[string]*benchreport.CatchUp, elapsed time.Duration) bool {
	if elapsed < 30*time.Second {
		return false
	}
	left := (s.o.warmup - elapsed).Seconds()
	for _, c := range subs {
		if c.LagEnd == 0 {
			continue
		}
		rate := float64(c.LagStart-c.LagEnd) / elapsed.Seconds()
		if rate > 0 && float64(c.LagEnd)/rate < 3*left {
			return false // it may still make it
		}
	}
	return true
}

// token issues an admin token for the HTTP measurements.
func (s *suite) token(ctx context.Context) (string, error) {
	args := []string{"token", "create", "--data", s.storeDir(), "--user", "bench.admin", "--role", "admin"}
	st, end := s.begin("token", s.display(s.o.bin, args))
	defer end()
	cmd := exec.CommandContext(ctx, s.o.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output() // the token alone is on standard output
	if err != nil {
		st.Error = err.Error() + ": " + lastLines(stderr.String(), 2)
		return "", errors.New(st.Error)
	}
	token := strings.TrimSpace(string(out))
	if token == "" || strings.ContainsAny(token, " \n") {
		st.Error = fmt.Sprintf("unexpected output %q", out)
		return "", errors.New(st.Error)
	}
	return token, nil
}

// httpQueries times GET /api/v1/tickets for every list query, from 4
// clients.
func (s *suite) httpQueries(ctx context.Context, base, token string) {
	reps, budget := s.queryBudget()
	const clients = 4
	st, end := s.begin(benchreport.StepQueriesHTTP, fmt.Sprintf("benchreport: GET /api/v1/tickets?…&limit=50 on serve from %d keep-alive clients, up to %d requests per query (first page, next page, alternating; at most %s per query)", clients, reps, budget))
	defer end()
	specs, err := s.querySpecs()
	if err != nil {
		st.Error = err.Error()
		return
	}
	var unsupported []string
	defer func() {
		if len(unsupported) > 0 {
			st.Skipped = "not supported: " + strings.Join(unsupported, "; ")
		}
	}()
	errBadRequest := errors.New("400 Bad Request")
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		switch {
		case err != nil:
		case resp.StatusCode == http.StatusBadRequest:
			err = fmt.Errorf("%w: %.200s", errBadRequest, body)
		case resp.StatusCode != http.StatusOK:
			err = fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, body)
		}
		return body, err
	}
	for _, q := range specs {
		if ctx.Err() != nil {
			return
		}
		v := queryString(q.f)
		path := "/api/v1/tickets?" + v.Encode()
		body, err := get(path)
		if errors.Is(err, errBadRequest) {
			unsupported = append(unsupported, fmt.Sprintf("%s (%v)", q.name, err))
			continue
		}
		if err != nil {
			st.Error = err.Error()
			return
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  *string           `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			st.Error = fmt.Sprintf("%s: %v", q.name, err)
			return
		}
		nextPath := ""
		if page.Next != nil {
			v.Set("cursor", *page.Next)
			nextPath = "/api/v1/tickets?" + v.Encode()
		}
		h := &latency.Histogram{}
		var n atomic.Int64
		var firstErr atomic.Value
		start := time.Now()
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for {
					i := n.Add(1) - 1
					if i >= int64(reps) || (i >= minReps && time.Since(start) > budget) || ctx.Err() != nil {
						return
					}
					p := path
					if i%2 == 1 && nextPath != "" {
						p = nextPath
					}
					t0 := time.Now()
					if _, err := get(p); err != nil {
						firstErr.CompareAndSwap(nil, err.Error())
						return
					}
					h.Record(time.Since(t0))
				}
			})
		}
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			st.Error = fmt.Sprintf("%s: %v", q.name, e)
			return
		}
		s.res.Queries = append(s.res.Queries, benchreport.Query{Name: q.name, Via: "http", Items: len(page.Items), Latency: h.Summary()})
	}
}

// createRuns are the create-only loads over HTTP: clients and tickets.
func (s *suite) createRuns() [][2]int {
	if s.o.quick {
		return [][2]int{{1, 200}, {8, 800}, {64, 3000}}
	}
	return [][2]int{{1, 2000}, {8, 8000}, {64, 30000}}
}

// httpCreates runs `eventdesk load --creates-only` against base at each
// client count.
func (s *suite) httpCreates(ctx context.Context, server, base, token string) {
	for _, r := range s.createRuns() {
		if ctx.Err() != nil {
			return
		}
		clients, tickets := r[0], r[1]
		summary := filepath.Join(s.work, fmt.Sprintf("http-%s-%d.json", server, clients))
		// A seed per run: its idempotency keys are new.
		args := []string{"load", "--target", base, "--token", token, "--tickets", fmt.Sprint(tickets), "--seed", fmt.Sprint(1000 + clients),
			"--creates-only", "--concurrency", fmt.Sprint(clients), "--json", summary}
		shown := s.display(s.o.bin, args)
		shown = strings.Replace(shown, token, "$TOKEN", 1)
		if server == "trivial" {
			shown = strings.Replace(shown, base, "$TRIVIAL", 1)
		} else {
			shown = strings.Replace(shown, base, "$SERVE", 1)
		}
		st, end := s.begin(benchreport.StepHTTPLoad, shown)
		out, err := s.exec(ctx, st, fmt.Sprintf("http-%s-%d", server, clients), 30*time.Minute, s.o.bin, args...)
		if err != nil {
			st.Error = err.Error() + ": " + lastLines(out, 3)
			end()
			continue
		}
		sum, err := readSummary(summary)
		if err != nil {
			st.Error = err.Error()
		} else {
			s.res.HTTP = append(s.res.HTTP, benchreport.HTTPRun{Server: server, Clients: clients, Summary: sum})
		}
		end()
	}
}

// httpMixed loads whole ticket lives over HTTP.
func (s *suite) httpMixed(ctx context.Context, base, token string) {
	tickets := 3000
	if s.o.quick {
		tickets = 300
	}
	summary := filepath.Join(s.work, "http-mixed.json")
	args := []string{"load", "--target", base, "--token", token, "--tickets", fmt.Sprint(tickets), "--seed", "7", "--concurrency", "32", "--json", summary}
	shown := strings.Replace(strings.Replace(s.display(s.o.bin, args), token, "$TOKEN", 1), base, "$SERVE", 1)
	st, end := s.begin(benchreport.StepHTTPMixed, shown)
	defer end()
	out, err := s.exec(ctx, st, "http-mixed", 30*time.Minute, s.o.bin, args...)
	if err != nil {
		st.Error = err.Error() + ": " + lastLines(out, 3)
		return
	}
	sum, err := readSummary(summary)
	if err != nil {
		st.Error = err.Error()
		return
	}
	s.res.Mixed = &sum
}

// trivialBaseline runs the same create loads against a trivial handler in
// this process: it reads the body and answers 201 with a fixed ticket.
func (s *suite) trivialBaseline(ctx context.Context) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"bench.trivial","role":"admin"}`))
	})
	mux.HandleFunc("POST /api/v1/tickets", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"01890000-0000-7000-8000-000000000000","version":1}`))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st, end := s.begin(benchreport.StepHTTPLoad, "trivial handler")
		st.Error = err.Error()
		end()
		return
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	s.httpCreates(ctx, "trivial", "http://"+l.Addr().String(), "trivial-token")
}
