// Package web is eventdesk's HTML interface: server-rendered pages for
// requesters and agents (ticket list, ticket page with comments, history
// and time travel, new ticket, dashboard), with small embedded scripts that
// only enhance them (live updates over Server-Sent Events). Every page works
// without JavaScript.
//
// Handlers parse a request, call the application handlers (package app,
// where every rule and all authorization live) and render a typed view
// with html/template; templates, styles and scripts are embedded and
// parsed once at startup. The package imports the root package, app, auth,
// webhook (the types of the webhook admin pages), internal/sse (the
// Server-Sent Events loop it shares with httpapi) and the standard library
// only.
//
// Security: every text is escaped by html/template; cookie-authenticated
// form posts carry a CSRF token bound to the session (an HMAC of the
// session cookie under a server key); the Content-Security-Policy allows
// scripts and styles from this origin only (no inline script or style);
// pages may not be framed; cookies are HttpOnly, SameSite=Lax and Secure
// over TLS or when configured.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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

// DefaultHeartbeat is how often an idle live stream sends a comment.
const DefaultHeartbeat = 15 * time.Second

// MaxFormBytes bounds a form post; a description or comment may be 64 KiB.
const MaxFormBytes = 256 << 10

// Config holds what a Server needs. App, Sessions and Key are required.
type Config struct {
	App      *app.App
	Sessions *auth.Sessions
	// Dashboard serves /dashboard (nil: the page says it is not set up).
	Dashboard *app.DashboardHandler
	// Notifications serves the webhook, dead-letter and notification
	// preference pages (nil: they say the server has none).
	Notifications *app.Notifications
	// Key is secret key material (at least 32 bytes) from which the CSRF
	// key is derived; pass the session key, so that every node of a
	// cluster accepts every node's forms.
	Key []byte
	// DemoLogin lets anyone sign in by name and pick a role. Without it
	// the sign-in page takes API tokens only.
	DemoLogin bool
	// Search shows a free-text search box on the ticket list: set it when
	// the read model answers TicketFilter.Text (PostgreSQL does).
	Search bool
	// SecureCookies marks cookies Secure even on plain HTTP requests (set
	// it behind a TLS-terminating proxy); requests over TLS always get
	// Secure cookies.
	SecureCookies bool
	Logger        *slog.Logger
	// NoLive turns live updates off: pages do not follow the changefeed
	// and /live/stream answers 501. Set it where a long-lived response
	// cannot pass (API Gateway in front of Lambda).
	NoLive bool
	// Heartbeat of live streams (0: DefaultHeartbeat).
	Heartbeat time.Duration
	// Now is the clock for relative times ("5 minutes ago"); nil: time.Now.
	Now func() time.Time
}

// Server serves the HTML interface. It is an http.Handler.
type Server struct {
	app       *app.App
	sessions  *auth.Sessions
	authn     *auth.Authenticator
	dashboard *app.DashboardHandler
	// notifications: see notifications.go.
	notifications *app.Notifications
	csrfKey       []byte
	demo          bool
	search        bool
	secure        bool
	noLive        bool
	log           *slog.Logger
	heartbeat     time.Duration
	now           func() time.Time

	pages   *pages
	assets  *assets
	mux     *http.ServeMux
	handler http.Handler

	reqPrefix string
	reqSeq    atomic.Uint64
}

// NewServer returns a Server with every route registered and every
// template parsed; a template that is missing or does not parse is an
// error here, not at the first request.
func NewServer(c Config) (*Server, error) {
	switch {
	case c.App == nil:
		return nil, errors.New("web: no application")
	case c.Sessions == nil:
		return nil, errors.New("web: no session signer")
	case len(c.Key) < 32:
		return nil, fmt.Errorf("web: key must be at least 32 bytes, got %d", len(c.Key))
	}
	m := hmac.New(sha256.New, c.Key)
	m.Write([]byte("eventdesk web csrf v1"))
	s := &Server{
		app: c.App, sessions: c.Sessions, dashboard: c.Dashboard, notifications: c.Notifications, csrfKey: m.Sum(nil),
		demo: c.DemoLogin, search: c.Search, secure: c.SecureCookies, noLive: c.NoLive, log: c.Logger, heartbeat: c.Heartbeat, now: c.Now,
		authn: &auth.Authenticator{Sessions: c.Sessions},
		mux:   http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.assets); err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.reqPrefix = "w" + hex.EncodeToString(b[:]) + "-"
	s.routes()
	s.handler = s.middleware(s.mux)
	return s, nil
}

// routes registers every page: this function is the interface's surface.
func (s *Server) routes() {
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /signin", s.signinPage)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.HandleFunc("POST /signout", s.signout)
	s.handle("GET /tickets", s.listTickets)
	s.handle("GET /tickets/new", s.newTicket)
	s.handle("POST /tickets", s.createTicket)
	s.handle("GET /tickets/{id}", s.showTicket)
	s.handle("POST /tickets/{id}", s.updateTicket)
	s.handle("POST /tickets/{id}/comments", s.addComment)
	s.handle("GET /tickets/{id}/history", s.history)
	s.handle("GET /dashboard", s.showDashboard)
	s.handle("GET /admin/webhooks", s.listWebhooks)
	s.handle("POST /admin/webhooks", s.createWebhook)
	s.handle("GET /admin/webhooks/{id}", s.showWebhook)
	s.handle("POST /admin/webhooks/{id}/rotate", s.rotateWebhook)
	s.handle("POST /admin/webhooks/{id}/enable", s.enableWebhook)
	s.handle("POST /admin/webhooks/{id}/delete", s.deleteWebhook)
	s.handle("GET /admin/deadletters", s.listDeadLetters)
	s.handle("POST /admin/deadletters/{id}/redrive", s.redriveDeadLetter)
	s.handle("GET /settings/notifications", s.showPreferences)
	s.handle("POST /settings/notifications", s.savePreferences)
	s.handle("GET /live/stream", s.liveStream)
	s.mux.HandleFunc("GET /static/{file}", s.static)
}

// handle registers a page that needs a signed-in user: anonymous visitors
// are sent to the sign-in page (and back afterwards).
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := eventdesk.ActorFromContext(r.Context()); !ok {
			// A form post or an event stream cannot follow a redirect to
			// the sign-in page: tell them plainly.
			if r.Method != http.MethodGet || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				s.renderError(w, r, eventdesk.Errorf(eventdesk.EUnauthorized, "your session has ended: sign in again, then repeat what you were doing"))
				return
			}
			redirect(w, r, "/signin?next="+urlQueryEscape(r.URL.RequestURI()))
			return
		}
		h(w, r)
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// contentSecurityPolicy allows nothing but this origin's own files: no
// inline script or style, no framing, forms post here only.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// middleware sets the security headers, finds the user, checks the CSRF
// token of every form post, recovers from panics and logs each request.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		reqID := s.reqPrefix + strconv.FormatUint(s.reqSeq.Add(1), 36)
		rec := &statusRecorder{ResponseWriter: w}
		ctx := app.NewContextWithRequest(r.Context(), app.Request{CorrelationID: reqID})
		ctx = context.WithValue(ctx, requestIDKey{}, reqID)
		r = r.WithContext(ctx)
		var user string
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "request_id", reqID, "panic", fmt.Sprint(v))
				if rec.status == 0 {
					s.renderError(rec, r, eventdesk.Errorf(eventdesk.EInternal, "internal error"))
				}
			}
			st := rec.status
			if st == 0 {
				st = http.StatusOK
			}
			level := slog.LevelInfo
			if st >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(ctx, level, "request", slog.String("request_id", reqID), slog.String("method", r.Method),
				slog.String("route", r.Pattern), slog.String("path", r.URL.Path), slog.Int("status", st),
				slog.Duration("duration", time.Since(start)), slog.String("user", user))
		}()
		a, ok, err := s.authn.Authenticate(r)
		switch {
		case err != nil:
			// A forged or expired cookie: forget it; the visitor is
			// anonymous and is asked to sign in again.
			s.clearSession(rec, r)
		case ok:
			user = a.Name
			r = r.WithContext(eventdesk.NewContextWithActor(r.Context(), a))
		}
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.noRoute(rec, r)
			return
		}
		if r.Method == http.MethodPost {
			if err := s.checkCSRF(rec, r); err != nil {
				s.renderError(rec, r, err)
				return
			}
		}
		next.ServeHTTP(rec, r)
	})
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// statusRecorder remembers the status of a response for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (live streams
// flush and lift the write deadline).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush implements http.Flusher.
func (r *statusRecorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// redirect answers a browser with 303 See Other, which turns a form post
// into a GET (Post/Redirect/Get).
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// home sends visitors to their ticket list, or to sign in.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok := eventdesk.ActorFromContext(r.Context()); !ok {
		redirect(w, r, "/signin")
		return
	}
	redirect(w, r, "/tickets")
}

// noRoute answers a request that no route takes: 405 with Allow if the
// page exists for another method, else 404. (The mux's own answers are
// plain text; these are pages.)
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.renderError(w, r, &httpError{status: http.StatusMethodNotAllowed, msg: "this page cannot be used that way (" + r.Method + ")"})
		return
	}
	s.renderError(w, r, eventdesk.Errorf(eventdesk.ENotFound, "there is no page at this address"))
}

// actor returns the signed-in user; the page wrapper guarantees one.
func actorOf(r *http.Request) eventdesk.Actor {
	a, _ := eventdesk.ActorFromContext(r.Context())
	return a
}
