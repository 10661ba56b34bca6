package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// browser is one headless Chromium (Debian's), started without anything
// that uses the network, with a fresh profile.
type browser struct {
	ctx context.Context
}

func newBrowser(tb testing.TB) *browser {
	tb.Helper()
	path := testenv.Chromium(tb)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start Chromium (%s): %v", path, err)
	}
	return &browser{ctx: ctx}
}

// tab is a tab in a browser context of its own: its own cookies, so two
// tabs are two different people.
type tab struct {
	tb   testing.TB
	ctx  context.Context
	base string
	name string
}

func (b *browser) tab(tb testing.TB, base, name string) *tab {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	tb.Cleanup(cancel)
	// Every document records what its Content-Security-Policy blocked
	// (checked by axe and noXSS): a page whose own markup needs inline
	// script or style would be broken in a browser, silently.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorder})
		return err
	}))
	if err != nil {
		tb.Fatalf("open tab: %v", err)
	}
	return &tab{tb: tb, ctx: ctx, base: base, name: name}
}

// cspRecorder runs before any script of a page.
const cspRecorder = `window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || "")));`

// cspClean fails the test if the page's Content-Security-Policy blocked
// anything on it.
func (t *tab) cspClean(page string) {
	t.tb.Helper()
	if v := evaluate[[]string](t, `window.__csp || ["no recorder"]`); len(v) > 0 {
		t.tb.Errorf("%s: the Content-Security-Policy blocked %q", page, v)
	}
	// Everything the page loaded came from this server: no CDN, no
	// external fonts.
	if v := evaluate[[]string](t, `performance.getEntriesByType("resource").map(r => r.name).filter(n => !n.startsWith(location.origin + "/"))`); len(v) > 0 {
		t.tb.Errorf("%s: loaded from elsewhere: %q", page, v)
	}
}

// tabTo presses Tab until the focused element matches sel, as a keyboard
// user moves through a page.
func (t *tab) tabTo(sel string) {
	t.tb.Helper()
	for range 80 {
		if evaluate[bool](t, `!!document.activeElement && document.activeElement.matches(`+jsString(sel)+`)`) {
			return
		}
		t.do("press Tab", chromedp.KeyEvent(kb.Tab))
	}
	t.tb.Fatalf("%s: 80 presses of Tab never reached %s", t.name, sel)
}

// key sends keys to the focused element and, when the keys load a page,
// waits for it.
func (t *tab) key(keys string) {
	t.tb.Helper()
	t.do("press "+keys, chromedp.KeyEvent(keys))
}

// bounded gives each step a deadline, so that a broken page fails the
// test with a message instead of hanging it.
func (t *tab) bounded() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, 20*time.Second)
}

func (t *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	t.tb.Helper()
	ctx, cancel := t.bounded()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.tb.Fatalf("%s: %s: %v", t.name, what, err)
	}
}

// open navigates to path and returns the HTTP status of the page.
func (t *tab) open(path string) int64 {
	t.tb.Helper()
	ctx, cancel := t.bounded()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(t.base+path))
	if err != nil {
		t.tb.Fatalf("%s: open %s: %v", t.name, path, err)
	}
	return resp.Status
}

// submit clicks a button (or link) that loads a page and returns that
// page's status.
func (t *tab) submit(sel string) int64 {
	t.tb.Helper()
	ctx, cancel := t.bounded()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		t.tb.Fatalf("%s: click %s: %v", t.name, sel, err)
	}
	return statusOf(resp)
}

func statusOf(r *network.Response) int64 {
	if r == nil {
		return 0
	}
	return r.Status
}

// fill sets a field's value (as if pasted).
func (t *tab) fill(sel, value string) {
	t.tb.Helper()
	t.do("find "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	ok := evaluate[bool](t, `(el => { el.value = `+jsString(value)+`; el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true})); return el.value === `+jsString(value)+` })(document.querySelector(`+jsString(sel)+`))`)
	if !ok {
		t.tb.Fatalf("%s: could not set %s to %q", t.name, sel, value)
	}
}

// typeIn types into a field key by key.
func (t *tab) typeIn(sel, value string) {
	t.tb.Helper()
	t.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), value, chromedp.NodeVisible))
}

func (t *tab) text(sel string) string {
	t.tb.Helper()
	ctx, cancel := t.bounded()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
	if err != nil {
		t.tb.Fatalf("%s: text of %s: %v", t.name, sel, err)
	}
	return s
}

func evaluate[T any](t *tab, js string, opts ...chromedp.EvaluateOption) T {
	t.tb.Helper()
	ctx, cancel := t.bounded()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.tb.Fatalf("%s: evaluate %q: %v", t.name, js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds (live updates
// arrive asynchronously), failing after a generous deadline.
func (t *tab) waitFor(what, cond string) {
	t.tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if evaluate[bool](t, "!!("+cond+")") {
			return
		}
		if time.Now().After(deadline) {
			t.tb.Fatalf("%s: waited 15s for %s (%s)", t.name, what, cond)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (t *tab) signin(name, role string) {
	t.tb.Helper()
	t.open("/signin")
	t.fill("#user", name)
	t.do("choose role", chromedp.Click(chromedp.CSS(`input[name=role][value="`+role+`"]`), chromedp.NodeVisible))
	if st := t.submit(`form:has(input[value=demo]) button[type=submit]`); st != 200 {
		t.tb.Fatalf("%s: sign in as %s: page status %d", t.name, name, st)
	}
}

var (
	shotsOnce sync.Once
	shotsDir  string
)

// screenshot saves the whole page as test-output/screenshots/<name>.png
// for a person to look at.
func (t *tab) screenshot(name string) { t.tb.Helper(); t.shoot(name, chromedp.FullScreenshot(100)) }

// screenshotView saves what is in the viewport (the first screen).
func (t *tab) screenshotView(name string) { t.tb.Helper(); t.shoot(name, chromedp.CaptureScreenshot()) }

func (t *tab) shoot(name string, shot chromedp.Action[[]byte]) {
	t.tb.Helper()
	shotsOnce.Do(func() {
		shotsDir = filepath.Join(testenv.RepoRoot(t.tb), "test-output", "screenshots")
		_ = os.MkdirAll(shotsDir, 0o755)
	})
	ctx, cancel := t.bounded()
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(shotsDir, name+".png"), png, 0o644); err != nil {
		t.tb.Fatal(err)
	}
}

type axeResult struct {
	Passes     int            `json:"passes"`
	Violations []axeViolation `json:"violations"`
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core on the page and fails on serious, critical or
// moderate violations (minor ones are logged).
func (t *tab) axe(page string) {
	t.tb.Helper()
	if !evaluate[bool](t, "typeof window.axe === 'object'") {
		evaluate[chromedp.Void](t, testenv.AxeScript(t.tb))
	}
	t.cspClean(page)
	res := evaluate[axeResult](t, `axe.run(document, {resultTypes: ["violations"]}).then(r => ({passes: r.passes.length, violations: r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}))}))`, chromedp.EvalAwaitPromise)
	if res.Passes == 0 {
		t.tb.Errorf("axe on %s checked nothing", page)
	}
	vs := res.Violations
	for _, v := range vs {
		msg := fmt.Sprintf("axe on %s: %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, " | "))
		// The issue asks for no serious or critical violations; moderate
		// ones fail too, because axe rates the landmark rules (region,
		// landmark-one-main, landmark-unique) moderate, and landmarks are
		// asked for as well.
		if v.Impact == "serious" || v.Impact == "critical" || v.Impact == "moderate" {
			t.tb.Error(msg)
		} else {
			t.tb.Log(msg)
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
