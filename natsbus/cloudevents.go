package natsbus

import (
	"encoding/json"
	"time"

	"github.com/eventdesk/eventdesk"
)

// CloudEvent is the JSON body of every message (CloudEvents 1.0, structured
// mode). The event's fields map one to one; the extension attributes carry
// what CloudEvents has no name for.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`     // "1.0"
	ID              string          `json:"id"`              // the event id (also Nats-Msg-Id)
	Source          string          `json:"source"`          // Options.Source
	Type            string          `json:"type"`            // e.g. ticket.created
	Subject         string          `json:"subject"`         // the stream, e.g. ticket-<uuid>
	Time            time.Time       `json:"time"`            // RecordedAt
	DataContentType string          `json:"datacontenttype"` // application/json
	Data            json.RawMessage `json:"data"`

	// Position is the event's store-wide position: consumers order and
	// de-duplicate by it (delivery is at least once).
	Position int64 `json:"position"`
	// StreamVersion is the event's version in its stream.
	StreamVersion int64 `json:"streamversion"`
	// SchemaVersion is the version of Type's payload layout.
	SchemaVersion int    `json:"schemaversion"`
	Actor         string `json:"actor,omitempty"`
	CorrelationID string `json:"correlationid,omitempty"`
	CausationID   string `json:"causationid,omitempty"`
	// TraceParent is the W3C trace context (CloudEvents distributed
	// tracing extension).
	TraceParent string `json:"traceparent,omitempty"`
	// Hash is the event's link in its stream's hash chain.
	Hash string `json:"hash"`
}

// ToCloudEvent maps e onto a CloudEvent from source. The idempotency key and
// request hash stay inside: they are the command side's business.
func ToCloudEvent(e eventdesk.Event, source string) CloudEvent {
	return CloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: source, Type: e.Type, Subject: e.Stream,
		Time: e.RecordedAt.UTC(), DataContentType: "application/json", Data: e.Data,
		Position: e.Position, StreamVersion: e.Version, SchemaVersion: e.Schema,
		Actor: e.Metadata.Actor, CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID,
		TraceParent: e.Metadata.TraceParent, Hash: e.Hash,
	}
}
