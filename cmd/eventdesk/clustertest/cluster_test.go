// Package clustertest runs eventdesk as a cluster: several real
// `eventdesk serve` processes on one PostgreSQL database and one NATS
// server (see docs/scale-out.md), driven over HTTP as clients would.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// eventdeskBinary builds cmd/eventdesk once per test binary.
func eventdeskBinary(tb testing.TB) string {
	tb.Helper()
	return testenv.Binary(tb, "cmd/eventdesk", false)
}

// run runs an eventdesk subcommand to completion.
func run(tb testing.TB, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, eventdeskBinary(tb), args...)
	cmd.Env = testenv.CleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("eventdesk %s: %v\n%s\n%s", args[0], err, out.String(), errb.String())
	}
	return out.String()
}

// node is one running `eventdesk serve`.
type node struct {
	name string
	url  string
	cmd  *exec.Cmd
	log  string
	dead atomic.Bool
}

// startNode starts `eventdesk serve` on a free port against the store and
// bus, given as --store and --bus, and waits until it serves.
func startNode(tb testing.TB, name, dsn, bus string) *node {
	tb.Helper()
	return startNodeWith(tb, name, dsn, bus, nodeOptions{})
}

// nodeOptions vary how startNodeWith starts a node.
type nodeOptions struct {
	// viaEnv gives the store and the bus as EVENTDESK_STORE and
	// EVENTDESK_BUS instead of flags.
	viaEnv bool
	// defaultAppName leaves application_name out of the store's URL, so
	// that serve names its connections itself ("eventdesk <node>").
	defaultAppName bool
}

// startNodeWith is startNode with options.
func startNodeWith(tb testing.TB, name, dsn, bus string, o nodeOptions) *node {
	tb.Helper()
	n := &node{name: name, log: filepath.Join(tb.TempDir(), name+".log")}
	logf, err := os.Create(n.log)
	if err != nil {
		tb.Fatal(err)
	}
	// The node's connections carry its name (see pg_stat_activity), so
	// the test can tell which node holds a lease.
	store := dsn
	if !o.defaultAppName {
		store += "&application_name=" + name
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--node", name,
		"--demo-login=false", "--log-format", "json", "--shutdown-timeout", "2s"}
	env := testenv.CleanEnv()
	if o.viaEnv {
		env = append(env, "EVENTDESK_STORE="+store)
		if bus != "" {
			env = append(env, "EVENTDESK_BUS="+bus)
		}
	} else {
		args = append(args, "--store", store)
		if bus != "" {
			args = append(args, "--bus", bus)
		}
	}
	n.cmd = exec.Command(eventdeskBinary(tb), args...)
	n.cmd.Env = env
	n.cmd.Stderr = logf
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if !n.dead.Load() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = n.cmd.Process.Kill()
				<-done
			}
		}
		logf.Close()
		if tb.Failed() {
			b, _ := os.ReadFile(n.log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			tb.Logf("--- log of %s (tail):\n%s", name, b)
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "eventdesk is serving") {
				line <- sc.Text()
			}
		}
	}()
	select {
	case l := <-line:
		f := strings.Fields(l)
		n.url = f[3]
	case <-time.After(time.Minute):
		b, _ := os.ReadFile(n.log)
		tb.Fatalf("node %s did not start:\n%s", name, b)
	}
	return n
}

func (n *node) kill(tb testing.TB) {
	tb.Helper()
	n.dead.Store(true)
	if err := n.cmd.Process.Kill(); err != nil { // SIGKILL
		tb.Fatal(err)
	}
	_ = n.cmd.Wait()
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// call makes one API request and decodes a JSON answer into out (may be
// nil). It returns the status and headers; a transport error is returned
// as is (the node may be dead).
func call(method, url, token, body string, header map[string]string, out any) (int, http.Header, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, nil
}

type ticket struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Status   string `json:"status"`
	Priority string `json:"priority"`
	Version  int64  `json:"version"`
	Comments []struct {
		Body string `json:"body"`
	} `json:"comments"`
}

// acked is what the clients were told succeeded.
type acked struct {
	mu       sync.Mutex
	versions map[string]int64           // ticket id → highest acknowledged version
	comments map[string]map[string]bool // ticket id → acknowledged comment bodies
	commands int
}

func (a *acked) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.commands
}

func (a *acked) ack(id string, version int64, comment string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.commands++
	a.versions[id] = max(a.versions[id], version)
	if comment != "" {
		if a.comments[id] == nil {
			a.comments[id] = map[string]bool{}
		}
		a.comments[id][comment] = true
	}
}

// client sends commands to the nodes, starting with one and moving on to
// the next when a node does not answer; an Idempotency-Key makes the retry
// of a command that may have committed safe.
type client struct {
	nodes  []*node
	at     int
	token  string
	failed atomic.Int64 // commands refused by a live node
	// crossReads counts tickets read back, with X-Min-Position, from
	// another node than the one that created them.
	crossReads *atomic.Int64
}

func (c *client) do(method, path, body string, out any, header ...string) (http.Header, error) {
	h := map[string]string{}
	if method == "POST" {
		h["Idempotency-Key"] = uuid.NewString()
	}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	for range 3 * len(c.nodes) {
		n := c.nodes[c.at%len(c.nodes)]
		_, h, err := call(method, n.url+path, c.token, body, h, out)
		if err == nil {
			return h, nil
		}
		var ne interface{ Timeout() bool }
		if n.dead.Load() || errors.As(err, &ne) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset") {
			c.at++ // the node is gone: try the next
			continue
		}
		return nil, err
	}
	return nil, fmt.Errorf("no node answered %s %s", method, path)
}

// report passes err on, dropping it if too many are pending.
func (c *client) report(errs chan<- error, err error) {
	c.failed.Add(1)
	select {
	case errs <- err:
	default:
	}
}

// work opens tickets and comments on them until stop is closed.
func (c *client) work(stop <-chan struct{}, a *acked, errs chan<- error) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		var t ticket
		title := fmt.Sprintf("Load %d", i)
		body := fmt.Sprintf(`{"title":"%s","requester":"rita","priority":"%s","tags":["load"]}`, title, []string{"low", "normal", "high", "urgent"}[i%4])
		h, err := c.do("POST", "/api/v1/tickets", body, &t)
		if err != nil {
			c.report(errs, err)
			continue
		}
		a.ack(t.ID, t.Version, "")
		version := t.Version
		// Read your write on the next node: with X-Min-Position it must
		// show the new ticket, whichever node runs the projection.
		wrote := c.nodes[c.at%len(c.nodes)]
		c.at++
		var got ticket
		if _, err := c.do("GET", "/api/v1/tickets/"+t.ID, "", &got, "X-Min-Position", h.Get("X-Event-Position")); err != nil {
			c.report(errs, fmt.Errorf("read-your-writes of a ticket created on %s: %w", wrote.name, err))
		} else if got.Title != title || got.Version < t.Version {
			c.report(errs, fmt.Errorf("read-your-writes of a ticket created on %s: got %+v, want %q at version ≥ %d", wrote.name, got, title, t.Version))
		} else if c.nodes[c.at%len(c.nodes)] != wrote {
			c.crossReads.Add(1)
		}
		for k := range 3 {
			text := fmt.Sprintf("comment %d on %s", k, t.ID)
			h, err := c.do("POST", "/api/v1/tickets/"+t.ID+"/comments", `{"body":"`+text+`"}`, nil)
			if err != nil {
				c.report(errs, err)
				continue
			}
			version, _ = strconv.ParseInt(strings.Trim(h.Get("ETag"), `"`), 10, 64)
			a.ack(t.ID, version, text)
		}
		if i%3 == 0 {
			var after ticket
			if _, err := c.do("PATCH", "/api/v1/tickets/"+t.ID, `{"status":"open"}`, &after, "If-Match", fmt.Sprintf(`"%d"`, version)); err != nil {
				c.report(errs, err)
				continue
			}
			a.ack(t.ID, after.Version, "")
		}
	}
}

// leaseHolder returns the name of the node holding subscriber's lease
// ("" if none).
func leaseHolder(tb testing.TB, dsn, subscriber string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var app string
	err = conn.QueryRow(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '%: eventdesk lease ' || $1`, subscriber).Scan(&app)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	name, _, _ := strings.Cut(app, ":")
	return name
}

// leases returns every granted subscriber lease: subscriber → node name.
// An advisory lock is granted to one session at a time, so each
// subscriber appears at most once.
func leases(tb testing.TB, dsn string) map[string]string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE '%: eventdesk lease %'`)
	if err != nil {
		tb.Fatal(err)
	}
	apps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]string{}
	for _, app := range apps {
		name, sub, _ := strings.Cut(app, ": eventdesk lease ")
		if prev, ok := out[sub]; ok {
			tb.Fatalf("subscriber %s runs on %s and %s at once", sub, prev, name)
		}
		out[sub] = name
	}
	return out
}

// readiness is a node's /readyz.
type readiness struct {
	Head       int64 `json:"head"`
	ReadModels int64 `json:"readModels"`
}

func ready(n *node) (readiness, error) {
	var r readiness
	_, _, err := call("GET", n.url+"/readyz", "", "", nil, &r)
	return r, err
}

// waitConverged waits until every live node's read models reached the
// store's head and the head stays put for a moment (side effects such as
// the sentiment subscriber append scores after the commands).
func waitConverged(tb testing.TB, nodes []*node) int64 {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last int64 = -1
	stable := 0
	for {
		var head int64
		ok := true
		for _, n := range nodes {
			if n.dead.Load() {
				continue
			}
			r, err := ready(n)
			if err != nil || r.ReadModels < r.Head {
				ok = false
				break
			}
			head = max(head, r.Head)
		}
		if ok && !appendersCaughtUp(nodes) {
			ok = false
		}
		if ok && head > 0 && head == last {
			if stable++; stable >= 10 {
				return head
			}
		} else {
			stable = 0
		}
		last = head
		if time.Now().After(deadline) {
			tb.Fatal("the read models did not catch up with the store within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// appendersCaughtUp reports whether the subscribers that append events of
// their own (the sentiment scorer and the escalation policy) have dealt
// with every event, by the lag metric of the node that runs each: a stable
// head alone can be a scorer batch still in flight.
func appendersCaughtUp(nodes []*node) bool {
	reported := map[string]bool{}
	for _, n := range nodes {
		if n.dead.Load() {
			continue
		}
		resp, err := http.Get(n.url + "/metrics")
		if err != nil {
			return false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		for line := range strings.Lines(string(body)) {
			for _, name := range []string{"sentiment", "escalation"} {
				if rest, ok := strings.CutPrefix(line, `eventdesk_subscriber_lag_events{subscriber="`+name+`"} `); ok {
					if strings.TrimSpace(rest) != "0" {
						return false
					}
					reported[name] = true
				}
			}
		}
	}
	return len(reported) == 2
}

// metric returns the value of an unlabelled series of a node's /metrics.
func metric(tb testing.TB, n *node, name string) float64 {
	tb.Helper()
	resp, err := http.Get(n.url + "/metrics")
	if err != nil {
		tb.Fatalf("%s: metrics: %v", n.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s: metrics: %v", n.name, err)
	}
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				tb.Fatalf("%s: metric %s: %v", n.name, name, err)
			}
			return v
		}
	}
	tb.Fatalf("%s: no metric %s", n.name, name)
	return 0
}

// snapshot is what a node's read models show: every ticket (sorted by
// creation) and the stats.
func snapshot(tb testing.TB, n *node, token string, minPos int64) string {
	tb.Helper()
	var b strings.Builder
	cursor := ""
	for {
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  *string           `json:"next"`
		}
		path := "/api/v1/tickets?sort=created&limit=200"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if _, _, err := call("GET", n.url+path, token, "", map[string]string{"X-Min-Position": strconv.FormatInt(minPos, 10)}, &page); err != nil {
			tb.Fatalf("%s: list: %v", n.name, err)
		}
		for _, it := range page.Items {
			b.Write(it)
			b.WriteByte('\n')
		}
		if page.Next == nil || *page.Next == "" {
			break
		}
		u := *page.Next
		if i := strings.Index(u, "cursor="); i >= 0 {
			cursor = u[i+len("cursor="):]
			if j := strings.IndexByte(cursor, '&'); j >= 0 {
				cursor = cursor[:j]
			}
		} else {
			cursor = u
		}
	}
	var stats json.RawMessage
	if _, _, err := call("GET", n.url+"/api/v1/stats", token, "", nil, &stats); err != nil {
		tb.Fatalf("%s: stats: %v", n.name, err)
	}
	b.Write(stats)
	return b.String()
}

// sse follows a node's event stream, resuming with Last-Event-ID after a
// disconnection, and records every position it receives.
type sse struct {
	mu        sync.Mutex
	positions []int64
}

// follow reads the event stream of nodes[at], and of the next node when
// that one dies, as a browser behind a load balancer would.
func (s *sse) follow(ctx context.Context, nodes []*node, at int, token string) {
	var last int64
	for ctx.Err() == nil {
		n := nodes[at%len(nodes)]
		if n.dead.Load() {
			at++
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/api/v1/events/stream", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "text/event-stream")
		if last > 0 {
			req.Header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				p, _ := strconv.ParseInt(id, 10, 64)
				s.mu.Lock()
				s.positions = append(s.positions, p)
				s.mu.Unlock()
				last = p
			}
		}
		resp.Body.Close()
	}
}

func (s *sse) seen() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.positions)
}

// TestThreeNodes is the cluster test of docs/scale-out.md: three nodes on
// one PostgreSQL and one NATS (two configured by flags, one by the
// environment), clients spread over them, each reading its new tickets
// back from another node with X-Min-Position; the node running the ticket
// projection is killed with SIGKILL under load, then NATS is stopped for a
// while and started again. No acknowledged command is lost, every
// subscriber of the dead node moves to a surviving one, the read models of
// every node converge to what a from-scratch replay builds, an event-stream
// client on each node saw every event once, in order, and the JetStream
// stream has every event once.
func TestThreeNodes(t *testing.T) {
	dsn := testenv.Postgres(t)
	natsSrv := testenv.NewNATSServer(t)
	token := strings.TrimSpace(run(t, "token", "create", "--store", dsn, "--user", "ops", "--role", "admin"))

	nodes := []*node{
		startNode(t, "node1", dsn, natsSrv.URL()),
		startNode(t, "node2", dsn, natsSrv.URL()),
		// The third is configured through EVENTDESK_STORE / EVENTDESK_BUS.
		startNodeWith(t, "node3", dsn, natsSrv.URL(), nodeOptions{viaEnv: true}),
	}
	// A login on one node is valid on the others (shared session key) —
	// here, the same token works everywhere.
	for _, n := range nodes {
		if _, _, err := call("GET", n.url+"/api/v1/me", token, "", nil, nil); err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An event-stream (SSE) client on every node; the one on the node
	// that will be killed goes on at the next node with Last-Event-ID.
	streams := make([]*sse, len(nodes))
	for i := range nodes {
		streams[i] = &sse{}
		go streams[i].follow(ctx, nodes, i, token)
	}

	a := &acked{versions: map[string]int64{}, comments: map[string]map[string]bool{}}
	stop := make(chan struct{})
	errs := make(chan error, 1000)
	var wg sync.WaitGroup
	var crossReads atomic.Int64
	for i := range 9 {
		c := &client{nodes: nodes, at: i, token: token, crossReads: &crossReads}
		wg.Go(func() { c.work(stop, a, errs) })
	}

	// Under load, kill the node that runs the ticket projection.
	time.Sleep(2 * time.Second)
	var holder string
	for deadline := time.Now().Add(10 * time.Second); holder == "" && time.Now().Before(deadline); {
		holder = leaseHolder(t, dsn, "tickets")
		time.Sleep(50 * time.Millisecond)
	}
	if holder == "" {
		t.Fatal("no node holds the tickets lease")
	}
	var victim *node
	for _, n := range nodes {
		if n.name == holder {
			victim = n
		}
	}
	before := leases(t, dsn)
	var victimSubs []string
	for sub, n := range before {
		if n == victim.name {
			victimSubs = append(victimSubs, sub)
		}
	}
	slices.Sort(victimSubs)
	killedAt := time.Now()
	victim.kill(t)
	t.Logf("killed %s with SIGKILL after %d acknowledged commands; it ran %v (all leases: %v)", victim.name, a.count(), victimSubs, before)
	// Every subscriber of the victim resumes on another node, and none
	// of the others stops.
	var after map[string]string
	for {
		after = leases(t, dsn)
		moved := true
		for sub := range before {
			if n := after[sub]; n == "" || n == victim.name {
				moved = false
			}
		}
		if moved || time.Since(killedAt) > 30*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for sub := range before {
		if n := after[sub]; n == "" || n == victim.name {
			t.Fatalf("subscriber %s did not move to another node within 30s of the kill (holder %q)", sub, n)
		}
	}
	t.Logf("%v moved to %v %v after the kill", victimSubs, after, time.Since(killedAt).Round(time.Millisecond))

	// NATS goes away for a while: commands keep succeeding.
	time.Sleep(time.Second)
	beforeOutage := a.count()
	natsSrv.Shutdown()
	time.Sleep(2 * time.Second)
	during := a.count() - beforeOutage
	for _, n := range nodes {
		if !n.dead.Load() && metric(t, n, "eventdesk_bus_connected") != 0 {
			t.Errorf("%s reports a bus connection while NATS is down", n.name)
		}
	}
	if during == 0 {
		t.Error("no command succeeded while NATS was down")
	}
	t.Logf("%d commands acknowledged while NATS was down", during)
	natsSrv.Restart()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a command failed on a live node: %v", err)
	}
	if crossReads.Load() == 0 {
		t.Error("no ticket was read back from another node than the one that created it")
	}
	t.Logf("%d tickets read back with X-Min-Position from another node than their creator's", crossReads.Load())

	// Every node converges; nothing acknowledged is missing anywhere.
	var survivors []*node
	for _, n := range nodes {
		if !n.dead.Load() {
			survivors = append(survivors, n)
		}
	}
	// Live wake-ups resumed: every surviving node reconnected to NATS,
	// and a command on one node reaches the others through NATS again
	// (their count of received announcements grows; polling the store
	// does not count).
	for _, n := range survivors {
		if b, _ := os.ReadFile(n.log); !bytes.Contains(b, []byte("natsbus: reconnected")) {
			t.Errorf("%s did not reconnect to NATS", n.name)
		}
		if metric(t, n, "eventdesk_bus_connected") != 1 {
			t.Errorf("%s is not connected to NATS after the outage", n.name)
		}
	}
	received := map[string]float64{}
	for _, n := range survivors[1:] {
		received[n.name] = metric(t, n, "eventdesk_bus_received_total")
	}
	for i, woken := 0, false; !woken; i++ {
		if i == 100 {
			t.Fatalf("commands on %s do not reach the other nodes through NATS after the outage", survivors[0].name)
		}
		var tk ticket
		if _, _, err := call("POST", survivors[0].url+"/api/v1/tickets", token, fmt.Sprintf(`{"title":"After the outage %d","requester":"rita"}`, i), nil, &tk); err != nil {
			t.Fatal(err)
		}
		a.ack(tk.ID, tk.Version, "")
		time.Sleep(100 * time.Millisecond)
		woken = true
		for _, n := range survivors[1:] {
			if metric(t, n, "eventdesk_bus_received_total") <= received[n.name] {
				woken = false
			}
		}
	}
	head := waitConverged(t, survivors)
	t.Logf("%d commands acknowledged, %d tickets, store head %d", a.count(), len(a.versions), head)
	for _, n := range survivors {
		for id, v := range a.versions {
			var got ticket
			if _, _, err := call("GET", n.url+"/api/v1/tickets/"+id, token, "", nil, &got); err != nil {
				t.Fatalf("%s: acknowledged ticket %s: %v", n.name, id, err)
			}
			if got.Version < v {
				t.Fatalf("%s: ticket %s at version %d, acknowledged %d", n.name, id, got.Version, v)
			}
			have := map[string]bool{}
			for _, c := range got.Comments {
				have[c.Body] = true
			}
			for body := range a.comments[id] {
				if !have[body] {
					t.Fatalf("%s: ticket %s lost the acknowledged comment %q", n.name, id, body)
				}
			}
		}
	}
	views := map[string]string{}
	for _, n := range survivors {
		views[n.name] = snapshot(t, n, token, head)
	}
	for _, n := range survivors[1:] {
		if views[n.name] != views[survivors[0].name] {
			t.Fatalf("%s and %s show different read models", n.name, survivors[0].name)
		}
	}

	// A from-scratch replay (blue/green, nodes running) builds the same.
	out := run(t, "replay", "--store", dsn)
	t.Logf("replay: %s", strings.TrimSpace(out))
	for _, n := range survivors {
		if got := snapshot(t, n, token, head); got != views[survivors[0].name] {
			t.Fatalf("%s: read models after a from-scratch replay differ from before", n.name)
		}
	}
	t.Logf("verify: %s", strings.TrimSpace(run(t, "verify", "--store", dsn)))

	// The event stream client of every node saw every event once, in
	// order, across the kill and the NATS outage.
	deadline := time.Now().Add(30 * time.Second)
	for i, stream := range streams {
		for {
			seen := stream.seen()
			if int64(len(seen)) >= head || time.Now().After(deadline) {
				for k, p := range seen {
					if p != int64(k+1) {
						t.Fatalf("event stream of %s: item %d has position %d (a gap or a repeat)", nodes[i].name, k, p)
					}
				}
				if int64(len(seen)) != head {
					t.Fatalf("event stream of %s saw %d events, the store has %d", nodes[i].name, len(seen), head)
				}
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// JetStream has every event once: the relay published what the outage
	// dropped, de-duplicated by Nats-Msg-Id.
	if got := streamCount(t, natsSrv.URL(), uint64(head)); got != uint64(head) {
		t.Fatalf("the JetStream stream holds %d messages, the store %d events", got, head)
	}
}

// streamCount waits (a while) for the EVENTDESK stream to hold want
// messages and returns how many it holds.
func streamCount(tb testing.TB, url string, want uint64) uint64 {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n uint64
	for ctx.Err() == nil {
		s, err := js.Stream(ctx, "EVENTDESK")
		if err == nil {
			info, err := s.Info(ctx)
			if err == nil {
				n = info.State.Msgs
				if n >= want {
					return n
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return n
}
