package web_test

import (
	"html"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

var (
	rowTitleRE = regexp.MustCompile(`class="t-link">([^<]*)</a>`)
	rowIDRE    = regexp.MustCompile(`<tr data-id="([^"]+)"`)
	tabRE      = regexp.MustCompile(`<li><a href="([^"]*)"(?: aria-current="page")?>([A-Za-z]+)(?: <span class="count">(\d+)</span>)?</a></li>`)
	nextRE     = regexp.MustCompile(`<a href="([^"]+)" class="btn" rel="next">`)
)

// listPage is what a ticket list page shows: its rows (titles and ids, in
// order), the counts of its status tabs and the link to the next page.
type listPage struct {
	Titles, IDs []string
	Counts      map[string]int
	TabURLs     map[string]string
	Next        string
	Body        string
}

func (c *client) list(path string) listPage {
	c.tb.Helper()
	r := c.get(path)
	mustStatus(c.tb, r, 200)
	p := listPage{Counts: map[string]int{}, TabURLs: map[string]string{}, Body: r.Body}
	for _, m := range rowTitleRE.FindAllStringSubmatch(r.Body, -1) {
		p.Titles = append(p.Titles, html.UnescapeString(m[1]))
	}
	for _, m := range rowIDRE.FindAllStringSubmatch(r.Body, -1) {
		p.IDs = append(p.IDs, m[1])
	}
	for _, m := range tabRE.FindAllStringSubmatch(r.Body, -1) {
		p.TabURLs[m[2]] = html.UnescapeString(m[1])
		if m[3] != "" {
			n, _ := strconv.Atoi(m[3])
			p.Counts[m[2]] = n
		}
	}
	if m := nextRE.FindStringSubmatch(r.Body); m != nil {
		p.Next = html.UnescapeString(m[1])
	}
	return p
}

// TestListFiltersSortPagesAndCounts: every filter of the ticket list
// (status, priority, assignee, unassigned, tag, "mine"), every sort, the
// cursor pages (which keep the filters) and the counts per status, on
// tickets whose answers are known.
func TestListFiltersSortPagesAndCounts(t *testing.T) {
	e := newEnv(t)
	agent := as("alice", eventdesk.RoleAgent)
	open := func(title string, p eventdesk.Priority, requester, assignee, tag string) string {
		t.Helper()
		res, err := e.App.CreateTicket.Handle(agent, app.CreateTicket{Title: title, Priority: p, Requester: requester, Assignee: assignee, Tags: []string{tag}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Ticket.ID
	}
	setStatus := func(id string, st eventdesk.Status) {
		t.Helper()
		if _, err := e.App.UpdateTicket.Handle(agent, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Status: &st}}); err != nil {
			t.Fatal(err)
		}
	}
	const fillers = 52
	for i := range fillers {
		open("Filler "+strconv.Itoa(i), eventdesk.PriorityNormal, "uma", "", "bulk")
	}
	alpha := open("Alpha printer", eventdesk.PriorityUrgent, "rita", "alice", "printing")
	beta := open("Beta vpn", eventdesk.PriorityLow, "sam", "bob", "network")
	gamma := open("Gamma mail", eventdesk.PriorityHigh, "rita", "", "email")
	setStatus(beta, eventdesk.StatusPending)
	setStatus(gamma, eventdesk.StatusResolved)
	// Updated last: first by "recently updated".
	setStatus(alpha, eventdesk.StatusOpen)
	e.settle(t)
	const total = fillers + 3

	c := e.client(t).signin("alice", eventdesk.RoleAgent)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"priority=urgent", []string{"Alpha printer"}},
		{"priority=low", []string{"Beta vpn"}},
		{"tag=network", []string{"Beta vpn"}},
		{"assignee=bob", []string{"Beta vpn"}},
		{"mine=1", []string{"Alpha printer"}},
		{"unassigned=1&tag=email", []string{"Gamma mail"}},
		{"status=pending", []string{"Beta vpn"}},
		{"status=resolved", []string{"Gamma mail"}},
		{"status=open&status=pending", []string{"Beta vpn", "Alpha printer"}},
		{"status=open&status=pending&sort=created", []string{"Alpha printer", "Beta vpn"}},
		{"status=open&status=pending&sort=-created", []string{"Beta vpn", "Alpha printer"}},
		{"status=open&status=pending&status=resolved&sort=-priority", []string{"Alpha printer", "Gamma mail", "Beta vpn"}},
		{"status=open&status=pending&status=resolved&sort=priority", []string{"Beta vpn", "Gamma mail", "Alpha printer"}},
		{"status=open&status=pending&status=resolved&sort=-updated", []string{"Alpha printer", "Gamma mail", "Beta vpn"}},
		{"status=open&status=pending&status=resolved&sort=updated", []string{"Beta vpn", "Gamma mail", "Alpha printer"}},
		{"tag=nothing-has-this", nil},
	} {
		p := c.list("/tickets?" + tc.query)
		if !slices.Equal(p.Titles, tc.want) {
			t.Errorf("/tickets?%s: rows %q, want %q", tc.query, p.Titles, tc.want)
		}
	}
	// The form shows the filters it was given.
	p := c.list("/tickets?priority=high&tag=email&assignee=bob&sort=-priority")
	mustContain(t, p.Body, `<option value="high" selected>`, `id="f-tag" name="tag" type="text" value="email"`,
		`id="f-assignee" name="assignee" type="text" value="bob"`, `<option value="-priority" selected>`)

	// Counts per status, the same on every page of the list.
	p = c.list("/tickets")
	wantCounts := map[string]int{"All": total, "Active": total - 1, "New": fillers, "Open": 1, "Pending": 1, "Resolved": 1, "Closed": 0}
	if !maps.Equal(p.Counts, wantCounts) {
		t.Errorf("status counts %v, want %v", p.Counts, wantCounts)
	}
	// A status tab keeps the other filters.
	q, _ := url.ParseQuery(strings.TrimPrefix(c.list("/tickets?tag=bulk").TabURLs["New"], "/tickets?"))
	if q.Get("tag") != "bulk" || q.Get("status") != "new" {
		t.Errorf("the New tab of a tag filter goes to %v", q)
	}

	// Cursor pages: 50, then the rest, each ticket once, in order; the
	// next link keeps the filters.
	first := c.list("/tickets")
	if len(first.IDs) != eventdesk.DefaultListLimit || first.Next == "" {
		t.Fatalf("first page: %d rows, next %q", len(first.IDs), first.Next)
	}
	second := c.list(first.Next)
	if len(second.IDs) != total-eventdesk.DefaultListLimit || second.Next != "" {
		t.Errorf("second page: %d rows, next %q", len(second.IDs), second.Next)
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(first.IDs), second.IDs...))))
	if len(distinct) != total {
		t.Errorf("two pages hold %d distinct tickets, want %d", len(distinct), total)
	}
	if second.Titles[len(second.Titles)-1] != "Filler 0" {
		t.Errorf("newest first ends with %q, want the oldest", second.Titles[len(second.Titles)-1])
	}
	mustContain(t, second.Body, "« First page")
	bulk := c.list("/tickets?tag=bulk&sort=created")
	if len(bulk.IDs) != 50 || !strings.Contains(bulk.Next, "tag=bulk") || !strings.Contains(bulk.Next, "sort=created") {
		t.Fatalf("tag page: %d rows, next %q", len(bulk.IDs), bulk.Next)
	}
	rest := c.list(bulk.Next)
	if !slices.Equal(rest.Titles, []string{"Filler 50", "Filler 51"}) {
		t.Errorf("second page of the tag: %q", rest.Titles)
	}
	// A cursor made for other filters is refused, said on the page.
	r := c.get("/tickets?tag=network&cursor=" + url.QueryEscape(mustQuery(t, bulk.Next).Get("cursor")))
	mustStatus(t, r, 400)
	mustContain(t, r.Body, "This page link is out of date")

	// A requester sees their own tickets only, and no counts of others'.
	rita := e.client(t).signin("rita", eventdesk.RoleRequester)
	p = rita.list("/tickets?sort=created")
	if !slices.Equal(p.Titles, []string{"Alpha printer", "Gamma mail"}) {
		t.Errorf("rita's list: %q", p.Titles)
	}
	if len(p.Counts) != 0 {
		t.Errorf("a requester is shown the counts of every ticket: %v", p.Counts)
	}
}

func mustQuery(tb testing.TB, u string) url.Values {
	tb.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		tb.Fatal(err)
	}
	return pu.Query()
}
