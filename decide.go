package eventdesk

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Decide returns the events that cmd causes on ticket t, or a typed error
// (*Error) saying why it is rejected. A command that would change nothing
// returns no events and no error. Commands may be passed as values or as
// pointers.
func Decide(t Ticket, cmd Command) ([]Payload, error) {
	cmd = derefCommand(cmd)
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

// derefCommand turns a pointer to a command into the command (a nil
// pointer into nil), so that Decide switches on value types only.
func derefCommand(cmd Command) Command {
	switch c := cmd.(type) {
	case *OpenTicket:
		if c != nil {
			return *c
		}
	case *EditTicket:
		if c != nil {
			return *c
		}
	case *AssignTicket:
		if c != nil {
			return *c
		}
	case *ChangeStatus:
		if c != nil {
			return *c
		}
	case *AddComment:
		if c != nil {
			return *c
		}
	case *RecordSentiment:
		if c != nil {
			return *c
		}
	default:
		return cmd
	}
	return nil
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

// MaxSentimentLabelLen bounds SentimentScore.Label, in characters.
const MaxSentimentLabelLen = 32

// decideSentiment records a score. It is allowed in every status (the text
// of a ticket's last comment is often scored after the ticket was closed)
// and is idempotent per source event while that source is among the kept
// MaxSentimentHistory scores; subscribers deduplicate by event id as well.
func decideSentiment(t Ticket, c RecordSentiment) ([]Payload, error) {
	if !t.Exists() {
		return nil, Errorf(ENotFound, "ticket not found")
	}
	invalid := &Error{Code: EInvalid, Message: "invalid sentiment", Fields: map[string]string{}}
	if !ValidID(c.SourceEventID) {
		invalid.Fields["sourceEventId"] = "must be an event id (a UUID)"
	}
	if math.IsNaN(c.Score) || c.Score < -1 || c.Score > 1 {
		invalid.Fields["score"] = "must be between -1 and 1"
	}
	switch {
	case !utf8.ValidString(c.Label):
		invalid.Fields["label"] = "must be valid UTF-8"
	case utf8.RuneCountInString(c.Label) > MaxSentimentLabelLen:
		invalid.Fields["label"] = "must be at most 32 characters"
	case strings.IndexFunc(c.Label, unicode.IsControl) >= 0:
		invalid.Fields["label"] = "must not contain control characters"
	}
	if len(invalid.Fields) > 0 {
		return nil, invalid
	}
	for _, s := range t.Sentiment {
		if s.SourceEventID == c.SourceEventID {
			return nil, nil // already scored: idempotent
		}
	}
	return []Payload{SentimentScored(c)}, nil
}
