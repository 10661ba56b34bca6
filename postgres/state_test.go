package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
	"github.com/eventdesk/eventdesk/storetest"
)

// TestTokens runs the token-store suite; the other handle is another
// node's (another pool on the same database).
func TestTokens(t *testing.T) {
	var mu sync.Mutex
	dsns := map[app.TokenStore]string{}
	storetest.RunTokens(t, func(tb testing.TB) app.TokenStore {
		dsn := testenv.Postgres(tb)
		store := open(tb, dsn, postgres.Options{}).Tokens()
		mu.Lock()
		dsns[store] = dsn
		mu.Unlock()
		return store
	}, func(tb testing.TB, first app.TokenStore) app.TokenStore {
		mu.Lock()
		dsn := dsns[first]
		mu.Unlock()
		return open(tb, dsn, postgres.Options{}).Tokens()
	})
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
