package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SubscriberCounts is what the subscription runtime counted for one
// subscriber, for /metrics.
type SubscriberCounts struct {
	Name string
	// Handled, Attempts and Failures count since the process started.
	Handled, Attempts, Failures int64
	// DeadLetters is the number of events parked now.
	DeadLetters int64
}

// WebhookCounts is what the webhook dispatcher knows of one endpoint.
type WebhookCounts struct {
	Endpoint string
	// Attempts, Failures and Delivered count since the process started.
	Attempts, Failures, Delivered int64
	// Pending and Dead are the deliveries waiting and given up on now.
	Pending, Dead int64
}

var (
	subAttemptsDesc  = prometheus.NewDesc("eventdesk_subscriber_attempts_total", "Tries of a subscriber (a projection batch, a side effect's handler call) since start.", []string{"subscriber"}, nil)
	subFailuresDesc  = prometheus.NewDesc("eventdesk_subscriber_failures_total", "Failed tries of a subscriber since start.", []string{"subscriber"}, nil)
	subHandledDesc   = prometheus.NewDesc("eventdesk_subscriber_handled_total", "Events a subscriber applied or handled since start.", []string{"subscriber"}, nil)
	subDeadDesc      = prometheus.NewDesc("eventdesk_subscriber_dead_letters", "Events a side-effect subscriber parked as dead letters.", []string{"subscriber"}, nil)
	hookAttemptsDesc = prometheus.NewDesc("eventdesk_webhook_attempts_total", "Webhook delivery attempts since start.", []string{"endpoint"}, nil)
	hookFailuresDesc = prometheus.NewDesc("eventdesk_webhook_failures_total", "Failed webhook delivery attempts since start.", []string{"endpoint"}, nil)
	hookOKDesc       = prometheus.NewDesc("eventdesk_webhook_delivered_total", "Webhook deliveries that succeeded since start.", []string{"endpoint"}, nil)
	hookPendingDesc  = prometheus.NewDesc("eventdesk_webhook_pending_deliveries", "Webhook deliveries waiting for their (next) attempt.", []string{"endpoint"}, nil)
	hookDeadDesc     = prometheus.NewDesc("eventdesk_webhook_dead_deliveries", "Webhook deliveries whose retry schedule ran out (dead letters).", []string{"endpoint"}, nil)
)

// AddNotificationSources adds the subscribers' counts and the webhook
// endpoints' counts to the metrics, read at scrape time (either may be
// nil).
func (m *Metrics) AddNotificationSources(subs func(context.Context) ([]SubscriberCounts, error), hooks func(context.Context) ([]WebhookCounts, error)) error {
	return m.reg.Register(&notifyCollector{subs: subs, hooks: hooks})
}

type notifyCollector struct {
	subs  func(context.Context) ([]SubscriberCounts, error)
	hooks func(context.Context) ([]WebhookCounts, error)
}

func (c *notifyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{subAttemptsDesc, subFailuresDesc, subHandledDesc, subDeadDesc, hookAttemptsDesc, hookFailuresDesc, hookOKDesc, hookPendingDesc, hookDeadDesc} {
		ch <- d
	}
}

func (c *notifyCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counter, gauge := prometheus.CounterValue, prometheus.GaugeValue
	if c.subs != nil {
		if list, err := c.subs(ctx); err == nil {
			for _, s := range list {
				ch <- prometheus.MustNewConstMetric(subAttemptsDesc, counter, float64(s.Attempts), s.Name)
				ch <- prometheus.MustNewConstMetric(subFailuresDesc, counter, float64(s.Failures), s.Name)
				ch <- prometheus.MustNewConstMetric(subHandledDesc, counter, float64(s.Handled), s.Name)
				ch <- prometheus.MustNewConstMetric(subDeadDesc, gauge, float64(s.DeadLetters), s.Name)
			}
		}
	}
	if c.hooks != nil {
		if list, err := c.hooks(ctx); err == nil {
			for _, h := range list {
				ch <- prometheus.MustNewConstMetric(hookAttemptsDesc, counter, float64(h.Attempts), h.Endpoint)
				ch <- prometheus.MustNewConstMetric(hookFailuresDesc, counter, float64(h.Failures), h.Endpoint)
				ch <- prometheus.MustNewConstMetric(hookOKDesc, counter, float64(h.Delivered), h.Endpoint)
				ch <- prometheus.MustNewConstMetric(hookPendingDesc, gauge, float64(h.Pending), h.Endpoint)
				ch <- prometheus.MustNewConstMetric(hookDeadDesc, gauge, float64(h.Dead), h.Endpoint)
			}
		}
	}
}
