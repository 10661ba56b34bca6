package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestInboxBoundMigration: in a subscribers.db written before the inbox
// bound existed (schema 1), migration 0002 sets each subscriber's bound to
// the last position its inbox holds, so that events a crash left handled
// above the checkpoint are still looked up after the upgrade.
func TestInboxBoundMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w := openAtFirstMigration(t, filepath.Join(dir, SubscribersFile), subscribersSchema)
	for _, stmt := range []string{
		"INSERT INTO subscriber_checkpoints (name, position, updated_at) VALUES ('mailer', 3, 0), ('idle', 9, 0)",
		"INSERT INTO subscriber_inbox (subscriber, event_id, position, handled_at) VALUES ('mailer', 'a', 2, 0), ('mailer', 'b', 7, 0), ('mailer', 'c', 5, 0)",
	} {
		if _, err := w.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()

	s, err := OpenSubscriberState(dir, SubscriberStateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]int64{"mailer": 7, "idle": 0} {
		if got, err := s.InboxBound(ctx, name); err != nil || got != want {
			t.Errorf("InboxBound(%s) after the migration = %d, %v; want %d", name, got, err, want)
		}
	}
	if ok, err := s.Handled(ctx, "mailer", "b"); err != nil || !ok {
		t.Errorf("the inbox lost an event in the migration: %v %v", ok, err)
	}
}
