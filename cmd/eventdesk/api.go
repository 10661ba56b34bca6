package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/httpapi"
)

// SessionKeyFile holds the key that signs session cookies, in the data
// directory; it is created on first start so that logins survive restarts.
const SessionKeyFile = "session.key"

// envDemoLogin turns the demo login (anyone may log in by name) on or off.
const envDemoLogin = "EVENTDESK_DEMO_LOGIN"

// newAPI wires the application layer, the REST API and the HTML UI (web.go)
// over the open store and read models.
func (m *Main) newAPI() (http.Handler, error) {
	tokens, err := m.store.apiTokens()
	if err != nil {
		return nil, err
	}
	key, err := m.store.sessionKey(context.Background())
	if err != nil {
		return nil, err
	}
	sessions, err := auth.NewSessions(key, 0)
	if err != nil {
		return nil, err
	}
	sessions.Secure = m.Config.SecureCookies
	metrics := httpapi.NewMetrics()
	if err := m.addNotifyMetrics(metrics); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	if err := m.addBusMetrics(metrics); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	a, err := app.New(app.Config{
		Store: m.store.events, Reader: m.store.readModels, Tokens: tokens,
		Observer: metrics, Logger: m.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	srv, err := httpapi.NewServer(httpapi.Config{
		App: a, Sessions: sessions, DemoLogin: m.Config.DemoLogin, Logger: m.Logger, Metrics: metrics,
		Subscribers: m.subscriberPositions, Notifications: m.notificationsApp(),
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return m.withUI(srv, a, sessions, key)
}

// subscriberPositions reports the checkpoint of each subscriber this node
// runs, for the lag metric. In a cluster a node that does not hold a
// subscriber's lease knows only a stale checkpoint: the node that runs it
// reports it, so the lag across the cluster is one series per subscriber.
func (m *Main) subscriberPositions(context.Context) ([]httpapi.SubscriberStatus, error) {
	var out []httpapi.SubscriberStatus
	for _, st := range m.runner.Status() {
		if !st.LeaseHeld {
			continue
		}
		out = append(out, httpapi.SubscriberStatus{Name: st.Name, Position: st.Checkpoint})
	}
	return out, nil
}
