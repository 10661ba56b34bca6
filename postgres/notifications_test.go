package postgres_test

import (
	"context"
	"testing"

	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/webhook"
	"github.com/eventdesk/eventdesk/webhook/webhooktest"
)

// TestWebhookStore runs the webhook.Store suite, each case on a fresh
// database.
func TestWebhookStore(t *testing.T) {
	webhooktest.Run(t, func(tb testing.TB) webhook.Store {
		db, err := postgres.Open(context.Background(), testenv.Postgres(tb), postgres.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db.Notifications()
	})
}

func TestNotificationPreferences(t *testing.T) {
	db, err := postgres.Open(context.Background(), testenv.Postgres(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := db.Notifications()
	ctx := context.Background()
	if off, err := n.EmailOptOut(ctx, "rita"); err != nil || off {
		t.Fatalf("default: %v %v", off, err)
	}
	if err := n.SetEmailOptOut(ctx, "rita", true); err != nil {
		t.Fatal(err)
	}
	if off, _ := n.EmailOptOut(ctx, "rita"); !off {
		t.Fatal("opt-out did not stick")
	}
	if off, _ := n.EmailOptOut(ctx, "bob"); off {
		t.Fatal("bob opted out too")
	}
}
