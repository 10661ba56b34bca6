package web_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	vader "github.com/eventdesk/eventdesk/sentiment"
)

func as(name string, role eventdesk.Role) context.Context {
	return eventdesk.NewContextWithActor(context.Background(), eventdesk.Actor{Name: name, Role: role})
}

var seedTitles = []string{
	"VPN drops every few minutes", "Cannot print to the 3rd floor printer", "Password reset email never arrives",
	"Laptop fan is very loud", "Access to the finance share", "Outlook keeps asking for my password",
	"New starter needs an account", "Monitor flickers after lunch", "Invoice PDF export is blank",
	"Wi-Fi in meeting room B is slow", "Request a second monitor", "Calendar invites arrive twice",
}

// seedDescriptions range from content to furious, for the tone chart.
var seedDescriptions = []string{
	"Since this morning. Thanks for looking into it.",
	"Since this morning. Thanks for looking into it.",
	"Started after the update.",
	"Third time this week and still no answer. This is really frustrating, I cannot work.",
	"Still broken!! Terrible service, nobody helps and I lost a whole day of work.",
}

// seedHistory writes a month of plausible helpdesk traffic through the
// application, with the clock moved into the past, so that the list and
// the dashboard have something to show; the sentiment scorer scores each
// description and public reply. It returns the ids it opened.
func seedHistory(tb testing.TB, e *env, days, perDay int) []string {
	tb.Helper()
	rng := rand.New(rand.NewPCG(3, 5))
	tones := rand.New(rand.NewPCG(7, 9)) // apart, so the traffic stays as it was
	scorer, err := vader.NewScorer(vader.NewAnalyzer(), e.App.Automation())
	if err != nil {
		tb.Fatal(err)
	}
	// score runs the scorer over the ticket's latest event, as its
	// subscriber would a moment later.
	score := func(id string) {
		tb.Helper()
		events, err := e.DB.ReadStream(context.Background(), eventdesk.TicketStream(id), 1, 0)
		if err != nil {
			tb.Fatal(err)
		}
		if err := scorer.Handle(context.Background(), events[len(events)-1]); err != nil {
			tb.Fatal(err)
		}
	}
	defer e.Clock.reset()
	agents := []string{"alice", "bob", "chen"}
	requesters := []string{"rita", "sam", "tomas", "uma", "viktor"}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -days+1)
	var ids []string
	type open struct {
		id     string
		at     time.Time
		status eventdesk.Status
	}
	var active []*open
	for d := 0; d < days; d++ {
		day := start.AddDate(0, 0, d).Add(8 * time.Hour)
		n := perDay/2 + rng.IntN(perDay+1)
		for i := 0; i < n; i++ {
			at := day.Add(time.Duration(rng.IntN(9*60)) * time.Minute)
			if at.After(time.Now()) {
				continue
			}
			e.Clock.at(at)
			req := requesters[rng.IntN(len(requesters))]
			prio := eventdesk.Priorities[[]int{0, 1, 1, 1, 2, 3}[rng.IntN(6)]]
			res, err := e.App.CreateTicket.Handle(as(req, eventdesk.RoleRequester), app.CreateTicket{
				Title: seedTitles[rng.IntN(len(seedTitles))], Description: seedDescriptions[tones.IntN(len(seedDescriptions))],
				Priority: prio, Tags: []string{[]string{"network", "hardware", "accounts", "email", "printing"}[rng.IntN(5)]},
			})
			if err != nil {
				tb.Fatal(err)
			}
			ids = append(ids, res.Ticket.ID)
			score(res.Ticket.ID)
			active = append(active, &open{id: res.Ticket.ID, at: at, status: eventdesk.StatusNew})
		}
		// The team works on what is open.
		for _, o := range active {
			if o.status == eventdesk.StatusClosed || o.status == eventdesk.StatusResolved || rng.IntN(5) > 1 {
				continue
			}
			agent := agents[rng.IntN(len(agents))]
			ctx := as(agent, eventdesk.RoleAgent)
			at := o.at.Add(time.Duration(20+rng.IntN(600)) * time.Minute)
			if at.After(time.Now()) {
				continue
			}
			e.Clock.at(at)
			switch o.status {
			case eventdesk.StatusNew:
				if _, err := e.App.AddComment.Handle(ctx, app.AddComment{TicketID: o.id, Body: fmt.Sprintf("Hi, %s here — looking into it now.", agent)}); err != nil {
					tb.Fatal(err)
				}
				score(o.id)
				o.status = eventdesk.StatusOpen
			default:
				next := []eventdesk.Status{eventdesk.StatusPending, eventdesk.StatusResolved, eventdesk.StatusResolved}[rng.IntN(3)]
				if next == o.status {
					continue
				}
				if _, err := e.App.UpdateTicket.Handle(ctx, app.UpdateTicket{ID: o.id, Edit: eventdesk.EditTicket{Status: &next, Assignee: &agent}}); err != nil {
					tb.Fatal(err)
				}
				o.status = next
			}
			o.at = at
		}
	}
	return ids
}
