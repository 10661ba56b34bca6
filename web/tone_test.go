package web_test

import (
	"context"
	"html"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// TestTicketPageShowsToneAndTrend: staff see a ticket's latest sentiment
// score and its trend on the ticket page; the requester does not.
func TestTicketPageShowsToneAndTrend(t *testing.T) {
	e := newEnv(t)
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	id := rita.openTicket("Invoice", "Thanks, the invoice arrived.", nil)
	if _, err := e.App.AddComment.Handle(as("rita", eventdesk.RoleRequester), app.AddComment{TicketID: id, Body: "Now it is wrong again."}); err != nil {
		t.Fatal(err)
	}
	alice := e.client(t).signin("alice", eventdesk.RoleAgent)
	page := alice.get("/tickets/" + id)
	mustStatus(t, page, 200)
	mustNotContain(t, page.Body, "<dt>Tone</dt>") // not scored yet

	events, err := e.DB.ReadStream(context.Background(), eventdesk.TicketStream(id), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	policy := eventdesk.NewContextWithActor(context.Background(), eventdesk.PolicyActor("sentiment"))
	for i, s := range []struct {
		score float64
		label string
	}{{0.6, "positive"}, {-0.7, "negative"}} {
		if _, err := e.App.Automation().RecordSentiment(policy, app.RecordSentiment{TicketID: id, SourceEventID: events[i].ID, Score: s.score, Label: s.label}); err != nil {
			t.Fatal(err)
		}
	}
	e.settle(t)

	page = alice.get("/tickets/" + id)
	mustStatus(t, page, 200)
	mustContain(t, html.UnescapeString(page.Body), "<dt>Tone</dt><dd>negative (-0.70), worsening</dd>")
	mine := rita.get("/tickets/" + id)
	mustStatus(t, mine, 200)
	mustNotContain(t, mine.Body, "<dt>Tone</dt>", "worsening", "-0.70")
}
