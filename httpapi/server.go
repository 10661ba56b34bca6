// Package httpapi is eventdesk's REST API: JSON under /api/v1, Server-Sent
// Events for the changefeed, RFC 9457 problems, Prometheus metrics, an
// embedded OpenAPI 3.1 document and the demo login.
//
// Handlers parse a request, call one application handler (package app,
// where authorization lives) and render its result; they hold no ticket
// rules and no SQL. The package imports the root package, app, auth,
// internal/sse (the Server-Sent Events loop it shares with web), the
// standard library and the Prometheus client.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
)

// MaxBodyBytes bounds a request body; larger ones get 413.
const MaxBodyBytes = 1 << 20

// DefaultHeartbeat is how often an idle event stream sends a comment, so
// that proxies and clients keep the connection and notice a dead one.
const DefaultHeartbeat = 15 * time.Second

// SubscriberStatus is how far one subscriber (projection or side effect)
// got, for the lag metric.
type SubscriberStatus struct {
	Name     string
	Position int64
}

// Config holds what a Server needs. App and Sessions are required.
type Config struct {
	App      *app.App
	Sessions *auth.Sessions
	// DemoLogin lets anyone log in by name (and pick a role) at /login.
	DemoLogin bool
	Logger    *slog.Logger
	// Metrics records request and append metrics; nil: a new one. Pass the
	// same value to app.Config.Observer to get append latencies.
	Metrics *Metrics
	// Subscribers reports subscriber positions for the lag metric (nil:
	// none).
	Subscribers func(ctx context.Context) ([]SubscriberStatus, error)
	// Ready reports whether the server can serve (nil: the store's head
	// must be readable).
	Ready func(ctx context.Context) error
	// Heartbeat of event streams (0: DefaultHeartbeat).
	Heartbeat time.Duration
	// Notifications serves webhooks, dead letters and notification
	// preferences (nil: those endpoints answer 504 unavailable).
	Notifications *app.Notifications
}

// Server serves the REST API. It is an http.Handler.
type Server struct {
	app       *app.App
	sessions  *auth.Sessions
	authn     *auth.Authenticator
	demo      bool
	log       *slog.Logger
	metrics   *Metrics
	ready     func(ctx context.Context) error
	heartbeat time.Duration
	mux       *http.ServeMux
	handler   http.Handler
	openapi   []byte
	reqPrefix string
	reqSeq    atomic.Uint64

	notifications *app.Notifications
}

// NewServer returns a Server with every route registered.
func NewServer(c Config) (*Server, error) {
	if c.App == nil {
		return nil, errors.New("httpapi: no application")
	}
	if c.Sessions == nil {
		return nil, errors.New("httpapi: no session signer")
	}
	s := &Server{
		app: c.App, sessions: c.Sessions, demo: c.DemoLogin, log: c.Logger,
		metrics: c.Metrics, ready: c.Ready, heartbeat: c.Heartbeat, mux: http.NewServeMux(),
	}
	s.notifications = c.Notifications
	s.authn = &auth.Authenticator{Sessions: c.Sessions, Token: c.App.Authenticate.Handle}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.setSources(c.App.Head, c.Subscribers)
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.ready == nil {
		s.ready = func(ctx context.Context) error {
			_, err := c.App.Head(ctx)
			return err
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.reqPrefix = hex.EncodeToString(b[:]) + "-"
	doc, err := openAPIDocument()
	if err != nil {
		return nil, err
	}
	s.openapi = doc
	s.routes()
	s.handler = s.middleware(s.mux)
	return s, nil
}

// routes registers every endpoint: this function is the API's surface.
func (s *Server) routes() {
	s.api("POST /api/v1/tickets", s.createTicket)
	s.api("GET /api/v1/tickets", s.listTickets)
	s.api("GET /api/v1/tickets/{id}", s.getTicket)
	s.api("PATCH /api/v1/tickets/{id}", s.patchTicket)
	s.api("PUT /api/v1/tickets/{id}", s.putTicket)
	s.api("POST /api/v1/tickets/{id}/comments", s.addComment)
	s.api("GET /api/v1/tickets/{id}/history", s.history)
	s.api("GET /api/v1/stats", s.stats)
	s.api("GET /api/v1/events", s.events)
	s.api("GET /api/v1/events/stream", s.eventStream)
	s.api("GET /api/v1/me", s.me)
	s.api("GET /api/v1/tokens", s.listTokens)
	s.api("POST /api/v1/tokens", s.createToken)
	s.api("DELETE /api/v1/tokens/{id}", s.revokeToken)
	s.api("POST /api/v1/webhooks", s.createWebhook)
	s.api("GET /api/v1/webhooks", s.listWebhooks)
	s.api("GET /api/v1/webhooks/{id}", s.getWebhook)
	s.api("DELETE /api/v1/webhooks/{id}", s.deleteWebhook)
	s.api("POST /api/v1/webhooks/{id}/rotate", s.rotateWebhook)
	s.api("POST /api/v1/webhooks/{id}/enable", s.enableWebhook)
	s.api("GET /api/v1/webhooks/{id}/deliveries", s.webhookDeliveries)
	s.api("GET /api/v1/deadletters", s.listDeadLetters)
	s.api("POST /api/v1/deadletters/{id}/redrive", s.redriveDeadLetter)
	s.api("GET /api/v1/me/notifications", s.getPreferences)
	s.api("PUT /api/v1/me/notifications", s.putPreferences)
	s.mux.HandleFunc("GET /api/openapi.json", s.openAPI)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	s.mux.HandleFunc("GET /login", s.loginGet)
	s.mux.HandleFunc("POST /login", s.loginPost)
	s.mux.HandleFunc("POST /logout", s.logout)
}

// api registers an endpoint that needs an authenticated caller, so that
// an anonymous request gets 401 before its input is looked at.
func (s *Server) api(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := eventdesk.ActorFromContext(r.Context()); !ok {
			s.writeError(w, r, eventdesk.Errorf(eventdesk.EUnauthorized, "authentication required: send a bearer token or log in"))
			return
		}
		h(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// middleware wraps the mux: security headers, request id, recovery,
// authentication, problem bodies for the mux's own 404 and 405, logs and
// metrics.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		for k, v := range securityHeaders {
			h[k] = v
		}
		reqID := r.Header.Get("X-Request-Id")
		if !validRequestID(reqID) {
			reqID = s.reqPrefix + strconv.FormatUint(s.reqSeq.Add(1), 36)
		}
		h.Set("X-Request-Id", reqID)
		rec := &recorder{ResponseWriter: w, status: 0, reqID: reqID}
		ctx := app.NewContextWithRequest(r.Context(), app.Request{CorrelationID: reqID, TraceParent: traceParent(r)})
		var user string
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "request_id", reqID, "panic", fmt.Sprint(v))
				if rec.status == 0 {
					s.writeError(rec, r, eventdesk.Errorf(eventdesk.EInternal, "internal error"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			st := rec.status
			if st == 0 {
				st = http.StatusOK
			}
			s.metrics.observeRequest(r.Method, route, st, d)
			level := slog.LevelInfo
			if st >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(ctx, level, "request",
				slog.String("request_id", reqID), slog.String("method", r.Method), slog.String("route", route),
				slog.String("path", r.URL.Path), slog.Int("status", st), slog.Duration("duration", d),
				slog.Int64("bytes", rec.bytes), slog.String("user", user))
		}()
		a, ok, err := s.authn.Authenticate(r)
		if err != nil && !strings.HasPrefix(r.URL.Path, "/api/v1/") {
			// Outside the API (login, logout, health, metrics) stale
			// credentials must not lock anyone out: /login is how a
			// browser with an old cookie gets a new one.
			err = nil
		}
		if ok {
			user = a.Name
			ctx = eventdesk.NewContextWithActor(ctx, a)
		}
		// One copy of the request, with every value the handlers need.
		r = r.WithContext(ctx)
		if err != nil {
			s.writeError(rec, r, err)
			return
		}
		next.ServeHTTP(rec, r)
	})
}

// securityHeaders go on every response. (Canonical keys, assigned
// directly: this runs for every request.)
var securityHeaders = map[string][]string{
	"X-Content-Type-Options":  {"nosniff"},
	"X-Frame-Options":         {"DENY"},
	"Referrer-Policy":         {"no-referrer"},
	"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
	"Cache-Control":           {"no-store"},
}

// validRequestID accepts a client's request id only if it is short and
// plain, so that it cannot inject anything into logs or headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// traceParent passes on a W3C traceparent header of the expected form.
func traceParent(r *http.Request) string {
	tp := r.Header.Get("Traceparent")
	if len(tp) != 55 {
		return ""
	}
	for i := 0; i < len(tp); i++ {
		c := tp[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return ""
		}
	}
	return tp
}

// recorder remembers the status and size of a response, and turns the
// mux's plain-text 404 and 405 into problems.
type recorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	reqID   string
	discard bool // the mux's own body is being replaced
}

func (r *recorder) WriteHeader(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	h := r.Header()
	if (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) && strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		// The mux's NotFound or 405 (which set Allow): answer in kind.
		r.discard = true
		var p problem
		if code == http.StatusNotFound {
			p = newProblem(httpError(codeRouteNotFound, "no such route"))
		} else {
			p = newProblem(httpError(codeMethodNotAllowed, "method not allowed; allowed: "+h.Get("Allow")))
		}
		p.RequestID = r.reqID
		body, _ := json.Marshal(p)
		h.Set("Content-Type", "application/problem+json")
		h.Del("X-Content-Type-Options")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		r.ResponseWriter.WriteHeader(code)
		n, _ := r.ResponseWriter.Write(body)
		r.bytes += int64(n)
		return
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if r.discard {
		return len(b), nil
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines for event streams).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush implements http.Flusher.
func (r *recorder) Flush() {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// writeJSON renders v with status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	p := getBuf()
	defer putBuf(p)
	buf := bytes.NewBuffer(*p)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Error("encode response", "err", err)
		s.writeError(w, nil, eventdesk.Errorf(eventdesk.EInternal, "internal error"))
		return
	}
	*p = buf.Bytes()
	writeBody(w, status, *p)
}

// writeBody writes an encoded JSON body.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var jsonContentType = []string{"application/json"}

// writeError renders err as a problem. Internal details go to the log
// only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := newProblem(err)
	if rec, ok := w.(*recorder); ok {
		p.RequestID = rec.reqID
	}
	if r != nil {
		p.Instance = r.URL.Path
	}
	if p.Status >= 500 {
		var ctx context.Context = context.Background()
		if r != nil {
			ctx = r.Context()
		}
		s.log.ErrorContext(ctx, "request failed", "request_id", p.RequestID, "err", err.Error())
	}
	switch p.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="eventdesk"`)
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// The read models catch up, or the server finishes starting.
		w.Header().Set("Retry-After", "1")
	}
	body, _ := json.Marshal(p)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Del("ETag")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.openapi)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err.Error())
		s.writeError(w, r, httpError(codeNotReady, "not ready"))
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
