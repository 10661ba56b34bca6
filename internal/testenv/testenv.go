package testenv

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// dirPrefix starts the name of every temporary directory this package makes,
// so that leftovers of killed test binaries can be found and removed.
const dirPrefix = "eventdesk-testenv-"

// ownerFile, inside each such directory, holds the PID of the test binary
// that made it.
const ownerFile = "owner.pid"

var (
	mainActive atomic.Bool

	teardownMu sync.Mutex
	teardowns  []func()
	tornDown   bool

	signalsOnce sync.Once
)

// Main runs the tests of a package and then stops every service that
// [Postgres], [NATS] or [DynamoDB] started, and exits with the tests' exit
// code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// The services are shared by all tests of the package and started on first
// use; without Main they would outlive the test binary, so the helpers
// refuse to start them unless Main is running.
func Main(m *testing.M) {
	mainActive.Store(true)
	removeStaleDirs()
	code := m.Run()
	teardown()
	os.Exit(code)
}

// onTeardown registers f to run when [Main] ends or the binary is
// interrupted. Functions run in reverse order of registration.
func onTeardown(f func()) {
	signalsOnce.Do(catchSignals)
	teardownMu.Lock()
	defer teardownMu.Unlock()
	if tornDown {
		// Too late to register: run it now rather than leak.
		go f()
		return
	}
	teardowns = append(teardowns, f)
}

// teardown runs the registered functions once.
func teardown() {
	teardownMu.Lock()
	fs := teardowns
	teardowns = nil
	tornDown = true
	teardownMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// catchSignals stops the services on SIGINT and SIGTERM, then lets the
// signal take its default effect. It is installed only once a service is
// running, so that a package without services keeps the testing package's
// own signal handling (the fuzzer's graceful stop on SIGINT) untouched.
func catchSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-c
		fmt.Fprintf(os.Stderr, "testenv: %v: stopping test services\n", sig)
		teardown()
		signal.Stop(c)
		if s, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), s)
		}
		os.Exit(2)
	}()
}

// errNoMain is returned by the service starters when [Main] is not running.
var errNoMain = errors.New("the package's tests must call testenv.Main from TestMain, " +
	"so that shared services are stopped when the tests end: add\n\n" +
	"\tfunc TestMain(m *testing.M) { testenv.Main(m) }\n\n" +
	"to one _test.go file of the package")

// missingError reports a dependency that is not installed: what is missing
// and how to get it.
type missingError struct {
	what string
	how  string
}

func (e *missingError) Error() string { return e.what + " (" + e.how + ")" }

// check turns the error of a service starter into the right test outcome:
// a skip for a missing dependency (a failure when CI=true), a failure
// otherwise.
func check(tb testing.TB, service string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	var m *missingError
	if !errors.As(err, &m) {
		tb.Fatalf("testenv: %s: %v", service, err)
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("testenv: %s: %s (CI=true, so a missing dependency fails the test instead of skipping it): %s",
			service, m.what, m.how)
		return
	}
	tb.Skipf("SKIP: %s: %s (%s)", service, m.what, m.how)
}

// requireMain fails tb if [Main] is not running.
func requireMain(tb testing.TB, service string) {
	tb.Helper()
	if !mainActive.Load() {
		tb.Fatalf("testenv: %s: %v", service, errNoMain)
	}
}

var repoRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or any parent")
		}
		dir = parent
	}
})

// RepoRoot returns the directory of the repository's go.mod, found by
// walking up from the working directory (the package's directory under
// `go test`).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := repoRoot()
	if err != nil {
		tb.Fatalf("testenv: repository root: %v", err)
	}
	return dir
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; callers that can, should
// listen on port 0 instead.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("testenv: free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// makeDir creates a temporary directory for one service, records this
// process as its owner, and registers its removal at teardown. base is the
// parent directory ("" for the default).
func makeDir(base, kind string) (string, error) {
	dir, err := os.MkdirTemp(base, dirPrefix+kind+"-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// removeStaleDirs removes the directories of test binaries that died
// without tearing down (killed, or panicked on -timeout).
func removeStaleDirs() {
	for _, base := range uniq(os.TempDir(), "/tmp") {
		dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
		for _, dir := range dirs {
			b, err := os.ReadFile(filepath.Join(dir, ownerFile))
			if err != nil {
				continue // being created, or not ours
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || pid == os.Getpid() {
				continue
			}
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				os.RemoveAll(dir)
			}
		}
	}
}

func uniq(ss ...string) []string {
	var out []string
	for _, s := range ss {
		dup := false
		for _, o := range out {
			dup = dup || o == s
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// tail returns the last n bytes of the file at path, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		if _, err := f.Seek(fi.Size()-n, 0); err != nil {
			return ""
		}
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}
