package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Chromium returns the path of the Chromium binary for browser tests:
// $EVENTDESK_TEST_CHROMIUM, else /usr/bin/chromium, else chromium or
// chromium-browser in PATH. Without it the test is skipped (fails when
// CI=true). Start it headless with --no-sandbox (tests may run as root)
// and without network-using features (--disable-background-networking,
// --disable-component-update, --disable-sync, --no-first-run): this
// machine has no network beyond loopback.
func Chromium(tb testing.TB) string {
	tb.Helper()
	path, err := chromiumPath()
	check(tb, "Chromium", err)
	return path
}

func chromiumPath() (string, error) {
	if p := os.Getenv("EVENTDESK_TEST_CHROMIUM"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", &missingError{
			what: "EVENTDESK_TEST_CHROMIUM=" + p + " is not an executable file",
			how:  "point it at a Chromium binary, or unset it",
		}
	}
	if isExecutable("/usr/bin/chromium") {
		return "/usr/bin/chromium", nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", &missingError{
		what: "Chromium not found",
		how: "set EVENTDESK_TEST_CHROMIUM, apt-get install --no-install-recommends chromium, " +
			"or run ./scripts/test",
	}
}

// AxeScript returns the source of axe-core's axe.min.js, to inject into a
// page for accessibility checks: from $EVENTDESK_TEST_AXE, else from the npm
// package axe-core under <repo>/.cache/npm, where ./scripts/test installs
// it. Without it the test is skipped (fails when CI=true).
func AxeScript(tb testing.TB) string {
	tb.Helper()
	src, err := axeScript()
	check(tb, "axe-core", err)
	return src
}

var axeScript = sync.OnceValues(func() (string, error) {
	path := os.Getenv("EVENTDESK_TEST_AXE")
	if path == "" {
		if root, err := repoRoot(); err == nil {
			path = filepath.Join(root, ".cache", "npm", "node_modules", "axe-core", "axe.min.js")
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "", &missingError{
			what: "axe-core's axe.min.js not found at " + path,
			how: "set EVENTDESK_TEST_AXE, or run ./scripts/test, which installs the npm package " +
				"axe-core into .cache/npm",
		}
	}
	return string(b), nil
})
