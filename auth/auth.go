// Package auth tells who sends an HTTP request: a bearer API token or a
// signed session cookie (the demo login). It is shared by the REST API
// (httpapi) and the HTML UI (web) so that both recognise the same users the
// same way.
//
// Sessions are stateless: the cookie carries the user, role and expiry,
// signed with HMAC-SHA256 under a key the composition root provides (see
// LoadOrCreateKey). The package imports the root package and the standard
// library only; tokens are checked by a function it is given (the app
// layer's AuthenticateHandler).
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
)

// CookieName is the name of the session cookie.
const CookieName = "eventdesk_session"

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 12 * time.Hour

// KeySize is the size of a session key in bytes.
const KeySize = 32

// Sessions signs and checks session cookies.
type Sessions struct {
	key []byte
	ttl time.Duration
	// Secure marks cookies Secure (set it when served over HTTPS).
	Secure bool
	now    func() time.Time

	// verified remembers cookie values whose signature was checked, so
	// that a client's every request does not pay for an HMAC and a JSON
	// decode; the expiry is still checked each time.
	mu       sync.Mutex
	verified map[string]verifiedSession
}

// maxVerified bounds the verified-cookie cache (values are at most 1 KiB).
const maxVerified = 4096

type verifiedSession struct {
	actor   eventdesk.Actor
	expires int64
}

// NewSessions returns sessions signed with key (at least 32 bytes) that
// last ttl (0: DefaultSessionTTL).
func NewSessions(key []byte, ttl time.Duration) (*Sessions, error) {
	if len(key) < KeySize {
		return nil, fmt.Errorf("auth: session key must be at least %d bytes, got %d", KeySize, len(key))
	}
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &Sessions{key: append([]byte(nil), key...), ttl: ttl, now: time.Now}, nil
}

type session struct {
	User    string         `json:"u"`
	Role    eventdesk.Role `json:"r"`
	Expires int64          `json:"e"` // Unix seconds
}

// Encode returns the signed cookie value for a.
func (s *Sessions) Encode(a eventdesk.Actor) string {
	b, _ := json.Marshal(session{User: a.Name, Role: a.Role, Expires: s.now().Add(s.ttl).Unix()})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
}

func (s *Sessions) sign(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Decode checks a cookie value and returns its actor. A forged, malformed
// or expired value is an EUnauthorized error.
func (s *Sessions) Decode(v string) (eventdesk.Actor, error) {
	bad := func() error {
		return eventdesk.Errorf(eventdesk.EUnauthorized, "invalid or expired session: log in again")
	}
	now := s.now().Unix()
	s.mu.Lock()
	c, ok := s.verified[v]
	s.mu.Unlock()
	if ok {
		if c.expires < now {
			return eventdesk.Actor{}, bad()
		}
		return c.actor, nil
	}
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 1024 {
		return eventdesk.Actor{}, bad()
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.sign(payload)) {
		return eventdesk.Actor{}, bad()
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return eventdesk.Actor{}, bad()
	}
	var sess session
	if err := json.Unmarshal(b, &sess); err != nil || sess.Expires < now || !sess.Role.Valid() || sess.User == "" {
		return eventdesk.Actor{}, bad()
	}
	a := eventdesk.Actor{Name: sess.User, Role: sess.Role}
	s.mu.Lock()
	if s.verified == nil || len(s.verified) >= maxVerified {
		s.verified = make(map[string]verifiedSession)
	}
	s.verified[v] = verifiedSession{actor: a, expires: sess.Expires}
	s.mu.Unlock()
	return a, nil
}

// SetCookie logs a in on the client: an HttpOnly, SameSite=Lax cookie.
func (s *Sessions) SetCookie(w http.ResponseWriter, a eventdesk.Actor) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: s.Encode(a), Path: "/", MaxAge: int(s.ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Secure,
	})
}

// ClearCookie logs the client out.
func (s *Sessions) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.Secure,
	})
}

// Authenticator finds the actor of a request.
type Authenticator struct {
	Sessions *Sessions
	// Token returns the actor of a bearer token (nil: tokens are refused).
	Token func(ctx context.Context, secret string) (eventdesk.Actor, error)
}

// Authenticate returns the actor of r: from "Authorization: Bearer …" if
// present, else from the session cookie. ok is false for an anonymous
// request. Bad credentials are an EUnauthorized error, never silently
// anonymous, so that a client learns its token is wrong.
func (au *Authenticator) Authenticate(r *http.Request) (a eventdesk.Actor, ok bool, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, secret, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return a, false, eventdesk.Errorf(eventdesk.EUnauthorized, "the Authorization header must be \"Bearer <token>\"")
		}
		if au.Token == nil {
			return a, false, eventdesk.Errorf(eventdesk.EUnauthorized, "API tokens are not accepted here")
		}
		a, err := au.Token(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			return a, false, err
		}
		return a, true, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil || au.Sessions == nil {
		return a, false, nil
	}
	a, err = au.Sessions.Decode(c.Value)
	if err != nil {
		return a, false, err
	}
	return a, true, nil
}

// LoadOrCreateKey reads a session key from path, or creates one there
// (mode 0600) if the file does not exist, so that sessions survive a
// restart without the operator configuring a key.
func LoadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < KeySize {
			return nil, fmt.Errorf("auth: session key %s is too short (%d bytes)", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("auth: read session key: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("auth: generate session key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("auth: session key dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use theirs.
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create session key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: write session key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: write session key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("auth: write session key: %w", err)
	}
	return key, nil
}
