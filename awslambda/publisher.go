package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/eventdesk/eventdesk"
)

// CloudEvent is the detail of every event the publisher puts on the bus
// (CloudEvents 1.0, structured JSON), with the same attributes as the NATS
// relay's messages minus the position, which DynamoDB does not have:
// consumers order and de-duplicate by (subject, streamversion) or by id.
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"` // "1.0"
	ID              string          `json:"id"`          // the event id
	Source          string          `json:"source"`      // PublisherConfig.Source
	Type            string          `json:"type"`        // e.g. ticket.created
	Subject         string          `json:"subject"`     // the stream, e.g. ticket-<uuid>
	Time            time.Time       `json:"time"`        // RecordedAt
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	// StreamVersion is the event's version in its stream.
	StreamVersion int64 `json:"streamversion"`
	// SchemaVersion is the version of Type's payload layout.
	SchemaVersion int    `json:"schemaversion"`
	Actor         string `json:"actor,omitempty"`
	CorrelationID string `json:"correlationid,omitempty"`
	CausationID   string `json:"causationid,omitempty"`
	TraceParent   string `json:"traceparent,omitempty"`
	// Hash is the event's link in its stream's hash chain.
	Hash string `json:"hash"`
}

// ToCloudEvent maps e onto a CloudEvent from source. The idempotency key
// and request hash stay inside: they are the command side's business.
func ToCloudEvent(e eventdesk.Event, source string) CloudEvent {
	return CloudEvent{
		SpecVersion: "1.0", ID: e.ID, Source: source, Type: e.Type, Subject: e.Stream,
		Time: e.RecordedAt.UTC(), DataContentType: "application/json", Data: e.Data,
		StreamVersion: e.Version, SchemaVersion: e.Schema,
		Actor: e.Metadata.Actor, CorrelationID: e.Metadata.CorrelationID, CausationID: e.Metadata.CausationID,
		TraceParent: e.Metadata.TraceParent, Hash: e.Hash,
	}
}

// StreamEvent is the event Lambda passes for a batch of DynamoDB Stream
// records. Images stay in DynamoDB JSON (aws-lambda-go's own type would
// turn them into values the DynamoDB adapter does not read).
type StreamEvent struct {
	Records []StreamRecord `json:"Records"`
}

// StreamRecord is one record of a StreamEvent.
type StreamRecord struct {
	EventID        string `json:"eventID"`
	EventName      string `json:"eventName"`
	EventSourceARN string `json:"eventSourceARN,omitempty"`
	DynamoDB       struct {
		Keys           json.RawMessage `json:"Keys,omitempty"`
		NewImage       json.RawMessage `json:"NewImage,omitempty"`
		SequenceNumber string          `json:"SequenceNumber"`
	} `json:"dynamodb"`
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// AWS is the SDK configuration of the EventBridge client.
	AWS aws.Config
	// Endpoint overrides EventBridge's endpoint (tests); "" for AWS's.
	Endpoint string
	// Bus is the event bus name or ARN.
	Bus string
	// Source is the CloudEvents source and the EventBridge Source of every
	// entry (default "eventdesk"); the bus's rules match on it.
	Source string
	// Decode turns a NEW_IMAGE into an event; ok is false for items that
	// are not events (package dynamodb's EventFromImage).
	Decode func(image []byte) (e eventdesk.Event, ok bool, err error)
	Logger *slog.Logger
}

// Publisher forwards the events table's stream to EventBridge. Each event
// becomes one entry: Source, DetailType = the event type, Detail = its
// CloudEvent, Time = when it was recorded.
type Publisher struct {
	client *eventbridge.Client
	bus    string
	source string
	decode func([]byte) (eventdesk.Event, bool, error)
	log    *slog.Logger
}

// NewPublisher returns a Publisher.
func NewPublisher(c PublisherConfig) (*Publisher, error) {
	if c.Bus == "" {
		return nil, fmt.Errorf("awslambda: publisher: no event bus")
	}
	if c.Decode == nil {
		return nil, fmt.Errorf("awslambda: publisher: no image decoder")
	}
	if c.Source == "" {
		c.Source = "eventdesk"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	client := eventbridge.NewFromConfig(c.AWS, func(o *eventbridge.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return &Publisher{client: client, bus: c.Bus, source: c.Source, decode: c.Decode, log: c.Logger}, nil
}

// Limits of one PutEvents call.
const (
	maxEntries    = 10
	maxEntryBytes = 256 << 10 // an entry, and the whole request
)

// pending is an entry waiting to be put, with the record it came from.
type pending struct {
	entry ebtypes.PutEventsRequestEntry
	size  int
	seq   string
}

// Handle publishes a batch of stream records in order. Records that are not
// events (stream heads, ids, keys) are skipped. It stops at the first
// record it cannot publish and reports it (partial batch response): Lambda
// retries from that record, so no event is skipped and events of a stream
// stay in order on the way to the bus (the bus itself may reorder; the
// subscribers do not depend on order). A record that can never be
// published (an undecodable image, an event too large for EventBridge) is
// reported likewise and, once the event source mapping's bounded retries
// are spent, lands in its on-failure destination.
func (p *Publisher) Handle(ctx context.Context, ev StreamEvent) (events.DynamoDBEventResponse, error) {
	var batch []pending
	batchBytes := 0
	fail := func(seq string) events.DynamoDBEventResponse {
		return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: seq}}}
	}
	flush := func() string {
		if len(batch) == 0 {
			return ""
		}
		failedSeq := p.put(ctx, batch)
		batch, batchBytes = batch[:0], 0
		return failedSeq
	}
	for _, r := range ev.Records {
		seq := r.DynamoDB.SequenceNumber
		if r.EventName != "INSERT" || len(r.DynamoDB.NewImage) == 0 {
			continue
		}
		e, ok, err := p.decode(r.DynamoDB.NewImage)
		if err != nil {
			p.log.ErrorContext(ctx, "publisher: poison record", "sequence", seq, "eventID", r.EventID, "err", err)
			if s := flush(); s != "" {
				return fail(s), nil
			}
			return fail(seq), nil
		}
		if !ok {
			continue
		}
		detail, err := json.Marshal(ToCloudEvent(e, p.source))
		if err != nil {
			p.log.ErrorContext(ctx, "publisher: encode event", "sequence", seq, "event", e.ID, "err", err)
			if s := flush(); s != "" {
				return fail(s), nil
			}
			return fail(seq), nil
		}
		entry := ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(p.bus),
			Source:       aws.String(p.source),
			DetailType:   aws.String(e.Type),
			Detail:       aws.String(string(detail)),
			Time:         aws.Time(e.RecordedAt),
			Resources:    []string{},
		}
		// EventBridge counts an entry's size as its source, detail type,
		// detail and resources, plus 14 bytes for the time.
		size := len(p.source) + len(e.Type) + len(detail) + 14
		if size > maxEntryBytes {
			p.log.ErrorContext(ctx, "publisher: event too large for EventBridge", "sequence", seq, "event", e.ID, "bytes", size)
			if s := flush(); s != "" {
				return fail(s), nil
			}
			return fail(seq), nil
		}
		if len(batch) == maxEntries || batchBytes+size > maxEntryBytes {
			if s := flush(); s != "" {
				return fail(s), nil
			}
		}
		batch = append(batch, pending{entry: entry, size: size, seq: seq})
		batchBytes += size
	}
	if s := flush(); s != "" {
		return fail(s), nil
	}
	return events.DynamoDBEventResponse{}, nil
}

// put sends one PutEvents call and returns the sequence number of the
// first record not accepted ("" if all were).
func (p *Publisher) put(ctx context.Context, batch []pending) string {
	entries := make([]ebtypes.PutEventsRequestEntry, len(batch))
	for i, b := range batch {
		entries[i] = b.entry
	}
	out, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		p.log.ErrorContext(ctx, "publisher: PutEvents failed", "entries", len(entries), "err", err)
		return batch[0].seq
	}
	if out.FailedEntryCount == 0 {
		return ""
	}
	for i, r := range out.Entries {
		if r.ErrorCode != nil && i < len(batch) {
			p.log.ErrorContext(ctx, "publisher: entry rejected", "sequence", batch[i].seq,
				"code", aws.ToString(r.ErrorCode), "message", aws.ToString(r.ErrorMessage))
			return batch[i].seq
		}
	}
	// FailedEntryCount without a failed entry: retry the whole batch.
	return batch[0].seq
}
