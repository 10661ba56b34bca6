package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/eventdesk/eventdesk"
)

// TokenPrefix starts every API token, so that leaked tokens are easy to
// recognise (secret scanners) and to tell from other credentials.
const TokenPrefix = "edk_"

// Token describes an API token. The secret itself is never stored: only
// its SHA-256.
type Token struct {
	ID        string         `json:"id"`
	User      string         `json:"user"`
	Role      eventdesk.Role `json:"role"`
	CreatedAt time.Time      `json:"createdAt"`
	CreatedBy string         `json:"createdBy"`
	// RevokedAt is when the token was revoked; zero while it is valid.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// TokenStore keeps API tokens. Implementations return ENotFound errors for
// unknown tokens.
type TokenStore interface {
	// CreateToken stores t with the hex SHA-256 of its secret.
	CreateToken(ctx context.Context, t Token, hash string) error
	// TokenByHash returns the token whose secret hashes to hash.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Tokens lists every token, oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks a token revoked at at; revoking a revoked token
	// changes nothing.
	RevokeToken(ctx context.Context, id string, at time.Time) error
}

// HashToken returns the hex SHA-256 of a token secret, as stored.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// IssueToken creates a token for user with role and returns it with its
// secret, which is shown once and never again. It performs no
// authorization: the CLI (with access to the data directory) and
// CreateTokenHandler (admins) call it.
func IssueToken(ctx context.Context, store TokenStore, now time.Time, user string, role eventdesk.Role, by string) (Token, string, error) {
	if err := eventdesk.ValidateUserName("user", user); err != nil {
		return Token{}, "", err
	}
	if !role.Valid() {
		return Token{}, "", eventdesk.FieldError("role", "must be one of requester, agent, admin, auditor")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Token{}, "", fmt.Errorf("app: token secret: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	t := Token{ID: NewID(), User: user, Role: role, CreatedAt: eventdesk.NormalizeTime(now), CreatedBy: by}
	if err := store.CreateToken(ctx, t, HashToken(secret)); err != nil {
		return Token{}, "", fmt.Errorf("app: create token: %w", err)
	}
	return t, secret, nil
}

func (d *deps) tokenStore() (TokenStore, error) {
	if d.tokens == nil {
		return nil, eventdesk.Errorf(eventdesk.EUnavailable, "no token store configured")
	}
	return d.tokens, nil
}

func mayManageTokens(ctx context.Context) (eventdesk.Actor, error) {
	a, err := actor(ctx)
	if err != nil {
		return a, err
	}
	if a.Role != eventdesk.RoleAdmin {
		return a, eventdesk.Errorf(eventdesk.EForbidden, "only admins may manage API tokens")
	}
	return a, nil
}

// CreateToken asks for a new API token.
type CreateToken struct {
	User string
	Role eventdesk.Role
}

// CreateTokenHandler creates API tokens (admins only).
type CreateTokenHandler struct{ d *deps }

// Handle returns the new token and its secret.
func (h *CreateTokenHandler) Handle(ctx context.Context, cmd CreateToken) (Token, string, error) {
	a, err := mayManageTokens(ctx)
	if err != nil {
		return Token{}, "", err
	}
	store, err := h.d.tokenStore()
	if err != nil {
		return Token{}, "", err
	}
	return IssueToken(ctx, store, h.d.now(), cmd.User, cmd.Role, a.Name)
}

// ListTokensHandler lists API tokens (admins only).
type ListTokensHandler struct{ d *deps }

// Handle lists every token, revoked ones included.
func (h *ListTokensHandler) Handle(ctx context.Context) ([]Token, error) {
	if _, err := mayManageTokens(ctx); err != nil {
		return nil, err
	}
	store, err := h.d.tokenStore()
	if err != nil {
		return nil, err
	}
	ts, err := store.Tokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("app: list tokens: %w", err)
	}
	if ts == nil {
		ts = []Token{}
	}
	return ts, nil
}

// RevokeTokenHandler revokes API tokens (admins only).
type RevokeTokenHandler struct{ d *deps }

// Handle revokes the token with the given id.
func (h *RevokeTokenHandler) Handle(ctx context.Context, id string) error {
	if _, err := mayManageTokens(ctx); err != nil {
		return err
	}
	store, err := h.d.tokenStore()
	if err != nil {
		return err
	}
	if !eventdesk.ValidID(id) {
		return eventdesk.Errorf(eventdesk.ENotFound, "token not found")
	}
	if err := store.RevokeToken(ctx, id, eventdesk.NormalizeTime(h.d.now())); err != nil {
		if eventdesk.ErrorCode(err) == eventdesk.ENotFound {
			return err
		}
		return fmt.Errorf("app: revoke token %s: %w", id, err)
	}
	h.d.authCache.forget()
	return nil
}

// tokenCacheTTL bounds how long a token is trusted without asking the
// store again; a revocation through the API takes effect at once, one by
// the CLI (another process) within this time.
const tokenCacheTTL = 5 * time.Second

type cachedActor struct {
	actor   eventdesk.Actor
	expires time.Time
}

// tokenCache spares the token store a query per request.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedActor
}

func (c *tokenCache) get(hash string, now time.Time) (eventdesk.Actor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || now.After(e.expires) {
		return eventdesk.Actor{}, false
	}
	return e.actor, true
}

func (c *tokenCache) put(hash string, a eventdesk.Actor, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10_000 {
		clear(c.m)
	}
	c.m[hash] = cachedActor{a, expires}
}

func (c *tokenCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

// AuthenticateHandler turns a bearer token into an actor.
type AuthenticateHandler struct{ d *deps }

// Handle returns the actor of a valid, unrevoked token, or EUnauthorized.
func (h *AuthenticateHandler) Handle(ctx context.Context, secret string) (eventdesk.Actor, error) {
	// The refusal is built only when needed: this runs on every request
	// that carries a token.
	bad := func() error { return eventdesk.Errorf(eventdesk.EUnauthorized, "invalid or revoked token") }
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 100 {
		return eventdesk.Actor{}, bad()
	}
	hash := HashToken(secret)
	now := time.Now()
	if a, ok := h.d.authCache.get(hash, now); ok {
		return a, nil
	}
	store, err := h.d.tokenStore()
	if err != nil {
		return eventdesk.Actor{}, err
	}
	t, err := store.TokenByHash(ctx, hash)
	if eventdesk.ErrorCode(err) == eventdesk.ENotFound {
		return eventdesk.Actor{}, bad()
	}
	if err != nil {
		return eventdesk.Actor{}, fmt.Errorf("app: authenticate: %w", err)
	}
	if !t.RevokedAt.IsZero() {
		return eventdesk.Actor{}, bad()
	}
	a := eventdesk.Actor{Name: t.User, Role: t.Role}
	h.d.authCache.put(hash, a, now.Add(tokenCacheTTL))
	return a, nil
}
