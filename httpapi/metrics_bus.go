package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// BusCounts is what a node's message bus (NATS JetStream, when scaled out)
// counted since the process started.
type BusCounts struct {
	Connected                    bool
	Published, Dropped, Received int64
}

var (
	busConnectedDesc = prometheus.NewDesc("eventdesk_bus_connected", "1 while the node is connected to its message bus (NATS), else 0; nodes poll the store meanwhile.", nil, nil)
	busPublishedDesc = prometheus.NewDesc("eventdesk_bus_published_total", "Committed events this node published on the bus after commit, since start.", nil, nil)
	busDroppedDesc   = prometheus.NewDesc("eventdesk_bus_dropped_total", "Committed events this node could not publish after commit (bus down or slow; the relay publishes them later), since start.", nil, nil)
	busReceivedDesc  = prometheus.NewDesc("eventdesk_bus_received_total", "Announcements of other nodes' commits that woke this node, since start.", nil, nil)
)

// AddBusSource adds the bus's counters to the metrics, read at scrape
// time.
func (m *Metrics) AddBusSource(counts func() BusCounts) error {
	return m.reg.Register(busCollector(counts))
}

type busCollector func() BusCounts

func (c busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{busConnectedDesc, busPublishedDesc, busDroppedDesc, busReceivedDesc} {
		ch <- d
	}
}

func (c busCollector) Collect(ch chan<- prometheus.Metric) {
	n := c()
	connected := 0.0
	if n.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(busConnectedDesc, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(busPublishedDesc, prometheus.CounterValue, float64(n.Published))
	ch <- prometheus.MustNewConstMetric(busDroppedDesc, prometheus.CounterValue, float64(n.Dropped))
	ch <- prometheus.MustNewConstMetric(busReceivedDesc, prometheus.CounterValue, float64(n.Received))
}
