package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/auth"
)

// Cookies of the interface besides the session (auth.CookieName).
const (
	// preSessionCookie holds a random value that the sign-in form's CSRF
	// token is bound to, before there is a session.
	preSessionCookie = "eventdesk_pre"
	// flashCookie carries, across the redirect after a successful post, a
	// message code (never user text) and the position written, so that the
	// next page waits for the read models to show the change.
	flashCookie = "eventdesk_flash"
)

// csrfField is the name of the hidden form field with the token.
const csrfField = "csrf"

// csrfToken returns the token of the request's session: an HMAC of the
// session cookie under the server's key (a synchronizer token that needs
// no server-side state). It changes with every sign-in. Without a session
// it is bound to the pre-session cookie instead (the sign-in form); ""
// when there is neither.
func (s *Server) csrfToken(r *http.Request) string {
	if _, ok := eventdesk.ActorFromContext(r.Context()); ok {
		if c, err := r.Cookie(auth.CookieName); err == nil {
			return s.mac("session", c.Value)
		}
	}
	if v := preSessionValue(r); v != "" {
		return s.mac("pre", v)
	}
	return ""
}

func (s *Server) mac(kind, v string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func preSessionValue(r *http.Request) string {
	c, err := r.Cookie(preSessionCookie)
	if err != nil || len(c.Value) != 22 {
		return ""
	}
	return c.Value
}

// ensurePreSession gives an anonymous visitor the cookie that the sign-in
// form's token is bound to, and returns that token.
func (s *Server) ensurePreSession(w http.ResponseWriter, r *http.Request) string {
	v := preSessionValue(r)
	if v == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		v = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: preSessionCookie, Value: v, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Secure: s.secureFor(r), MaxAge: 12 * 3600})
	}
	return s.mac("pre", v)
}

// secureFor tells whether cookies set in answer to r must be Secure.
func (s *Server) secureFor(r *http.Request) bool {
	return s.secure || s.sessions.Secure || r.TLS != nil
}

var errBadCSRF = eventdesk.Errorf(eventdesk.EForbidden,
	"this form has expired or did not come from an eventdesk page: go back, reload the page and send it again")

// checkCSRF parses a form post (bounded in size) and checks its token: a
// signed-in user's must match the session; the sign-in form's must match
// the pre-session cookie. A post from another origin is refused outright.
// Anonymous posts elsewhere change nothing (the pages refuse them) and
// are left to them.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errBadCSRF
		}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return &httpError{status: http.StatusUnsupportedMediaType, msg: "forms must be sent as application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return eventdesk.Errorf(eventdesk.ETooLarge, "the form is too large (at most %d KiB)", MaxFormBytes>>10)
		}
		return eventdesk.Errorf(eventdesk.EInvalid, "the form could not be read")
	}
	_, signedIn := eventdesk.ActorFromContext(r.Context())
	if !signedIn && r.URL.Path != "/signin" {
		return nil
	}
	want := s.csrfToken(r)
	got := r.PostForm.Get(csrfField)
	if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return errBadCSRF
	}
	return nil
}
