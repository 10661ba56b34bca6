package web_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/web"
	"github.com/eventdesk/eventdesk/webhook"
)

// newNotificationsEnv is a UI with the notification pages wired to a real
// data directory (no projections: these pages read their own stores).
func newNotificationsEnv(tb testing.TB) (*env, *sqlite.SubscriberState) {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(tb.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := db.OpenSubscriberState(sqlite.SubscriberStateOptions{Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	n, err := db.OpenNotifications()
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(app.Config{Store: db, Reader: rm, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := webhook.NewRegistry(webhook.RegistryConfig{Store: n, Head: db.Head, DeadLetters: st, NewID: app.NewID})
	if err != nil {
		tb.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sessions, err := auth.NewSessions(key, 0)
	if err != nil {
		tb.Fatal(err)
	}
	ws, err := web.NewServer(web.Config{App: a, Sessions: sessions, Key: key, DemoLogin: true, Logger: quiet,
		Notifications: app.NewNotifications(app.NotificationsConfig{Webhooks: reg, DeadLetters: st, Preferences: n})})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(ws)
	tb.Cleanup(func() { srv.Close(); db.Close() })
	return &env{URL: srv.URL, App: a, DB: db, Web: ws}, st
}

func TestWebhookPages(t *testing.T) {
	e, _ := newNotificationsEnv(t)
	agent := e.client(t).signin("agnes", eventdesk.RoleAgent)
	if r := agent.get("/admin/webhooks"); r.Status != http.StatusForbidden {
		t.Fatalf("an agent sees the webhooks page: %d", r.Status)
	}
	mustNotContain(t, agent.get("/tickets").Body, `href="/admin/webhooks"`)

	admin := e.client(t).signin("adam", eventdesk.RoleAdmin)
	r := admin.get("/admin/webhooks")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Register an endpoint", `value="ticket.commented"`, `href="/admin/webhooks"`, `href="/admin/deadletters"`)

	bad := admin.submit("/admin/webhooks", "/admin/webhooks", url.Values{"url": {"http://127.0.0.1/x"}, "description": {"kept"}})
	mustStatus(t, bad, http.StatusUnprocessableEntity)
	mustContain(t, bad.Body, `aria-invalid="true"`, `value="kept"`)

	r = admin.submit("/admin/webhooks", "/admin/webhooks", url.Values{"url": {"https://hooks.example.com/in"}, "eventTypes": {"ticket.created"}})
	mustStatus(t, r, http.StatusCreated)
	secret := regexp.MustCompile(`<code class="secret">(whsec_[^<]+)</code>`).FindStringSubmatch(r.Body)
	if secret == nil {
		t.Fatalf("no secret shown once:\n%s", r.Body)
	}
	id := regexp.MustCompile(`href="/admin/webhooks/([0-9a-f-]{36})"`).FindStringSubmatch(r.Body)[1]
	list := admin.get("/admin/webhooks")
	mustContain(t, list.Body, "https://hooks.example.com/in", "ticket.created")
	mustNotContain(t, list.Body, secret[1])
	page := admin.get("/admin/webhooks/" + id)
	mustStatus(t, page, http.StatusOK)
	mustContain(t, page.Body, "Deliveries", "Rotate secret")
	mustNotContain(t, page.Body, secret[1])
	rot := admin.submit("/admin/webhooks/"+id, "/admin/webhooks/"+id+"/rotate", url.Values{})
	mustStatus(t, rot, http.StatusOK)
	mustContain(t, rot.Body, "New secret", `class="secret">whsec_`, "previous secret signs too")
	del := admin.submit("/admin/webhooks/"+id, "/admin/webhooks/"+id+"/delete", url.Values{})
	mustStatus(t, del, http.StatusSeeOther)
	if r := admin.get("/admin/webhooks/" + id); r.Status != http.StatusNotFound {
		t.Errorf("deleted webhook page: %d", r.Status)
	}
}

func TestDeadLetterPage(t *testing.T) {
	e, st := newNotificationsEnv(t)
	ev := eventdesk.Event{ID: app.NewID(), Stream: eventdesk.TicketStream(app.NewID()), Version: 1, Position: 1, Type: eventdesk.TypeTicketCommented, Data: []byte(`{}`)}
	d, err := st.Park(context.Background(), "email", ev, 8, "smtp: connection refused")
	if err != nil {
		t.Fatal(err)
	}
	admin := e.client(t).signin("adam", eventdesk.RoleAdmin)
	r := admin.get("/admin/deadletters")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "smtp: connection refused", "Redrive", "email")
	r = admin.submit("/admin/deadletters", "/admin/deadletters/"+strconv.FormatInt(d.ID, 10)+"/redrive", url.Values{})
	mustStatus(t, r, http.StatusSeeOther)
	r = admin.follow(r.Location)
	mustContain(t, r.Body, "queued for another try", "Queued")
	if r := e.client(t).signin("audrey", eventdesk.RoleAuditor).get("/admin/deadletters"); r.Status != http.StatusForbidden {
		t.Errorf("an auditor sees dead letters: %d", r.Status)
	}
}

func TestPreferencesPage(t *testing.T) {
	e, _ := newNotificationsEnv(t)
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	r := rita.get("/settings/notifications")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, `name="email" checked`)
	r = rita.submit("/settings/notifications", "/settings/notifications", url.Values{})
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Saved.")
	mustNotContain(t, rita.get("/settings/notifications").Body, `name="email" checked`)
	mustContain(t, e.client(t).signin("otto", eventdesk.RoleRequester).get("/settings/notifications").Body, `name="email" checked`)
}
