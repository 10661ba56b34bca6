package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the server's Prometheus metrics in a registry of its own
// (no global state): request latency by route, append latency, and the
// lag of every subscriber behind the store's head. It implements
// app.Observer.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	appends  *prometheus.HistogramVec

	mu          sync.Mutex
	head        func(ctx context.Context) (int64, error)
	subscribers func(ctx context.Context) ([]SubscriberStatus, error)
}

// NewMetrics returns metrics registered in a new registry, with the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "eventdesk_http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by route pattern, method and status code.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "code"})
	m.appends = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "eventdesk_append_duration_seconds",
		Help:    "Time for an event store append to become durable, by result.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"result"})
	m.reg.MustRegister(m.requests, m.appends, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &lagCollector{m})
	return m
}

// Registry returns the registry, for other packages to add metrics to.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveAppend implements app.Observer.
func (m *Metrics) ObserveAppend(d time.Duration, events int, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.appends.WithLabelValues(result).Observe(d.Seconds())
}

func (m *Metrics) observeRequest(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

func (m *Metrics) setSources(head func(ctx context.Context) (int64, error), subs func(ctx context.Context) ([]SubscriberStatus, error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.head, m.subscribers = head, subs
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	headDesc = prometheus.NewDesc("eventdesk_store_head_position", "Position of the last committed event.", nil, nil)
	posDesc  = prometheus.NewDesc("eventdesk_subscriber_position", "Position a subscriber has dealt with.", []string{"subscriber"}, nil)
	lagDesc  = prometheus.NewDesc("eventdesk_subscriber_lag_events", "Events a subscriber is behind the store's head.", []string{"subscriber"}, nil)
)

// lagCollector reads positions at scrape time.
type lagCollector struct{ m *Metrics }

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- headDesc
	ch <- posDesc
	ch <- lagDesc
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	head, subs := c.m.head, c.m.subscribers
	c.m.mu.Unlock()
	if head == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := head(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(headDesc, prometheus.GaugeValue, float64(h))
	if subs == nil {
		return
	}
	list, err := subs(ctx)
	if err != nil {
		return
	}
	for _, s := range list {
		ch <- prometheus.MustNewConstMetric(posDesc, prometheus.GaugeValue, float64(s.Position), s.Name)
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(max(h-s.Position, 0)), s.Name)
	}
}
