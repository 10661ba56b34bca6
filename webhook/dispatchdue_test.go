package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/webhook"
)

// TestDispatchDue: one pass sends what is due in order per stream (the
// next event of a ticket goes once the one before it is delivered, in the
// same pass), attempts each delivery at most once per pass, and leaves a
// failed one for a later pass.
func TestDispatchDue(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := db.OpenNotifications()
	if err != nil {
		t.Fatal(err)
	}
	// No wait before a retry: only "once per pass" keeps the failed
	// delivery from being tried again at once.
	d, err := webhook.NewDispatcher(webhook.DispatcherConfig{Store: store, AllowPrivate: true, Schedule: []time.Duration{0, 0}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	secret, _ := webhook.NewSecret()
	rc.secret = secret
	now := time.Now().UTC().Truncate(time.Microsecond)
	ep := webhook.Endpoint{ID: newID(), URL: rc.srv.URL + "/hook", Secrets: []webhook.Secret{{Key: secret, CreatedAt: now}}, CreatedAt: now, CreatedBy: "ada"}
	if err := store.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	first, second := newID(), newID()
	var ds []webhook.Delivery
	for i, id := range []string{first, second} {
		ds = append(ds, webhook.Delivery{EndpointID: ep.ID, EventID: id, EventType: eventdesk.TypeTicketCommented, Stream: "ticket-1",
			Position: int64(i + 1), Version: int64(i + 1), Payload: []byte(`{"id":"` + id + `"}`), Status: webhook.StatusPending, CreatedAt: now, NextAttemptAt: now})
	}
	if err := store.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	rc.setFail(func(received) int { return http.StatusServiceUnavailable })
	if n, err := d.DispatchDue(ctx); err != nil || n != 1 || rc.attemptsOf(first) != 1 || rc.attemptsOf(second) != 0 {
		t.Fatalf("pass while down: %d attempts (%v); first %d, second %d; want the first once", n, err, rc.attemptsOf(first), rc.attemptsOf(second))
	}
	rc.setFail(nil)
	if n, err := d.DispatchDue(ctx); err != nil || n != 2 {
		t.Fatalf("pass after recovery: %d attempts, %v; want 2", n, err)
	}
	got := rc.received()
	if len(got) != 2 || got[0].ID != first || got[1].ID != second || got[0].Verified != nil || got[1].Verified != nil {
		t.Fatalf("received %+v, want first then second, signed", got)
	}
	if n, err := d.DispatchDue(ctx); err != nil || n != 0 {
		t.Fatalf("pass with nothing due: %d, %v", n, err)
	}
}
