package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
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
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// env is a real server over a real SQLite data directory, with the ticket
// projection running, served by httptest.
type env struct {
	url      string
	client   *http.Client
	sessions *auth.Sessions
	db       *sqlite.DB
	rm       *sqlite.ReadModels
	app      *app.App
	srv      *httpapi.Server
	spec     *spec
}

type envOptions struct {
	heartbeat time.Duration
	demoOff   bool
	logger    bool
}

func newEnv(tb testing.TB, opts ...func(*envOptions)) *env {
	tb.Helper()
	var o envOptions
	for _, f := range opts {
		f(&o)
	}
	dir := tb.TempDir()
	db, err := sqlite.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := db.OpenTokens()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	runner := subscription.NewRunner(db, nil, subscription.Options{})
	if err := runner.AddProjection(subscription.Projection{Name: projection.TicketsName, Store: rm, Projector: projection.Tickets{}}); err != nil {
		tb.Fatal(err)
	}
	go func() {
		defer wg.Done()
		_ = runner.Run(ctx)
	}()
	metrics := httpapi.NewMetrics()
	a, err := app.New(app.Config{Store: db, Reader: rm, Tokens: tokens, Observer: metrics})
	if err != nil {
		tb.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	sessions, err := auth.NewSessions(key, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	var logger *slog.Logger
	if o.logger {
		// As serve logs: one JSON line per request (here to nowhere).
		logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	srv, err := httpapi.NewServer(httpapi.Config{
		App: a, Sessions: sessions, Logger: logger, DemoLogin: !o.demoOff, Metrics: metrics, Heartbeat: o.heartbeat,
		Subscribers: func(ctx context.Context) ([]httpapi.SubscriberStatus, error) {
			p, err := rm.Position(ctx)
			return []httpapi.SubscriberStatus{{Name: projection.TicketsName, Position: p}}, err
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		cancel()
		wg.Wait()
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return &env{url: ts.URL, client: ts.Client(), sessions: sessions, db: db, rm: rm, app: a, srv: srv, spec: loadSpec(tb, httpapi.OpenAPI())}
}

// user is who sends a request: a session cookie, or nothing.
type user struct {
	name string
	role eventdesk.Role
	// header overrides the credentials (e.g. a bearer token).
	header http.Header
}

var (
	anon    = user{}
	rita    = user{name: "rita", role: eventdesk.RoleRequester}
	otto    = user{name: "otto", role: eventdesk.RoleRequester}
	agnes   = user{name: "agnes", role: eventdesk.RoleAgent}
	adam    = user{name: "adam", role: eventdesk.RoleAdmin}
	audrey  = user{name: "audrey", role: eventdesk.RoleAuditor}
	allUser = []user{anon, rita, otto, agnes, adam, audrey}
)

func (u user) String() string {
	if u.name == "" {
		return "anonymous"
	}
	return u.name + "(" + string(u.role) + ")"
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) String() string {
	return strconv.Itoa(r.status) + " " + string(r.body)
}

// req describes one request.
type req struct {
	method string
	path   string
	body   string
	header map[string]string
}

// do sends a request as u and validates the response against the OpenAPI
// document when the route is one it describes.
func (e *env) do(tb testing.TB, u user, rq req) response {
	tb.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r, err := http.NewRequest(rq.method, e.url+rq.path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	if u.header != nil {
		for k, v := range u.header {
			r.Header[k] = v
		}
	} else if u.name != "" {
		r.AddCookie(&http.Cookie{Name: auth.CookieName, Value: e.sessions.Encode(eventdesk.Actor{Name: u.name, Role: u.role})})
	}
	resp, err := e.client.Do(r)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: b}
	e.spec.check(tb, r, out, rq.body)
	return out
}

// json decodes the body into v.
func (r response) json(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
}

type ticketJSON struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Description  string   `json:"description"`
	Priority     string   `json:"priority"`
	Status       string   `json:"status"`
	Requester    string   `json:"requester"`
	Assignee     *string  `json:"assignee"`
	Tags         []string `json:"tags"`
	Version      int64    `json:"version"`
	CommentCount int      `json:"commentCount"`
	Comments     []struct {
		ID       string `json:"id"`
		Author   string `json:"author"`
		Body     string `json:"body"`
		Internal bool   `json:"internal"`
	} `json:"comments"`
}

type problemJSON struct {
	Type           string            `json:"type"`
	Title          string            `json:"title"`
	Status         int               `json:"status"`
	Detail         string            `json:"detail"`
	Errors         map[string]string `json:"errors"`
	CurrentVersion *int64            `json:"currentVersion"`
}

// mustStatus fails unless the response has status want.
func mustStatus(tb testing.TB, r response, want int) {
	tb.Helper()
	if r.status != want {
		tb.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}

// createTicket opens a ticket as u and returns it with the position.
func (e *env) createTicket(tb testing.TB, u user, body string) (ticketJSON, int64) {
	tb.Helper()
	r := e.do(tb, u, req{method: "POST", path: "/api/v1/tickets", body: body})
	mustStatus(tb, r, http.StatusCreated)
	var t ticketJSON
	r.json(tb, &t)
	pos, _ := strconv.ParseInt(r.header.Get("X-Event-Position"), 10, 64)
	return t, pos
}

func (e *env) head(tb testing.TB) int64 {
	tb.Helper()
	h, err := e.db.Head(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// spec validates responses against an OpenAPI document.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(tb testing.TB, b []byte) *spec {
	tb.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		tb.Fatalf("load OpenAPI: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		tb.Fatalf("OpenAPI document is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		tb.Fatalf("OpenAPI router: %v", err)
	}
	return &spec{doc: doc, router: router}
}

// check validates a response. Requests to routes the document does not
// know (hostile ones) must still get a problem.
func (s *spec) check(tb testing.TB, r *http.Request, resp response, body string) {
	tb.Helper()
	if resp.status >= 400 && resp.status != http.StatusNotModified {
		if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
			tb.Errorf("%s %s: error %d with Content-Type %q", r.Method, r.URL, resp.status, ct)
		}
	}
	if r.Method == http.MethodHead {
		return
	}
	u := *r.URL
	u.Host, u.Scheme = "", ""
	vr := r.Clone(context.Background())
	vr.URL = &u
	route, params, err := s.router.FindRoute(vr)
	if err != nil {
		if resp.status != http.StatusNotFound && resp.status != http.StatusMethodNotAllowed && resp.status != http.StatusUnauthorized {
			tb.Errorf("%s %s: no route in the OpenAPI document but status %d", r.Method, r.URL, resp.status)
		}
		return
	}
	if strings.HasPrefix(resp.header.Get("Content-Type"), "text/event-stream") {
		return
	}
	if body != "" {
		vr.Body = io.NopCloser(strings.NewReader(body))
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route},
		Status:                 resp.status,
		Header:                 resp.header,
		Body:                   io.NopCloser(bytes.NewReader(resp.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		tb.Errorf("%s %s → %d does not match the OpenAPI document: %v\nbody: %s", r.Method, r.URL, resp.status, err, resp.body)
	}
}

// q escapes a query value.
func q(s string) string { return url.QueryEscape(s) }

func actor(u user) eventdesk.Actor { return eventdesk.Actor{Name: u.name, Role: u.role} }
