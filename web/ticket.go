package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// ticketView is the ticket page, current or as it was (time travel).
type ticketView struct {
	Page
	T                 eventdesk.Ticket
	Short             string
	Created, Updated  when
	FirstResponse     when
	Resolved          when
	Comments          []commentView
	Perm              app.Permissions
	Form              ticketForm
	Reply             replyForm
	Errors            map[string]string
	StatusOptions     []option
	PriorityOptions   []option
	HistoryURL        string
	URL               string
	EditOpen          bool
	AsOf              *asOfView
	VisibilityOptions []option
	// Tone is the latest sentiment score, for those who may see it.
	Tone string
}

// ticketForm is what the edit forms hold: the values they were rendered
// with (or the user's, after an error) and the version they came from.
type ticketForm struct {
	Version                          int64
	Title, Description               string
	Status, Priority, Assignee, Tags string
}

// replyForm is the comment form.
type replyForm struct {
	Version  int64
	Body     string
	Internal bool
}

type commentView struct {
	ID, Author, Body string
	Internal         bool
	ByRequester      bool
	At               when
}

// asOfView describes a past state of the ticket being shown.
type asOfView struct {
	Version, Current int64
	At               when
	PrevURL, NextURL string
	NowURL           string
}

func (s *Server) showTicket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	v := ticketView{Page: s.basePage(r, "Ticket", "tickets")}
	q := r.URL.Query()
	get := app.GetTicket{ID: id, MinPosition: s.minPosition(w, r, &v.Page)}
	if vs := q.Get("version"); vs != "" {
		n, err := strconv.ParseInt(vs, 10, 64)
		if err != nil || n < 1 {
			s.renderError(w, r, eventdesk.FieldError("version", "must be a version number (1, 2, 3…)"))
			return
		}
		get.Version = n
	} else if at := q.Get("at"); at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			s.renderError(w, r, eventdesk.FieldError("at", "must be a time such as 2025-03-10T09:30:00Z"))
			return
		}
		get.AsOf = t
	}
	t, err := s.app.Ticket.Handle(ctx, get)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if get.Version > 0 || !get.AsOf.IsZero() {
		// Time travel: the current version bounds the "later" link.
		now, err := s.app.Ticket.Handle(ctx, app.GetTicket{ID: id})
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		v.AsOf = &asOfView{Version: t.Version, Current: now.Version, At: s.when(t.UpdatedAt), NowURL: "/tickets/" + id}
		if t.Version > 1 {
			v.AsOf.PrevURL = "/tickets/" + id + "?version=" + strconv.FormatInt(t.Version-1, 10)
		}
		if t.Version < now.Version {
			v.AsOf.NextURL = "/tickets/" + id + "?version=" + strconv.FormatInt(t.Version+1, 10)
		}
		if t.Version == now.Version {
			v.AsOf = nil // the past that is the present
		}
	}
	s.fillTicket(r, &v, t)
	if v.AsOf == nil {
		v.Live, v.LiveAfter = "ticket", t.Position
	}
	s.render(w, r, http.StatusOK, "ticket", v)
}

// fillTicket fills the view of ticket t with its forms at their current
// values.
func (s *Server) fillTicket(r *http.Request, v *ticketView, t eventdesk.Ticket) {
	a := actorOf(r)
	v.T, v.Short, v.Title = t, shortID(t.ID), t.Title
	v.URL, v.HistoryURL = "/tickets/"+t.ID, "/tickets/"+t.ID+"/history"
	v.Created, v.Updated = s.when(t.CreatedAt), s.when(t.UpdatedAt)
	v.FirstResponse, v.Resolved = s.when(t.FirstResponseAt), s.when(t.ResolvedAt)
	v.Comments = make([]commentView, len(t.Comments))
	for i, c := range t.Comments {
		v.Comments[i] = commentView{ID: c.ID, Author: c.Author, Body: c.Body, Internal: c.Internal, ByRequester: c.Author == t.Requester, At: s.when(c.CreatedAt)}
	}
	if v.AsOf == nil {
		v.Perm = app.TicketPermissions(a, t)
	}
	if sum, ok := app.SummarizeSentiment(t); ok {
		v.Tone = fmt.Sprintf("%s (%+.2f)", sum.Latest.Label, sum.Latest.Score)
		if sum.Trend != "" {
			v.Tone += ", " + sum.Trend
		}
	}
	if v.Form.Version == 0 {
		v.Form = formOf(t)
	}
	if v.Reply.Version == 0 {
		v.Reply.Version = t.Version
	}
	v.StatusOptions = statusOptions(t.Status, v.Perm.Statuses, eventdesk.Status(v.Form.Status))
	v.PriorityOptions = priorityOptions(v.Form.Priority, false)
	v.VisibilityOptions = []option{
		{Value: "public", Label: "Public reply", Selected: !v.Reply.Internal},
		{Value: "internal", Label: "Internal note (agents only)", Selected: v.Reply.Internal},
	}
}

func formOf(t eventdesk.Ticket) ticketForm {
	return ticketForm{
		Version: t.Version, Title: t.Title, Description: t.Description, Status: string(t.Status),
		Priority: string(t.Priority), Assignee: t.Assignee, Tags: strings.Join(t.Tags, ", "),
	}
}

// statusOptions offers the current status and the ones the user may move
// the ticket to.
func statusOptions(current eventdesk.Status, next []eventdesk.Status, selected eventdesk.Status) []option {
	out := []option{{Value: string(current), Label: statusLabel(current) + " (current)", Selected: selected == current || selected == ""}}
	for _, s := range next {
		out = append(out, option{Value: string(s), Label: statusLabel(s), Selected: s == selected})
	}
	return out
}

// formVersion reads the version a form was rendered from.
func formVersion(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	if err != nil || n < 1 {
		return 0, eventdesk.FieldError("version", "the form is missing the version it was made from: reload the ticket and try again")
	}
	return n, nil
}

// change is one field the user changed, for the conflict page.
type change struct {
	Field, From, To string
}

// edits compares the posted fields with the ticket the form was made from
// (base) and returns what the user changed. Fields absent from the form
// are left alone: each form posts only the fields it shows.
func edits(f url.Values, base eventdesk.Ticket) (eventdesk.EditTicket, []change, ticketForm) {
	var e eventdesk.EditTicket
	var cs []change
	form := formOf(base)
	if _, ok := f["title"]; ok {
		form.Title = f.Get("title")
		if v := strings.TrimSpace(form.Title); v != base.Title {
			e.Title = &v
			cs = append(cs, change{"Title", base.Title, v})
		}
	}
	if _, ok := f["description"]; ok {
		form.Description = strings.ReplaceAll(f.Get("description"), "\r\n", "\n")
		if v := strings.TrimSpace(form.Description); v != base.Description {
			e.Description = &v
			cs = append(cs, change{"Description", base.Description, v})
		}
	}
	if _, ok := f["status"]; ok {
		form.Status = f.Get("status")
		if v := eventdesk.Status(form.Status); v != base.Status {
			e.Status = &v
			cs = append(cs, change{"Status", statusLabel(base.Status), statusLabel(v)})
		}
	}
	if _, ok := f["priority"]; ok {
		form.Priority = f.Get("priority")
		if v := eventdesk.Priority(form.Priority); v != base.Priority {
			e.Priority = &v
			cs = append(cs, change{"Priority", priorityLabel(base.Priority), priorityLabel(v)})
		}
	}
	if _, ok := f["assignee"]; ok {
		form.Assignee = strings.TrimSpace(f.Get("assignee"))
		if v := form.Assignee; v != base.Assignee {
			e.Assignee = &v
			cs = append(cs, change{"Assignee", orNobody(base.Assignee), orNobody(v)})
		}
	}
	if _, ok := f["tags"]; ok {
		form.Tags = f.Get("tags")
		tags := splitTags(form.Tags)
		same := false
		if norm, err := eventdesk.NormalizeTags(tags); err == nil {
			same = slices.Equal(norm, base.Tags)
		}
		if !same {
			e.Tags = &tags
			cs = append(cs, change{"Tags", orNone(strings.Join(base.Tags, ", ")), orNone(strings.Join(tags, ", "))})
		}
	}
	return e, cs, form
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// updateTicket applies the edit forms of the ticket page: only what the
// user changed with respect to the version the form was made from, and
// only if the ticket is still at that version (else the conflict page).
func (s *Server) updateTicket(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	version, err := formVersion(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	base, err := s.app.Ticket.Handle(ctx, app.GetTicket{ID: id, Version: version})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	edit, changes, form := edits(r.PostForm, base)
	if len(changes) == 0 {
		s.setFlash(w, r, "nochange", 0)
		redirect(w, r, "/tickets/"+id)
		return
	}
	res, err := s.applyUpdate(r, id, version, edit)
	switch {
	case err == nil:
		s.setFlash(w, r, "saved", res.Position)
		redirect(w, r, "/tickets/"+id)
	case eventdesk.ErrorCode(err) == eventdesk.EPrecondition:
		s.conflict(w, r, id, version, changes, form, nil)
	default:
		s.formProblem(w, r, id, err, func(v *ticketView) {
			form.Version = version
			v.Form = form
			if _, ok := r.PostForm["title"]; ok {
				v.EditOpen = true
			}
		})
	}
}

// applyUpdate updates the ticket if it is still at version. Events that
// only annotate the ticket (sentiment scores) do not make a form stale:
// the update is then applied to the newer version.
func (s *Server) applyUpdate(r *http.Request, id string, version int64, edit eventdesk.EditTicket) (app.TicketResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.app.UpdateTicket.Handle(r.Context(), app.UpdateTicket{ID: id, ExpectedVersion: version, Edit: edit})
		if eventdesk.ErrorCode(err) != eventdesk.EPrecondition || attempt == 3 {
			return res, err
		}
		newer, ok := s.onlyAnnotations(r, id, version, err)
		if !ok {
			return res, err
		}
		version = newer
	}
}

// onlyAnnotations reports whether everything after version that the user
// may see merely annotates the ticket, and returns the current version.
func (s *Server) onlyAnnotations(r *http.Request, id string, version int64, stale error) (int64, bool) {
	wrong, ok := errors.AsType[*eventdesk.WrongExpectedVersionError](stale)
	if !ok {
		return 0, false
	}
	entries, err := s.app.History.Handle(r.Context(), app.GetHistory{TicketID: id})
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		if e.Version > version && e.Type != eventdesk.TypeSentimentScored {
			return 0, false
		}
	}
	return wrong.Actual, true
}

// addComment adds a reply or internal note, unless the ticket changed
// since the form was made (then the conflict page keeps the text).
func (s *Server) addComment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	version, err := formVersion(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	reply := replyForm{Version: version, Body: r.PostForm.Get("body"), Internal: r.PostForm.Get("visibility") == "internal"}
	var res app.CommentResult
	for attempt := 0; ; attempt++ {
		res, err = s.app.AddComment.Handle(r.Context(), app.AddComment{TicketID: id, Body: reply.Body, Internal: reply.Internal, ExpectedVersion: version})
		if eventdesk.ErrorCode(err) != eventdesk.EPrecondition || attempt == 3 {
			break
		}
		newer, ok := s.onlyAnnotations(r, id, version, err)
		if !ok {
			break
		}
		version = newer
	}
	switch {
	case err == nil:
		code := "commented"
		if reply.Internal {
			code = "noted"
		}
		s.setFlash(w, r, code, res.Position)
		redirect(w, r, "/tickets/"+id+"#comment-"+res.Comment.ID)
	case eventdesk.ErrorCode(err) == eventdesk.EPrecondition:
		s.conflict(w, r, id, reply.Version, nil, ticketForm{}, &reply)
	default:
		s.formProblem(w, r, id, err, func(v *ticketView) { v.Reply = reply })
	}
}

// formProblem shows the ticket page again with the user's input and what
// is wrong with it, next to the fields; a problem that is not about the
// input is an error page.
func (s *Server) formProblem(w http.ResponseWriter, r *http.Request, id string, err error, keep func(*ticketView)) {
	code := eventdesk.ErrorCode(err)
	var status int
	switch code {
	case eventdesk.EInvalid:
		status = http.StatusUnprocessableEntity
	case eventdesk.EConflict:
		status = http.StatusConflict
	case eventdesk.EForbidden:
		status = http.StatusForbidden
	default:
		s.renderError(w, r, err)
		return
	}
	t, terr := s.app.Ticket.Handle(r.Context(), app.GetTicket{ID: id})
	if terr != nil {
		s.renderError(w, r, err)
		return
	}
	v := ticketView{Page: s.basePage(r, t.Title, "tickets"), Errors: formErrors(err)}
	if _, ok := v.Errors["_"]; !ok && code != eventdesk.EInvalid {
		v.Errors["_"] = sentence(eventdesk.ErrorMessage(err))
	}
	keep(&v)
	s.fillTicket(r, &v, t)
	v.Live, v.LiveAfter = "ticket", t.Position
	s.render(w, r, status, "ticket", v)
}

// conflictView is shown when a form was made from an older version of the
// ticket: what others changed meanwhile, what the user wanted, and the
// form again (at the current version) to re-apply it.
type conflictView struct {
	ticketView
	Since []historyItem
	Yours []change
	// Comment is true when the stale form was a reply.
	Comment bool
	// ShowEdit offers the title and description again (when the user
	// changed one of them).
	ShowEdit bool
	Lost     []string
}

func (s *Server) conflict(w http.ResponseWriter, r *http.Request, id string, version int64, yours []change, form ticketForm, reply *replyForm) {
	ctx := r.Context()
	t, err := s.app.Ticket.Handle(ctx, app.GetTicket{ID: id})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	entries, err := s.app.History.Handle(ctx, app.GetHistory{TicketID: id})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	// The read model may lag the stream: show the stream's latest.
	if last := entries[len(entries)-1]; last.Version > t.Version {
		if cur, err := s.app.Ticket.Handle(ctx, app.GetTicket{ID: id, Version: last.Version}); err == nil {
			t = cur
		}
	}
	v := conflictView{ticketView: ticketView{Page: s.basePage(r, "Changed meanwhile: "+t.Title, "tickets")}, Yours: yours}
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; e.Version > version {
			v.Since = append(v.Since, s.historyItem(t.ID, e, t.Version))
		}
	}
	if reply != nil {
		v.Comment = true
		v.Reply = *reply
		v.Reply.Version = t.Version
	} else {
		// The form again: the current values with the user's changes on
		// top, at the current version.
		cur := formOf(t)
		for _, c := range yours {
			switch c.Field {
			case "Title":
				cur.Title, v.ShowEdit = form.Title, true
			case "Description":
				cur.Description, v.ShowEdit = form.Description, true
			case "Status":
				cur.Status = form.Status
			case "Priority":
				cur.Priority = form.Priority
			case "Assignee":
				cur.Assignee = form.Assignee
			case "Tags":
				cur.Tags = form.Tags
			}
		}
		v.Form = cur
	}
	s.fillTicket(r, &v.ticketView, t)
	v.Errors = map[string]string{}
	if st := eventdesk.Status(v.Form.Status); st != t.Status && !slices.Contains(v.Perm.Statuses, st) {
		v.Lost = append(v.Lost, "The status can no longer change to “"+statusLabel(st)+"” from “"+statusLabel(t.Status)+"”; choose again.")
		v.Form.Status = string(t.Status)
		v.StatusOptions = statusOptions(t.Status, v.Perm.Statuses, t.Status)
	}
	v.Live, v.LiveAfter = "ticket", t.Position
	s.render(w, r, http.StatusConflict, "conflict", v)
}

// historyView is the timeline of one ticket.
type historyView struct {
	Page
	T       eventdesk.Ticket
	Short   string
	URL     string
	Entries []historyItem
}

// historyItem is one event of the timeline.
type historyItem struct {
	Version  int64
	Actor    string
	At       when
	Summary  string
	Kind     string
	Body     string
	Internal bool
	// AsOfURL shows the ticket as it was right after this event.
	AsOfURL string
	Current bool
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	entries, err := s.app.History.Handle(ctx, app.GetHistory{TicketID: id})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	last := entries[len(entries)-1].Version
	t, err := s.app.Ticket.Handle(ctx, app.GetTicket{ID: id, Version: last})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := historyView{Page: s.basePage(r, "History: "+t.Title, "tickets"), T: t, Short: shortID(t.ID), URL: "/tickets/" + t.ID}
	for i := len(entries) - 1; i >= 0; i-- {
		v.Entries = append(v.Entries, s.historyItem(t.ID, entries[i], last))
	}
	s.render(w, r, http.StatusOK, "history", v)
}

func (s *Server) historyItem(id string, e app.HistoryEntry, current int64) historyItem {
	h := historyItem{
		Version: e.Version, Actor: e.Actor, At: s.when(e.At), Summary: e.Summary, Kind: strings.TrimPrefix(e.Type, "ticket."),
		AsOfURL: "/tickets/" + id + "?version=" + strconv.FormatInt(e.Version, 10), Current: e.Version == current,
	}
	if p, err := eventdesk.Decode(e.Event); err == nil {
		switch p := p.(type) {
		case eventdesk.TicketCommented:
			h.Body, h.Internal = p.Body, p.Internal
		case eventdesk.DescriptionChanged:
			h.Body = p.Description
		case eventdesk.TicketCreated:
			h.Body = p.Description
		}
	}
	return h
}
