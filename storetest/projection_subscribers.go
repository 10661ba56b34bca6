package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// RunSubscriberStore runs the conformance suite of side-effect subscriber
// state (eventdesk.SubscriberStore): checkpoints, the inbox, dead letters
// and redrive. open returns a fresh, empty store.
func RunSubscriberStore(t *testing.T, open func(tb testing.TB) eventdesk.SubscriberStore) {
	ev := func(i int) eventdesk.Event {
		return eventdesk.Event{
			ID: fmt.Sprintf("01970000-0000-7000-8000-%012x", i), Stream: "ticket-x", Version: int64(i), Position: int64(i),
			Type: eventdesk.TypeTicketCommented, Schema: 1, Data: []byte(`{"body":"hi"}`),
			Metadata: eventdesk.Metadata{Actor: "bob"}, RecordedAt: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC),
		}
	}
	t.Run("Checkpoints", func(t *testing.T) {
		s := open(t)
		ctx := projCtx(t)
		if _, found, err := s.Checkpoint(ctx, "a"); err != nil || found {
			t.Fatalf("new subscriber: found %t, %v", found, err)
		}
		// A first start at 0 is recorded, so that it is told apart from
		// a subscriber that never ran.
		for _, step := range []struct{ save, want int64 }{{0, 0}, {5, 5}, {3, 5}, {9, 9}} {
			if err := s.SaveCheckpoint(ctx, "a", step.save); err != nil {
				t.Fatal(err)
			}
			if got, found, err := s.Checkpoint(ctx, "a"); err != nil || !found || got != step.want {
				t.Fatalf("after saving %d: %d, %t, %v; want %d", step.save, got, found, err, step.want)
			}
		}
		if _, found, _ := s.Checkpoint(ctx, "b"); found {
			t.Fatal("checkpoints are not per subscriber")
		}
	})
	t.Run("Inbox", func(t *testing.T) {
		s := open(t)
		ctx := projCtx(t)
		if ok, err := s.Handled(ctx, "a", ev(1).ID); err != nil || ok {
			t.Fatalf("before: %t, %v", ok, err)
		}
		if err := s.MarkHandled(ctx, "a", ev(2)); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkHandled(ctx, "a", ev(2)); err != nil {
			t.Fatalf("marking twice: %v", err)
		}
		if ok, err := s.Handled(ctx, "a", ev(2).ID); err != nil || !ok {
			t.Fatalf("after: %t, %v", ok, err)
		}
		if ok, _ := s.Handled(ctx, "b", ev(2).ID); ok {
			t.Fatal("the inbox is not per subscriber")
		}
		if got, _, _ := s.Checkpoint(ctx, "a"); got != 2 {
			t.Fatalf("checkpoint %d after handling position 2", got)
		}
		// An older event handled late does not move the checkpoint back.
		if err := s.MarkHandled(ctx, "a", ev(1)); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := s.Checkpoint(ctx, "a"); got != 2 {
			t.Fatalf("checkpoint moved back to %d", got)
		}
	})
	t.Run("DeadLettersAndRedrive", func(t *testing.T) {
		s := open(t)
		ctx := projCtx(t)
		d, err := s.Park(ctx, "mail", ev(3), 5, "smtp down")
		if err != nil {
			t.Fatal(err)
		}
		if d.ID == 0 || d.Attempts != 5 || d.Error != "smtp down" || d.Event.ID != ev(3).ID || d.Redriven {
			t.Fatalf("parked %+v", d)
		}
		if got, _, _ := s.Checkpoint(ctx, "mail"); got != 3 {
			t.Fatalf("parking does not move the checkpoint past the event: %d", got)
		}
		if _, err := s.Park(ctx, "hook", ev(4), 2, "500"); err != nil {
			t.Fatal(err)
		}
		all, err := s.DeadLetters(ctx, "")
		if err != nil || len(all) != 2 || all[0].ID >= all[1].ID {
			t.Fatalf("all dead letters: %+v, %v", all, err)
		}
		mine, err := s.DeadLetters(ctx, "mail")
		if err != nil || len(mine) != 1 {
			t.Fatalf("dead letters of mail: %+v, %v", mine, err)
		}
		got := mine[0]
		want := ev(3)
		if got.Subscriber != "mail" || got.Event.ID != want.ID || got.Event.Position != want.Position || string(got.Event.Data) != string(want.Data) ||
			!got.Event.RecordedAt.Equal(want.RecordedAt) || got.Event.Metadata.Actor != "bob" || got.FailedAt.IsZero() {
			t.Fatalf("dead letter %+v does not keep its event", got)
		}
		if err := s.Redrive(ctx, 987654); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
			t.Fatalf("redrive of an unknown id: %v", err)
		}
		if r, _ := s.Redriven(ctx, "mail"); len(r) != 0 {
			t.Fatalf("redriven before any redrive: %+v", r)
		}
		if err := s.Redrive(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		r, err := s.Redriven(ctx, "mail")
		if err != nil || len(r) != 1 || !r[0].Redriven || r[0].ID != d.ID {
			t.Fatalf("redriven: %+v, %v", r, err)
		}
		if r, _ := s.Redriven(ctx, "hook"); len(r) != 0 {
			t.Fatalf("redrive leaked to another subscriber: %+v", r)
		}
		// Failing again parks it again, with the attempts added up.
		again, err := s.Park(ctx, "mail", ev(3), 5, "still down")
		if err != nil || again.ID != d.ID || again.Attempts != 10 || again.Redriven {
			t.Fatalf("parked again: %+v, %v", again, err)
		}
		if r, _ := s.Redriven(ctx, "mail"); len(r) != 0 {
			t.Fatalf("still queued after parking again: %+v", r)
		}
		// Handled at last: the letter is gone.
		if err := s.Redrive(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkHandled(ctx, "mail", ev(3)); err != nil {
			t.Fatal(err)
		}
		if l, _ := s.DeadLetters(ctx, "mail"); len(l) != 0 {
			t.Fatalf("dead letter kept after the event was handled: %+v", l)
		}
		if l, _ := s.DeadLetters(ctx, "hook"); len(l) != 1 {
			t.Fatalf("another subscriber's letter was removed: %+v", l)
		}
	})
}
