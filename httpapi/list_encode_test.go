package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// A list is encoded item by item through shared scratch space (no
// allocation per item): every item must still show its own assignee and
// its own sentiment, and an unscored ticket none, whatever came before it.
func TestListItemsShowTheirOwnAssigneeAndSentiment(t *testing.T) {
	e := newEnv(t)
	ctx := eventdesk.NewContextWithActor(context.Background(), actor(agnes))
	policy := eventdesk.NewContextWithActor(context.Background(), eventdesk.PolicyActor("sentiment"))
	type want struct {
		assignee string
		scores   []float64
		trend    string // "" for null
	}
	// Created in this order, listed newest first: the unscored ticket
	// comes right after a scored one.
	wants := []want{
		{assignee: "bob", scores: []float64{0.3}},
		{},
		{assignee: "agnes", scores: []float64{0.5, -0.6}, trend: "worsening"},
		{assignee: "", scores: []float64{-0.2, 0.4}, trend: "improving"},
	}
	ids := make([]string, len(wants))
	var last int64
	for i, w := range wants {
		res, err := e.app.CreateTicket.Handle(ctx, app.CreateTicket{Title: "Ticket " + strconv.Itoa(i), Assignee: w.assignee})
		if err != nil {
			t.Fatal(err)
		}
		ids[i], last = res.Ticket.ID, res.Position
		evs, err := e.db.ReadStream(context.Background(), eventdesk.TicketStream(res.Ticket.ID), 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for j, score := range w.scores {
			src := evs[0].ID
			if j > 0 {
				c, err := e.app.AddComment.Handle(ctx, app.AddComment{TicketID: res.Ticket.ID, Body: "more " + strconv.Itoa(j)})
				if err != nil {
					t.Fatal(err)
				}
				src = c.Comment.ID
			}
			r, err := e.app.Automation().RecordSentiment(policy, app.RecordSentiment{TicketID: res.Ticket.ID, SourceEventID: src, Score: score, Label: "x"})
			if err != nil {
				t.Fatal(err)
			}
			last = max(last, r.Position)
		}
	}
	r := e.do(t, agnes, req{method: "GET", path: "/api/v1/tickets?sort=-created&limit=10",
		header: map[string]string{"X-Min-Position": strconv.FormatInt(last, 10)}})
	mustStatus(t, r, http.StatusOK)
	var page struct {
		Items []struct {
			ID        string         `json:"id"`
			Assignee  *string        `json:"assignee"`
			Sentiment *sentimentView `json:"sentiment"`
		} `json:"items"`
	}
	r.json(t, &page)
	if len(page.Items) != len(wants) {
		t.Fatalf("%d items, want %d: %s", len(page.Items), len(wants), r.body)
	}
	for k, it := range page.Items {
		i := len(wants) - 1 - k
		w := wants[i]
		if it.ID != ids[i] {
			t.Fatalf("item %d is %s, want %s", k, it.ID, ids[i])
		}
		switch {
		case w.assignee == "" && it.Assignee != nil:
			t.Errorf("ticket %d: assignee %q, want null", i, *it.Assignee)
		case w.assignee != "" && (it.Assignee == nil || *it.Assignee != w.assignee):
			t.Errorf("ticket %d: assignee %v, want %q", i, it.Assignee, w.assignee)
		}
		if len(w.scores) == 0 {
			if it.Sentiment != nil {
				t.Errorf("ticket %d: sentiment %+v, want none", i, *it.Sentiment)
			}
			continue
		}
		s := it.Sentiment
		if s == nil {
			t.Errorf("ticket %d: no sentiment", i)
			continue
		}
		if s.Latest.Score != w.scores[len(w.scores)-1] {
			t.Errorf("ticket %d: latest score %v, want %v", i, s.Latest.Score, w.scores[len(w.scores)-1])
		}
		got := "" // null
		if s.Trend != nil {
			got = *s.Trend
		}
		if got != w.trend {
			t.Errorf("ticket %d: trend %q, want %q (\"\": null)", i, got, w.trend)
		}
		if s.History != nil {
			t.Errorf("ticket %d: a list item carries the score history", i)
		}
	}
}
