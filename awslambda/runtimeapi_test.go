package awslambda_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

// runtimeAPI is a stand-in for the Lambda Runtime API (Lambda's own cannot
// run here): the process under test long-polls it for invocations and
// posts their results back, exactly as on AWS.
//
//	GET  /2018-06-01/runtime/invocation/next
//	POST /2018-06-01/runtime/invocation/{id}/response
//	POST /2018-06-01/runtime/invocation/{id}/error
//	POST /2018-06-01/runtime/init/error
type runtimeAPI struct {
	srv  *http.Server
	addr string

	queue chan *invocation
	mu    sync.Mutex
	open  map[string]*invocation
	seq   atomic.Int64

	// initErr receives the body of an init error report.
	initErr chan string
	// firstNext is closed when the runtime first asks for an invocation.
	firstNext     chan struct{}
	firstNextOnce sync.Once
	firstNextAt   time.Time // set before firstNext is closed
}

// invocation is one event handed to the runtime and its outcome.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result
}

// result is what the runtime posted for an invocation.
type result struct {
	body    []byte
	isError bool
}

func newRuntimeAPI(tb testing.TB) *runtimeAPI {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &runtimeAPI{
		addr: ln.Addr().String(), queue: make(chan *invocation, 16), open: map[string]*invocation{},
		initErr: make(chan string, 1), firstNext: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, req *http.Request) {
		r.finish(w, req, false)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, req *http.Request) {
		r.finish(w, req, true)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		select {
		case r.initErr <- string(b):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"OK"}`))
	})
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
		_ = r.srv.Close()
	})
	return r
}

func (r *runtimeAPI) next(w http.ResponseWriter, req *http.Request) {
	r.firstNextOnce.Do(func() {
		r.firstNextAt = time.Now()
		close(r.firstNext)
	})
	select {
	case inv := <-r.queue:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:eventdesk-test")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.payload)
	case <-req.Context().Done():
	}
}

func (r *runtimeAPI) finish(w http.ResponseWriter, req *http.Request, isError bool) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	inv := r.open[req.PathValue("id")]
	delete(r.open, req.PathValue("id"))
	r.mu.Unlock()
	if inv == nil {
		http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
		return
	}
	inv.done <- result{body: body, isError: isError}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// invoke hands payload to the runtime and waits for its result.
func (r *runtimeAPI) invoke(tb testing.TB, payload any) result {
	tb.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		tb.Fatal(err)
	}
	inv := &invocation{
		id: fmt.Sprintf("req-%d", r.seq.Add(1)), payload: b,
		deadline: time.Now().Add(60 * time.Second), done: make(chan result, 1),
	}
	r.mu.Lock()
	r.open[inv.id] = inv
	r.mu.Unlock()
	r.queue <- inv
	select {
	case res := <-inv.done:
		return res
	case <-time.After(90 * time.Second):
		tb.Fatalf("invocation %s not answered", inv.id)
	}
	return result{}
}

// invokeInto invokes and decodes a successful response into out.
func (r *runtimeAPI) invokeInto(tb testing.TB, payload, out any) {
	tb.Helper()
	res := r.invoke(tb, payload)
	if res.isError {
		tb.Fatalf("invocation failed: %s", res.body)
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		tb.Fatalf("response %s: %v", res.body, err)
	}
}

// buildBootstrap builds cmd/eventdesk with the tag lambda.norpc into a
// temporary directory of tb and returns the binary's path. shipped builds
// it exactly as scripts/build-lambda does (no cgo, trimmed, stripped), for
// benchmarks; otherwise it is built like the test binary (with -race under
// -race), which reuses the packages the test build compiled.
func buildBootstrap(tb testing.TB, shipped bool) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "bootstrap")
	args := []string{"build", "-tags", "lambda.norpc", "-o", bin}
	env := os.Environ()
	switch {
	case shipped:
		args = append(args, "-trimpath", "-ldflags", "-s -w")
		env = append(env, "CGO_ENABLED=0")
	case raceEnabled:
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/eventdesk")...)
	cmd.Dir = testenv.RepoRoot(tb)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// function is a running bootstrap process playing one role, with its
// Runtime API.
type function struct {
	*runtimeAPI
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan error
}

// startFunction starts the binary as Lambda would for a function whose
// handler is role, with env added to a clean environment.
func startFunction(tb testing.TB, bin, role string, env map[string]string) *function {
	tb.Helper()
	api := newRuntimeAPI(tb)
	cmd := exec.Command(bin)
	cmd.Dir = tb.TempDir()
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir,
		"AWS_LAMBDA_RUNTIME_API=" + api.addr, "_HANDLER=" + role,
		"AWS_LAMBDA_FUNCTION_NAME=eventdesk-" + role, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=eventdesk", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(cmd.Dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(cmd.Dir, "none"),
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	f := &function{runtimeAPI: api, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout = f.stderr
	cmd.Stderr = f.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { f.exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-f.exited
		if tb.Failed() {
			tb.Logf("%s function output:\n%s", role, f.stderr.String())
		}
	})
	return f
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRuntimeInitError starts the binary with a role it does not know and
// without its configuration: it must report an init error to the Runtime
// API and exit non-zero.
func TestRuntimeInitError(t *testing.T) {
	bin := buildBootstrap(t, false)
	for _, role := range []string{"no-such-role", "api"} {
		t.Run(role, func(t *testing.T) {
			f := startFunction(t, bin, role, nil)
			select {
			case body := <-f.initErr:
				var e struct{ ErrorMessage, ErrorType string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.ErrorType != "Runtime.InitError" || e.ErrorMessage == "" {
					t.Fatalf("init error report %s", body)
				}
				if role == "api" && !strings.Contains(e.ErrorMessage, "EVENTDESK_EVENTS_TABLE") {
					t.Errorf("init error %q does not name the missing setting", e.ErrorMessage)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no init error reported")
			}
			select {
			case err := <-f.exited:
				if err == nil {
					t.Fatal("exit code 0 after a failed init")
				}
				f.exited <- err
			case <-time.After(30 * time.Second):
				t.Fatal("process did not exit after a failed init")
			}
		})
	}
}
