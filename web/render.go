package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// assets are the embedded static files, each with a content hash that
// versions its URL, so that browsers may cache them for good.
type assets struct {
	files map[string]asset
}

type asset struct {
	body        []byte
	hash        string
	contentType string
}

func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}[path.Ext(p)]
		if ct == "" {
			return fmt.Errorf("web: static file %s: unknown type", p)
		}
		a.files[path.Base(p)] = asset{body: b, hash: hex.EncodeToString(sum[:6]), contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: load static files: %w", err)
	}
	return a, nil
}

// url returns the versioned URL of a static file; it panics (at template
// parse time, through parsePages' check) on an unknown file.
func (a *assets) url(name string) (string, error) {
	f, ok := a.files[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return "/static/" + name + "?v=" + f.hash, nil
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	f, ok := s.assets.files[r.PathValue("file")]
	if !ok {
		s.renderError(w, r, eventdesk.Errorf(eventdesk.ENotFound, "no such file"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", `"`+f.hash+`"`)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match == `"`+f.hash+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	_, _ = w.Write(f.body)
}

// pageNames lists every page template; each file templates/<name>.html
// defines "content" and is executed inside "layout".
var pageNames = []string{"signin", "list", "new", "ticket", "conflict", "history", "dashboard", "error",
	"webhooks", "webhook", "deadletters", "preferences"}

// pages holds one parsed template set per page.
type pages struct {
	sets map[string]*template.Template
}

func parsePages(a *assets) (*pages, error) {
	funcs := template.FuncMap{
		"asset":         a.url,
		"statusLabel":   statusLabel,
		"priorityLabel": priorityLabel,
		"datetime":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"fulltime":      fullTime,
		"shortid":       shortID,
		"duration":      humanDuration,
		"plural":        plural,
		"join":          strings.Join,
		"lower":         strings.ToLower,
		"fulldate":      func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006") },
		"num":           func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"add":           func(a, b float64) float64 { return a + b },
		"sub":           func(a, b float64) float64 { return a - b },
		"half":          func(a float64) float64 { return a / 2 },
	}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse templates: %w", err)
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, name := range pageNames {
		set, err := template.Must(base.Clone()).ParseFS(templateFiles, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		for _, need := range []string{"layout", "content"} {
			if set.Lookup(need) == nil {
				return nil, fmt.Errorf("web: template %s: no %q defined", name, need)
			}
		}
		p.sets[name] = set
	}
	return p, nil
}

// Page is what the layout of every page needs. Each page's view embeds it.
type Page struct {
	Title string
	// User is the signed-in user (zero when anonymous).
	User     eventdesk.Actor
	SignedIn bool
	// Initial is the user's first letter, for the avatar.
	Initial string
	// CSRF is the token every form posts back.
	CSRF string
	// Nav names the active item of the main navigation.
	Nav string
	// Flash is a one-time message after a successful post.
	Flash string
	// Staff works on every ticket; SeesAll may read them all (the
	// dashboard); CanCreate may open tickets.
	Staff, SeesAll, CanCreate bool
	// Live tells the script which live updates the page takes: "list" or
	// "ticket" ("" for none); LiveAfter is the position to follow from.
	Live      string
	LiveAfter int64
	// LiveOff is set when the server has live updates turned off.
	LiveOff   bool
	RequestID string
}

// when is a moment as pages show it: relative, with the exact time in
// the markup (and for the script that shows it in local time).
type when struct {
	T   time.Time
	Ago string
}

func (s *Server) when(t time.Time) when { return when{T: t, Ago: ago(s.now(), t)} }

func (s *Server) basePage(r *http.Request, title, nav string) Page {
	a, ok := eventdesk.ActorFromContext(r.Context())
	p := Page{Title: title, Nav: nav, User: a, SignedIn: ok, CSRF: s.csrfToken(r), RequestID: requestID(r.Context()), LiveOff: s.noLive}
	if ok {
		p.Staff, p.SeesAll = a.Role.IsStaff(), a.Role.SeesAll()
		for _, c := range a.Name {
			p.Initial = strings.ToUpper(string(c))
			break
		}
		// The application's rule, not a copy of it.
		p.CanCreate = app.TicketCreatePermissions(a).Create
	}
	return p
}

// render executes page name with view into a buffer, then writes it: a
// template error becomes an error page, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, view any) {
	set := s.pages.sets[name]
	if set == nil {
		s.log.ErrorContext(r.Context(), "no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", view); err != nil {
		s.log.ErrorContext(r.Context(), "render", "page", name, "err", err.Error(), "request_id", requestID(r.Context()))
		if name != "error" {
			s.renderError(w, r, eventdesk.Errorf(eventdesk.EInternal, "internal error"))
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show private data that changes all the time.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// httpError is an error that only HTTP knows (405, 415).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// errorView is the error page.
type errorView struct {
	Page
	Status  int
	Heading string
	Message string
	// SignIn offers a link to sign in (401).
	SignIn string
}

// statusOf is the one map from error codes to HTTP statuses and the
// headings people read.
func statusOf(err error) (int, string) {
	if he, ok := errors.AsType[*httpError](err); ok {
		switch he.status {
		case http.StatusMethodNotAllowed:
			return he.status, "This page cannot be used that way"
		case http.StatusUnsupportedMediaType:
			return he.status, "This form was sent in a way eventdesk does not understand"
		}
		return he.status, http.StatusText(he.status)
	}
	switch eventdesk.ErrorCode(err) {
	case eventdesk.EInvalid:
		return http.StatusBadRequest, "Something in the request is not right"
	case eventdesk.EUnauthorized:
		return http.StatusUnauthorized, "Please sign in"
	case eventdesk.EForbidden:
		return http.StatusForbidden, "You are not allowed to do that"
	case eventdesk.ENotFound:
		return http.StatusNotFound, "We could not find that"
	case eventdesk.EConflict, eventdesk.EPrecondition:
		return http.StatusConflict, "That clashes with the ticket as it is now"
	case eventdesk.ETooLarge:
		return http.StatusRequestEntityTooLarge, "That is too large"
	case eventdesk.EUnavailable:
		return http.StatusServiceUnavailable, "eventdesk is catching up"
	case eventdesk.ENotImplemented:
		return http.StatusNotImplemented, "This is not available here"
	}
	return http.StatusInternalServerError, "Something went wrong on our side"
}

// renderError renders err as an error page with the right status. An
// internal error's details go to the log only.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, heading := statusOf(err)
	msg := eventdesk.ErrorMessage(err)
	if he, ok := errors.AsType[*httpError](err); ok {
		msg = he.msg
	}
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusNotImplemented {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "err", err.Error())
		msg = "The error was logged. Please try again in a moment; if it keeps happening, tell your administrator the request id below."
	}
	if status == http.StatusNotFound && eventdesk.ErrorCode(err) == eventdesk.ENotFound && msg == "ticket not found" {
		msg = "There is no ticket at this address, or it is not yours to see."
	}
	v := errorView{Page: s.basePage(r, heading, ""), Status: status, Heading: heading, Message: sentence(msg)}
	if status == http.StatusUnauthorized {
		next := r.URL.RequestURI()
		if r.Method != http.MethodGet {
			next = r.Header.Get("Referer")
			if u, err := url.Parse(next); err == nil && u.Host == r.Host {
				next = u.RequestURI()
			} else {
				next = "/"
			}
		}
		v.SignIn = "/signin?next=" + urlQueryEscape(next)
	}
	s.render(w, r, status, "error", v)
}

// sentence capitalises a message and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

var statusLabels = map[eventdesk.Status]string{
	eventdesk.StatusNew: "New", eventdesk.StatusOpen: "Open", eventdesk.StatusPending: "Pending",
	eventdesk.StatusResolved: "Resolved", eventdesk.StatusClosed: "Closed",
}

func statusLabel(s eventdesk.Status) string {
	if l, ok := statusLabels[s]; ok {
		return l
	}
	return string(s)
}

func priorityLabel(p eventdesk.Priority) string {
	switch p {
	case eventdesk.PriorityLow:
		return "Low"
	case eventdesk.PriorityNormal:
		return "Normal"
	case eventdesk.PriorityHigh:
		return "High"
	case eventdesk.PriorityUrgent:
		return "Urgent"
	}
	return string(p)
}

func fullTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-6:]
	}
	return id
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// ago tells how long before now t was, as people say it.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Second:
		return "a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()+0.5))
	case d < 2*time.Hour:
		return "an hour ago"
	case d < 24*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	case d < 48*time.Hour:
		return "yesterday"
	case d < 30*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return t.UTC().Format("2 Jan 2006")
}

// humanDuration shows a duration to the precision people care about.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 24*time.Hour:
		h := int(d.Hours())
		m := int(d.Minutes()) - 60*h
		if m == 0 || h >= 10 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days := int(d.Hours() / 24)
	h := int(d.Hours()) - 24*days
	if h == 0 || days >= 10 {
		return fmt.Sprintf("%d d", days)
	}
	return fmt.Sprintf("%d d %d h", days, h)
}
