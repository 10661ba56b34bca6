package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/sqlite"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
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
	if err := store.RevokeToken(ctx, eventdesk.TicketStream("x"), now); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened (as the CLI would, next to a running server), it still has
	// the token; revoking twice keeps the first time.
	store, err = sqlite.OpenTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.RevokeToken(ctx, tok.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, tok.ID, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := store.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].RevokedAt.Equal(now.Add(time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("list %+v", list)
	}
}
