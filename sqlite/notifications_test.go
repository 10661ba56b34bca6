package sqlite_test

import (
	"context"
	"testing"

	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/webhook"
	"github.com/eventdesk/eventdesk/webhook/webhooktest"
)

func TestWebhookStore(t *testing.T) {
	webhooktest.Run(t, func(tb testing.TB) webhook.Store {
		n, err := sqlite.OpenNotifications(tb.TempDir(), nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { n.Close() })
		return n
	})
}

func TestNotificationPreferences(t *testing.T) {
	dir := t.TempDir()
	n, err := sqlite.OpenNotifications(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if off, err := n.EmailOptOut(ctx, "rita"); err != nil || off {
		t.Fatalf("default: %v %v", off, err)
	}
	if err := n.SetEmailOptOut(ctx, "rita", true); err != nil {
		t.Fatal(err)
	}
	n.Close()
	n, err = sqlite.OpenNotifications(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if off, err := n.EmailOptOut(ctx, "rita"); err != nil || !off {
		t.Fatalf("after reopening: %v %v", off, err)
	}
	if off, _ := n.EmailOptOut(ctx, "bob"); off {
		t.Fatal("bob opted out too")
	}
	if err := n.SetEmailOptOut(ctx, "rita", false); err != nil {
		t.Fatal(err)
	}
	if off, _ := n.EmailOptOut(ctx, "rita"); off {
		t.Fatal("opt back in did not stick")
	}
}
