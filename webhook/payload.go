package webhook

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/eventdesk/eventdesk"
)

// PayloadVersion names the layout of the payloads this package sends; it
// is the dataschema of every message. A change that is not purely
// additive gets a new version.
const PayloadVersion = "https://eventdesk.dev/webhooks/v1"

// EventTypes are the event types sent to webhooks: every ticket event
// whose data a requester may see. Sentiment scores (staff-only) are not
// among them, and internal notes, although of type ticket.commented, are
// never sent.
var EventTypes = []string{
	eventdesk.TypeTicketCreated,
	eventdesk.TypeTitleChanged,
	eventdesk.TypeDescriptionChanged,
	eventdesk.TypePriorityChanged,
	eventdesk.TypeTagsChanged,
	eventdesk.TypeTicketAssigned,
	eventdesk.TypeTicketUnassigned,
	eventdesk.TypeStatusChanged,
	eventdesk.TypeTicketCommented,
}

// Message is the body of a delivery: a CloudEvents 1.0 structured-mode
// envelope around the event's public data.
type Message struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	DataSchema      string `json:"dataschema"`
	Data            any    `json:"data"`
}

// Source is the CloudEvents source of every message.
const Source = "eventdesk"

// TicketData is what every message's data carries: which ticket, at which
// version (receivers can order and de-duplicate by it).
type TicketData struct {
	TicketID      string `json:"ticketId"`
	TicketVersion int64  `json:"ticketVersion"`
}

// Data of each event type (payload version 1).
type (
	// CreatedData is the data of ticket.created.
	CreatedData struct {
		TicketData
		Title       string             `json:"title"`
		Description string             `json:"description"`
		Priority    eventdesk.Priority `json:"priority"`
		Status      eventdesk.Status   `json:"status"`
		Requester   string             `json:"requester"`
		Assignee    *string            `json:"assignee"`
		Tags        []string           `json:"tags"`
	}
	// TitleChangedData is the data of ticket.title_changed.
	TitleChangedData struct {
		TicketData
		From string `json:"from"`
		To   string `json:"to"`
	}
	// DescriptionChangedData is the data of ticket.description_changed.
	DescriptionChangedData struct {
		TicketData
		Description string `json:"description"`
	}
	// PriorityChangedData is the data of ticket.priority_changed.
	PriorityChangedData struct {
		TicketData
		From   eventdesk.Priority `json:"from"`
		To     eventdesk.Priority `json:"to"`
		Reason string             `json:"reason,omitempty"`
	}
	// TagsChangedData is the data of ticket.tags_changed.
	TagsChangedData struct {
		TicketData
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
	}
	// AssignedData is the data of ticket.assigned.
	AssignedData struct {
		TicketData
		Assignee string  `json:"assignee"`
		Previous *string `json:"previous"`
	}
	// UnassignedData is the data of ticket.unassigned.
	UnassignedData struct {
		TicketData
		Previous string `json:"previous"`
	}
	// StatusChangedData is the data of ticket.status_changed.
	StatusChangedData struct {
		TicketData
		From eventdesk.Status `json:"from"`
		To   eventdesk.Status `json:"to"`
	}
	// CommentedData is the data of ticket.commented (public comments only).
	CommentedData struct {
		TicketData
		CommentID string `json:"commentId"`
		Author    string `json:"author"`
		Body      string `json:"body"`
	}
)

// BuildMessage returns the message for e, or ok false when e is not sent
// to webhooks (not a ticket event, not a public type, an internal note).
// An event that cannot be decoded is an error.
func BuildMessage(e eventdesk.Event) (m Message, ok bool, err error) {
	id, isTicket := eventdesk.TicketIDFromStream(e.Stream)
	if !isTicket {
		return m, false, nil
	}
	p, err := eventdesk.Decode(e)
	if err != nil {
		return m, false, fmt.Errorf("webhook: %w", err)
	}
	td := TicketData{TicketID: id, TicketVersion: e.Version}
	var data any
	switch v := p.(type) {
	case eventdesk.TicketCreated:
		tags := v.Tags
		if tags == nil {
			tags = []string{}
		}
		data = CreatedData{TicketData: td, Title: v.Title, Description: v.Description, Priority: v.Priority,
			Status: eventdesk.StatusNew, Requester: v.Requester, Assignee: optional(v.Assignee), Tags: tags}
	case eventdesk.TitleChanged:
		data = TitleChangedData{TicketData: td, From: v.From, To: v.To}
	case eventdesk.DescriptionChanged:
		data = DescriptionChangedData{TicketData: td, Description: v.Description}
	case eventdesk.PriorityChanged:
		data = PriorityChangedData{TicketData: td, From: v.From, To: v.To, Reason: v.Reason}
	case eventdesk.TagsChanged:
		data = TagsChangedData{TicketData: td, Added: nonNil(v.Added), Removed: nonNil(v.Removed)}
	case eventdesk.TicketAssigned:
		data = AssignedData{TicketData: td, Assignee: v.Assignee, Previous: optional(v.Previous)}
	case eventdesk.TicketUnassigned:
		data = UnassignedData{TicketData: td, Previous: v.Previous}
	case eventdesk.StatusChanged:
		data = StatusChangedData{TicketData: td, From: v.From, To: v.To}
	case eventdesk.TicketCommented:
		if v.Internal {
			return m, false, nil
		}
		data = CommentedData{TicketData: td, CommentID: v.CommentID, Author: v.Author, Body: v.Body}
	default:
		return m, false, nil
	}
	return Message{
		SpecVersion: "1.0", ID: e.ID, Source: Source, Type: e.Type, Subject: id,
		Time: e.RecordedAt.UTC().Format(time.RFC3339Nano), DataContentType: "application/json",
		DataSchema: PayloadVersion, Data: data,
	}, true, nil
}

// EncodeMessage returns the JSON body of m.
func EncodeMessage(m Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("webhook: encode %s: %w", m.ID, err)
	}
	return b, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
