package clustertest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

// BenchmarkCrossNodeLag measures how long a command acknowledged by one
// node takes to be visible on another: three nodes on one PostgreSQL and
// one NATS; node A (which does not run the ticket projection) creates a
// ticket, node B (which does not either) is asked for it with
// X-Min-Position set to the position A returned, and answers once its read
// models have it. The time from A's answer to B's is the lag: NATS wake-up
// of the projection's node, projection, NOTIFY to B, B's response.
//
//	go test -run '^$' -bench CrossNodeLag -benchtime 2000x ./cmd/eventdesk/clustertest/
func BenchmarkCrossNodeLag(b *testing.B) {
	dsn := testenv.Postgres(b)
	natsSrv := testenv.NewNATSServer(b)
	token := strings.TrimSpace(run(b, "token", "create", "--store", dsn, "--user", "ops", "--role", "admin"))
	nodes := []*node{startNode(b, "node1", dsn, natsSrv.URL()), startNode(b, "node2", dsn, natsSrv.URL()), startNode(b, "node3", dsn, natsSrv.URL())}
	var holder string
	for deadline := time.Now().Add(20 * time.Second); holder == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		holder = leaseHolder(b, dsn, "tickets")
	}
	var others []*node
	for _, n := range nodes {
		if n.name != holder {
			others = append(others, n)
		}
	}
	if len(others) != 2 {
		b.Fatalf("projection lease holder %q", holder)
	}
	nodeA, nodeB := others[0], others[1]
	lags := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var t ticket
		_, h, err := call("POST", nodeA.url+"/api/v1/tickets", token, fmt.Sprintf(`{"title":"Lag %d","requester":"rita"}`, i), nil, &t)
		if err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		pos := h.Get("X-Event-Position")
		if _, err := strconv.ParseInt(pos, 10, 64); err != nil {
			b.Fatalf("no position from A: %q", pos)
		}
		if _, _, err := call("GET", nodeB.url+"/api/v1/tickets/"+t.ID, token, "", map[string]string{"X-Min-Position": pos}, nil); err != nil {
			b.Fatal(err)
		}
		lags = append(lags, time.Since(acked))
	}
	b.StopTimer()
	slices.Sort(lags)
	q := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
}
