package dynamodb_test

import (
	"context"
	"sync"
	"testing"

	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestTokens runs the token-store suite on a fresh state table; the other
// handle is another client's.
func TestTokens(t *testing.T) {
	var mu sync.Mutex
	tables := map[app.TokenStore]string{}
	storetest.RunTokens(t, func(tb testing.TB) app.TokenStore {
		db, _ := openLocal(tb)
		table := tableName("state")
		if err := db.CreateStateTable(context.Background(), table); err != nil {
			tb.Fatal(err)
		}
		store := db.Tokens(table)
		mu.Lock()
		tables[store] = table
		mu.Unlock()
		return store
	}, func(tb testing.TB, first app.TokenStore) app.TokenStore {
		db, _ := openLocal(tb)
		mu.Lock()
		defer mu.Unlock()
		return db.Tokens(tables[first])
	})
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
