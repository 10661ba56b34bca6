package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// builds holds, per package and race mode, the one build of a binary.
var builds sync.Map // buildKey → func() (string, error)

type buildKey struct {
	pkg  string
	race bool
}

// Binary builds the main package pkg (a directory relative to the
// repository root, e.g. "cmd/eventdesk") once per test binary, with -race
// if race, and returns the executable's path. The build lives in a
// temporary directory that is removed when [Main] ends, so a package using
// it must call Main from TestMain.
func Binary(tb testing.TB, pkg string, race bool) string {
	tb.Helper()
	requireMain(tb, "build "+pkg)
	root := RepoRoot(tb)
	once, _ := builds.LoadOrStore(buildKey{pkg, race}, sync.OnceValues(func() (string, error) {
		dir, err := makeDir("", "bin")
		if err != nil {
			return "", err
		}
		onTeardown(func() { os.RemoveAll(dir) })
		bin := filepath.Join(dir, filepath.Base(pkg))
		args := []string{"build", "-o", bin}
		if race {
			args = append(args, "-race")
		}
		// `go test` puts the go command of its toolchain first in PATH.
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Dir = filepath.Join(root, filepath.FromSlash(pkg))
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return bin, nil
	}))
	bin, err := once.(func() (string, error))()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return bin
}

// CleanEnv returns this process's environment without the EVENTDESK_*
// variables, so that an operator's settings cannot change what a binary
// under test sees.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTDESK_") {
			env = append(env, kv)
		}
	}
	return env
}
