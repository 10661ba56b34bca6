package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

// buildBinary builds cmd/eventdesk once per test run (with the race
// detector when the tests run with it).
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "eventdesk-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "eventdesk")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/eventdesk")...)
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

var repoRoot string

// server is the real binary, serving on a free port.
type server struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	logs *lockedWriter
	done chan error
}

func startBinary(t *testing.T) (*server, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	repoRoot = testenv.RepoRoot(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := exec.Command(bin, "token", "create", "--data", dir, "--user", "root", "--role", "admin").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	port := testenv.FreePort(t)
	s := &server{url: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir, logs: &lockedWriter{w: &bytes.Buffer{}}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data", dir, "--log-format", "json")
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("serve exited: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up:\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s, token
}

// lockedWriter collects the output of the server's stdout and stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}

// TestEndToEnd drives the real binary over HTTP; every response is
// validated against the OpenAPI document the server itself serves.
func TestEndToEnd(t *testing.T) {
	s, rootToken := startBinary(t)
	resp, err := http.Get(s.url + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e := &env{url: s.url, client: &http.Client{Timeout: 30 * time.Second}, spec: loadSpec(t, doc)}
	bearer := func(tok string) user { return user{header: http.Header{"Authorization": {"Bearer " + tok}}} }
	root := bearer(rootToken)

	// The admin issues tokens for an agent and an auditor.
	issue := func(name, role string) user {
		r := e.do(t, root, req{method: "POST", path: "/api/v1/tokens", body: fmt.Sprintf(`{"user":%q,"role":%q}`, name, role)})
		mustStatus(t, r, 201)
		var c struct {
			Token string `json:"token"`
		}
		r.json(t, &c)
		return bearer(c.Token)
	}
	agent := issue("agnes", "agent")
	auditor := issue("audrey", "auditor")

	// A requester logs in through the demo login, with a cookie jar.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	lr, err := browser.Get(s.url + "/login?user=rita")
	if err != nil {
		t.Fatal(err)
	}
	lr.Body.Close()
	u, _ := http.NewRequest("GET", s.url, nil)
	var cookieHeader string
	for _, c := range jar.Cookies(u.URL) {
		cookieHeader = c.Name + "=" + c.Value
	}
	if cookieHeader == "" {
		t.Fatal("the demo login set no cookie")
	}
	rita := user{header: http.Header{"Cookie": {cookieHeader}}}
	mustStatus(t, e.do(t, rita, req{method: "GET", path: "/api/v1/me"}), 200)

	// Open, work on and close a ticket.
	tk, pos := e.createTicket(t, rita, `{"title":"VPN drops every hour","description":"since Monday","priority":"high"}`)
	r := e.do(t, agent, req{method: "GET", path: "/api/v1/tickets?status=new&minPosition=" + strconv.FormatInt(pos, 10)})
	mustStatus(t, r, 200)
	if !strings.Contains(string(r.body), tk.ID) {
		t.Fatalf("the agent's list lacks the new ticket: %s", r.body)
	}
	r = e.do(t, agent, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"assignee":"agnes","status":"open","tags":["network"]}`,
		header: map[string]string{"If-Match": `"1"`, "Content-Type": "application/merge-patch+json"}})
	mustStatus(t, r, 200)
	etag := r.header.Get("ETag")
	mustStatus(t, e.do(t, agent, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"known issue with the gateway","internal":true}`}), 201)
	r = e.do(t, agent, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"Please update your client."}`,
		header: map[string]string{"Idempotency-Key": "reply-1"}})
	mustStatus(t, r, 201)
	again := e.do(t, agent, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"Please update your client."}`,
		header: map[string]string{"Idempotency-Key": "reply-1"}})
	mustStatus(t, again, 201)
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("the retried comment was not replayed")
	}
	mustStatus(t, e.do(t, agent, req{method: "POST", path: "/api/v1/tickets/" + tk.ID + "/comments", body: `{"body":"x"}`,
		header: map[string]string{"Idempotency-Key": "reply-1"}}), 422)
	mustStatus(t, e.do(t, agent, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"title":"x"}`, header: map[string]string{"If-Match": `"1"`}}), 412)
	mustStatus(t, e.do(t, agent, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"title":"x"}`}), 428)
	// The version rita saw (sentiment scores the server adds meanwhile
	// only annotate the ticket: they do not break her precondition).
	seen := e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID, header: map[string]string{"X-Min-Position": r.header.Get("X-Event-Position")}})
	mustStatus(t, seen, 200)
	r = e.do(t, rita, req{method: "PATCH", path: "/api/v1/tickets/" + tk.ID, body: `{"status":"closed"}`, header: map[string]string{"If-Match": seen.header.Get("ETag")}})
	mustStatus(t, r, 200)
	_ = etag
	pos, _ = strconv.ParseInt(r.header.Get("X-Event-Position"), 10, 64)

	// Reads: the requester never sees the internal note.
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID, header: map[string]string{"X-Min-Position": strconv.FormatInt(pos, 10)}})
	mustStatus(t, r, 200)
	var got ticketJSON
	r.json(t, &got)
	if got.Status != "closed" || len(got.Comments) != 1 || strings.Contains(string(r.body), "gateway") {
		t.Fatalf("rita's view: %s", r.body)
	}
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "/history"})
	mustStatus(t, r, 200)
	if strings.Contains(string(r.body), "gateway") || !strings.Contains(string(r.body), "rita changed status from open to closed") {
		t.Fatalf("rita's history: %s", r.body)
	}
	mustStatus(t, e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?version=1"}), 200)
	mustStatus(t, e.do(t, auditor, req{method: "GET", path: "/api/v1/stats?minPosition=" + strconv.FormatInt(pos, 10)}), 200)
	mustStatus(t, e.do(t, auditor, req{method: "POST", path: "/api/v1/tickets", body: `{"title":"no"}`}), 403)
	r = e.do(t, auditor, req{method: "GET", path: "/api/v1/events?after=0&limit=1000"})
	mustStatus(t, r, 200)
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/events"})
	mustStatus(t, r, 200)
	if strings.Contains(string(r.body), "gateway") {
		t.Fatal("rita's changefeed has the internal note")
	}

	// The event stream delivers from Last-Event-ID.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sr, _ := http.NewRequestWithContext(ctx, "GET", s.url+"/api/v1/events/stream", nil)
	sr.Header.Set("Authorization", "Bearer "+rootToken)
	sr.Header.Set("Accept", "text/event-stream")
	sr.Header.Set("Last-Event-ID", "2")
	stream, err := http.DefaultClient.Do(sr)
	if err != nil {
		t.Fatal(err)
	}
	evs := readSSE(ctx, t, bufio.NewReader(stream.Body), 3)
	cancel()
	stream.Body.Close()
	if len(evs) != 3 || evs[0].id != 3 || evs[2].id != 5 {
		t.Fatalf("stream from 2: %+v", evs)
	}

	// Hostile requests get problems from the real server too.
	for _, c := range []struct {
		rq   req
		code int
	}{
		{req{method: "POST", path: "/api/v1/tickets", body: `{"title":`}, 400},
		{req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a","x":1}`}, 400},
		{req{method: "POST", path: "/api/v1/tickets", body: `{"title":"` + strings.Repeat("x", 1<<20) + `"}`}, 413},
		{req{method: "POST", path: "/api/v1/tickets", body: `{"title":"a"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{req{method: "GET", path: "/api/v1/tickets?limit=500"}, 400},
		{req{method: "GET", path: "/api/v1/tickets/nope"}, 404},
		{req{method: "GET", path: "/api/v1/nope"}, 404},
		{req{method: "DELETE", path: "/api/v1/tickets"}, 405},
		{req{method: "GET", path: "/api/v1/tickets/" + tk.ID + "?asOf=later"}, 400},
	} {
		if r := e.do(t, agent, c.rq); r.status != c.code {
			t.Errorf("%s %s: %s, want %d", c.rq.method, c.rq.path, r, c.code)
		}
	}
	mustStatus(t, e.do(t, anon, req{method: "GET", path: "/api/v1/tickets"}), 401)

	// Operations endpoints.
	r = e.do(t, anon, req{method: "GET", path: "/metrics"})
	mustStatus(t, r, 200)
	for _, want := range []string{"eventdesk_http_request_duration_seconds_bucket", "eventdesk_append_duration_seconds_bucket", `eventdesk_subscriber_lag_events{subscriber="tickets"}`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	mustStatus(t, e.do(t, anon, req{method: "GET", path: "/readyz"}), 200)

	// Revoking a token takes effect at once.
	r = e.do(t, root, req{method: "GET", path: "/api/v1/tokens"})
	mustStatus(t, r, 200)
	var list struct {
		Items []struct {
			ID   string `json:"id"`
			User string `json:"user"`
		} `json:"items"`
	}
	r.json(t, &list)
	for _, it := range list.Items {
		if it.User == "audrey" {
			mustStatus(t, e.do(t, root, req{method: "DELETE", path: "/api/v1/tokens/" + it.ID}), 204)
		}
	}
	mustStatus(t, e.do(t, auditor, req{method: "GET", path: "/api/v1/me"}), 401)

	// No secret ends up in the logs.
	s.stop(t)
	if strings.Contains(s.logs.String(), rootToken) || strings.Contains(s.logs.String(), cookieHeader) {
		t.Fatal("a credential is in the logs")
	}
}
