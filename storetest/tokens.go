package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// RunTokens runs the conformance suite of app.TokenStore (API tokens,
// stored hashed). open must return a new, empty store; again must return
// another handle on the same store, as another process or node would open
// it (the first handle may be closed by then, so again must not need it).
func RunTokens(t *testing.T, open func(tb testing.TB) app.TokenStore, again func(tb testing.TB, first app.TokenStore) app.TokenStore) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	t.Run("IssueAndFind", func(t *testing.T) {
		store := open(t)
		tok, secret, err := app.IssueToken(ctx, store, now, "alice", eventdesk.RoleAdmin, "cli")
		if err != nil {
			t.Fatal(err)
		}
		if len(secret) < 40 || secret[:4] != app.TokenPrefix {
			t.Fatalf("secret %q", secret)
		}
		got, err := store.TokenByHash(ctx, app.HashToken(secret))
		if err != nil {
			t.Fatal(err)
		}
		if got != tok {
			t.Fatalf("got %+v, want %+v", got, tok)
		}
		if _, err := store.TokenByHash(ctx, app.HashToken(secret+"x")); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
			t.Fatalf("unknown hash: %v", err)
		}
		if err := store.RevokeToken(ctx, "nope", now); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
			t.Fatalf("revoke unknown: %v", err)
		}
		if err := store.CreateToken(ctx, tok, app.HashToken(secret)); eventdesk.ErrorCode(err) != eventdesk.EConflict {
			t.Fatalf("create twice: %v", err)
		}
	})
	t.Run("RevokeFromAnotherHandle", func(t *testing.T) {
		store := open(t)
		tok, _, err := app.IssueToken(ctx, store, now, "alice", eventdesk.RoleAdmin, "cli")
		if err != nil {
			t.Fatal(err)
		}
		tok2, _, err := app.IssueToken(ctx, store, now.Add(time.Minute), "bob", eventdesk.RoleAgent, "alice")
		if err != nil {
			t.Fatal(err)
		}
		// Another handle sees the tokens and revokes one; revoking twice
		// keeps the first time.
		other := again(t, store)
		if err := other.RevokeToken(ctx, tok.ID, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := other.RevokeToken(ctx, tok.ID, now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		list, err := other.Tokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != tok.ID || list[1] != tok2 || !list[0].RevokedAt.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("list %+v, want %s revoked at %v, then %+v", list, tok.ID, now.Add(time.Hour), tok2)
		}
	})
}
