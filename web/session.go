package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/auth"
)

// signinView is the sign-in page.
type signinView struct {
	Page
	Next string
	// Demo offers sign-in by name; without it only API tokens are taken.
	Demo   bool
	Name   string
	Role   eventdesk.Role
	Roles  []roleOption
	Errors map[string]string
	// Problem is shown above the forms.
	Problem string
}

type roleOption struct {
	Value       eventdesk.Role
	Label, Hint string
	Checked     bool
}

func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	v := s.signinView(w, r, r.URL.Query().Get("next"))
	s.render(w, r, http.StatusOK, "signin", v)
}

func (s *Server) signinView(w http.ResponseWriter, r *http.Request, next string) signinView {
	v := signinView{Page: s.basePage(r, "Sign in", "signin"), Next: localNext(next), Demo: s.demo, Role: eventdesk.RoleRequester}
	if !v.SignedIn {
		v.CSRF = s.ensurePreSession(w, r)
	}
	v.Flash, _ = s.takeFlash(w, r)
	v.roles()
	return v
}

func (v *signinView) roles() {
	hints := map[eventdesk.Role]string{
		eventdesk.RoleRequester: "opens tickets and follows their own",
		eventdesk.RoleAgent:     "works on every ticket, writes internal notes",
		eventdesk.RoleAdmin:     "an agent who also manages API tokens",
		eventdesk.RoleAuditor:   "reads everything, changes nothing",
	}
	v.Roles = v.Roles[:0]
	for _, r := range eventdesk.Roles {
		v.Roles = append(v.Roles, roleOption{Value: r, Label: strings.ToUpper(string(r[:1])) + string(r[1:]), Hint: hints[r], Checked: r == v.Role})
	}
}

// signin signs in by name and role (the demo) or with an API token.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	v := s.signinView(w, r, f.Get("next"))
	v.Errors = map[string]string{}
	var a eventdesk.Actor
	switch f.Get("method") {
	case "token":
		secret := strings.TrimSpace(f.Get("token"))
		if secret == "" {
			v.Errors["token"] = "Paste an API token."
			break
		}
		var err error
		if a, err = s.app.Authenticate.Handle(r.Context(), secret); err != nil {
			code := eventdesk.ErrorCode(err)
			if code != eventdesk.EUnauthorized && code != eventdesk.EForbidden {
				s.renderError(w, r, err)
				return
			}
			v.Errors["token"] = "This token is not valid (mistyped, revoked or expired)."
		}
	default:
		v.Name, v.Role = strings.TrimSpace(f.Get("user")), eventdesk.Role(f.Get("role"))
		if !s.demo {
			v.Problem = "Signing in by name is turned off on this server: use an API token."
			v.roles()
			s.render(w, r, http.StatusForbidden, "signin", v)
			return
		}
		if err := eventdesk.ValidateUserName("user", v.Name); err != nil {
			v.Errors["user"] = sentence(eventdesk.ErrorFields(err)["user"])
		}
		if !v.Role.Valid() {
			v.Errors["role"] = "Choose one of the roles."
			v.Role = eventdesk.RoleRequester
		}
		a = eventdesk.Actor{Name: v.Name, Role: v.Role}
	}
	if len(v.Errors) > 0 {
		v.Problem = "Please correct the highlighted field."
		v.roles()
		status := http.StatusUnprocessableEntity
		if _, bad := v.Errors["token"]; bad && f.Get("method") == "token" {
			status = http.StatusUnauthorized
		}
		s.render(w, r, status, "signin", v)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: auth.CookieName, Value: s.sessions.Encode(a), Path: "/", MaxAge: int(auth.DefaultSessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r),
	})
	next := v.Next
	if next == "" {
		next = "/tickets"
	}
	redirect(w, r, next)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	s.clearSession(w, r)
	s.setFlash(w, r, "signedout", 0)
	redirect(w, r, "/signin")
}

func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r)})
}

// localNext keeps a "next" address only if it is a path on this site (no
// open redirects).
func localNext(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n\\") || strings.HasPrefix(p, "/signin") {
		return ""
	}
	return p
}

// flashMessages are the one-time messages after a post, by code: the
// cookie carries the code, never text, so it cannot inject anything.
var flashMessages = map[string]string{
	"created":   "Ticket created.",
	"saved":     "Changes saved.",
	"commented": "Reply sent.",
	"noted":     "Internal note added.",
	"nochange":  "Nothing to save: the form had no changes.",
	"signedout": "You have signed out.",
}

// setFlash remembers a message for the next page, and the position written
// so that the next page shows the change (read your writes).
func (s *Server) setFlash(w http.ResponseWriter, r *http.Request, code string, position int64) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: code + "." + strconv.FormatInt(position, 10), Path: "/",
		MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r)})
}

// takeFlash returns (and clears) the pending message and position.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) (string, int64) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", 0
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r)})
	code, pos, _ := strings.Cut(c.Value, ".")
	n, _ := strconv.ParseInt(pos, 10, 64)
	return flashMessages[code], max(n, 0)
}

// minPosition is the position a page must show at least: after the
// user's own post (the flash cookie), or as the live script asks after an
// event it was told about.
func (s *Server) minPosition(w http.ResponseWriter, r *http.Request, p *Page) int64 {
	msg, pos := s.takeFlash(w, r)
	p.Flash = msg
	if h := r.Header.Get("X-Eventdesk-Position"); h != "" {
		if n, err := strconv.ParseInt(h, 10, 64); err == nil && n > pos {
			pos = n
		}
	}
	if pos > 0 {
		// Never wait for a position that was not written (a made-up
		// header would hold the request for app.MaxWait).
		if head, err := s.app.Head(r.Context()); err == nil {
			pos = min(pos, head)
		}
	}
	return pos
}
