package slack_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/slack"
	"github.com/eventdesk/eventdesk/sqlite"
)

func TestUrgentTicketsAndEscalations(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{Store: db, Reader: rm})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []slack.Message
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/services/T0/B0/xyz" {
			t.Errorf("request %s %s", r.Header.Get("Content-Type"), r.URL.Path)
		}
		if fail {
			fail = false
			http.Error(w, "rate_limited", http.StatusTooManyRequests)
			return
		}
		var m slack.Message
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Error(err)
		}
		got = append(got, m)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	n, err := slack.New(slack.Config{WebhookURL: srv.URL + "/services/T0/B0/xyz", BaseURL: "https://desk.example.com", Events: db, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	agent := eventdesk.NewContextWithActor(context.Background(), eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAgent})
	policy := eventdesk.NewContextWithActor(context.Background(), eventdesk.PolicyActor("escalation"))
	urgent, err := a.CreateTicket.Handle(agent, app.CreateTicket{Title: "Site <down> & out", Requester: "rita", Priority: eventdesk.PriorityUrgent})
	if err != nil {
		t.Fatal(err)
	}
	normal, err := a.CreateTicket.Handle(agent, app.CreateTicket{Title: "Question", Requester: "rita"})
	if err != nil {
		t.Fatal(err)
	}
	low := eventdesk.PriorityLow
	if _, err := a.UpdateTicket.Handle(agent, app.UpdateTicket{ID: normal.Ticket.ID, Edit: eventdesk.EditTicket{Priority: &low}}); err != nil {
		t.Fatal(err)
	}
	src, _ := db.ReadStream(context.Background(), eventdesk.TicketStream(normal.Ticket.ID), 1, 1)
	if _, err := a.Automation().RaisePriority(policy, app.RaisePriority{TicketID: normal.Ticket.ID, To: eventdesk.PriorityHigh, Reason: "negative sentiment -0.80", CausationID: src[0].ID}); err != nil {
		t.Fatal(err)
	}
	evs, err := db.ReadAll(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first post is refused (429): the error goes to the runner, which
	// retries.
	if err := n.Handle(context.Background(), evs[0]); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("refused post: %v", err)
	}
	for _, e := range evs {
		if err := n.Handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2 (urgent ticket, escalation): %v", len(got), got)
	}
	if want := "New urgent ticket from rita: <https://desk.example.com/tickets/" + urgent.Ticket.ID + "|Site &lt;down&gt; &amp; out>"; !strings.Contains(got[0].Text, want) {
		t.Errorf("urgent message %q, want %q", got[0].Text, want)
	}
	if !strings.Contains(got[1].Text, "escalated from low to high") || !strings.Contains(got[1].Text, "Question") || !strings.Contains(got[1].Text, "negative sentiment") {
		t.Errorf("escalation message %q", got[1].Text)
	}
}

func TestConfigAndErrorsHideTheURL(t *testing.T) {
	if _, err := slack.New(slack.Config{WebhookURL: "not a url"}); err == nil {
		t.Error("bad URL accepted")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/SECRET"
	srv.Close() // nothing listens now
	n, err := slack.New(slack.Config{WebhookURL: url, Events: nopReader{}})
	if err != nil {
		t.Fatal(err)
	}
	typ, schema, data, _ := eventdesk.Encode(eventdesk.TicketCreated{Title: "x", Requester: "r", Priority: eventdesk.PriorityUrgent})
	err = n.Handle(context.Background(), eventdesk.Event{ID: "e", Stream: eventdesk.TicketStream("00000000-0000-7000-8000-000000000001"), Version: 1, Type: typ, Schema: schema, Data: data})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error %v: want a failure without the URL", err)
	}
}

type nopReader struct{}

func (nopReader) ReadStream(context.Context, string, int64, int) ([]eventdesk.Event, error) {
	return nil, nil
}
