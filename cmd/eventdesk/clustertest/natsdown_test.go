package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/testenv"
)

// TestNodeStartsWhileNATSIsDown: a node whose NATS is unreachable when it
// starts serves anyway, and its commands succeed; once NATS is up, the node
// connects and the relay publishes what was committed meanwhile, so the
// JetStream stream is complete.
func TestNodeStartsWhileNATSIsDown(t *testing.T) {
	dsn := testenv.Postgres(t)
	natsSrv := testenv.NewNATSServer(t)
	natsSrv.Shutdown()
	token := strings.TrimSpace(run(t, "token", "create", "--store", dsn, "--user", "ops", "--role", "admin"))
	n := startNode(t, "lonely", dsn, natsSrv.URL())
	if metric(t, n, "eventdesk_bus_connected") != 0 {
		t.Fatal("the node reports a bus connection while NATS is down")
	}
	for i := range 5 {
		var tk ticket
		if _, _, err := call("POST", n.url+"/api/v1/tickets", token, fmt.Sprintf(`{"title":"Bus down %d","requester":"rita"}`, i), nil, &tk); err != nil {
			t.Fatalf("a command failed while NATS is down: %v", err)
		}
	}
	natsSrv.Restart()
	for deadline := time.Now().Add(30 * time.Second); metric(t, n, "eventdesk_bus_connected") != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the node did not connect to NATS once it was up")
		}
	}
	head := waitConverged(t, []*node{n})
	if got := streamCount(t, natsSrv.URL(), uint64(head)); got != uint64(head) {
		t.Fatalf("the JetStream stream holds %d messages, the store %d events", got, head)
	}
}
