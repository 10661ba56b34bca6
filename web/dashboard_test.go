package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
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

// TestDashboardFigures: the dashboard's charts and table show what
// happened, day by day: the backlog by status at the end of each day,
// tickets created and resolved, and the median times to first response
// and to resolution, on a few tickets written at known times.
func TestDashboardFigures(t *testing.T) {
	e := newEnv(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	d2, d1 := today.AddDate(0, 0, -2), today.AddDate(0, 0, -1)
	bob := as("bob", eventdesk.RoleAgent)
	rita := as("rita", eventdesk.RoleRequester)
	at := func(day time.Time, h, m int) {
		e.Clock.at(day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute))
	}
	create := func(title string) string {
		t.Helper()
		res, err := e.App.CreateTicket.Handle(rita, app.CreateTicket{Title: title})
		if err != nil {
			t.Fatal(err)
		}
		return res.Ticket.ID
	}
	reply := func(id string) {
		t.Helper()
		if _, err := e.App.AddComment.Handle(bob, app.AddComment{TicketID: id, Body: "On it."}); err != nil {
			t.Fatal(err)
		}
	}
	status := func(id string, st eventdesk.Status) {
		t.Helper()
		if _, err := e.App.UpdateTicket.Handle(bob, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Status: &st}}); err != nil {
			t.Fatal(err)
		}
	}
	// Two days ago: A is answered after 30 minutes and resolved after 2
	// hours; B stays new.
	at(d2, 9, 0)
	a := create("A")
	at(d2, 9, 30)
	reply(a)
	at(d2, 10, 0)
	create("B")
	at(d2, 11, 0)
	status(a, eventdesk.StatusResolved)
	// Yesterday: C is answered after 4 hours, then waits for rita.
	at(d1, 9, 0)
	c := create("C")
	at(d1, 13, 0)
	reply(c)
	status(c, eventdesk.StatusPending)
	e.Clock.reset()
	create("D")
	e.settleDashboard(t)

	r := e.client(t).signin("alice", eventdesk.RoleAgent).get("/dashboard?days=7")
	mustStatus(t, r, http.StatusOK)
	body := r.Body
	day := func(d time.Time) string { return d.Format("Mon 2 Jan") }
	// Key figures: now 2 new and 1 pending; 4 created, 1 resolved.
	mustContain(t, body,
		`<span class="stat-label">Open backlog now</span><span class="stat-value">3</span>`,
		`2 new</a>`, `0 open</a>`, `1 pending</a>`,
		`<span class="stat-label">Created</span><span class="stat-value">4</span>`,
		`<span class="stat-label">Resolved</span><span class="stat-value">1</span>`)
	// Created vs resolved per day, as bars with their own titles.
	mustContain(t, body,
		day(d2)+": 2 created</title>", day(d2)+": 1 resolved</title>",
		day(d1)+": 1 created</title>", day(d1)+": 0 resolved</title>",
		day(today)+": 1 created</title>")
	// The backlog at the end of each day.
	mustContain(t, body, day(d2)+": 1 open in total</title>", day(d1)+": 2 open in total</title>", day(today)+": 3 open in total</title>")
	// The table: new, open, pending, created, resolved per day.
	row := func(d time.Time) []string {
		t.Helper()
		m := regexp.MustCompile(`<tr><th scope="row">` + d.Format("Mon 2 Jan 2006") + `</th>((?:<td>[^<]*</td>\s*)+)</tr>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no table row for %s", d.Format("2 Jan"))
		}
		var cells []string
		for _, c := range regexp.MustCompile(`<td>([^<]*)</td>`).FindAllStringSubmatch(m[1], -1) {
			cells = append(cells, c[1])
		}
		return cells
	}
	for _, tc := range []struct {
		day  time.Time
		want string
	}{
		{d2, "1 0 0 2 1"}, {d1, "1 0 1 1 0"}, {today, "2 0 1 1 0"},
	} {
		if got := strings.Join(row(tc.day)[:5], " "); got != tc.want {
			t.Errorf("%s: new open pending created resolved = %s, want %s", day(tc.day), got, tc.want)
		}
	}
	// Medians (from the projection's histogram: within its ~9 % buckets).
	for _, tc := range []struct {
		day  time.Time
		col  int
		want time.Duration
	}{
		{d2, 5, 30 * time.Minute}, {d2, 6, 2 * time.Hour}, {d1, 5, 4 * time.Hour},
	} {
		cell := row(tc.day)[tc.col]
		got, ok := parseHuman(strings.TrimSuffix(cell, " (1)"))
		if !ok || !strings.HasSuffix(cell, " (1)") || got < tc.want*9/10 || got > tc.want*11/10 {
			t.Errorf("%s column %d = %q, want about %v over 1 ticket", day(tc.day), tc.col, cell, tc.want)
		}
	}
	if cell := row(d1)[6]; cell != "—" {
		t.Errorf("yesterday's median resolution = %q, want none", cell)
	}
	// The same medians are points of the duration chart.
	mustContain(t, body, day(d2)+": first response ", day(d2)+": resolution ", day(d1)+": first response ")
	mustNotContain(t, body, day(d1)+": resolution ")
}

// parseHuman reads the durations the pages show ("28 min", "1 h 50 min",
// "4 h", "2 d 3 h").
func parseHuman(s string) (time.Duration, bool) {
	f := strings.Fields(s)
	if len(f)%2 != 0 || len(f) == 0 {
		return 0, false
	}
	var d time.Duration
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			return 0, false
		}
		unit := map[string]time.Duration{"s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[f[i+1]]
		if unit == 0 {
			return 0, false
		}
		d += time.Duration(n) * unit
	}
	return d, true
}
