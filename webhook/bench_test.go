package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/webhook"
)

// BenchmarkDispatch measures end-to-end delivery from the outbox (SQLite
// notifications.db, synced commits) to a local receiver: each op enqueues
// 500 deliveries over 50 tickets and waits until all were answered and
// recorded.
func BenchmarkDispatch(b *testing.B) {
	n, err := sqlite.OpenNotifications(b.TempDir(), quiet)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	reg, _ := webhook.NewRegistry(webhook.RegistryConfig{Store: n, Head: func(context.Context) (int64, error) { return 0, nil }, NewID: newID, AllowPrivate: true})
	ep, _, err := reg.Create(context.Background(), "bench", webhook.NewEndpoint{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	d, err := webhook.NewDispatcher(webhook.DispatcherConfig{Store: n, AllowPrivate: true, Logger: quiet, PerEndpoint: 16, Concurrency: 16})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	const perOp = 500
	pos := int64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ds []webhook.Delivery
		now := time.Now().UTC()
		for j := range perOp {
			pos++
			ds = append(ds, webhook.Delivery{EndpointID: ep.ID, EventID: newID(), EventType: "ticket.commented",
				Stream: fmt.Sprintf("ticket-%d", j%50), Position: pos, Version: pos, Payload: []byte(`{"id":"x"}`),
				Status: webhook.StatusPending, CreatedAt: now, NextAttemptAt: now})
		}
		if err := n.Enqueue(context.Background(), ds); err != nil {
			b.Fatal(err)
		}
		d.Notify()
		want := int64(i+1) * perOp
		for {
			if c, _ := n.Counts(context.Background()); got.Load() >= want && c[ep.ID][webhook.StatusPending] == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "deliveries/s")
}
