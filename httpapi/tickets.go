package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// ticketJSON is a ticket as the API shows it.
type ticketJSON struct {
	ID           string             `json:"id"`
	Title        string             `json:"title"`
	Description  string             `json:"description"`
	Priority     eventdesk.Priority `json:"priority"`
	Status       eventdesk.Status   `json:"status"`
	Requester    string             `json:"requester"`
	Assignee     *string            `json:"assignee"`
	Tags         []string           `json:"tags"`
	Version      int64              `json:"version"`
	CreatedAt    time.Time          `json:"createdAt"`
	UpdatedAt    time.Time          `json:"updatedAt"`
	CommentCount int                `json:"commentCount"`
	// Comments is present on a single ticket, absent in lists.
	Comments *[]commentJSON `json:"comments,omitempty"`
	// Sentiment is present for staff once the ticket's texts were scored.
	Sentiment *sentimentJSON `json:"sentiment,omitempty"`
}

// sentimentJSON is a ticket's sentiment: the latest score, the trend and
// (on a single ticket) the kept scores, oldest first.
type sentimentJSON struct {
	Latest  scoreJSON   `json:"latest"`
	Trend   *string     `json:"trend"`
	History []scoreJSON `json:"history,omitempty"`
}

type scoreJSON struct {
	Score         float64   `json:"score"`
	Label         string    `json:"label"`
	At            time.Time `json:"at"`
	SourceEventID string    `json:"sourceEventId"`
}

func toScoreJSON(s eventdesk.SentimentScore) scoreJSON {
	return scoreJSON{Score: s.Score, Label: s.Label, At: s.At.UTC(), SourceEventID: s.SourceEventID}
}

// toSentimentJSON summarizes t's scores into *out and returns out (nil:
// none, or hidden from the caller). The caller provides out so that a list
// of tickets, encoded one at a time, needs no allocation per item.
func toSentimentJSON(t *eventdesk.Ticket, withHistory bool, out *sentimentJSON) *sentimentJSON {
	sum, ok := app.SummarizeSentiment(*t)
	if !ok {
		return nil
	}
	*out = sentimentJSON{Latest: toScoreJSON(sum.Latest), Trend: trendOf(sum.Trend)}
	if withHistory {
		out.History = make([]scoreJSON, len(sum.History))
		for i, s := range sum.History {
			out.History[i] = toScoreJSON(s)
		}
	}
	return out
}

// The trends as values to point at (never written): a trend is one of
// three words, not worth an allocation per ticket.
var (
	trendImproving = app.TrendImproving
	trendWorsening = app.TrendWorsening
	trendSteady    = app.TrendSteady
)

// trendOf returns trend as a JSON string or null ("").
func trendOf(trend string) *string {
	switch trend {
	case "":
		return nil
	case app.TrendImproving:
		return &trendImproving
	case app.TrendWorsening:
		return &trendWorsening
	case app.TrendSteady:
		return &trendSteady
	}
	other := trend // only this path allocates
	return &other
}

type commentJSON struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"`
	Body      string    `json:"body"`
	Internal  bool      `json:"internal"`
	CreatedAt time.Time `json:"createdAt"`
}

// commentResponse is a new comment and the ticket version it made.
type commentResponse struct {
	commentJSON
	TicketID      string `json:"ticketId"`
	TicketVersion int64  `json:"ticketVersion"`
}

// toTicketJSON returns t as the API shows it. The result points into t
// (the assignee) and into sent (the sentiment summary, if any), so that
// encoding a list allocates nothing per item; both must outlive it.
func toTicketJSON(t *eventdesk.Ticket, withComments bool, sent *sentimentJSON) ticketJSON {
	out := ticketJSON{
		ID: t.ID, Title: t.Title, Description: t.Description, Priority: t.Priority, Status: t.Status,
		Requester: t.Requester, Tags: t.Tags, Version: t.Version,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), CommentCount: t.CommentCount,
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if t.Assignee != "" {
		out.Assignee = &t.Assignee
	}
	out.Sentiment = toSentimentJSON(t, withComments, sent)
	if withComments {
		cs := make([]commentJSON, len(t.Comments))
		for i, c := range t.Comments {
			cs[i] = toCommentJSON(c)
		}
		out.Comments = &cs
		out.CommentCount = len(cs)
	}
	return out
}

func toCommentJSON(c eventdesk.Comment) commentJSON {
	return commentJSON{ID: c.ID, Author: c.Author, Body: c.Body, Internal: c.Internal, CreatedAt: c.CreatedAt.UTC()}
}

// writeTicketResult renders the result of a ticket command.
func (s *Server) writeTicketResult(w http.ResponseWriter, status int, res app.TicketResult) {
	h := w.Header()
	h.Set("ETag", etag(res.Ticket.Version))
	h.Set("X-Event-Position", strconv.FormatInt(res.Position, 10))
	if res.Replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	var sent sentimentJSON
	t := toTicketJSON(&res.Ticket, true, &sent)
	p := getBuf()
	defer putBuf(p)
	*p = append(appendTicket(*p, &t), '\n')
	writeBody(w, status, *p)
}

type createTicketRequest struct {
	Title       string             `json:"title"`
	Description string             `json:"description"`
	Priority    eventdesk.Priority `json:"priority"`
	Requester   string             `json:"requester"`
	Assignee    *string            `json:"assignee"`
	Tags        []string           `json:"tags"`
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, "application/json")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req createTicketRequest
	if !decodeCreateFast(body, &req) {
		if err := decodeStrict(body, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	cmd := app.CreateTicket{
		Title: req.Title, Description: req.Description, Priority: req.Priority, Requester: req.Requester,
		Tags: req.Tags, Idempotency: idempotency(r, body),
	}
	if req.Assignee != nil {
		cmd.Assignee = *req.Assignee
	}
	res, err := s.app.CreateTicket.Handle(r.Context(), cmd)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tickets/"+res.Ticket.ID)
	s.writeTicketResult(w, http.StatusCreated, res)
}

func (s *Server) listTickets(w http.ResponseWriter, r *http.Request) {
	q, err := checkedQuery(r, listParams)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f := eventdesk.TicketFilter{
		Assignee: q.Get("assignee"), Requester: q.Get("requester"), Tag: q.Get("tag"), Text: q.Get("q"),
		Sort: eventdesk.TicketSort(q.Get("sort")), Cursor: q.Get("cursor"),
	}
	for _, v := range splitList(q["status"]) {
		f.Status = append(f.Status, eventdesk.Status(v))
	}
	for _, v := range splitList(q["priority"]) {
		f.Priority = append(f.Priority, eventdesk.Priority(v))
	}
	switch q.Get("unassigned") {
	case "", "false":
	case "true":
		f.Unassigned = true
	default:
		s.writeError(w, r, eventdesk.FieldError("unassigned", "must be true or false"))
		return
	}
	limit, err := parseIntOf(q, "limit", eventdesk.DefaultListLimit, 1, eventdesk.MaxListLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	f.Limit = int(limit)
	minPos, err := minPositionOf(r, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.app.Tickets.Handle(r.Context(), app.ListTickets{Filter: f, MinPosition: minPos})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := getBuf()
	defer putBuf(p)
	*p = appendTicketPage(*p, &page)
	writeBody(w, http.StatusOK, *p)
}

// appendTicketPage appends {"items":[…],"next":"cursor"|null}, encoded by
// hand (see encode.go), and a newline.
func appendTicketPage(b []byte, page *eventdesk.TicketPage) []byte {
	b = append(b, `{"items":[`...)
	var sent sentimentJSON // scratch, reused: each item is encoded at once
	for i := range page.Items {
		if i > 0 {
			b = append(b, ',')
		}
		tj := toTicketJSON(&page.Items[i], false, &sent)
		b = appendTicket(b, &tj)
	}
	b = append(b, `],"next":`...)
	if page.Next == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, page.Next)
	}
	return append(b, "}\n"...)
}

// listParams are the query parameters of GET /tickets (true: may repeat).
var listParams = map[string]bool{
	"status": true, "priority": true, "assignee": false, "unassigned": false, "requester": false,
	"tag": false, "q": false, "sort": false, "limit": false, "cursor": false, "minPosition": false,
}

// splitList accepts both ?status=a&status=b and ?status=a,b.
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(p))
		}
	}
	return out
}

func (s *Server) getTicket(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"asOf": false, "version": false, "minPosition": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	q := app.GetTicket{ID: r.PathValue("id")}
	if v := r.URL.Query().Get("asOf"); v != "" {
		t, err := parseTime("asOf", v)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		q.AsOf = t
	}
	version, err := parseInt(r, "version", 0, 1, 1<<62)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.Version = version
	if q.MinPosition, err = minPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.app.Ticket.Handle(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tag := etag(t.Version)
	w.Header().Set("ETag", tag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == tag || inm == "W/"+tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var sent sentimentJSON
	tj := toTicketJSON(&t, true, &sent)
	p := getBuf()
	defer putBuf(p)
	*p = append(appendTicket(*p, &tj), '\n')
	writeBody(w, http.StatusOK, *p)
}

// editable fields of a ticket, and those a patch may not touch.
var (
	editableFields = map[string]bool{"title": true, "description": true, "priority": true, "status": true, "assignee": true, "tags": true}
	readOnlyFields = map[string]bool{"id": true, "requester": true, "version": true, "createdAt": true, "updatedAt": true, "comments": true, "commentCount": true}
)

// parsePatch reads a JSON merge patch (RFC 7396) of a ticket: absent
// fields stay, null clears assignee, description and tags.
func parsePatch(body []byte) (eventdesk.EditTicket, error) {
	var m map[string]json.RawMessage
	if err := decodeStrict(body, &m); err != nil {
		return eventdesk.EditTicket{}, err
	}
	if m == nil {
		return eventdesk.EditTicket{}, eventdesk.Errorf(eventdesk.EInvalid, "a merge patch must be a JSON object")
	}
	invalid := &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid patch", Fields: map[string]string{}}
	var e eventdesk.EditTicket
	for k, raw := range m {
		switch {
		case readOnlyFields[k]:
			invalid.Fields[k] = "read-only field"
			continue
		case !editableFields[k]:
			invalid.Fields[k] = "unknown field"
			continue
		}
		null := string(raw) == "null"
		switch k {
		case "title", "priority", "status":
			var v string
			if null || json.Unmarshal(raw, &v) != nil {
				invalid.Fields[k] = "must be a string"
				continue
			}
			switch k {
			case "title":
				e.Title = &v
			case "priority":
				p := eventdesk.Priority(v)
				e.Priority = &p
			case "status":
				st := eventdesk.Status(v)
				e.Status = &st
			}
		case "description", "assignee":
			var v string
			if !null && json.Unmarshal(raw, &v) != nil {
				invalid.Fields[k] = "must be a string or null"
				continue
			}
			if k == "description" {
				e.Description = &v
			} else {
				e.Assignee = &v
			}
		case "tags":
			var v []string
			if !null && json.Unmarshal(raw, &v) != nil {
				invalid.Fields[k] = "must be an array of strings or null"
				continue
			}
			if v == nil {
				v = []string{}
			}
			e.Tags = &v
		}
	}
	if len(invalid.Fields) > 0 {
		return e, invalid
	}
	return e, nil
}

// putTicketRequest replaces every editable field: absent optional fields
// become empty (no description, no tags, unassigned).
type putTicketRequest struct {
	Title       *string             `json:"title"`
	Description *string             `json:"description"`
	Priority    *eventdesk.Priority `json:"priority"`
	Status      *eventdesk.Status   `json:"status"`
	Assignee    *string             `json:"assignee"`
	Tags        []string            `json:"tags"`
}

func parsePut(body []byte) (eventdesk.EditTicket, error) {
	var req putTicketRequest
	if err := decodeStrict(body, &req); err != nil {
		return eventdesk.EditTicket{}, err
	}
	missing := &eventdesk.Error{Code: eventdesk.EInvalid, Message: "a full replacement needs title, priority and status", Fields: map[string]string{}}
	if req.Title == nil {
		missing.Fields["title"] = "required"
	}
	if req.Priority == nil {
		missing.Fields["priority"] = "required"
	}
	if req.Status == nil {
		missing.Fields["status"] = "required"
	}
	if len(missing.Fields) > 0 {
		return eventdesk.EditTicket{}, missing
	}
	e := eventdesk.EditTicket{Title: req.Title, Priority: req.Priority, Status: req.Status}
	desc, assignee, tags := "", "", req.Tags
	if req.Description != nil {
		desc = *req.Description
	}
	if req.Assignee != nil {
		assignee = *req.Assignee
	}
	if tags == nil {
		tags = []string{}
	}
	e.Description, e.Assignee, e.Tags = &desc, &assignee, &tags
	return e, nil
}

func (s *Server) patchTicket(w http.ResponseWriter, r *http.Request) {
	s.updateTicket(w, r, parsePatch, "application/merge-patch+json", "application/json")
}

func (s *Server) putTicket(w http.ResponseWriter, r *http.Request) {
	s.updateTicket(w, r, parsePut, "application/json")
}

func (s *Server) updateTicket(w http.ResponseWriter, r *http.Request, parse func([]byte) (eventdesk.EditTicket, error), types ...string) {
	if err := queryParams(r, map[string]bool{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r, types...)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	version, present, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !present {
		s.writeError(w, r, httpError(codePreconditionRequired, `send If-Match: "<version>" with the ETag of the ticket you changed`))
		return
	}
	edit, err := parse(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.app.UpdateTicket.Handle(r.Context(), app.UpdateTicket{ID: r.PathValue("id"), ExpectedVersion: version, Edit: edit})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeTicketResult(w, http.StatusOK, res)
}

type addCommentRequest struct {
	Body     string `json:"body"`
	Internal bool   `json:"internal"`
}

func (s *Server) addComment(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(w, r, "application/json")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req addCommentRequest
	if err := decodeStrict(body, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	// If-Match is optional here: a comment conflicts with nothing.
	version, _, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.app.AddComment.Handle(r.Context(), app.AddComment{
		TicketID: r.PathValue("id"), Body: req.Body, Internal: req.Internal, ExpectedVersion: version,
		Idempotency: idempotency(r, body),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", "/api/v1/tickets/"+res.Ticket.ID)
	h.Set("ETag", etag(res.Ticket.Version))
	h.Set("X-Event-Position", strconv.FormatInt(res.Position, 10))
	if res.Replayed {
		h.Set("Idempotent-Replayed", "true")
	}
	s.writeJSON(w, http.StatusCreated, commentResponse{commentJSON: toCommentJSON(res.Comment), TicketID: res.Ticket.ID, TicketVersion: res.Ticket.Version})
}

type historyEntryJSON struct {
	Position int64     `json:"position"`
	Version  int64     `json:"version"`
	Type     string    `json:"type"`
	Actor    string    `json:"actor"`
	At       time.Time `json:"at"`
	Summary  string    `json:"summary"`
	Event    eventJSON `json:"event"`
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, err := s.app.History.Handle(r.Context(), app.GetHistory{TicketID: r.PathValue("id")})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Items []historyEntryJSON `json:"items"`
	}{Items: make([]historyEntryJSON, len(entries))}
	for i, e := range entries {
		out.Items[i] = historyEntryJSON{Position: e.Position, Version: e.Version, Type: e.Type, Actor: e.Actor,
			At: e.At.UTC(), Summary: e.Summary, Event: toEventJSON(e.Event)}
	}
	s.writeJSON(w, http.StatusOK, out)
}

type statsJSON struct {
	Total      int                        `json:"total"`
	ByStatus   map[eventdesk.Status]int   `json:"byStatus"`
	ByPriority map[eventdesk.Priority]int `json:"byPriority"`
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"minPosition": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	minPos, err := minPosition(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.app.Stats.Handle(r.Context(), app.GetStats{MinPosition: minPos})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := statsJSON{Total: st.Total, ByStatus: map[eventdesk.Status]int{}, ByPriority: map[eventdesk.Priority]int{}}
	for _, v := range eventdesk.Statuses {
		out.ByStatus[v] = st.ByStatus[v]
	}
	for _, v := range eventdesk.Priorities {
		out.ByPriority[v] = st.ByPriority[v]
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	a, _ := eventdesk.ActorFromContext(r.Context())
	s.writeJSON(w, http.StatusOK, a)
}
