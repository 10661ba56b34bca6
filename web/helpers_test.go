package web_test

import (
	"context"
	"crypto/rand"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/httpapi"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/subscription"
	"github.com/eventdesk/eventdesk/web"
)

// env is a running eventdesk: a real SQLite data directory, the
// projections (tickets and dashboard) kept up to date by the subscription
// runner, and the web UI and REST API served over HTTP the way
// cmd/eventdesk mounts them.
type env struct {
	URL   string
	App   *app.App
	DB    *sqlite.DB
	Dash  *sqlite.DashboardStore
	Web   *web.Server
	Clock *testClock
}

type envOptions struct {
	heartbeat time.Duration
}

// testClock is the real time, shifted while a test writes the past.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// at makes the clock read t (until reset).
func (c *testClock) at(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

func (c *testClock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = 0
}

func newEnv(tb testing.TB, opts ...func(*envOptions)) *env {
	tb.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	clock := &testClock{}
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(tb.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	subs, err := db.OpenSubscriberState(sqlite.SubscriberStateOptions{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	dash, err := db.OpenDashboard()
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := db.OpenTokens()
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(app.Config{Store: db, Reader: rm, Tokens: tokens, Logger: quiet, Clock: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	runner := subscription.NewRunner(db, subs, subscription.Options{Logger: quiet})
	for _, p := range []subscription.Projection{
		{Name: projection.TicketsName, Store: rm, Projector: projection.Tickets{}},
		{Name: projection.DashboardName, Store: dash, Projector: projection.Dashboard{}},
	} {
		if err := runner.AddProjection(p); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := runner.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("subscription runner: %v", err)
		}
	})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sessions, err := auth.NewSessions(key, 0)
	if err != nil {
		tb.Fatal(err)
	}
	dh, err := app.NewDashboardHandler(a, dash)
	if err != nil {
		tb.Fatal(err)
	}
	ws, err := web.NewServer(web.Config{App: a, Sessions: sessions, Dashboard: dh, Key: key, DemoLogin: true,
		Logger: quiet, Heartbeat: o.heartbeat, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	api, err := httpapi.NewServer(httpapi.Config{App: a, Sessions: sessions, DemoLogin: true, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", ws)
	mux.Handle("/api/", api)
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		wg.Wait()
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return &env{URL: srv.URL, App: a, DB: db, Dash: dash, Web: ws, Clock: clock}
}

// client is a browser without JavaScript: cookies, forms, no redirects
// followed unless asked.
type client struct {
	tb   testing.TB
	e    *env
	http *http.Client
}

func (e *env) client(tb testing.TB) *client {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, e: e, http: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type response struct {
	Status   int
	Body     string
	Location string
	Header   http.Header
}

func (c *client) do(req *http.Request) response {
	c.tb.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Body: string(b), Location: resp.Header.Get("Location"), Header: resp.Header}
}

func (c *client) get(path string) response {
	c.tb.Helper()
	req, _ := http.NewRequest("GET", c.e.URL+path, nil)
	return c.do(req)
}

// follow GETs path and follows redirects.
func (c *client) follow(path string) response {
	c.tb.Helper()
	r := c.get(path)
	for i := 0; i < 5 && r.Status/100 == 3; i++ {
		r = c.get(r.Location)
	}
	return r
}

func (c *client) post(path string, form url.Values) response {
	c.tb.Helper()
	req, _ := http.NewRequest("POST", c.e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the token of the forms on page path.
func (c *client) csrf(path string) string {
	c.tb.Helper()
	r := c.get(path)
	m := csrfRE.FindStringSubmatch(r.Body)
	if m == nil {
		c.tb.Fatalf("no CSRF token on %s (status %d)", path, r.Status)
	}
	return html.UnescapeString(m[1])
}

// submit posts form to action with the CSRF token of page.
func (c *client) submit(page, action string, form url.Values) response {
	c.tb.Helper()
	form.Set("csrf", c.csrf(page))
	return c.post(action, form)
}

func (c *client) signin(name string, role eventdesk.Role) *client {
	c.tb.Helper()
	r := c.submit("/signin", "/signin", url.Values{"method": {"demo"}, "user": {name}, "role": {string(role)}})
	if r.Status != http.StatusSeeOther {
		c.tb.Fatalf("sign in as %s: status %d\n%s", name, r.Status, r.Body)
	}
	return c
}

// openTicket opens a ticket through the form and returns its id.
func (c *client) openTicket(title, description string, extra url.Values) string {
	c.tb.Helper()
	form := url.Values{"title": {title}, "description": {description}, "priority": {"normal"}}
	for k, v := range extra {
		form[k] = v
	}
	r := c.submit("/tickets/new", "/tickets", form)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/tickets/") {
		c.tb.Fatalf("open ticket: status %d, location %q\n%s", r.Status, r.Location, r.Body)
	}
	return strings.TrimPrefix(r.Location, "/tickets/")
}

var versionRE = regexp.MustCompile(`name="version" value="(\d+)"`)

// formVersion returns the version the forms of a ticket page carry.
func formVersion(tb testing.TB, body string) string {
	tb.Helper()
	m := versionRE.FindStringSubmatch(body)
	if m == nil {
		tb.Fatal("no version field on the page")
	}
	return m[1]
}

func mustStatus(tb testing.TB, r response, want int) {
	tb.Helper()
	if r.Status != want {
		tb.Fatalf("status %d, want %d\n%s", r.Status, want, r.Body)
	}
}

func mustContain(tb testing.TB, body string, wants ...string) {
	tb.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			tb.Errorf("page does not contain %q", w)
		}
	}
}

func mustNotContain(tb testing.TB, body string, wants ...string) {
	tb.Helper()
	for _, w := range wants {
		if strings.Contains(body, w) {
			tb.Errorf("page contains %q", w)
		}
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// httpRequest is a request served in-process (an https:// target makes it
// a TLS request).
func httpRequest(method, target string, body io.Reader) *http.Request {
	return httptest.NewRequest(method, target, body)
}

func regexpFind(tb testing.TB, s, re string) string {
	tb.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		tb.Fatalf("no match for %s", re)
	}
	return html.UnescapeString(m[1])
}

// settle waits until the read models show every event written so far, as
// they would by the time a person clicks a link someone else's change
// put on their screen.
func (e *env) settle(tb testing.TB) {
	tb.Helper()
	head, err := e.App.Head(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.App.Tickets.Handle(as("settle", eventdesk.RoleAuditor), app.ListTickets{MinPosition: head, Filter: eventdesk.TicketFilter{Limit: 1}}); err != nil {
		tb.Fatal(err)
	}
}
