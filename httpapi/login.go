package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

type tokenRequest struct {
	User string         `json:"user"`
	Role eventdesk.Role `json:"role"`
}

// tokenCreatedJSON is the one answer that ever shows a token's secret.
type tokenCreatedJSON struct {
	app.Token
	Secret string `json:"token"`
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	ts, err := s.app.ListTokens.Handle(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, struct {
		Items []app.Token `json:"items"`
	}{ts})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, "application/json")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req tokenRequest
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, secret, err := s.app.CreateToken.Handle(r.Context(), app.CreateToken{User: req.User, Role: req.Role})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tokens/"+t.ID)
	s.writeJSON(w, http.StatusCreated, tokenCreatedJSON{Token: t, Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := s.app.RevokeToken.Handle(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessionJSON answers a login asked for as JSON.
type sessionJSON struct {
	User string         `json:"user"`
	Role eventdesk.Role `json:"role"`
}

// loginGet is the demo login: GET /login?user=alice&role=agent.
func (s *Server) loginGet(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"user": false, "role": false, "next": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	s.login(w, r, q.Get("user"), q.Get("role"), q.Get("next"))
}

// loginPost is the same from a form.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, "application/x-www-form-urlencoded")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.writeError(w, r, eventdesk.Errorf(eventdesk.EInvalid, "malformed form"))
		return
	}
	s.login(w, r, form.Get("user"), form.Get("role"), form.Get("next"))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, user, role, next string) {
	if !s.demo {
		s.writeError(w, r, eventdesk.Errorf(eventdesk.EForbidden, "demo login is disabled: use an API token"))
		return
	}
	if err := eventdesk.ValidateUserName("user", user); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := eventdesk.Actor{Name: user, Role: eventdesk.Role(role)}
	if role == "" {
		a.Role = eventdesk.RoleRequester
	}
	if !a.Role.Valid() {
		s.writeError(w, r, eventdesk.FieldError("role", "must be one of requester, agent, admin, auditor"))
		return
	}
	s.sessions.SetCookie(w, a)
	s.afterAuth(w, r, next, sessionJSON{User: a.Name, Role: a.Role})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.sessions.ClearCookie(w)
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// afterAuth answers JSON clients with v and browsers with a redirect to a
// local next page.
func (s *Server) afterAuth(w http.ResponseWriter, r *http.Request, next string, v any) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		s.writeJSON(w, http.StatusOK, v)
		return
	}
	if !localPath(next) {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath refuses open redirects: only paths on this host.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") && !strings.ContainsAny(p, "\r\n")
}
