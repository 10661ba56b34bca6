package dynamodb_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	db, _ := openLocal(t)
	table := tableName("state")
	if err := db.CreateStateTable(ctx, table); err != nil {
		t.Fatal(err)
	}
	store := db.Tokens(table)
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	tok, secret, err := app.IssueToken(ctx, store, now, "alice", eventdesk.RoleAdmin, "cli")
	if err != nil {
		t.Fatal(err)
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
	tok2, _, err := app.IssueToken(ctx, store, now.Add(time.Minute), "bob", eventdesk.RoleAgent, "alice")
	if err != nil {
		t.Fatal(err)
	}
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
	if len(list) != 2 || list[0].ID != tok.ID || list[1] != tok2 || !list[0].RevokedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("list %+v", list)
	}
}

func TestInbox(t *testing.T) {
	ctx := context.Background()
	db, _ := openLocal(t)
	table := tableName("state")
	if err := db.CreateStateTable(ctx, table); err != nil {
		t.Fatal(err)
	}
	in := db.Inbox(table, 0)
	if done, err := in.Handled(ctx, "sentiment", "e1"); err != nil || done {
		t.Fatalf("new event handled: %t, %v", done, err)
	}
	if first, err := in.MarkHandled(ctx, "sentiment", "e1"); err != nil || !first {
		t.Fatalf("mark: %t, %v", first, err)
	}
	if first, err := in.MarkHandled(ctx, "sentiment", "e1"); err != nil || first {
		t.Fatalf("mark again: %t, %v", first, err)
	}
	if done, err := in.Handled(ctx, "sentiment", "e1"); err != nil || !done {
		t.Fatalf("after mark: %t, %v", done, err)
	}
	// Inboxes are per subscriber.
	if done, err := in.Handled(ctx, "escalation", "e1"); err != nil || done {
		t.Fatalf("other subscriber: %t, %v", done, err)
	}
}
