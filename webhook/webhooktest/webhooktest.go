// Package webhooktest is the conformance suite of webhook.Store: every
// adapter (sqlite, postgres) runs Run against its real database. It
// imports the root package, webhook and the standard library.
package webhooktest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/webhook"
)

// Run runs every case, each against a fresh, empty store from open.
func Run(t *testing.T, open func(tb testing.TB) webhook.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s webhook.Store)
	}{
		{"Endpoints", testEndpoints},
		{"DeleteEndpoint", testDelete},
		{"EndpointsFollowEveryChange", testEndpointsFollow},
		{"EnqueueIsIdempotent", testEnqueueIdempotent},
		{"DueInOrderPerStream", testDueOrder},
		{"DisabledEndpointsWait", testDisabled},
		{"RecordAttempt", testRecordAttempt},
		{"Requeue", testRequeue},
		{"DeliveryLog", testLog},
		{"Prune", testPrune},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

var base = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

var seq int

func id() string {
	seq++
	return fmt.Sprintf("00000000-0000-7000-8000-%012d", seq)
}

func ctx() context.Context { return context.Background() }

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func endpoint(tb testing.TB, s webhook.Store, types ...string) webhook.Endpoint {
	tb.Helper()
	e := webhook.Endpoint{
		ID: id(), URL: "https://example.com/hook?x=1", EventTypes: types, Description: "test",
		Secrets:   []webhook.Secret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", CreatedAt: base}},
		CreatedAt: base, CreatedBy: "ada", StartPosition: 7,
	}
	must(tb, s.CreateEndpoint(ctx(), e))
	return e
}

func delivery(ep, stream string, pos int64, due time.Time) webhook.Delivery {
	return webhook.Delivery{
		EndpointID: ep, EventID: id(), EventType: eventdesk.TypeTicketCommented, Stream: stream,
		Position: pos, Version: pos, Payload: []byte(`{"id":"x"}`), Status: webhook.StatusPending,
		CreatedAt: base, NextAttemptAt: due,
	}
}

func testEndpoints(t *testing.T, s webhook.Store) {
	if _, err := s.Endpoint(ctx(), id()); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("unknown endpoint: %v, want not found", err)
	}
	a := endpoint(t, s)
	b := endpoint(t, s, eventdesk.TypeTicketCreated, eventdesk.TypeStatusChanged)
	got, err := s.Endpoint(ctx(), b.ID)
	must(t, err)
	if got.URL != b.URL || !slices.Equal(got.EventTypes, b.EventTypes) || got.Description != "test" || got.CreatedBy != "ada" ||
		got.StartPosition != 7 || !got.CreatedAt.Equal(base) || len(got.Secrets) != 1 || got.Secrets[0].Key != b.Secrets[0].Key || got.Disabled {
		t.Fatalf("endpoint read back as %+v, want %+v", got, b)
	}
	all, err := s.Endpoints(ctx())
	must(t, err)
	if len(all) != 2 || all[0].ID != a.ID || all[1].ID != b.ID {
		t.Fatalf("Endpoints: %v", all)
	}
	if all[0].EventTypes == nil || len(all[0].EventTypes) != 0 {
		t.Errorf("no event types read back as %#v, want empty", all[0].EventTypes)
	}
	rotated := []webhook.Secret{{Key: "whsec_new", CreatedAt: base.Add(time.Hour)}, {Key: b.Secrets[0].Key, CreatedAt: base, ExpiresAt: base.Add(25 * time.Hour)}}
	must(t, s.SetSecrets(ctx(), b.ID, rotated))
	got, _ = s.Endpoint(ctx(), b.ID)
	if len(got.Secrets) != 2 || got.Secrets[0].Key != "whsec_new" || !got.Secrets[1].ExpiresAt.Equal(base.Add(25*time.Hour)) {
		t.Fatalf("secrets after rotation: %+v", got.Secrets)
	}
	if err := s.SetSecrets(ctx(), id(), rotated); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Errorf("SetSecrets of unknown: %v", err)
	}
	must(t, s.SetDisabled(ctx(), a.ID, true, "keeps failing", base))
	got, _ = s.Endpoint(ctx(), a.ID)
	if !got.Disabled || got.DisabledReason != "keeps failing" || !got.DisabledAt.Equal(base) {
		t.Fatalf("disabled: %+v", got)
	}
	if err := s.SetDisabled(ctx(), id(), true, "x", base); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Errorf("SetDisabled of unknown: %v", err)
	}
}

func testDelete(t *testing.T, s webhook.Store) {
	a, b := endpoint(t, s), endpoint(t, s)
	must(t, s.Enqueue(ctx(), []webhook.Delivery{delivery(a.ID, "ticket-1", 10, base), delivery(b.ID, "ticket-1", 10, base)}))
	must(t, s.DeleteEndpoint(ctx(), a.ID))
	if _, err := s.Endpoint(ctx(), a.ID); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Fatalf("deleted endpoint: %v", err)
	}
	if err := s.DeleteEndpoint(ctx(), a.ID); eventdesk.ErrorCode(err) != eventdesk.ENotFound {
		t.Errorf("second delete: %v", err)
	}
	due, err := s.Due(ctx(), base, 10)
	must(t, err)
	if len(due) != 1 || due[0].EndpointID != b.ID {
		t.Fatalf("due after delete: %+v", due)
	}
	if ds, _ := s.Deliveries(ctx(), a.ID, 0, 10); len(ds) != 0 {
		t.Errorf("deliveries of a deleted endpoint: %d", len(ds))
	}
}

func testEnqueueIdempotent(t *testing.T, s webhook.Store) {
	a := endpoint(t, s)
	d := delivery(a.ID, "ticket-1", 10, base)
	must(t, s.Enqueue(ctx(), []webhook.Delivery{d}))
	must(t, s.Enqueue(ctx(), []webhook.Delivery{d, d}))
	ds, err := s.Deliveries(ctx(), a.ID, 0, 10)
	must(t, err)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries after enqueueing one three times", len(ds))
	}
	got := ds[0]
	if got.EventID != d.EventID || got.Status != webhook.StatusPending || string(got.Payload) != string(d.Payload) ||
		got.Position != 10 || got.Version != 10 || got.Stream != "ticket-1" || got.EventType != d.EventType || got.Attempts != 0 ||
		!got.NextAttemptAt.Equal(base) || !got.CreatedAt.Equal(base) || got.Seq <= 0 {
		t.Fatalf("delivery read back as %+v", got)
	}
}

func testDueOrder(t *testing.T, s webhook.Store) {
	a, b := endpoint(t, s), endpoint(t, s)
	d1 := delivery(a.ID, "ticket-1", 10, base)
	d2 := delivery(a.ID, "ticket-1", 11, base)
	d3 := delivery(a.ID, "ticket-2", 12, base.Add(time.Second))
	d4 := delivery(b.ID, "ticket-1", 11, base)
	future := delivery(a.ID, "ticket-3", 13, base.Add(time.Hour))
	must(t, s.Enqueue(ctx(), []webhook.Delivery{d2, d1, d3, d4, future}))
	ids := func(ds []webhook.Delivery) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.EventID)
		}
		return out
	}
	due, err := s.Due(ctx(), base.Add(time.Second), 10)
	must(t, err)
	// d2 waits for d1 (same endpoint and stream); d4 is another endpoint's.
	if want := []string{d1.EventID, d4.EventID, d3.EventID}; !slices.Equal(ids(due), want) {
		t.Fatalf("due %v, want %v", ids(due), want)
	}
	if due, _ := s.Due(ctx(), base.Add(time.Second), 1); len(due) != 1 {
		t.Errorf("limit 1 gave %d", len(due))
	}
	next, ok, err := s.NextDue(ctx())
	must(t, err)
	if !ok || !next.Equal(base) {
		t.Errorf("NextDue %v %v, want %v", next, ok, base)
	}
	// d1 fails and is retried later: d2 still waits behind it.
	_, _, err = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[0].Seq, EndpointID: a.ID, At: base, StatusCode: 500, Error: "boom",
		Status: webhook.StatusPending, NextAttemptAt: base.Add(time.Minute)})
	must(t, err)
	due, _ = s.Due(ctx(), base.Add(time.Second), 10)
	if want := []string{d4.EventID, d3.EventID}; !slices.Equal(ids(due), want) {
		t.Fatalf("due while d1 is retried: %v, want %v", ids(due), want)
	}
	// d1 gives up: d2 goes next.
	ds, _ := s.Deliveries(ctx(), a.ID, 0, 10)
	var seq1 int64
	for _, d := range ds {
		if d.EventID == d1.EventID {
			seq1 = d.Seq
		}
	}
	_, _, err = s.RecordAttempt(ctx(), webhook.Attempt{Seq: seq1, EndpointID: a.ID, At: base.Add(time.Minute), StatusCode: 500, Error: "boom", Status: webhook.StatusDead})
	must(t, err)
	due, _ = s.Due(ctx(), base.Add(time.Minute), 10)
	if want := []string{d2.EventID, d4.EventID, d3.EventID}; !slices.Equal(ids(due), want) {
		t.Fatalf("due after d1 died: %v, want %v", ids(due), want)
	}
}

func testDisabled(t *testing.T, s webhook.Store) {
	a := endpoint(t, s)
	must(t, s.Enqueue(ctx(), []webhook.Delivery{delivery(a.ID, "ticket-1", 10, base)}))
	must(t, s.SetDisabled(ctx(), a.ID, true, "down", base))
	if due, _ := s.Due(ctx(), base, 10); len(due) != 0 {
		t.Fatalf("a disabled endpoint's deliveries are due: %v", due)
	}
	if _, ok, _ := s.NextDue(ctx()); ok {
		t.Error("NextDue counts a disabled endpoint")
	}
	must(t, s.SetDisabled(ctx(), a.ID, false, "", base))
	if due, _ := s.Due(ctx(), base, 10); len(due) != 1 {
		t.Fatalf("enabled again: %d due, want 1", len(due))
	}
}

func testRecordAttempt(t *testing.T, s webhook.Store) {
	a := endpoint(t, s)
	must(t, s.Enqueue(ctx(), []webhook.Delivery{delivery(a.ID, "ticket-1", 10, base), delivery(a.ID, "ticket-2", 11, base)}))
	due, _ := s.Due(ctx(), base, 10)
	fs, n, err := s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[0].Seq, EndpointID: a.ID, At: base, StatusCode: 503, Latency: 1500 * time.Millisecond,
		Error: "answered 503", Status: webhook.StatusPending, NextAttemptAt: base.Add(5 * time.Second)})
	must(t, err)
	if n != 1 || !fs.Equal(base) {
		t.Fatalf("after a failure: failing since %v, %d failures", fs, n)
	}
	fs, n, err = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[1].Seq, EndpointID: a.ID, At: base.Add(time.Second), Error: "connection refused",
		Status: webhook.StatusPending, NextAttemptAt: base.Add(6 * time.Second)})
	must(t, err)
	if n != 2 || !fs.Equal(base) {
		t.Fatalf("after two failures: failing since %v, %d failures", fs, n)
	}
	ep, _ := s.Endpoint(ctx(), a.ID)
	if ep.ConsecutiveFailures != 2 || !ep.FailingSince.Equal(base) {
		t.Errorf("endpoint health %d since %v", ep.ConsecutiveFailures, ep.FailingSince)
	}
	ds, _ := s.Deliveries(ctx(), a.ID, 0, 10)
	d := ds[1] // newest first: due[0] is the older
	if d.Attempts != 1 || d.LastStatusCode != 503 || d.LastLatency != 1500*time.Millisecond || d.LastError != "answered 503" ||
		!d.LastAttemptAt.Equal(base) || !d.NextAttemptAt.Equal(base.Add(5*time.Second)) || d.Status != webhook.StatusPending {
		t.Fatalf("delivery after a failed attempt: %+v", d)
	}
	fs, n, err = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[0].Seq, EndpointID: a.ID, At: base.Add(5 * time.Second), StatusCode: 204,
		Latency: time.Millisecond, Status: webhook.StatusDelivered})
	must(t, err)
	if n != 0 || !fs.IsZero() {
		t.Fatalf("after a success: failing since %v, %d failures", fs, n)
	}
	ds, _ = s.Deliveries(ctx(), a.ID, 0, 10)
	d = ds[1]
	if d.Status != webhook.StatusDelivered || d.Attempts != 2 || !d.DeliveredAt.Equal(base.Add(5*time.Second)) || d.LastError != "" || d.LastStatusCode != 204 {
		t.Fatalf("delivered: %+v", d)
	}
	c, err := s.Counts(ctx())
	must(t, err)
	if c[a.ID][webhook.StatusDelivered] != 1 || c[a.ID][webhook.StatusPending] != 1 {
		t.Errorf("counts %v", c)
	}
	// Enabling clears the run of failures.
	_, _, _ = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[1].Seq, EndpointID: a.ID, At: base.Add(7 * time.Second), Error: "x", Status: webhook.StatusPending, NextAttemptAt: base.Add(time.Hour)})
	must(t, s.SetDisabled(ctx(), a.ID, true, "x", base))
	must(t, s.SetDisabled(ctx(), a.ID, false, "", base))
	ep, _ = s.Endpoint(ctx(), a.ID)
	if ep.ConsecutiveFailures != 0 || !ep.FailingSince.IsZero() || ep.Disabled || ep.DisabledReason != "" {
		t.Errorf("enabled endpoint: %+v", ep)
	}
}

func testRequeue(t *testing.T, s webhook.Store) {
	a := endpoint(t, s)
	d := delivery(a.ID, "ticket-1", 10, base)
	must(t, s.Enqueue(ctx(), []webhook.Delivery{d}))
	if st, err := s.Requeue(ctx(), a.ID, d.EventID, base); err != nil || st != webhook.StatusPending {
		t.Fatalf("requeue of a pending delivery: %q %v", st, err)
	}
	if st, err := s.Requeue(ctx(), a.ID, id(), base); err != nil || st != "" {
		t.Fatalf("requeue of none: %q %v", st, err)
	}
	due, _ := s.Due(ctx(), base, 10)
	_, _, err := s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[0].Seq, EndpointID: a.ID, At: base, Error: "x", Status: webhook.StatusDead})
	must(t, err)
	if due, _ := s.Due(ctx(), base.Add(time.Hour), 10); len(due) != 0 {
		t.Fatal("a dead delivery is due")
	}
	st, err := s.Requeue(ctx(), a.ID, d.EventID, base.Add(time.Hour))
	must(t, err)
	if st != webhook.StatusDead {
		t.Fatalf("requeue of a dead delivery reported %q", st)
	}
	due, _ = s.Due(ctx(), base.Add(time.Hour), 10)
	if len(due) != 1 || due[0].Attempts != 0 || due[0].Status != webhook.StatusPending {
		t.Fatalf("requeued: %+v", due)
	}
}

func testLog(t *testing.T, s webhook.Store) {
	a := endpoint(t, s)
	var ds []webhook.Delivery
	for i := range 5 {
		ds = append(ds, delivery(a.ID, "ticket-1", int64(10+i), base))
	}
	must(t, s.Enqueue(ctx(), ds))
	page1, err := s.Deliveries(ctx(), a.ID, 0, 3)
	must(t, err)
	if len(page1) != 3 || page1[0].EventID != ds[4].EventID || page1[2].EventID != ds[2].EventID {
		t.Fatalf("first page: %v", page1)
	}
	page2, err := s.Deliveries(ctx(), a.ID, page1[2].Seq, 3)
	must(t, err)
	if len(page2) != 2 || page2[0].EventID != ds[1].EventID || page2[1].EventID != ds[0].EventID {
		t.Fatalf("second page: %v", page2)
	}
}

func testPrune(t *testing.T, s webhook.Store) {
	a := endpoint(t, s)
	must(t, s.Enqueue(ctx(), []webhook.Delivery{delivery(a.ID, "ticket-1", 10, base), delivery(a.ID, "ticket-2", 11, base), delivery(a.ID, "ticket-3", 12, base)}))
	due, _ := s.Due(ctx(), base, 10)
	_, _, _ = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[0].Seq, EndpointID: a.ID, At: base, StatusCode: 200, Status: webhook.StatusDelivered})
	_, _, _ = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[1].Seq, EndpointID: a.ID, At: base, Error: "x", Status: webhook.StatusDead})
	n, err := s.Prune(ctx(), base.Add(time.Second))
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want the one delivered", n)
	}
	left, _ := s.Deliveries(ctx(), a.ID, 0, 10)
	if len(left) != 2 {
		t.Fatalf("%d left, want the dead and the pending one", len(left))
	}
}

// testEndpointsFollow reads Endpoints before and after every kind of
// change to an endpoint: a store that caches the list must never answer
// with one older than the change.
func testEndpointsFollow(t *testing.T, s webhook.Store) {
	list := func() []webhook.Endpoint {
		t.Helper()
		all, err := s.Endpoints(ctx())
		must(t, err)
		return all
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("a new store lists %v", got)
	}
	a := endpoint(t, s)
	if got := list(); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("after a create: %v", got)
	}
	list()
	b := endpoint(t, s, eventdesk.TypeTicketCreated)
	if got := list(); len(got) != 2 || got[1].ID != b.ID {
		t.Fatalf("after a second create: %v", got)
	}
	must(t, s.SetSecrets(ctx(), a.ID, []webhook.Secret{{Key: "whsec_rotated", CreatedAt: base}}))
	if got := list(); len(got[0].Secrets) != 1 || got[0].Secrets[0].Key != "whsec_rotated" {
		t.Fatalf("after a rotation: %+v", got[0].Secrets)
	}
	must(t, s.SetDisabled(ctx(), a.ID, true, "keeps failing", base))
	if got := list(); !got[0].Disabled || got[0].DisabledReason != "keeps failing" {
		t.Fatalf("after disabling: %+v", got[0])
	}
	must(t, s.SetDisabled(ctx(), a.ID, false, "", base))
	if got := list(); got[0].Disabled {
		t.Fatalf("after enabling: %+v", got[0])
	}
	must(t, s.Enqueue(ctx(), []webhook.Delivery{delivery(a.ID, "ticket-1", 10, base)}))
	due, err := s.Due(ctx(), base, 10)
	must(t, err)
	if len(due) != 1 {
		t.Fatalf("due: %v", due)
	}
	list()
	_, _, err = s.RecordAttempt(ctx(), webhook.Attempt{Seq: due[0].Seq, EndpointID: a.ID, At: base, StatusCode: 500, Error: "answered 500",
		Status: webhook.StatusPending, NextAttemptAt: base.Add(time.Minute)})
	must(t, err)
	if got := list(); got[0].ConsecutiveFailures != 1 || !got[0].FailingSince.Equal(base) {
		t.Fatalf("after a failed attempt: %d failures since %v", got[0].ConsecutiveFailures, got[0].FailingSince)
	}
	// The caller owns what it gets.
	got := list()
	got[0].URL = "https://changed.example"
	if again := list(); again[0].URL != a.URL {
		t.Fatalf("a caller's change to the list leaked into the store: %q", again[0].URL)
	}
	must(t, s.DeleteEndpoint(ctx(), a.ID))
	if got := list(); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("after a delete: %v", got)
	}
}
