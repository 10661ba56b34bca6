package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// listView is the ticket list.
type listView struct {
	Page
	Filter listFilter
	Errors map[string]string
	// Tabs select a status (with counts for those who may see them).
	Tabs []statusTab
	Rows []ticketRow
	// NextURL continues to the following page; FirstURL goes back to the
	// first (cursor pagination goes forward only).
	NextURL, FirstURL string
	// ClearURL drops every filter but the status tab.
	ClearURL   string
	Sorts      []option
	Priorities []option
	// Filtered tells whether any filter besides the status is set.
	Filtered bool
	// Search offers the free-text box.
	Search bool
}

// listFilter is the filter form's values, as the query string had them.
type listFilter struct {
	Q          string
	Status     []string
	Priority   string
	Assignee   string
	Unassigned bool
	Mine       bool
	Tag        string
	Sort       string
	Cursor     string
}

type statusTab struct {
	Label    string
	URL      string
	Count    int
	HasCount bool
	Current  bool
}

// option is one choice of a select or radio group.
type option struct {
	Value, Label string
	Selected     bool
}

// ticketRow is one ticket of the list. Its texts are prepared here, not
// in the template: a page has fifty rows, and every template action costs.
type ticketRow struct {
	ID, Short, Title, URL string
	Status                eventdesk.Status
	Priority              eventdesk.Priority
	StatusLabel           string
	PriorityLabel         string
	Requester, Assignee   string
	Tags                  []string
	// Updated: machine-readable, exact and relative.
	UpdatedISO, UpdatedFull, UpdatedAgo string
	// CommentsLabel is "" without comments, else "3 comments".
	CommentsLabel string
	Version       int64
}

var sortLabels = []struct {
	sort  eventdesk.TicketSort
	label string
}{
	{eventdesk.SortCreatedDesc, "Newest first"},
	{eventdesk.SortCreatedAsc, "Oldest first"},
	{eventdesk.SortUpdatedDesc, "Recently updated"},
	{eventdesk.SortUpdatedAsc, "Least recently updated"},
	{eventdesk.SortPriorityDesc, "Most urgent first"},
	{eventdesk.SortPriorityAsc, "Least urgent first"},
}

// activeStatuses is the "Active" tab: tickets that still need work.
var activeStatuses = []string{"new", "open", "pending"}

func parseListFilter(q url.Values) listFilter {
	f := listFilter{
		Q: strings.TrimSpace(q.Get("q")), Status: q["status"], Priority: q.Get("priority"), Assignee: strings.TrimSpace(q.Get("assignee")),
		Unassigned: q.Get("unassigned") != "", Mine: q.Get("mine") != "", Tag: strings.TrimSpace(q.Get("tag")),
		Sort: q.Get("sort"), Cursor: q.Get("cursor"),
	}
	slices.Sort(f.Status)
	f.Status = slices.Compact(f.Status)
	return f
}

// query returns f as a query string (with or without the cursor).
func (f listFilter) query(withCursor bool) url.Values {
	q := url.Values{}
	for _, s := range f.Status {
		q.Add("status", s)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("q", f.Q)
	set("priority", f.Priority)
	set("assignee", f.Assignee)
	set("tag", f.Tag)
	set("sort", f.Sort)
	if f.Unassigned {
		q.Set("unassigned", "1")
	}
	if f.Mine {
		q.Set("mine", "1")
	}
	if withCursor {
		set("cursor", f.Cursor)
	}
	return q
}

func (f listFilter) url() string {
	if q := f.query(true).Encode(); q != "" {
		return "/tickets?" + q
	}
	return "/tickets"
}

// toFilter turns the form into the application's filter; "mine" is the
// user's own assignments.
func (f listFilter) toFilter(a eventdesk.Actor) (eventdesk.TicketFilter, map[string]string) {
	errs := map[string]string{}
	tf := eventdesk.TicketFilter{
		Text: f.Q, Assignee: f.Assignee, Unassigned: f.Unassigned, Tag: f.Tag,
		Sort: eventdesk.TicketSort(f.Sort), Cursor: f.Cursor, Limit: eventdesk.DefaultListLimit,
	}
	for _, s := range f.Status {
		tf.Status = append(tf.Status, eventdesk.Status(s))
	}
	if f.Priority != "" {
		tf.Priority = []eventdesk.Priority{eventdesk.Priority(f.Priority)}
	}
	if f.Mine && a.Role.IsStaff() {
		if f.Assignee != "" && f.Assignee != a.Name || f.Unassigned {
			errs["mine"] = "Choose either “assigned to me” or an assignee."
		}
		tf.Assignee, tf.Unassigned = a.Name, false
	}
	return tf, errs
}

func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a := actorOf(r)
	v := listView{Page: s.basePage(r, "Tickets", "tickets"), Filter: parseListFilter(r.URL.Query()), Search: s.search}
	if !s.search {
		v.Filter.Q = ""
	}
	minPos := s.minPosition(w, r, &v.Page)
	v.Page.Live = "list"
	// Follow changes from the head as it was before reading: nothing that
	// commits after this page was read can be missed.
	head, err := s.app.Head(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.LiveAfter = head
	filter, errs := v.Filter.toFilter(a)
	status := http.StatusOK
	if len(errs) == 0 {
		page, err := s.app.Tickets.Handle(ctx, app.ListTickets{Filter: filter, MinPosition: minPos})
		switch {
		case eventdesk.ErrorCode(err) == eventdesk.EInvalid:
			errs = listErrors(err)
		case err != nil:
			s.renderError(w, r, err)
			return
		default:
			v.Rows = make([]ticketRow, len(page.Items))
			now := s.now()
			for i, t := range page.Items {
				v.Rows[i] = s.row(t, now)
			}
			if page.Next != "" {
				next := v.Filter
				next.Cursor = page.Next
				v.NextURL = next.url()
			}
		}
	}
	if len(errs) > 0 {
		v.Errors = errs
		status = http.StatusBadRequest
	}
	if v.Filter.Cursor != "" {
		first := v.Filter
		first.Cursor = ""
		v.FirstURL = first.url()
	}
	clear := listFilter{Status: v.Filter.Status}
	v.ClearURL = clear.url()
	v.Filtered = v.Filter.Q != "" || v.Filter.Priority != "" || v.Filter.Assignee != "" || v.Filter.Unassigned || v.Filter.Mine || v.Filter.Tag != ""
	if err := s.tabs(r, &v); err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, so := range sortLabels {
		v.Sorts = append(v.Sorts, option{Value: string(so.sort), Label: so.label,
			Selected: string(so.sort) == v.Filter.Sort || v.Filter.Sort == "" && so.sort == eventdesk.SortCreatedDesc})
	}
	v.Priorities = priorityOptions(v.Filter.Priority, true)
	s.render(w, r, status, "list", v)
}

// listErrors maps the application's filter errors to the form's fields.
func listErrors(err error) map[string]string {
	out := map[string]string{}
	for k, msg := range eventdesk.ErrorFields(err) {
		switch k {
		case "cursor":
			out["cursor"] = "This page link is out of date: start again from the first page."
		case "text", "q":
			out["q"] = sentence(msg)
		default:
			out[k] = sentence(msg)
		}
	}
	if len(out) == 0 {
		out["_"] = sentence(eventdesk.ErrorMessage(err))
	}
	return out
}

// tabs builds the status tabs; counts come from the statistics read model,
// which only those who see every ticket may read.
func (s *Server) tabs(r *http.Request, v *listView) error {
	var counts map[eventdesk.Status]int
	total := 0
	if v.SeesAll {
		st, err := s.app.Stats.Handle(r.Context(), app.GetStats{})
		if err != nil {
			return err
		}
		counts, total = st.ByStatus, st.Total
	}
	tab := func(label string, statuses []string, count int) statusTab {
		f := v.Filter
		f.Status, f.Cursor = statuses, ""
		return statusTab{Label: label, URL: f.url(), Count: count, HasCount: counts != nil, Current: slices.Equal(v.Filter.Status, statuses)}
	}
	active := 0
	for _, st := range activeStatuses {
		active += counts[eventdesk.Status(st)]
	}
	v.Tabs = append(v.Tabs, tab("All", nil, total), tab("Active", activeStatuses, active))
	for _, st := range eventdesk.Statuses {
		v.Tabs = append(v.Tabs, tab(statusLabel(st), []string{string(st)}, counts[st]))
	}
	return nil
}

func priorityOptions(selected string, any bool) []option {
	var out []option
	if any {
		out = append(out, option{Value: "", Label: "Any priority", Selected: selected == ""})
	}
	for _, p := range eventdesk.Priorities {
		out = append(out, option{Value: string(p), Label: priorityLabel(p), Selected: string(p) == selected})
	}
	return out
}

func (s *Server) row(t eventdesk.Ticket, now time.Time) ticketRow {
	r := ticketRow{
		ID: t.ID, Short: shortID(t.ID), Title: t.Title, URL: "/tickets/" + t.ID, Status: t.Status, Priority: t.Priority,
		StatusLabel: statusLabel(t.Status), PriorityLabel: priorityLabel(t.Priority),
		Requester: t.Requester, Assignee: t.Assignee, Tags: t.Tags, Version: t.Version,
		UpdatedISO: t.UpdatedAt.UTC().Format(time.RFC3339), UpdatedFull: fullTime(t.UpdatedAt), UpdatedAgo: ago(now, t.UpdatedAt),
	}
	if t.CommentCount > 0 {
		r.CommentsLabel = plural(t.CommentCount, "comment", "comments")
	}
	return r
}

// newView is the new-ticket form.
type newView struct {
	Page
	Form       newForm
	Errors     map[string]string
	Perm       app.CreatePermissions
	Priorities []option
}

type newForm struct {
	Title, Description, Priority, Tags, Requester, Assignee string
	// Key makes the post idempotent: a double click or a resent form
	// opens one ticket.
	Key string
}

func (s *Server) newTicket(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	perm := app.TicketCreatePermissions(a)
	if !perm.Create {
		s.renderError(w, r, eventdesk.Errorf(eventdesk.EForbidden, "your role (%s) may not open tickets", a.Role))
		return
	}
	v := newView{Page: s.basePage(r, "New ticket", "new"), Perm: perm, Form: newForm{Priority: "normal", Key: newKey()}}
	v.Priorities = priorityOptions(v.Form.Priority, false)
	s.render(w, r, http.StatusOK, "new", v)
}

func newKey() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// splitTags reads a comma- or space-separated list of tags.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	f := r.PostForm
	form := newForm{
		Title: f.Get("title"), Description: f.Get("description"), Priority: f.Get("priority"), Tags: f.Get("tags"),
		Requester: strings.TrimSpace(f.Get("requester")), Assignee: strings.TrimSpace(f.Get("assignee")), Key: f.Get("key"),
	}
	if len(form.Key) > 40 {
		form.Key = ""
	}
	perm := app.TicketCreatePermissions(a)
	cmd := app.CreateTicket{
		Title: form.Title, Description: form.Description, Priority: eventdesk.Priority(form.Priority),
		Requester: form.Requester, Assignee: form.Assignee, Tags: splitTags(form.Tags),
	}
	if form.Key != "" {
		sum := sha256.Sum256([]byte(strings.Join([]string{form.Title, form.Description, form.Priority, form.Tags, form.Requester, form.Assignee}, "\x00")))
		cmd.Idempotency = app.Idempotency{Key: "web-" + form.Key, RequestHash: hex.EncodeToString(sum[:])}
	}
	res, err := s.app.CreateTicket.Handle(r.Context(), cmd)
	if err != nil {
		code := eventdesk.ErrorCode(err)
		fields := eventdesk.ErrorFields(err)
		if (code == eventdesk.EInvalid || code == eventdesk.EForbidden && len(fields) > 0) && perm.Create {
			v := newView{Page: s.basePage(r, "New ticket", "new"), Perm: perm, Form: form, Errors: formErrors(err)}
			v.Priorities = priorityOptions(form.Priority, false)
			status := http.StatusUnprocessableEntity
			if code == eventdesk.EForbidden {
				status = http.StatusForbidden
			}
			s.render(w, r, status, "new", v)
			return
		}
		s.renderError(w, r, err)
		return
	}
	s.setFlash(w, r, "created", res.Position)
	redirect(w, r, "/tickets/"+res.Ticket.ID)
}

// formErrors turns an application error into messages by form field; a
// problem that names no field goes to "_" (the summary).
func formErrors(err error) map[string]string {
	out := map[string]string{}
	for k, msg := range eventdesk.ErrorFields(err) {
		out[k] = sentence(msg)
	}
	if len(out) == 0 {
		out["_"] = sentence(eventdesk.ErrorMessage(err))
	}
	return out
}
