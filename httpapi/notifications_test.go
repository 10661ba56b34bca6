package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/httpapi"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/webhook"
)

// notificationsEnv is a server with the notification handlers wired to a
// real data directory (notifications.db and subscribers.db).
type notificationsEnv struct {
	*env
	state *sqlite.SubscriberState
}

func newNotificationsEnv(tb testing.TB) *notificationsEnv {
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
	a, err := app.New(app.Config{Store: db, Reader: rm})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := webhook.NewRegistry(webhook.RegistryConfig{Store: n, Head: db.Head, DeadLetters: st, NewID: app.NewID})
	if err != nil {
		tb.Fatal(err)
	}
	sessions, err := auth.NewSessions(bytes.Repeat([]byte{7}, 32), time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := httpapi.NewServer(httpapi.Config{App: a, Sessions: sessions,
		Notifications: app.NewNotifications(app.NotificationsConfig{Webhooks: reg, DeadLetters: st, Preferences: n})})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	tb.Cleanup(func() {
		ts.Close()
		db.Close()
	})
	return &notificationsEnv{
		env:   &env{url: ts.URL, client: ts.Client(), sessions: sessions, db: db, rm: rm, app: a, srv: srv, spec: loadSpec(tb, httpapi.OpenAPI())},
		state: st,
	}
}

type webhookResponse struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	EventTypes              []string   `json:"eventTypes"`
	Secret                  string     `json:"secret"`
	Disabled                bool       `json:"disabled"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
}

func TestWebhookEndpoints(t *testing.T) {
	e := newNotificationsEnv(t)
	body := `{"url":"https://hooks.example.com/in","eventTypes":["ticket.created","ticket.commented"],"description":"CRM sync"}`
	for _, u := range []user{anon, rita, agnes, audrey} {
		r := e.do(t, u, req{method: "POST", path: "/api/v1/webhooks", body: body})
		if want := map[bool]int{true: 401, false: 403}[u.name == ""]; r.status != want {
			t.Errorf("%s: %d, want %d", u, r.status, want)
		}
		if r := e.do(t, u, req{method: "GET", path: "/api/v1/webhooks"}); r.status < 400 {
			t.Errorf("%s lists webhooks: %d", u, r.status)
		}
	}
	r := e.do(t, adam, req{method: "POST", path: "/api/v1/webhooks", body: body})
	mustStatus(t, r, http.StatusCreated)
	var created webhookResponse
	r.json(t, &created)
	if !strings.HasPrefix(created.Secret, "whsec_") || r.header.Get("Location") != "/api/v1/webhooks/"+created.ID || len(created.EventTypes) != 2 {
		t.Fatalf("created %s", r.body)
	}
	for _, c := range []struct{ body, field string }{
		{`{"url":"http://127.0.0.1/x"}`, "url"},
		{`{"url":"gopher://x"}`, "url"},
		{`{"url":"https://example.com","eventTypes":["ticket.sentiment_scored"]}`, "eventTypes"},
		{`{"url":"https://example.com","secret":"whsec_short"}`, "secret"},
		{`{"url":"https://example.com","nope":1}`, ""},
	} {
		r := e.do(t, adam, req{method: "POST", path: "/api/v1/webhooks", body: c.body})
		mustStatus(t, r, http.StatusBadRequest)
		var p problemJSON
		r.json(t, &p)
		if c.field != "" && p.Errors[c.field] == "" {
			t.Errorf("%s: problem %s, want a field error on %s", c.body, r.body, c.field)
		}
	}

	r = e.do(t, adam, req{method: "GET", path: "/api/v1/webhooks/" + created.ID})
	mustStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.body), "whsec_") {
		t.Errorf("GET shows the secret: %s", r.body)
	}
	r = e.do(t, adam, req{method: "GET", path: "/api/v1/webhooks"})
	mustStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.body), "whsec_") || !strings.Contains(string(r.body), created.ID) {
		t.Errorf("list: %s", r.body)
	}
	r = e.do(t, adam, req{method: "POST", path: "/api/v1/webhooks/" + created.ID + "/rotate"})
	mustStatus(t, r, http.StatusOK)
	var rotated webhookResponse
	r.json(t, &rotated)
	if rotated.Secret == created.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.PreviousSecretExpiresAt == nil {
		t.Errorf("rotated %s", r.body)
	}
	mustStatus(t, e.do(t, adam, req{method: "POST", path: "/api/v1/webhooks/" + created.ID + "/enable"}), http.StatusOK)
	r = e.do(t, adam, req{method: "GET", path: "/api/v1/webhooks/" + created.ID + "/deliveries?limit=10"})
	mustStatus(t, r, http.StatusOK)
	mustStatus(t, e.do(t, adam, req{method: "GET", path: "/api/v1/webhooks/" + created.ID + "/deliveries?limit=0"}), http.StatusBadRequest)
	mustStatus(t, e.do(t, adam, req{method: "GET", path: "/api/v1/webhooks/" + created.ID + "/deliveries?x=1"}), http.StatusBadRequest)
	mustStatus(t, e.do(t, adam, req{method: "GET", path: "/api/v1/webhooks/nope"}), http.StatusNotFound)
	mustStatus(t, e.do(t, adam, req{method: "DELETE", path: "/api/v1/webhooks/" + created.ID}), http.StatusNoContent)
	mustStatus(t, e.do(t, adam, req{method: "DELETE", path: "/api/v1/webhooks/" + created.ID}), http.StatusNotFound)
	mustStatus(t, e.do(t, adam, req{method: "POST", path: "/api/v1/webhooks/" + created.ID + "/rotate"}), http.StatusNotFound)
}

func TestDeadLetterEndpoints(t *testing.T) {
	e := newNotificationsEnv(t)
	ev := eventdesk.Event{ID: app.NewID(), Stream: "ticket-" + app.NewID(), Version: 1, Position: 1, Type: eventdesk.TypeTicketCreated, Data: []byte(`{}`)}
	d, err := e.state.Park(context.Background(), "email", ev, 5, "smtp: connection refused")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.state.Park(context.Background(), webhook.DeadLetterSubscriber("x"), ev, 8, "answered 500"); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, e.do(t, agnes, req{method: "GET", path: "/api/v1/deadletters"}), http.StatusForbidden)
	r := e.do(t, adam, req{method: "GET", path: "/api/v1/deadletters"})
	mustStatus(t, r, http.StatusOK)
	var list struct {
		Items []struct {
			ID         int64  `json:"id"`
			Subscriber string `json:"subscriber"`
			EventID    string `json:"eventId"`
			Redriven   bool   `json:"redriven"`
		} `json:"items"`
	}
	r.json(t, &list)
	if len(list.Items) != 2 || list.Items[0].ID != d.ID || list.Items[0].EventID != ev.ID || list.Items[0].Redriven {
		t.Fatalf("dead letters %s", r.body)
	}
	r = e.do(t, adam, req{method: "GET", path: "/api/v1/deadletters?subscriber=webhook:"})
	mustStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if len(list.Items) != 1 || list.Items[0].Subscriber != "webhook:x" {
		t.Errorf("webhook dead letters %s", r.body)
	}
	mustStatus(t, e.do(t, agnes, req{method: "POST", path: "/api/v1/deadletters/1/redrive"}), http.StatusForbidden)
	mustStatus(t, e.do(t, adam, req{method: "POST", path: "/api/v1/deadletters/999/redrive"}), http.StatusNotFound)
	mustStatus(t, e.do(t, adam, req{method: "POST", path: "/api/v1/deadletters/abc/redrive"}), http.StatusNotFound)
	mustStatus(t, e.do(t, adam, req{method: "POST", path: "/api/v1/deadletters/" + strconv.FormatInt(d.ID, 10) + "/redrive"}), http.StatusAccepted)
	r = e.do(t, adam, req{method: "GET", path: "/api/v1/deadletters?subscriber=email"})
	r.json(t, &list)
	if len(list.Items) != 1 || !list.Items[0].Redriven {
		t.Errorf("after redrive: %s", r.body)
	}
}

func TestNotificationPreferencesEndpoints(t *testing.T) {
	e := newNotificationsEnv(t)
	mustStatus(t, e.do(t, anon, req{method: "GET", path: "/api/v1/me/notifications"}), http.StatusUnauthorized)
	r := e.do(t, rita, req{method: "GET", path: "/api/v1/me/notifications"})
	mustStatus(t, r, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != `{"email":true}` {
		t.Errorf("default %s", r.body)
	}
	mustStatus(t, e.do(t, rita, req{method: "PUT", path: "/api/v1/me/notifications", body: `{"email":false}`}), http.StatusOK)
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/me/notifications"})
	if strings.TrimSpace(string(r.body)) != `{"email":false}` {
		t.Errorf("after opting out %s", r.body)
	}
	if r := e.do(t, otto, req{method: "GET", path: "/api/v1/me/notifications"}); strings.TrimSpace(string(r.body)) != `{"email":true}` {
		t.Errorf("another user's setting changed: %s", r.body)
	}
	for _, b := range []string{`{}`, `{"email":"no"}`, `{"email":false,"sms":true}`, `[]`} {
		mustStatus(t, e.do(t, rita, req{method: "PUT", path: "/api/v1/me/notifications", body: b}), http.StatusBadRequest)
	}
}

func TestTicketSentiment(t *testing.T) {
	e := newNotificationsEnv(t)
	ctx := eventdesk.NewContextWithActor(context.Background(), actor(rita))
	res, err := e.app.CreateTicket.Handle(ctx, app.CreateTicket{Title: "Broken", Description: "It is broken"})
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := e.db.ReadStream(context.Background(), eventdesk.TicketStream(res.Ticket.ID), 1, 0)
	policy := eventdesk.NewContextWithActor(context.Background(), eventdesk.PolicyActor("sentiment"))
	for i, score := range []float64{0.2, -0.7} {
		src := evs[0].ID
		if i == 1 {
			c, err := e.app.AddComment.Handle(ctx, app.AddComment{TicketID: res.Ticket.ID, Body: "still <broken> & worse"})
			if err != nil {
				t.Fatal(err)
			}
			src = c.Comment.ID
		}
		if _, err := e.app.Automation().RecordSentiment(policy, app.RecordSentiment{TicketID: res.Ticket.ID, SourceEventID: src, Score: score, Label: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		Sentiment *sentimentView `json:"sentiment"`
	}
	r := e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets/" + res.Ticket.ID + "?version=4"})
	mustStatus(t, r, http.StatusOK)
	r.json(t, &got)
	if got.Sentiment == nil || got.Sentiment.Latest.Score != -0.7 || got.Sentiment.Trend == nil || *got.Sentiment.Trend != "worsening" || len(got.Sentiment.History) != 2 {
		t.Fatalf("agent's view: %s", r.body)
	}
	r = e.do(t, rita, req{method: "GET", path: "/api/v1/tickets/" + res.Ticket.ID + "?version=4"})
	mustStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.body), "sentiment") {
		t.Fatalf("the requester sees sentiment: %s", r.body)
	}
	// A precondition taken before a score still holds (scores annotate).
	r = e.do(t, agnes, req{method: "PATCH", path: "/api/v1/tickets/" + res.Ticket.ID, body: `{"priority":"high"}`, header: map[string]string{"If-Match": `"3"`}})
	mustStatus(t, r, http.StatusOK)
}

// sentimentView is the part of a ticket's "sentiment" member the tests read.
type sentimentView struct {
	Latest struct {
		Score float64 `json:"score"`
	} `json:"latest"`
	Trend   *string `json:"trend"`
	History []any   `json:"history"`
}
