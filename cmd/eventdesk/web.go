package main

import (
	"fmt"
	"net/http"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/projection"
	"github.com/eventdesk/eventdesk/subscription"
	"github.com/eventdesk/eventdesk/web"
)

// dashboardStore is the dashboard read model (projection.Dashboard), where
// the store keeps one.
type dashboardStore interface {
	eventdesk.ProjectionStore
	eventdesk.DashboardReader
}

// apiPaths are served by the REST API; every other path by the HTML UI.
var apiPaths = []string{"/api/", "/login", "/logout", "/metrics"}

// withUI wires the HTML interface (package web) over the same application
// and session signer as the API, and returns one handler for both.
func (m *Main) withUI(api http.Handler, a *app.App, sessions *auth.Sessions, key []byte) (http.Handler, error) {
	var dash *app.DashboardHandler
	if m.store.dashboard != nil {
		d, err := app.NewDashboardHandler(a, m.store.dashboard)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		dash = d
	}
	ui, err := web.NewServer(web.Config{
		App: a, Sessions: sessions, Dashboard: dash, Key: key, DemoLogin: m.Config.DemoLogin, Logger: m.Logger,
		SecureCookies: m.Config.SecureCookies, Notifications: m.notificationsApp(),
		// The PostgreSQL read model answers free-text search; SQLite's
		// refuses it, so its list shows no search box.
		Search: m.store.pg != nil,
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", ui)
	for _, p := range apiPaths {
		mux.Handle(p, api)
	}
	return mux, nil
}

// addDashboard runs the dashboard projection where the store keeps its
// read model (a new one backfills from the first event).
func (m *Main) addDashboard(runner *subscription.Runner) error {
	if m.store.dashboard == nil {
		return nil
	}
	return runner.AddProjection(subscription.Projection{
		Name: projection.DashboardName, Start: subscription.FromBeginning,
		Store: m.store.dashboard, Projector: projection.Dashboard{},
	})
}
