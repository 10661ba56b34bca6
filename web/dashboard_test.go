package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/projection"
)

// settleDashboard waits until the dashboard projection has applied every
// event written so far.
func (e *env) settleDashboard(tb testing.TB) {
	tb.Helper()
	head, err := e.App.Head(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		pos, _, err := e.Dash.Checkpoint(context.Background(), projection.DashboardName)
		if err != nil {
			tb.Fatal(err)
		}
		if pos >= head {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the dashboard projection is at %d, the store at %d", pos, head)
		}
	}
}

// score records a sentiment score for the ticket's first event, as the
// sentiment scorer does.
func score(tb testing.TB, e *env, id string, s float64) {
	tb.Helper()
	ctx := context.Background()
	events, err := e.DB.ReadStream(ctx, eventdesk.TicketStream(id), 1, 1)
	if err != nil {
		tb.Fatal(err)
	}
	ctx = eventdesk.NewContextWithActor(ctx, eventdesk.PolicyActor("sentiment"))
	if _, err := e.App.Automation().RecordSentiment(ctx, app.RecordSentiment{TicketID: id, SourceEventID: events[0].ID, Score: s, Label: "x"}); err != nil {
		tb.Fatal(err)
	}
}

// TestDashboardTone: the dashboard shows the customer tone of the period
// as a key figure, a chart with a text alternative, and columns of the
// data table.
func TestDashboardTone(t *testing.T) {
	e := newEnv(t)
	agent := e.client(t).signin("bob", eventdesk.RoleAgent)

	r := agent.get("/dashboard")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body, "Customer tone per day", "no texts scored yet", `<th scope="col">Average tone</th>`)

	a := agent.openTicket("Printer on fire", "", nil)
	b := agent.openTicket("Thanks for the new laptop", "", nil)
	score(t, e, a, -0.8)
	score(t, e, b, 0.4)
	e.settleDashboard(t)

	r = agent.get("/dashboard")
	mustStatus(t, r, http.StatusOK)
	mustContain(t, r.Body,
		// The key figure and the chart's text alternative.
		`<span class="stat-value">-0.20</span>`, "1 of 2 texts strongly negative",
		"at -0.5 or below (bars, right scale)", "Over the period: 2 texts, average -0.20, 1 strongly negative.",
		// The line and the bar, with their own titles.
		`class="line s-tone"`, "average score -0.20 over 2 texts", `class="bar s-neg"`, "1 of 2 texts strongly negative</title>",
		// Today's row of the table: 2 texts, -0.20, 1.
		"<td>2</td><td>-0.20</td><td>1</td>",
	)
	mustNotContain(t, r.Body, "no texts scored yet")
}
