package main_test

// These tests drive the real binary: it is built once into a temporary
// directory and each test runs subcommands with exec.Command against data
// directories in t.TempDir(), as an operator would.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/google/uuid"

	_ "modernc.org/sqlite" // only to tamper with a store file in TestVerifyFindsTampering
)

// binary is the path of the eventdesk binary under test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventdesk-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "eventdesk")
	// `go test` puts the go command of its toolchain first in PATH.
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building eventdesk:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a finished command left behind.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// eventdesk runs the binary with args and a clean environment plus env,
// feeding stdin (may be nil), and waits for it (at most a minute).
func runBin(tb testing.TB, env []string, stdin io.Reader, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdin = stdin
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

// cleanEnv is the test's environment without EVENTDESK_* variables, so that
// an operator's settings cannot change what the tests see.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTDESK_") {
			env = append(env, kv)
		}
	}
	return env
}

func wantCode(tb testing.TB, r result, code int) {
	tb.Helper()
	if r.code != code {
		tb.Fatalf("want exit %d, got %s", code, r)
	}
}

func wantContains(tb testing.TB, what, got string, wants ...string) {
	tb.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			tb.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

// seed creates a store in dir with a few realistic ticket streams (one of
// them written with the old ticket.created schema 1) and returns how many
// events it wrote.
func seed(tb testing.TB, dir string) int {
	tb.Helper()
	db, err := sqlite.Open(dir, sqlite.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			tb.Fatal(err)
		}
	}()
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	event := func(p eventdesk.Payload, actor string) eventdesk.EventData {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			tb.Fatal(err)
		}
		at = at.Add(time.Minute + 1234*time.Microsecond)
		n++
		return eventdesk.EventData{ID: newID(tb), Type: typ, Schema: schema, Data: data, RecordedAt: at,
			Metadata: eventdesk.Metadata{Actor: actor, CorrelationID: newID(tb)}}
	}
	for i := range 5 {
		stream := eventdesk.TicketStream(newID(tb))
		created := event(eventdesk.TicketCreated{
			Title: fmt.Sprintf("Printer %d on fire", i), Description: "Smoke <and> flames & \"quotes\" — ünïcode",
			Priority: eventdesk.PriorityHigh, Requester: "ada", Tags: []string{"hardware"},
		}, "ada")
		created.Metadata.IdempotencyKey = newID(tb)
		if _, err := db.Append(ctx, stream, eventdesk.NoStream, created); err != nil {
			tb.Fatal(err)
		}
		if _, err := db.Append(ctx, stream, eventdesk.ExactVersion(1),
			event(eventdesk.TicketCommented{CommentID: newID(tb), Author: "bob", Body: "On it.", Internal: i%2 == 0}, "bob"),
			event(eventdesk.StatusChanged{From: eventdesk.StatusNew, To: eventdesk.StatusOpen}, "bob"),
		); err != nil {
			tb.Fatal(err)
		}
	}
	// A ticket written before schema 2 of ticket.created ("text", not
	// "description"): exports keep it as written.
	old := eventdesk.EventData{ID: newID(tb), Type: eventdesk.TypeTicketCreated, Schema: 1,
		Data:       json.RawMessage(`{"title":"Old ticket","text":"from the <old> system & more","priority":"low","requester":"carol","tags":[]}`),
		RecordedAt: at.Add(time.Hour), Metadata: eventdesk.Metadata{Actor: "carol"}}
	if _, err := db.Append(ctx, eventdesk.TicketStream(newID(tb)), eventdesk.NoStream, old); err != nil {
		tb.Fatal(err)
	}
	return n + 1
}

func newID(tb testing.TB) string {
	tb.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
		env    []string
	}{
		{"no command", nil, 2, []string{"Usage:", "serve", "verify"}, nil},
		{"unknown command", []string{"serv"}, 2, []string{`eventdesk: unknown command "serv" (did you mean serve?)`, "Commands:"}, nil},
		{"unknown flag", []string{"serve", "--bogus"}, 2, []string{"eventdesk: serve: flag provided but not defined: -bogus", "Usage: eventdesk serve", "-addr"}, nil},
		{"bad flag value", []string{"serve", "--shutdown-timeout", "soon"}, 2, []string{"eventdesk: serve: invalid value"}, nil},
		{"stray argument", []string{"verify", "extra"}, 2, []string{`eventdesk: verify: unexpected argument "extra"`, "Usage: eventdesk verify"}, nil},
		{"bad log format", []string{"serve", "--log-format", "xml"}, 2, []string{`eventdesk: serve: log format "xml" (--log-format or EVENTDESK_LOG_FORMAT): want auto, text or json`}, nil},
		{"export flag on import", []string{"import", "--out", "x"}, 2, []string{"flag provided but not defined: -out"}, nil},
		{"bad log level from the environment", []string{"serve"}, 2, []string{`log level "loud" (--log-level or EVENTDESK_LOG_LEVEL)`}, []string{"EVENTDESK_LOG_LEVEL=loud"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, tc.env, nil, tc.args...)
			wantCode(t, r, tc.code)
			wantContains(t, "stderr", r.stderr, tc.stderr...)
			if r.stdout != "" {
				t.Errorf("stdout should be empty on a usage error, got %q", r.stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := runBin(t, nil, nil, "-h")
	wantCode(t, r, 0)
	wantContains(t, "stdout", r.stdout, "Commands:")
	for _, c := range []string{"serve", "replay", "verify", "export", "import", "token", "version"} {
		r := runBin(t, nil, nil, c, "-h")
		wantCode(t, r, 0)
		wantContains(t, c+" -h", r.stdout, "Usage: eventdesk "+c)
	}
	r = runBin(t, nil, nil, "help", "export")
	wantCode(t, r, 0)
	wantContains(t, "help export", r.stdout, "Usage: eventdesk export", "-out")
	r = runBin(t, nil, nil, "serve", "-h")
	wantContains(t, "serve -h", r.stdout, "-addr", "127.0.0.1:8080", "EVENTDESK_ADDR", "-data", "./eventdesk-data", "EVENTDESK_DATA")
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runBin(t, nil, nil, "version")
	wantCode(t, r, 0)
	wantContains(t, "version", r.stdout, "eventdesk ", runtime.Version())

	// The version can be stamped at build time.
	if testing.Short() {
		t.Skip("-short: skipping a second build of the binary")
	}
	stamped := filepath.Join(t.TempDir(), "eventdesk")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=9.8.7", "-o", stamped, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(stamped, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "eventdesk 9.8.7 ("+runtime.Version()) {
		t.Fatalf("version = %q", out)
	}
}

// TestExportImportRoundTrip: export → import into a fresh directory →
// verify → export again gives the same bytes.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "src")
	n := seed(t, src)

	exportFile := filepath.Join(t.TempDir(), "events.jsonl")
	r := runBin(t, nil, nil, "export", "--data", src, "--out", exportFile)
	wantCode(t, r, 0)
	wantContains(t, "stderr", r.stderr, fmt.Sprintf("exported %d events to %s", n, exportFile))
	first, err := os.ReadFile(exportFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(first), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("export has %d lines, want %d", len(lines), n)
	}
	// Every line is a full envelope, in position order.
	for i, line := range lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		for _, k := range []string{"id", "stream", "version", "position", "type", "schema", "data", "metadata", "recordedAt", "hash"} {
			if _, ok := e[k]; !ok {
				t.Fatalf("line %d lacks %q: %s", i+1, k, line)
			}
		}
		if e["position"].(float64) != float64(i+1) {
			t.Fatalf("line %d has position %v", i+1, e["position"])
		}
	}
	wantContains(t, "export", string(first), `"schema":1`, `"text":"from the <old> system & more"`, `"idempotencyKey"`)

	dst := filepath.Join(t.TempDir(), "dst")
	r = runBin(t, nil, nil, "import", "--data", dst, "--in", exportFile)
	wantCode(t, r, 0)
	wantContains(t, "stderr", r.stderr, fmt.Sprintf("imported %d events into %s", n, dst))

	r = runBin(t, nil, nil, "verify", "--data", dst)
	wantCode(t, r, 0)
	wantContains(t, "verify", r.stdout, fmt.Sprintf("OK: %d events in 6 streams", n))

	// Export to stdout this time, from the environment's data directory.
	r = runBin(t, []string{"EVENTDESK_DATA=" + dst}, nil, "export")
	wantCode(t, r, 0)
	if r.stdout != string(first) {
		t.Fatalf("the export of the imported store differs from the original:\n%s\n---\n%s", first, r.stdout)
	}

	// Import from standard input works the same.
	dst2 := filepath.Join(t.TempDir(), "dst2")
	r = runBin(t, nil, bytes.NewReader(first), "import", "--data", dst2)
	wantCode(t, r, 0)
	r = runBin(t, nil, nil, "export", "--data", dst2)
	wantCode(t, r, 0)
	if r.stdout != string(first) {
		t.Fatal("the export of the store imported from stdin differs from the original")
	}
}

func TestImportRefusesNonEmptyStore(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	r := runBin(t, nil, nil, "export", "--data", dir)
	wantCode(t, r, 0)
	r = runBin(t, nil, strings.NewReader(r.stdout), "import", "--data", dir)
	wantCode(t, r, 1)
	wantContains(t, "stderr", r.stderr, "eventdesk: import: the event store in "+dir+" already holds events", "choose a new --data directory")

	// A directory with other files in it is refused too.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, nil, strings.NewReader("{}\n"), "import", "--data", other)
	wantCode(t, r, 1)
	wantContains(t, "stderr", r.stderr, "is not empty and holds no event store")
}

// TestImportIsAllOrNothing: a bad line anywhere stops the import with its
// line number and leaves no data directory behind.
func TestImportIsAllOrNothing(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "src")
	seed(t, src)
	r := runBin(t, nil, nil, "export", "--data", src)
	wantCode(t, r, 0)
	good := strings.SplitAfter(r.stdout, "\n")
	good = good[:len(good)-1] // the empty string after the last newline

	withLine := func(i int, line string) string {
		ls := append([]string(nil), good...)
		ls[i] = line
		return strings.Join(ls, "")
	}
	var tampered map[string]any
	if err := json.Unmarshal([]byte(good[3]), &tampered); err != nil {
		t.Fatal(err)
	}
	tampered["metadata"].(map[string]any)["actor"] = "mallory"
	tamperedLine, _ := json.Marshal(tampered)

	for _, tc := range []struct {
		name  string
		input string
		want  []string
	}{
		{"not JSON", withLine(4, "{not json\n"), []string{"import: line 5: not a JSON event envelope"}},
		{"unknown field", withLine(2, strings.Replace(good[2], `{"id"`, `{"colour":"red","id"`, 1)), []string{"import: line 3:", `unknown field "colour"`}},
		{"missing field", withLine(6, `{"id":"x","stream":"s"}`+"\n"), []string{"import: line 7: missing version, position, type, schema, data, recordedAt, hash"}},
		{"tampered", withLine(3, string(tamperedLine)+"\n"), []string{"import: line 4: hash", "was altered"}},
		{"position gap", strings.Join(append(append([]string(nil), good[:5]...), good[6:]...), ""), []string{"import: line 6: position", "position 6 is missing"}},
		{"empty", "", []string{"import: the input holds no events"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			r := runBin(t, nil, strings.NewReader(tc.input), "import", "--data", dst)
			wantCode(t, r, 1)
			wantContains(t, "stderr", r.stderr, tc.want...)
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Errorf("a failed import left %s behind (err %v)", dst, err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), ".dst*"))
			if len(leftovers) > 0 {
				t.Errorf("a failed import left temporary files: %v", leftovers)
			}
		})
	}
}

// TestVerifyFindsTampering edits one event in the SQLite file behind the
// store's back; verify must exit non-zero and name the stream and version.
func TestVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	r := runBin(t, nil, nil, "verify", "--data", dir)
	wantCode(t, r, 0)
	wantContains(t, "verify", r.stdout, "OK:")

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	var stream string
	var version int64
	if err := db.QueryRow(`SELECT stream, version FROM events WHERE position = 8`).Scan(&stream, &version); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE events SET data = CAST('{"commentId":"c","author":"mallory","body":"forged","internal":false}' AS BLOB) WHERE position = 8`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	r = runBin(t, nil, nil, "verify", "--data", dir)
	wantCode(t, r, 1)
	wantContains(t, "verify report", r.stdout, "BROKEN", fmt.Sprintf("stream=%s version=%d", stream, version), "position=8", "hash")
	wantContains(t, "stderr", r.stderr, "eventdesk: verify: the event store is damaged")
}

func TestCommandsRefuseMissingStore(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")
	for _, c := range []string{"verify", "export", "replay"} {
		r := runBin(t, nil, nil, c, "--data", missing)
		wantCode(t, r, 1)
		wantContains(t, c, r.stderr, "eventdesk: data directory "+missing+" does not exist")
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%s created %s", c, missing)
		}
	}
	empty := t.TempDir()
	r := runBin(t, nil, nil, "verify", "--data", empty)
	wantCode(t, r, 1)
	wantContains(t, "verify", r.stderr, "holds no event store")
}

// TestExportToFileLeavesNoPartialFile: a failing export (here: the store
// is locked by a running server) leaves the target untouched.
func TestExportFailureKeepsTarget(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	srv := startServe(t, dir)
	out := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(out, []byte("previous export\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runBin(t, nil, nil, "export", "--data", dir, "--out", out)
	wantCode(t, r, 1)
	wantContains(t, "stderr", r.stderr, "data directory is in use")
	if b, _ := os.ReadFile(out); string(b) != "previous export\n" {
		t.Fatalf("the previous export was changed: %q", b)
	}
	srv.stop(t)
}

func TestReplay(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	n := seed(t, dir)
	token := newToken(t, dir, "ada", "agent")

	// serve projects the seeded events (and the sentiment subscriber adds
	// its scores); remember what it shows once it has settled.
	s := startServe(t, dir)
	n = settle(t, s, n)
	list := func(s *server) string {
		resp, body := api(t, s, token, "GET", fmt.Sprintf("/api/v1/tickets?minPosition=%d&limit=200&sort=created", n), "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %s", resp.StatusCode, body)
		}
		return body
	}
	before := list(s)
	// replay needs the directory to itself.
	r := runBin(t, nil, nil, "replay", "--data", dir)
	wantCode(t, r, 1)
	wantContains(t, "replay beside serve", r.stderr, "data directory is in use")
	s.stop(t)

	subscribers := filepath.Join(dir, sqlite.SubscribersFile)
	stateBefore, err := os.ReadFile(subscribers)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the read models: replay builds new ones regardless.
	if err := os.WriteFile(filepath.Join(dir, sqlite.ReadModelsFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, nil, nil, "replay", "--data", dir)
	wantCode(t, r, 0)
	wantContains(t, "replay progress", r.stderr, fmt.Sprintf("%d/%d events", n, n))
	wantContains(t, "replay", r.stdout, fmt.Sprintf("rebuilt the read models up to position %d", n))
	// Side effects' state is not touched by a rebuild.
	if stateAfter, err := os.ReadFile(subscribers); err != nil || !bytes.Equal(stateBefore, stateAfter) {
		t.Fatalf("replay changed %s (err %v)", subscribers, err)
	}
	// Twice is fine: a rebuild replaces the previous read models.
	r = runBin(t, nil, nil, "replay", "--data", dir)
	wantCode(t, r, 0)

	s = startServe(t, dir)
	if m := settle(t, s, n); m != n {
		t.Fatalf("serve appended after the replay: head %d, was %d (side effects fired again?)", m, n)
	}
	if after := list(s); after != before {
		t.Fatalf("the rebuilt read models differ:\n%s\n---\n%s", before, after)
	}
	s.stop(t)
}

// settle waits until serve's head is stable (its side effects, such as
// sentiment scores, have appended what they will) and the read models have
// reached it; it returns the head (at least min).
func settle(tb testing.TB, s *server, min int) int {
	tb.Helper()
	last, stable := -1, 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body := get(tb, s.url+"/readyz")
		var st struct {
			Head       int `json:"head"`
			ReadModels int `json:"readModels"`
		}
		if json.Unmarshal([]byte(body), &st) != nil || st.Head < min || st.ReadModels != st.Head {
			continue
		}
		if st.Head == last {
			if stable++; stable >= 6 {
				return st.Head
			}
			continue
		}
		last, stable = st.Head, 0
	}
	tb.Fatalf("serve did not settle\n%s", s.stderr)
	return 0
}

// server is a running "eventdesk serve".
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	done   chan error
}

var urlLine = regexp.MustCompile(`serving (http://\S+)`)

// startServe starts "eventdesk serve" on a free port and waits until it
// prints its URL.
func startServe(tb testing.TB, dir string, env ...string) *server {
	tb.Helper()
	return startServeWith(tb, dir, nil, env...)
}

// startServeWith is startServe with more flags.
func startServeWith(tb testing.TB, dir string, flags []string, env ...string) *server {
	tb.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, flags...)...)
	cmd.Env = append(cleanEnv(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-s.done
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.url = <-urls:
	case err := <-s.done:
		tb.Fatalf("serve exited before serving: %v\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		tb.Fatalf("serve did not print its URL within 30s\n%s", s.stderr)
	}
	return s
}

// stop sends SIGTERM and requires a clean exit within 10 seconds.
func (s *server) stop(tb testing.TB) {
	tb.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			tb.Fatalf("serve exited with %v after SIGTERM\n%s", err, s.stderr)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("serve did not exit within 10s of SIGTERM\n%s", s.stderr)
	}
}

func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServe(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	seed(t, dir)
	s := startServe(t, dir, "EVENTDESK_LOG_FORMAT=json")

	code, body := get(t, s.url+"/healthz")
	if code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	code, body = get(t, s.url+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, `"ready"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	code, body = get(t, s.url+"/")
	if code != http.StatusOK || !strings.Contains(body, "/api/openapi.json") || !strings.Contains(body, `action="/signin"`) {
		t.Fatalf("/: %d %s", code, body)
	}

	// A second server on the same data directory fails at once, clearly.
	r := runBin(t, nil, nil, "serve", "--addr", "127.0.0.1:0", "--data", dir)
	wantCode(t, r, 1)
	wantContains(t, "second serve", r.stderr, "eventdesk: ", "data directory is in use", "pid")

	s.stop(t)
	// JSON logs, because stderr is not a terminal.
	first, _, _ := strings.Cut(s.stderr.String(), "\n")
	var entry map[string]any
	if err := json.Unmarshal([]byte(first), &entry); err != nil {
		t.Fatalf("the first log line is not JSON: %q", first)
	}
	wantContains(t, "logs", s.stderr.String(), `"msg":"serving"`, `"msg":"stopped"`)

	// After a clean stop the directory can be opened again.
	r = runBin(t, nil, nil, "verify", "--data", dir)
	wantCode(t, r, 0)
}

func TestServeFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	// The flag wins over the environment: EVENTDESK_ADDR names a port that
	// is in use by nobody we know, --addr a free one.
	s := startServe(t, dir, "EVENTDESK_DATA="+filepath.Join(t.TempDir(), "ignored"), "EVENTDESK_ADDR=256.0.0.1:1")
	s.stop(t)

	// Without flags, EVENTDESK_DATA and EVENTDESK_ADDR are used.
	envDir := filepath.Join(t.TempDir(), "envdata")
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(cleanEnv(), "EVENTDESK_DATA="+envDir, "EVENTDESK_ADDR=127.0.0.1:0")
	cmd.Dir = t.TempDir()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	wantContains(t, "serve", line, "http://127.0.0.1:", "(data: "+envDir+")")
	if _, err := os.Stat(filepath.Join(envDir, sqlite.EventsFile)); err != nil {
		t.Fatalf("serve did not use EVENTDESK_DATA: %v", err)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")

	r := runBin(t, nil, nil, "token", "create", "--data", dir, "--user", "ada")
	wantCode(t, r, 2)
	wantContains(t, "stderr", r.stderr, "eventdesk: token create: missing --role")
	r = runBin(t, nil, nil, "token", "create", "--data", dir, "--user", "ada", "--role", "boss")
	wantCode(t, r, 2)
	wantContains(t, "stderr", r.stderr, `unknown role "boss"`)
	r = runBin(t, nil, nil, "token", "frobnicate")
	wantCode(t, r, 2)
	wantContains(t, "stderr", r.stderr, `token: unknown subcommand "frobnicate"`)
	r = runBin(t, nil, nil, "token", "list", "--data", filepath.Join(t.TempDir(), "nope"))
	wantCode(t, r, 1)
	wantContains(t, "stderr", r.stderr, "does not exist")

	// A first admin token before the first start.
	r = runBin(t, nil, nil, "token", "create", "--data", dir, "--user", "ada", "--role", "admin")
	wantCode(t, r, 0)
	secret := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(secret, "edk_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q", r.stdout)
	}

	// Tokens can be managed while the server runs.
	s := startServe(t, dir)
	r = runBin(t, nil, nil, "token", "create", "--data", dir, "--user", "bob", "--role", "agent")
	wantCode(t, r, 0)
	r = runBin(t, nil, nil, "token", "list", "--data", dir)
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "\tada\tadmin\t") || !strings.Contains(lines[1], "\tbob\tagent\t") {
		t.Fatalf("token list:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, secret) {
		t.Fatal("token list shows a secret")
	}
	id, _, _ := strings.Cut(lines[1], "\t")
	r = runBin(t, nil, nil, "token", "revoke", "--data", dir, "--id", id)
	wantCode(t, r, 0)
	r = runBin(t, nil, nil, "token", "list", "--data", dir)
	wantContains(t, "token list", r.stdout, "\tbob\tagent\t", "revoked ")
	s.stop(t)
}

// api sends an authenticated JSON request to a running server.
func api(tb testing.TB, s *server, token, method, path, body string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}

func newToken(tb testing.TB, dir, user, role string) string {
	tb.Helper()
	r := runBin(tb, nil, nil, "token", "create", "--data", dir, "--user", user, "--role", role)
	wantCode(tb, r, 0)
	return strings.TrimSpace(r.stdout)
}

// TestServeSentimentSwitch: with --sentiment=false nothing is scored; a
// later start with the scorer on backfills every ticket stored meanwhile.
func TestServeSentimentSwitch(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	n := seed(t, dir)

	s := startServeWith(t, dir, []string{"--sentiment=false"})
	if head := settle(t, s, n); head != n {
		t.Fatalf("with --sentiment=false the head moved from %d to %d: something was appended", n, head)
	}
	s.stop(t)

	s = startServeWith(t, dir, nil, "EVENTDESK_SENTIMENT=true")
	if head := settle(t, s, n); head <= n {
		t.Fatalf("with the scorer on, the head stayed at %d: the stored tickets were not scored", head)
	}
	s.stop(t)
}

// TestServeAPI: the composition root wires the store, the projections and
// the REST API: a ticket opened over HTTP is readable from the read model,
// and events imported before the start are projected at start.
func TestServeAPI(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	n := seed(t, dir)
	token := newToken(t, dir, "ada", "agent")
	s := startServe(t, dir)
	n = settle(t, s, n) // the sentiment subscriber scores the seeded tickets

	resp, body := api(t, s, token, "POST", "/api/v1/tickets", `{"title":"VPN down","description":"since 9:00","requester":"ada","tags":["network"]}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	pos := resp.Header.Get("X-Event-Position")
	if pos != fmt.Sprint(n+1) {
		t.Fatalf("X-Event-Position = %q, want %d", pos, n+1)
	}
	resp, body = api(t, s, token, "GET", resp.Header.Get("Location")+"?minPosition="+pos, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"VPN down"`) {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
	// The seeded tickets were projected at start.
	resp, body = api(t, s, token, "GET", "/api/v1/tickets?minPosition="+pos+"&limit=200", "")
	if resp.StatusCode != http.StatusOK || strings.Count(body, `"title"`) != 7 {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	code, ready := get(t, s.url+"/readyz")
	if code != http.StatusOK || !strings.Contains(ready, `"head":`) {
		t.Fatalf("/readyz: %d %s", code, ready)
	}
	settle(t, s, n+1)
	s.stop(t)
}

// TestServeShutdownDrains: SIGTERM while clients are appending and one
// follows the event stream. The server exits 0 promptly (the stream does
// not hold it up), and every ticket whose creation was acknowledged is in
// the store afterwards.
func TestServeShutdownDrains(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	token := newToken(t, dir, "ada", "agent")
	// With a long shutdown timeout, a stream that held up the shutdown
	// would make stop (which allows 10s) fail.
	s := startServeWith(t, dir, []string{"--shutdown-timeout", "60s"})

	// A client follows the changefeed.
	req, _ := http.NewRequest("GET", s.url+"/api/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", stream.StatusCode)
	}

	// Writers append until the server goes away.
	type ack struct{ id string }
	acks := make(chan ack, 10000)
	writersDone := make(chan struct{})
	const writers = 8
	for w := range writers {
		go func() {
			defer func() { writersDone <- struct{}{} }()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; i < 2000; i++ {
				body := fmt.Sprintf(`{"title":"ticket %d-%d","requester":"ada"}`, w, i)
				req, _ := http.NewRequest("POST", s.url+"/api/v1/tickets", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // the server stopped
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					return
				}
				loc := resp.Header.Get("Location")
				acks <- ack{id: loc[strings.LastIndex(loc, "/")+1:]}
			}
		}()
	}
	// Let some appends through, then stop the server under load.
	ids := map[string]bool{}
	for range 50 {
		ids[(<-acks).id] = true
	}
	s.stop(t)
	for range writers {
		<-writersDone
	}
	close(acks)
	for a := range acks {
		ids[a.id] = true
	}
	want := len(ids)

	// Every acknowledged ticket is in the store and the chains are intact.
	r := runBin(t, nil, nil, "verify", "--data", dir)
	wantCode(t, r, 0)
	r = runBin(t, nil, nil, "export", "--data", dir)
	wantCode(t, r, 0)
	for id := range ids {
		if !strings.Contains(r.stdout, `"stream":"ticket-`+id+`"`) {
			t.Fatalf("acknowledged ticket %s is missing after shutdown", id)
		}
	}
	if got := strings.Count(r.stdout, "\n"); got < want {
		t.Fatalf("the store holds %d events, fewer than the %d acknowledged", got, want)
	}
}

// TestImportIntoEmptyStore: a data directory whose store has no events yet
// (serve ran once, an admin token was issued) accepts an import and keeps
// its tokens and session key.
func TestImportIntoEmptyStore(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "src")
	n := seed(t, src)
	r := runBin(t, nil, nil, "export", "--data", src)
	wantCode(t, r, 0)
	export := r.stdout

	dir := filepath.Join(t.TempDir(), "data")
	token := newToken(t, dir, "ada", "admin")
	startServe(t, dir).stop(t)
	key, err := os.ReadFile(filepath.Join(dir, "session.key"))
	if err != nil {
		t.Fatal(err)
	}

	r = runBin(t, nil, strings.NewReader(export), "import", "--data", dir)
	wantCode(t, r, 0)
	wantContains(t, "import", r.stderr, fmt.Sprintf("imported %d events", n))
	r = runBin(t, nil, nil, "verify", "--data", dir)
	wantCode(t, r, 0)
	r = runBin(t, nil, nil, "token", "list", "--data", dir)
	wantCode(t, r, 0)
	wantContains(t, "token list", r.stdout, "\tada\tadmin\t")
	if after, err := os.ReadFile(filepath.Join(dir, "session.key")); err != nil || !bytes.Equal(key, after) {
		t.Fatalf("the session key was not kept (err %v)", err)
	}
	s := startServe(t, dir)
	resp, body := api(t, s, token, "GET", fmt.Sprintf("/api/v1/tickets?minPosition=%d", n), "")
	if resp.StatusCode != http.StatusOK || strings.Count(body, `"title"`) != 6 {
		t.Fatalf("list after import: %d %s", resp.StatusCode, body)
	}
	s.stop(t)
}
