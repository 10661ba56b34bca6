// Package loadtest tests `eventdesk load` through the real binary: into a
// SQLite data directory and a PostgreSQL database, and over HTTP against a
// real `eventdesk serve`; stopped midway and resumed.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/loadgen"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// eventdesk builds cmd/eventdesk once per test binary.
func eventdesk(tb testing.TB) string {
	tb.Helper()
	return testenv.Binary(tb, "cmd/eventdesk", raceEnabled)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs an eventdesk subcommand to completion (at most 5 minutes).
func run(tb testing.TB, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, eventdesk(tb), args...)
	cmd.Env = testenv.CleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("eventdesk %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustRun runs a subcommand that must succeed.
func mustRun(tb testing.TB, args ...string) result {
	tb.Helper()
	r := run(tb, args...)
	if r.code != 0 {
		tb.Fatalf("eventdesk %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// summary is the part of load's JSON summary the tests look at.
type summary struct {
	Mode           string `json:"mode"`
	Interrupted    bool   `json:"interrupted"`
	TicketsDone    int64  `json:"ticketsDone"`
	TicketsCreated int64  `json:"ticketsCreated"`
	TicketsResumed int64  `json:"ticketsResumed"`
	TicketsSkipped int64  `json:"ticketsSkipped"`
	Commands       int64  `json:"commands"`
	Events         int64  `json:"events"`
	Replayed       int64  `json:"replayed"`
	Head           int64  `json:"head"`
	Latency        map[string]struct {
		Count int64   `json:"count"`
		P99Ms float64 `json:"p99_ms"`
	} `json:"latency"`
	Replay *struct {
		Events int64 `json:"events"`
	} `json:"replay"`
}

// load runs `eventdesk load … --json -` to completion and returns its summary.
func load(tb testing.TB, args ...string) (summary, result) {
	tb.Helper()
	r := run(tb, append([]string{"load", "--json", "-"}, args...)...)
	var s summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		tb.Fatalf("load %s: no JSON summary (%v): %s", strings.Join(args, " "), err, r)
	}
	return s, r
}

// plan returns the generator the CLI uses for seed and n tickets (its
// defaults) and the events the whole load records.
func plan(tb testing.TB, seed uint64, n int64) (*loadgen.Generator, int64) {
	tb.Helper()
	g, err := loadgen.New(loadgen.Config{Seed: seed, Tickets: n})
	if err != nil {
		tb.Fatal(err)
	}
	var events int64
	for i := range n {
		events += int64(g.Ticket(i).Events())
	}
	return g, events
}

// exported returns every event of the store, as exported, without its
// position and in (stream, version) order: what a load must reproduce
// exactly from its seed, whatever the interleaving of tickets.
func exported(tb testing.TB, store ...string) []string {
	tb.Helper()
	r := mustRun(tb, append([]string{"export"}, store...)...)
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			tb.Fatal(err)
		}
		delete(e, "position")
		b, _ := json.Marshal(e)
		lines = append(lines, fmt.Sprintf("%s %08d %s", e["stream"], int(e["version"].(float64)), b))
	}
	slices.Sort(lines)
	return lines
}

func TestLoadUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tickets", "0"}, "--tickets must be at least 1"},
		{[]string{"--target", "http://127.0.0.1:1", "--data", t.TempDir()}, "do not also give --data"},
		{[]string{"--target", "http://127.0.0.1:1"}, "--target needs --token"},
		{[]string{"--target", "ftp://x", "--token", "t"}, "want the base URL"},
		{[]string{"--data", t.TempDir(), "--rate", "5"}, "--rate and --token are for --target"},
		{[]string{"--data", t.TempDir(), "--start", "yesterday"}, "want a day as YYYY-MM-DD"},
		{[]string{"--data", t.TempDir(), "stray"}, "unexpected argument"},
	} {
		r := run(t, append([]string{"load"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("load %s: want exit 2 and %q, got %s", strings.Join(c.args, " "), c.want, r)
		}
	}
	r := run(t, "load", "-h")
	if r.code != 0 || !strings.Contains(r.stdout, "Idempotency-Key") {
		t.Errorf("load -h: %s", r)
	}
}

// TestLoadIsDeterministic: the same seed gives the same events (ids,
// times, payloads, metadata, hashes; only positions differ) whatever the
// concurrency; another seed gives others.
func TestLoadIsDeterministic(t *testing.T) {
	const n = 200
	_, want := plan(t, 5, n)
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	sa, _ := load(t, "--data", a, "--tickets", fmt.Sprint(n), "--seed", "5", "--concurrency", "1")
	sb, _ := load(t, "--data", b, "--tickets", fmt.Sprint(n), "--seed", "5", "--concurrency", "64")
	for _, s := range []summary{sa, sb} {
		if s.TicketsCreated != n || s.Events != want || s.Head != want || s.Replay == nil || s.Replay.Events != want {
			t.Fatalf("summary %+v: want %d tickets created, %d events, all replayed", s, n, want)
		}
		if s.Latency["create"].Count != n || s.Latency["comment"].Count == 0 || s.Latency["update"].Count == 0 {
			t.Errorf("latency counts %+v", s.Latency)
		}
	}
	ea, eb := exported(t, "--data", a), exported(t, "--data", b)
	if !slices.Equal(ea, eb) {
		for i := range min(len(ea), len(eb)) {
			if ea[i] != eb[i] {
				t.Fatalf("concurrency 1 and 64 differ (%d and %d events); first difference:\n%s\n%s", len(ea), len(eb), ea[i], eb[i])
			}
		}
		t.Fatalf("concurrency 1 and 64 loaded %d and %d events", len(ea), len(eb))
	}
	load(t, "--data", c, "--tickets", fmt.Sprint(n), "--seed", "6", "--no-replay")
	if ec := exported(t, "--data", c); len(ec) > 0 && ec[0] == ea[0] {
		t.Error("seeds 5 and 6 loaded the same first event")
	}
	r := mustRun(t, "verify", "--data", a)
	if !strings.Contains(r.stdout, "OK") {
		t.Errorf("verify: %s", r)
	}
	// The read models were rebuilt: serve lists the tickets at once.
	srv := startServe(t, a)
	token := newToken(t, a, "auditor.one", "auditor")
	var stats struct{ Total int64 }
	getJSON(t, srv, token, "/api/v1/stats", &stats)
	if stats.Total != n {
		t.Errorf("serve shows %d tickets, want %d", stats.Total, n)
	}
}

// TestLoadResumesAfterKill stops a load hard (SIGKILL) and then politely
// (SIGINT) midway; run again, it completes the same tickets with the same
// events and not one more.
func TestLoadResumesAfterKill(t *testing.T) {
	n := int64(4000)
	if raceEnabled {
		n = 1500 // the race detector slows the load down about tenfold
	}
	_, want := plan(t, 9, n)
	dir := t.TempDir()
	args := []string{"load", "--data", dir, "--tickets", fmt.Sprint(n), "--seed", "9", "--concurrency", "4", "--no-replay"}

	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		cmd := exec.Command(eventdesk(t), args...)
		cmd.Env = testenv.CleanEnv()
		var out bytes.Buffer
		cmd.Stdout = &out
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The first progress line comes after about 2 s of loading.
		progressed := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "load:") {
					select {
					case progressed <- sc.Text():
					default:
					}
				}
			}
		}()
		select {
		case line := <-progressed:
			t.Logf("%v after %q", sig, line)
		case <-time.After(2 * time.Minute):
			t.Fatal("no progress within 2 minutes")
		}
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		if err == nil {
			t.Skipf("the load finished before it could be stopped (%s)", out.String())
		}
		if sig == syscall.SIGINT && !strings.Contains(out.String(), "run the same command again to resume") {
			t.Errorf("interrupted load did not say how to resume: %v\n%s", err, out.String())
		}
	}
	s, r := load(t, args[1:]...)
	t.Logf("resumed: %+v", s)
	if r.code != 0 || s.TicketsDone != n || s.TicketsCreated+s.TicketsResumed+s.TicketsSkipped != n {
		t.Fatalf("resumed load: %+v\n%s", s, r)
	}
	if s.TicketsCreated == n || s.TicketsSkipped == 0 {
		t.Errorf("the resumed load redid everything: %+v", s)
	}
	if s.Head != want {
		t.Errorf("after stopping twice and resuming the store holds %d events, a load of %d tickets records %d", s.Head, n, want)
	}
	// Exactly the events of an uninterrupted load.
	clean := t.TempDir()
	load(t, "--data", clean, "--tickets", fmt.Sprint(n), "--seed", "9", "--no-replay")
	if !slices.Equal(exported(t, "--data", dir), exported(t, "--data", clean)) {
		t.Error("the resumed load's events differ from an uninterrupted load's")
	}
	// A complete load run again does nothing.
	s, _ = load(t, args[1:]...)
	if s.TicketsSkipped != n || s.Commands != 0 {
		t.Errorf("a repeated load did something: %+v", s)
	}
}

// server is a running `eventdesk serve`.
type server struct {
	url string
	cmd *exec.Cmd
}

var urlLine = regexp.MustCompile(`serving (http://\S+)`)

func startServe(tb testing.TB, dir string) *server {
	tb.Helper()
	cmd := exec.Command(eventdesk(tb), "serve", "--addr", "127.0.0.1:0", "--data", dir, "--log-level", "warn")
	cmd.Env = testenv.CleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	select {
	case u := <-urls:
		return &server{url: u, cmd: cmd}
	case err := <-done:
		tb.Fatalf("serve exited: %v\n%s", err, stderr.String())
	case <-time.After(time.Minute):
		tb.Fatalf("serve did not start within a minute\n%s", stderr.String())
	}
	return nil
}

// newToken issues an API token with the CLI (it works while serve runs).
func newToken(tb testing.TB, dir, user, role string) string {
	tb.Helper()
	return strings.TrimSpace(mustRun(tb, "token", "create", "--data", dir, "--user", user, "--role", role).stdout)
}

func getJSON(tb testing.TB, s *server, token, path string, v any) {
	tb.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		tb.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// listed returns every ticket the server lists, once its read models have
// reached position pos.
func listed(tb testing.TB, s *server, token string, pos int64) []map[string]any {
	tb.Helper()
	var all []map[string]any
	cursor := ""
	for {
		var page struct {
			Items []map[string]any `json:"items"`
			Next  string           `json:"next"`
		}
		getJSON(tb, s, token, fmt.Sprintf("/api/v1/tickets?limit=50&minPosition=%d&cursor=%s", pos, url.QueryEscape(cursor)), &page)
		all = append(all, page.Items...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
}

// TestLoadOverHTTP drives a real server: a load, a load stopped midway
// and resumed, and a repeated load, which finds everything done. The
// tickets and their comments exist once each.
func TestLoadOverHTTP(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, dir)
	admin := newToken(t, dir, "loader.admin", "admin")
	requester := newToken(t, dir, "rita.requester", "requester")

	r := run(t, "load", "--target", srv.url, "--token", requester, "--tickets", "5")
	if r.code != 1 || !strings.Contains(r.stderr, "needs an agent's or admin's token") {
		t.Errorf("load with a requester's token: %s", r)
	}
	r = run(t, "load", "--target", srv.url, "--token", "not-a-token", "--tickets", "5")
	if r.code != 1 || !strings.Contains(r.stderr, "401") {
		t.Errorf("load with a bad token: %s", r)
	}

	const n = 60
	g, _ := plan(t, 3, n)
	args := []string{"--target", srv.url, "--token", admin, "--tickets", fmt.Sprint(n), "--seed", "3", "--concurrency", "2"}
	// Slowly, so that it is stopped midway.
	cmd := exec.Command(eventdesk(t), append([]string{"load", "--rate", "15"}, args...)...)
	cmd.Env = testenv.CleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "load:") {
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	s, r := load(t, args...)
	t.Logf("resumed over HTTP: %+v", s)
	if r.code != 0 || s.Mode != "http" || s.TicketsDone != n || s.TicketsCreated == n || s.Replayed == 0 {
		t.Fatalf("resumed load: %+v\n%s", s, r)
	}
	if s.Latency["create"].Count == 0 || s.Latency["create"].P99Ms <= 0 {
		t.Errorf("no create latencies: %+v", s.Latency)
	}
	again, _ := load(t, args...)
	if again.TicketsSkipped != n || again.Commands != 0 || again.Events != 0 {
		t.Errorf("a repeated load did something: %+v", again)
	}

	var head struct{ Head int64 }
	getJSON(t, srv, admin, "/readyz", &head)
	tickets := listed(t, srv, admin, head.Head)
	if len(tickets) != n {
		t.Fatalf("the server lists %d tickets after loading %d", len(tickets), n)
	}
	titles := map[string]int{}
	var comments, wantComments float64
	for _, tk := range tickets {
		titles[tk["title"].(string)]++
		comments += tk["commentCount"].(float64)
	}
	for i := range int64(n) {
		tk := g.Ticket(i)
		titles[tk.Title]--
		for _, s := range tk.Steps {
			if s.Kind == loadgen.Comment {
				wantComments++
			}
		}
	}
	for title, d := range titles {
		if d != 0 {
			t.Errorf("title %q listed %+d times more than generated", title, d)
		}
	}
	if comments != wantComments {
		t.Errorf("%v comments on the server, %v generated", comments, wantComments)
	}
}

// TestLoadIntoPostgres loads through the same commands into PostgreSQL.
func TestLoadIntoPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	const n = 150
	_, want := plan(t, 2, n)
	s, r := load(t, "--store", dsn, "--tickets", fmt.Sprint(n), "--seed", "2", "--concurrency", "16")
	if r.code != 0 || s.TicketsCreated != n || s.Head != want || s.Replay == nil {
		t.Fatalf("load into PostgreSQL: %+v\n%s", s, r)
	}
	s, _ = load(t, "--store", dsn, "--tickets", fmt.Sprint(n), "--seed", "2", "--no-replay")
	if s.TicketsSkipped != n || s.Head != want {
		t.Errorf("a repeated load into PostgreSQL: %+v", s)
	}
	if r := mustRun(t, "verify", "--store", dsn); !strings.Contains(r.stdout, "OK") {
		t.Errorf("verify: %s", r)
	}
}
