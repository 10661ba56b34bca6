package dynamodb_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/webhook"
	"github.com/eventdesk/eventdesk/webhook/webhooktest"
)

// newWebhooks returns the webhook store in a fresh state table.
func newWebhooks(tb testing.TB) *dynamodb.Webhooks {
	tb.Helper()
	db, _ := openLocal(tb)
	table := tableName("state")
	if err := db.CreateStateTable(context.Background(), table); err != nil {
		tb.Fatal(err)
	}
	return db.Webhooks(table)
}

// TestWebhookStore runs the webhook outbox suite that SQLite and
// PostgreSQL pass.
func TestWebhookStore(t *testing.T) {
	webhooktest.Run(t, func(tb testing.TB) webhook.Store { return newWebhooks(tb) })
}

// TestWebhookDeadLetters: a dead delivery is a dead letter of
// "webhook:<endpoint>" until redriven; redriving makes it pending (due),
// and an unknown id is not found.
func TestWebhookDeadLetters(t *testing.T) {
	ctx := context.Background()
	s := newWebhooks(t)
	base := time.Now().UTC().Truncate(time.Microsecond)
	ep := webhook.Endpoint{ID: "0190a0a0-0000-7000-8000-000000000001", URL: "https://example.com/h", CreatedAt: base, CreatedBy: "ada",
		Secrets: []webhook.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: base}}}
	if err := s.CreateEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	d := webhook.Delivery{EndpointID: ep.ID, EventID: "0190a0a0-0000-7000-8000-0000000000e1", EventType: eventdesk.TypeTicketCreated,
		Stream: "ticket-x", Version: 1, Payload: []byte(`{"a":1}`), Status: webhook.StatusPending, CreatedAt: base, NextAttemptAt: base}
	if err := s.Enqueue(ctx, []webhook.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	due, err := s.Due(ctx, base, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v %v", due, err)
	}
	if _, _, err := s.RecordAttempt(ctx, webhook.Attempt{Seq: due[0].Seq, EndpointID: ep.ID, At: base, StatusCode: 500, Error: "boom", Status: webhook.StatusDead}); err != nil {
		t.Fatal(err)
	}
	// A second outcome for the same attempt (another invocation's) is refused.
	if _, _, err := s.RecordAttempt(ctx, webhook.Attempt{Seq: due[0].Seq, EndpointID: ep.ID, At: base, StatusCode: 200, Status: webhook.StatusDelivered}); eventdesk.ErrorCode(err) != eventdesk.EConflict {
		t.Fatalf("second outcome: %v, want a conflict", err)
	}
	letters, err := s.DeadLetters(ctx, webhook.DeadLetterSubscriber(ep.ID))
	if err != nil || len(letters) != 1 {
		t.Fatalf("dead letters: %v %v", letters, err)
	}
	l := letters[0]
	if l.Event.ID != d.EventID || l.Event.Stream != "ticket-x" || l.Attempts != 1 || l.Error != "boom" || string(l.Event.Data) != `{"a":1}` {
		t.Fatalf("letter %+v", l)
	}
	if other, _ := s.DeadLetters(ctx, "webhook:someone-else"); len(other) != 0 {
		t.Fatalf("another endpoint's letters: %v", other)
	}
	if err := s.Redrive(ctx, l.ID+1000); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("redrive of an unknown letter: %v", err)
	}
	if err := s.Redrive(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	if letters, _ := s.DeadLetters(ctx, ""); len(letters) != 0 {
		t.Fatalf("letters after redrive: %v", letters)
	}
	due, err = s.Due(ctx, time.Now().Add(time.Second), 10)
	if err != nil || len(due) != 1 || due[0].EventID != d.EventID || due[0].Attempts != 0 {
		t.Fatalf("due after redrive: %+v %v", due, err)
	}
	// Deleting the endpoint drops its letters too.
	if _, _, err := s.RecordAttempt(ctx, webhook.Attempt{Seq: due[0].Seq, EndpointID: ep.ID, At: base, Error: "x", Status: webhook.StatusDead}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEndpoint(ctx, ep.ID); err != nil {
		t.Fatal(err)
	}
	if letters, _ := s.DeadLetters(ctx, ""); len(letters) != 0 {
		t.Fatalf("letters of a deleted endpoint: %v", letters)
	}
}

// TestPreferences: e-mail is on until a user opts out, per user.
func TestPreferences(t *testing.T) {
	ctx := context.Background()
	s := newWebhooks(t)
	if off, err := s.EmailOptOut(ctx, "ada"); err != nil || off {
		t.Fatalf("default: %v %v", off, err)
	}
	if err := s.SetEmailOptOut(ctx, "ada", true); err != nil {
		t.Fatal(err)
	}
	if off, _ := s.EmailOptOut(ctx, "ada"); !off {
		t.Fatal("opt-out not kept")
	}
	if off, _ := s.EmailOptOut(ctx, "bob"); off {
		t.Fatal("another user opted out")
	}
	if err := s.SetEmailOptOut(ctx, "ada", false); err != nil {
		t.Fatal(err)
	}
	if off, _ := s.EmailOptOut(ctx, "ada"); off {
		t.Fatal("opt-in not kept")
	}
}
