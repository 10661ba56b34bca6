package eventdesk

import (
	"math"
	"slices"
)

// Decide returns the events that cmd causes on ticket t, or a typed error
// (*Error) saying why it is rejected. A command that would change nothing
// returns no events and no error.
func Decide(t Ticket, cmd Command) ([]Payload, error) {
	switch c := cmd.(type) {
	case OpenTicket:
		return decideOpen(t, c)
	case EditTicket:
		return decideEdit(t, c)
	case AssignTicket:
		return decideEdit(t, EditTicket{Assignee: &c.Assignee})
	case ChangeStatus:
		return decideEdit(t, EditTicket{Status: &c.Status})
	case AddComment:
		return decideComment(t, c)
	case RecordSentiment:
		return decideSentiment(t, c)
	case nil:
		return nil, Errorf(EInvalid, "no command")
	}
	return nil, Errorf(EInvalid, "unknown command %T", cmd)
}

func decideOpen(t Ticket, c OpenTicket) ([]Payload, error) {
	if t.Exists() {
		return nil, Errorf(EConflict, "ticket %s already exists", t.ID)
	}
	invalid := &Error{Code: EInvalid, Message: "invalid ticket", Fields: map[string]string{}}
	title, err := NormalizeTitle(c.Title)
	collect(invalid, err)
	desc, err := NormalizeText("description", c.Description, false)
	collect(invalid, err)
	prio := c.Priority
	if prio == "" {
		prio = PriorityNormal
	}
	if !prio.Valid() {
		invalid.Fields["priority"] = "must be one of low, normal, high, urgent"
	}
	collect(invalid, ValidateUserName("requester", c.Requester))
	if c.Assignee != "" {
		collect(invalid, ValidateUserName("assignee", c.Assignee))
	}
	tags, err := NormalizeTags(c.Tags)
	collect(invalid, err)
	if len(invalid.Fields) > 0 {
		return nil, invalid
	}
	return []Payload{TicketCreated{
		Title: title, Description: desc, Priority: prio, Requester: c.Requester,
		Tags: tags, Assignee: c.Assignee,
	}}, nil
}

// collect merges the field problems of err into into.
func collect(into *Error, err error) {
	if err == nil {
		return
	}
	fields := ErrorFields(err)
	if len(fields) == 0 {
		into.Fields["_"] = ErrorMessage(err)
	}
	for k, v := range fields {
		into.Fields[k] = v
	}
}

func decideEdit(t Ticket, c EditTicket) ([]Payload, error) {
	if !t.Exists() {
		return nil, Errorf(ENotFound, "ticket not found")
	}
	invalid := &Error{Code: EInvalid, Message: "invalid change", Fields: map[string]string{}}
	var edits []Payload
	if c.Title != nil {
		title, err := NormalizeTitle(*c.Title)
		collect(invalid, err)
		if err == nil && title != t.Title {
			edits = append(edits, TitleChanged{From: t.Title, To: title})
		}
	}
	if c.Description != nil {
		desc, err := NormalizeText("description", *c.Description, false)
		collect(invalid, err)
		if err == nil && desc != t.Description {
			edits = append(edits, DescriptionChanged{Description: desc})
		}
	}
	if c.Priority != nil {
		if !c.Priority.Valid() {
			invalid.Fields["priority"] = "must be one of low, normal, high, urgent"
		} else if *c.Priority != t.Priority {
			edits = append(edits, PriorityChanged{From: t.Priority, To: *c.Priority, Reason: c.Reason})
		}
	}
	if c.Tags != nil {
		tags, err := NormalizeTags(*c.Tags)
		collect(invalid, err)
		if err == nil {
			var added, removed []string
			for _, tag := range tags {
				if !slices.Contains(t.Tags, tag) {
					added = append(added, tag)
				}
			}
			for _, tag := range t.Tags {
				if !slices.Contains(tags, tag) {
					removed = append(removed, tag)
				}
			}
			if len(added)+len(removed) > 0 {
				edits = append(edits, TagsChanged{Added: added, Removed: removed})
			}
		}
	}
	if c.Assignee != nil {
		switch a := *c.Assignee; {
		case a == t.Assignee:
		case a == "":
			edits = append(edits, TicketUnassigned{Previous: t.Assignee})
		default:
			if err := ValidateUserName("assignee", a); err != nil {
				collect(invalid, err)
			} else {
				edits = append(edits, TicketAssigned{Assignee: a, Previous: t.Assignee})
			}
		}
	}
	var status Payload
	if c.Status != nil {
		switch s := *c.Status; {
		case !s.Valid():
			invalid.Fields["status"] = "must be one of new, open, pending, resolved, closed"
		case s == t.Status:
		case !t.Status.CanMoveTo(s):
			if len(invalid.Fields) == 0 {
				return nil, &Error{Code: EConflict, Message: "status cannot change from " + string(t.Status) + " to " + string(s),
					Fields: map[string]string{"status": "allowed next: " + joinStatuses(t.Status.NextStatuses())}}
			}
		default:
			status = StatusChanged{From: t.Status, To: s}
		}
	}
	if len(invalid.Fields) > 0 {
		return nil, invalid
	}
	if t.Status == StatusClosed {
		// A closed ticket is frozen: it may only be reopened, and edits
		// sent together with the reopening apply after it.
		if status == nil && len(edits) > 0 {
			return nil, Errorf(EConflict, "ticket is closed: reopen it before changing it")
		}
		if status == nil {
			return nil, nil
		}
		return append([]Payload{status}, edits...), nil
	}
	if status != nil {
		// Edits sent together with a close or resolve land before it, so
		// that the last fact is the status change.
		edits = append(edits, status)
	}
	return edits, nil
}

func joinStatuses(ss []Status) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ", "
		}
		out += string(s)
	}
	return out
}

func decideComment(t Ticket, c AddComment) ([]Payload, error) {
	if !t.Exists() {
		return nil, Errorf(ENotFound, "ticket not found")
	}
	invalid := &Error{Code: EInvalid, Message: "invalid comment", Fields: map[string]string{}}
	body, err := NormalizeText("body", c.Body, true)
	collect(invalid, err)
	collect(invalid, ValidateUserName("author", c.Author))
	if !ValidID(c.CommentID) {
		invalid.Fields["commentId"] = "must be a UUID"
	}
	if len(invalid.Fields) > 0 {
		return nil, invalid
	}
	if t.Status == StatusClosed {
		return nil, Errorf(EConflict, "ticket is closed: reopen it before commenting")
	}
	for _, existing := range t.Comments {
		if existing.ID == c.CommentID {
			return nil, Errorf(EConflict, "comment %s already exists", c.CommentID)
		}
	}
	out := []Payload{TicketCommented{CommentID: c.CommentID, Author: c.Author, Body: body, Internal: c.Internal}}
	if c.Internal {
		return out, nil
	}
	switch {
	case c.Author == t.Requester && (t.Status == StatusPending || t.Status == StatusResolved):
		// The requester answered: the ticket needs the team again.
		out = append(out, StatusChanged{From: t.Status, To: StatusOpen})
	case c.Author != t.Requester && t.Status == StatusNew:
		// The first public reply from the team opens the ticket.
		out = append(out, StatusChanged{From: t.Status, To: StatusOpen})
	}
	return out, nil
}

func decideSentiment(t Ticket, c RecordSentiment) ([]Payload, error) {
	if !t.Exists() {
		return nil, Errorf(ENotFound, "ticket not found")
	}
	if c.SourceEventID == "" {
		return nil, FieldError("sourceEventId", "must not be empty")
	}
	if math.IsNaN(c.Score) || c.Score < -1 || c.Score > 1 {
		return nil, FieldError("score", "must be between -1 and 1")
	}
	for _, s := range t.Sentiment {
		if s.SourceEventID == c.SourceEventID {
			return nil, nil // already scored: idempotent
		}
	}
	return []Payload{SentimentScored(c)}, nil
}
