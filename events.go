package eventdesk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Event types. They are past-tense facts and never change meaning; a new
// payload layout gets a new schema number and an upcaster.
const (
	TypeTicketCreated      = "ticket.created"
	TypeTitleChanged       = "ticket.title_changed"
	TypeDescriptionChanged = "ticket.description_changed"
	TypePriorityChanged    = "ticket.priority_changed"
	TypeTagsChanged        = "ticket.tags_changed"
	TypeTicketAssigned     = "ticket.assigned"
	TypeTicketUnassigned   = "ticket.unassigned"
	TypeStatusChanged      = "ticket.status_changed"
	TypeTicketCommented    = "ticket.commented"
	TypeSentimentScored    = "ticket.sentiment_scored"
)

// Payload is the typed body of a domain event.
type Payload interface {
	// EventType returns the event type this payload is written as.
	EventType() string
}

// TicketCreated opens a ticket (schema 2; schema 1 called Description
// "text").
type TicketCreated struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Priority    Priority `json:"priority"`
	Requester   string   `json:"requester"`
	Tags        []string `json:"tags"`
	Assignee    string   `json:"assignee,omitempty"`
}

// TitleChanged records a new title.
type TitleChanged struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// DescriptionChanged records a new description (the old one is in the
// stream's earlier events).
type DescriptionChanged struct {
	Description string `json:"description"`
}

// PriorityChanged records a new priority.
type PriorityChanged struct {
	From Priority `json:"from"`
	To   Priority `json:"to"`
	// Reason explains automated changes, e.g. "negative sentiment".
	Reason string `json:"reason,omitempty"`
}

// TagsChanged records tags added and removed.
type TagsChanged struct {
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// TicketAssigned records a new assignee.
type TicketAssigned struct {
	Assignee string `json:"assignee"`
	Previous string `json:"previous,omitempty"`
}

// TicketUnassigned records that nobody is assigned any more.
type TicketUnassigned struct {
	Previous string `json:"previous"`
}

// StatusChanged records a status transition.
type StatusChanged struct {
	From Status `json:"from"`
	To   Status `json:"to"`
}

// TicketCommented records a comment or internal note.
type TicketCommented struct {
	CommentID string `json:"commentId"`
	Author    string `json:"author"`
	Body      string `json:"body"`
	Internal  bool   `json:"internal"`
}

// SentimentScored records the tone of the text of another event (its
// causation id in metadata names it too).
type SentimentScored struct {
	SourceEventID string  `json:"sourceEventId"`
	Score         float64 `json:"score"`
	Label         string  `json:"label"`
}

// EventType implements Payload.
func (TicketCreated) EventType() string { return TypeTicketCreated }

// EventType implements Payload.
func (TitleChanged) EventType() string { return TypeTitleChanged }

// EventType implements Payload.
func (DescriptionChanged) EventType() string { return TypeDescriptionChanged }

// EventType implements Payload.
func (PriorityChanged) EventType() string { return TypePriorityChanged }

// EventType implements Payload.
func (TagsChanged) EventType() string { return TypeTagsChanged }

// EventType implements Payload.
func (TicketAssigned) EventType() string { return TypeTicketAssigned }

// EventType implements Payload.
func (TicketUnassigned) EventType() string { return TypeTicketUnassigned }

// EventType implements Payload.
func (StatusChanged) EventType() string { return TypeStatusChanged }

// EventType implements Payload.
func (TicketCommented) EventType() string { return TypeTicketCommented }

// EventType implements Payload.
func (SentimentScored) EventType() string { return TypeSentimentScored }

// eventCodec describes one event type: its current schema, a constructor
// for its payload, and upcasters from each older schema to the next.
type eventCodec struct {
	schema    int
	new       func() Payload
	upcasters map[int]func(json.RawMessage) (json.RawMessage, error)
}

// codecs is the one registry of event types.
var codecs = map[string]eventCodec{
	TypeTicketCreated: {schema: 2, new: func() Payload { return &TicketCreated{} },
		upcasters: map[int]func(json.RawMessage) (json.RawMessage, error){1: upcastCreatedV1}},
	TypeTitleChanged:       {schema: 1, new: func() Payload { return &TitleChanged{} }},
	TypeDescriptionChanged: {schema: 1, new: func() Payload { return &DescriptionChanged{} }},
	TypePriorityChanged:    {schema: 1, new: func() Payload { return &PriorityChanged{} }},
	TypeTagsChanged:        {schema: 1, new: func() Payload { return &TagsChanged{} }},
	TypeTicketAssigned:     {schema: 1, new: func() Payload { return &TicketAssigned{} }},
	TypeTicketUnassigned:   {schema: 1, new: func() Payload { return &TicketUnassigned{} }},
	TypeStatusChanged:      {schema: 1, new: func() Payload { return &StatusChanged{} }},
	TypeTicketCommented:    {schema: 1, new: func() Payload { return &TicketCommented{} }},
	TypeSentimentScored:    {schema: 1, new: func() Payload { return &SentimentScored{} }},
}

// upcastCreatedV1 renames schema 1's "text" (the original system's field)
// to "description", leaving every other field as it was.
func upcastCreatedV1(data json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("payload is null")
	}
	if text, ok := m["text"]; ok {
		if _, has := m["description"]; !has {
			m["description"] = text
		}
		delete(m, "text")
	}
	return json.Marshal(m)
}

// EventTypes returns every known event type.
func EventTypes() []string {
	out := make([]string, 0, len(codecs))
	for t := range codecs {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// CurrentSchema returns the schema number new events of type t are written
// with, or 0 for an unknown type.
func CurrentSchema(t string) int { return codecs[t].schema }

// Encode turns a payload into the parts of an EventData: type, current
// schema and JSON.
func Encode(p Payload) (typ string, schema int, data json.RawMessage, err error) {
	if p == nil {
		return "", 0, nil, Errorf(EInternal, "encode: no payload")
	}
	c, ok := codecs[p.EventType()]
	if !ok {
		return "", 0, nil, Errorf(EInternal, "unknown event type %q", p.EventType())
	}
	if data, err = json.Marshal(p); err != nil {
		return "", 0, nil, fmt.Errorf("eventdesk: encode %s: %w", p.EventType(), err)
	}
	return p.EventType(), c.schema, data, nil
}

// Upcast returns data raised from schema to the current schema of typ.
func Upcast(typ string, schema int, data json.RawMessage) (json.RawMessage, error) {
	c, ok := codecs[typ]
	if !ok {
		return nil, Errorf(EInvalid, "unknown event type %q", typ)
	}
	if schema < 1 || schema > c.schema {
		return nil, Errorf(EInvalid, "event type %q has no schema %d (current is %d)", typ, schema, c.schema)
	}
	for s := schema; s < c.schema; s++ {
		up, ok := c.upcasters[s]
		if !ok {
			return nil, Errorf(EInternal, "no upcaster for %s schema %d", typ, s)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, Errorf(EInvalid, "upcast %s schema %d: %v", typ, s, err)
		}
	}
	return data, nil
}

// Decode returns the typed payload of e, upcast to the current schema. It
// rejects unknown types, unknown schemas and malformed JSON.
func Decode(e Event) (Payload, error) {
	data, err := Upcast(e.Type, e.Schema, e.Data)
	if err != nil {
		return nil, err
	}
	// A payload is a JSON object; "null" would decode silently into a zero
	// payload and fold into a ticket nobody created.
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, Errorf(EInvalid, "decode %s event %s: payload is not a JSON object", e.Type, e.ID)
	}
	p := codecs[e.Type].new()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, Errorf(EInvalid, "decode %s event %s: %v", e.Type, e.ID, err)
	}
	return derefPayload(p), nil
}

// derefPayload turns the pointer used for decoding back into the value
// type, so that callers switch on value types only.
func derefPayload(p Payload) Payload {
	switch v := p.(type) {
	case *TicketCreated:
		return *v
	case *TitleChanged:
		return *v
	case *DescriptionChanged:
		return *v
	case *PriorityChanged:
		return *v
	case *TagsChanged:
		return *v
	case *TicketAssigned:
		return *v
	case *TicketUnassigned:
		return *v
	case *StatusChanged:
		return *v
	case *TicketCommented:
		return *v
	case *SentimentScored:
		return *v
	}
	return p
}
