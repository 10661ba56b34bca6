package web_test

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/web"
)

// TestEveryPostFormHasCSRFToken reads every template: each form that posts
// carries the session's CSRF token.
func TestEveryPostFormHasCSRFToken(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("templates", "*.html"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates: %v", err)
	}
	formRE := regexp.MustCompile(`(?s)<form\b[^>]*>.*?</form>`)
	posts := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range formRE.FindAllString(string(b), -1) {
			open := form[:strings.Index(form, ">")+1]
			if !strings.Contains(open, `method="post"`) {
				if strings.Contains(strings.ToLower(open), "method=") && !strings.Contains(open, `method="get"`) {
					t.Errorf("%s: a form with an unexpected method: %s", f, open)
				}
				continue
			}
			posts++
			if !strings.Contains(form, `<input type="hidden" name="csrf" value="{{.CSRF}}">`) &&
				!strings.Contains(form, `<input type="hidden" name="csrf" value="{{$.CSRF}}">`) {
				t.Errorf("%s: a form posts without the CSRF token: %s", f, open)
			}
		}
	}
	if posts < 15 {
		t.Errorf("found only %d posting forms: the scan is broken", posts)
	}
}

// TestEveryPostRouteChecksCSRF posts to every POST route of the server
// (read from its one routes function, so that a new route is covered
// too) as a signed-in admin without a token, with a token of another
// session, and from another origin: each is refused with 403 and nothing
// is written.
func TestEveryPostRouteChecksCSRF(t *testing.T) {
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range regexp.MustCompile(`"POST (/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, m[1])
	}
	if len(routes) < 10 {
		t.Fatalf("found only %d POST routes in server.go: %v", len(routes), routes)
	}
	e := newEnv(t)
	res, err := e.App.CreateTicket.Handle(as("ada", eventdesk.RoleAdmin), app.CreateTicket{Title: "Target"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Ticket.ID
	e.settle(t)
	head := lastPosition(t, e)
	ada := e.client(t).signin("ada", eventdesk.RoleAdmin)
	other := e.client(t).signin("mallory", eventdesk.RoleAdmin).csrf("/tickets/new")
	own := ada.csrf("/tickets/new")
	for _, route := range routes {
		path := strings.NewReplacer("{id}", id).Replace(route)
		if route == "/signin" {
			continue // before a session: see TestCSRF (the pre-session token)
		}
		form := url.Values{"version": {"1"}, "title": {"Forged"}, "body": {"forged"}, "status": {"closed"},
			"url": {"https://example.com/hook"}, "user": {"mallory"}, "role": {"admin"}}
		for name, token := range map[string]string{"no token": "", "another session's token": other} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if token != "" {
				f.Set("csrf", token)
			}
			r := ada.post(path, f)
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "did not come from an eventdesk page") {
				t.Errorf("POST %s with %s: status %d, want 403", path, name, r.Status)
			}
		}
		f := url.Values{"csrf": {own}}
		for k, v := range form {
			f[k] = v
		}
		req, _ := http.NewRequest("POST", e.URL+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if r := ada.do(req); r.Status != http.StatusForbidden {
			t.Errorf("POST %s from another origin: status %d, want 403", path, r.Status)
		}
	}
	if now := lastPosition(t, e); now != head {
		t.Errorf("forged posts wrote events: head %d → %d", head, now)
	}
	if hooks, err := e.App.Tickets.Handle(as("ada", eventdesk.RoleAdmin), app.ListTickets{}); err != nil || len(hooks.Items) != 1 {
		t.Errorf("tickets after forged posts: %d, %v", len(hooks.Items), err)
	}
}

// TestSecurityHeadersOnEveryPage: every kind of page (forms, ticket,
// history, time travel, conflict, dashboard, errors, sign-in) has the
// Content-Security-Policy without 'unsafe-inline', cannot be framed, is
// not cached, and holds no inline script, inline style or event-handler
// attribute (which that policy would block).
func TestSecurityHeadersOnEveryPage(t *testing.T) {
	e := newEnv(t)
	alice := e.client(t).signin("alice", eventdesk.RoleAgent)
	id := alice.openTicket("Headers", "Body", nil)
	e.settle(t)
	page := alice.follow("/tickets/" + id)
	v := formVersion(t, page.Body)
	mustStatus(t, alice.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {v}, "priority": {"high"}}), http.StatusSeeOther)
	conflict := alice.submit("/tickets/"+id, "/tickets/"+id, url.Values{"version": {v}, "priority": {"low"}})
	mustStatus(t, conflict, http.StatusConflict)
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	anon := e.client(t)
	pages := map[string]response{
		"sign-in":     anon.get("/signin"),
		"list":        alice.get("/tickets"),
		"new":         alice.get("/tickets/new"),
		"ticket":      alice.follow("/tickets/" + id),
		"history":     alice.get("/tickets/" + id + "/history"),
		"time travel": alice.get("/tickets/" + id + "?version=1"),
		"conflict":    conflict,
		"dashboard":   alice.get("/dashboard"),
		"404":         alice.get("/tickets/" + id + "x"),
		"403":         rita.get("/dashboard"),
		"401":         anon.post("/tickets", url.Values{}),
		"405":         alice.do(mustRequest(t, "DELETE", e.URL+"/tickets")),
		"no route":    anon.get("/nowhere"),
	}
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]|<script(?:\s+(?:type|defer|async)(?:="[^"]*")?)*\s*>|\sstyle=|<style|\son[a-z]+=|javascript:`)
	for name, r := range pages {
		if r.Status == 0 {
			t.Errorf("%s: no answer", name)
			continue
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s (%d): CSP %q lacks %q", name, r.Status, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP allows something unsafe: %q", name, csp)
		}
		if got := r.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q", name, got)
		}
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", name, got)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, got)
		}
		if !strings.Contains(r.Body, "<html") {
			t.Errorf("%s (%d) is not a page", name, r.Status)
		}
		if m := inline.FindString(r.Body); m != "" {
			t.Errorf("%s: inline script or style %q", name, m)
		}
	}
}

func mustRequest(tb testing.TB, method, target string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// TestEveryCookieHasSecureFlags follows a whole visit (sign-in page,
// sign-in, a post with its one-time message, the next page, sign-out) and
// checks every cookie the interface sets: HttpOnly and SameSite=Lax
// always; Secure over TLS, and over plain HTTP when SecureCookies is set
// (behind a TLS-terminating proxy).
func TestEveryCookieHasSecureFlags(t *testing.T) {
	e := newEnv(t)
	key := make([]byte, 32)
	sessions, err := auth.NewSessions(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	proxied, err := web.NewServer(web.Config{App: e.App, Sessions: sessions, Key: key, DemoLogin: true, SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
	}{
		{"TLS", httptest.NewTLSServer(e.Web)},
		{"SecureCookies behind a proxy", httptest.NewServer(proxied)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.srv.Close()
			var set []*http.Cookie
			hc := tc.srv.Client()
			hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			// A cookie jar sends Secure cookies over https only; behind the
			// proxy the browser is on https, so cookies are kept by hand.
			cookies := map[string]string{}
			do := func(method, path string, form url.Values) string {
				t.Helper()
				var body *strings.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				} else {
					body = strings.NewReader("")
				}
				req, _ := http.NewRequest(method, tc.srv.URL+path, body)
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				for k, v := range cookies {
					req.AddCookie(&http.Cookie{Name: k, Value: v})
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				for _, c := range resp.Cookies() {
					set = append(set, c)
					if c.MaxAge < 0 {
						delete(cookies, c.Name)
					} else {
						cookies[c.Name] = c.Value
					}
				}
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			token := func(page string) string {
				m := csrfRE.FindStringSubmatch(page)
				if m == nil {
					t.Fatal("no CSRF token")
				}
				return html.UnescapeString(m[1])
			}
			page := do("GET", "/signin", nil)
			do("POST", "/signin", url.Values{"csrf": {token(page)}, "method": {"demo"}, "user": {"alice"}, "role": {"agent"}})
			page = do("GET", "/tickets/new", nil)
			do("POST", "/tickets", url.Values{"csrf": {token(page)}, "title": {"Cookies"}})
			page = do("GET", "/tickets", nil)
			do("POST", "/signout", url.Values{"csrf": {token(page)}})
			names := map[string]bool{}
			for _, c := range set {
				names[c.Name] = true
				if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
					t.Errorf("cookie %s: Secure %t HttpOnly %t SameSite %v Path %q", c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path)
				}
			}
			for _, want := range []string{auth.CookieName, "eventdesk_pre", "eventdesk_flash"} {
				if !names[want] {
					t.Errorf("the visit never set cookie %s (seen %v)", want, names)
				}
			}
		})
	}
}

// TestNoTrustedTemplateTypes: the package never marks a string as safe
// HTML, JavaScript, CSS or URL, so html/template escapes every text.
func TestNoTrustedTemplateTypes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	trusted := regexp.MustCompile(`template\.(HTML|HTMLAttr|JS|JSStr|CSS|URL|Srcset)\b`)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if m := trusted.Find(b); m != nil {
			t.Errorf("%s uses %s: a text would skip escaping", f, m)
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d files", checked)
	}
}
