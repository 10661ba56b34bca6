package natsbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/natsbus"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func openBus(tb testing.TB, url, node string, onWake func()) *natsbus.Bus {
	tb.Helper()
	b, err := natsbus.Open(natsbus.Options{URL: url, Node: node, OnWake: onWake})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Ready(ctx); err != nil {
		tb.Fatal(err)
	}
	return b
}

func event(pos int64, typ string) eventdesk.Event {
	return eventdesk.Event{
		ID: fmt.Sprintf("0196aaaa-0000-7000-8000-%012d", pos), Stream: "ticket-0196aaaa-0000-7000-8000-000000000001",
		Version: pos, Position: pos, Type: typ, Schema: 1, Data: json.RawMessage(`{"title":"Printer"}`),
		Metadata:   eventdesk.Metadata{Actor: "alice", CorrelationID: "c1", IdempotencyKey: "secret-key"},
		RecordedAt: time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC), Hash: "abc",
	}
}

// consume reads every message of the stream from the start, as an external
// consumer would, until n arrived or the deadline.
func consume(tb testing.TB, url string, n int) []*nats.Msg {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, natsbus.DefaultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"eventdesk.events.>"}})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		info, err := s.Info(ctx)
		if err != nil {
			tb.Errorf("stream info: %v", err)
		} else if info.State.Msgs != uint64(n) {
			tb.Errorf("stream holds %d messages, want %d", info.State.Msgs, n)
		}
	}()
	var out []*nats.Msg
	for len(out) < n {
		batch, err := c.FetchNoWait(n - len(out))
		if err != nil {
			tb.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers()})
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

func TestPublishCloudEventsOnce(t *testing.T) {
	srv := testenv.NewNATSServer(t)
	b := openBus(t, srv.URL(), "a", nil)
	b.Publish([]eventdesk.Event{event(1, "ticket.created"), event(2, "ticket.commented")})
	b.Publish([]eventdesk.Event{event(1, "ticket.created")}) // again: de-duplicated
	b.Publish([]eventdesk.Event{event(3, "odd type*>")})
	msgs := consume(t, srv.URL(), 3)
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	wantSubjects := []string{"eventdesk.events.ticket.created", "eventdesk.events.ticket.commented", "eventdesk.events.odd_type__"}
	for i, m := range msgs {
		if m.Subject != wantSubjects[i] {
			t.Errorf("message %d subject %q, want %q", i, m.Subject, wantSubjects[i])
		}
		if got := m.Header.Get("Nats-Msg-Id"); got != event(int64(i+1), "").ID {
			t.Errorf("message %d Nats-Msg-Id %q", i, got)
		}
	}
	var ce map[string]any
	if err := json.Unmarshal(msgs[0].Data, &ce); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"specversion": "1.0", "id": event(1, "").ID, "source": "eventdesk", "type": "ticket.created",
		"subject": "ticket-0196aaaa-0000-7000-8000-000000000001", "time": "2026-02-03T04:05:06.000007Z",
		"datacontenttype": "application/json", "position": 1.0, "streamversion": 1.0, "schemaversion": 1.0,
		"actor": "alice", "correlationid": "c1",
	} {
		if ce[k] != want {
			t.Errorf("cloudevent %s = %v, want %v", k, ce[k], want)
		}
	}
	if d, _ := json.Marshal(ce["data"]); string(d) != `{"title":"Printer"}` {
		t.Errorf("data = %s", d)
	}
	if _, leaked := ce["idempotencyKey"]; leaked {
		t.Error("idempotency key published")
	}
}

func waitWake(t *testing.T, n *atomic.Int64, above int64, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() <= above {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not woken", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWakeOtherNodesAndSurviveOutage(t *testing.T) {
	srv := testenv.NewNATSServer(t)
	var wokeA, wokeB atomic.Int64
	a := openBus(t, srv.URL(), "a", func() { wokeA.Add(1) })
	bBus := openBus(t, srv.URL(), "b", func() { wokeB.Add(1) })
	time.Sleep(100 * time.Millisecond) // connect wake-ups settle
	a0, b0 := wokeA.Load(), wokeB.Load()
	a.Publish([]eventdesk.Event{event(1, "ticket.created")})
	waitWake(t, &wokeB, b0, "b after a's publish")
	time.Sleep(100 * time.Millisecond)
	if wokeA.Load() != a0 {
		t.Errorf("a was woken by its own publication")
	}
	if c := a.Counts(); !c.Connected || c.Published != 1 || c.Received != 0 {
		t.Errorf("a's counts after publishing one event: %+v", c)
	}
	if c := bBus.Counts(); !c.Connected || c.Received != 1 {
		t.Errorf("b's counts after one announcement from a: %+v", c)
	}

	// NATS goes down: publishing neither blocks nor fails.
	srv.Shutdown()
	start := time.Now()
	for i := range 20000 {
		a.Publish([]eventdesk.Event{event(int64(10+i), "ticket.commented")})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("publishing while NATS is down took %v", d)
	}
	if c := a.Counts(); c.Connected || c.Dropped == 0 {
		t.Errorf("a's counts while NATS is down: %+v", c)
	}
	// Back: the reconnect itself wakes (events may have been missed), and
	// live wake-ups resume.
	b1 := wokeB.Load()
	srv.Restart()
	waitWake(t, &wokeB, b1, "b on reconnect")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // drain what was queued
	b2, r2 := wokeB.Load(), bBus.Counts().Received
	a.Publish([]eventdesk.Event{event(99999, "ticket.created")})
	waitWake(t, &wokeB, b2, "b after the outage")
	if c := bBus.Counts(); !c.Connected || c.Received <= r2 {
		t.Errorf("b's counts after the outage: %+v, received before %d", c, r2)
	}
}

func TestRelayRetriesUntilNATSIsBack(t *testing.T) {
	srv := testenv.NewNATSServer(t)
	b := openBus(t, srv.URL(), "a", nil)
	state, err := sqlite.OpenSubscriberState(t.TempDir(), sqlite.SubscriberStateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer state.Close()
	store := natsbus.RelayCheckpoints(state)
	ctx := context.Background()
	batch := []eventdesk.Event{event(1, "ticket.created"), event(2, "ticket.commented")}
	project := func() error {
		return store.Project(ctx, natsbus.RelayName, 2, func(tx eventdesk.ProjectionTx) error {
			for _, e := range batch {
				if err := b.Relay().Apply(ctx, tx, e); err != nil {
					return err
				}
			}
			return nil
		})
	}
	b.Publish(batch[:1]) // the committing node was quicker for the first
	srv.Shutdown()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = store.Project(short, natsbus.RelayName, 2, func(tx eventdesk.ProjectionTx) error {
		return b.Relay().Apply(short, tx, batch[0])
	})
	cancel()
	if err == nil {
		t.Fatal("relay succeeded while NATS is down")
	}
	if _, found, _ := store.Checkpoint(ctx, natsbus.RelayName); found {
		t.Fatal("checkpoint moved although publishing failed")
	}
	srv.Restart()
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	defer rcancel()
	if err := b.Ready(rctx); err != nil {
		t.Fatal(err)
	}
	if err := project(); err != nil {
		t.Fatal(err)
	}
	if pos, _, _ := store.Checkpoint(ctx, natsbus.RelayName); pos != 2 {
		t.Fatalf("relay checkpoint %d, want 2", pos)
	}
	if msgs := consume(t, srv.URL(), 2); len(msgs) != 2 {
		t.Fatalf("%d messages in the stream, want 2 (each once)", len(msgs))
	}
}

func TestSubject(t *testing.T) {
	for in, want := range map[string]string{
		"ticket.created":   "eventdesk.events.ticket.created",
		"a..b":             "eventdesk.events.a._.b",
		"user registered":  "eventdesk.events.user_registered",
		"*":                "eventdesk.events._",
		"ticket.sentiment": "eventdesk.events.ticket.sentiment",
	} {
		if got := natsbus.Subject(in); got != want {
			t.Errorf("Subject(%q) = %q, want %q", in, got, want)
		}
	}
}
