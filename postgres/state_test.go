package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	store := open(t, dsn, postgres.Options{}).Tokens()
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
	// Another node (another pool) sees the token and revokes it; revoking
	// twice keeps the first time.
	other := open(t, dsn, postgres.Options{}).Tokens()
	if err := other.RevokeToken(ctx, tok.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := store.RevokeToken(ctx, tok.ID, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := store.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].RevokedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("list %+v", list)
	}
}

func TestSubscriberState(t *testing.T) {
	ctx := context.Background()
	s := open(t, testenv.Postgres(t), postgres.Options{}).Subscribers()
	if _, found, err := s.Checkpoint(ctx, "webhook"); err != nil || found {
		t.Fatalf("new subscriber: found %t, %v", found, err)
	}
	e := func(id string, pos int64) eventdesk.Event {
		return eventdesk.Event{ID: id, Stream: "ticket-x", Version: pos, Position: pos, Type: "ticket.created", Schema: 1,
			Data: json.RawMessage(`{"a": 1}`), RecordedAt: time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC), Hash: "h"}
	}
	if err := s.MarkHandled(ctx, "webhook", e("e1", 1)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Handled(ctx, "webhook", "e1"); err != nil || !ok {
		t.Fatalf("handled e1 = %t, %v", ok, err)
	}
	if ok, _ := s.Handled(ctx, "email", "e1"); ok {
		t.Fatal("inbox is not per subscriber")
	}
	d, err := s.Park(ctx, "webhook", e("e2", 2), 5, "HTTP 500")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID == 0 || d.Attempts != 5 || d.Error != "HTTP 500" || d.Event.ID != "e2" {
		t.Fatalf("parked %+v", d)
	}
	// Parking again replaces the letter.
	d2, err := s.Park(ctx, "webhook", e("e2", 2), 6, "HTTP 502")
	if err != nil || d2.ID != d.ID {
		t.Fatalf("park again: %+v, %v", d2, err)
	}
	if err := s.SaveCheckpoint(ctx, "webhook", 1); err != nil { // never backwards
		t.Fatal(err)
	}
	if pos, found, _ := s.Checkpoint(ctx, "webhook"); !found || pos != 2 {
		t.Fatalf("checkpoint %d, %t; want 2", pos, found)
	}
	letters, err := s.DeadLetters(ctx, "")
	if err != nil || len(letters) != 1 || letters[0].Attempts != 11 || string(letters[0].Event.Data) != `{"a":1}` || letters[0].Redriven {
		t.Fatalf("dead letters %+v, %v", letters, err)
	}
	if r, _ := s.Redriven(ctx, "webhook"); len(r) != 0 {
		t.Fatalf("redriven before redrive: %+v", r)
	}
	if err := s.Redrive(ctx, 999); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("redrive unknown: %v", err)
	}
	if err := s.Redrive(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Redriven(ctx, "webhook"); len(r) != 1 || !r[0].Redriven {
		t.Fatalf("redriven: %+v", r)
	}
	if err := s.MarkHandled(ctx, "webhook", e("e2", 2)); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.DeadLetters(ctx, "webhook"); len(l) != 0 {
		t.Fatalf("handled letter still dead: %+v", l)
	}
}
