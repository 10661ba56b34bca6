package eventdesk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"iter"
	"strconv"
	"time"
)

// Event is a stored, immutable fact. Adapters fill Version, Position,
// RecordedAt (when the writer left it zero) and Hash on append.
type Event struct {
	// ID is a UUIDv7, unique across the store.
	ID string `json:"id"`
	// Stream names the aggregate, e.g. "ticket-<uuid>".
	Stream string `json:"stream"`
	// Version is 1-based and gap-free within the stream.
	Version int64 `json:"version"`
	// Position is store-wide, strictly increasing and gap-free in commit
	// order. It is 0 in stores without a global order (DynamoDB).
	Position int64 `json:"position"`
	// Type is the past-tense event type, e.g. "ticket.created".
	Type string `json:"type"`
	// Schema is the version of Type's payload layout, starting at 1.
	Schema int `json:"schema"`
	// Data is the payload as written; upcasting happens on decode, never
	// in storage.
	Data     json.RawMessage `json:"data"`
	Metadata Metadata        `json:"metadata"`
	// RecordedAt is when the event happened, as the command side saw it.
	RecordedAt time.Time `json:"recordedAt"`
	// Hash is hex(sha256(previous hash in stream ‖ canonical bytes)); see
	// ChainHash.
	Hash string `json:"hash"`
}

// Metadata travels with an event but is not part of the domain fact.
type Metadata struct {
	// Actor is the user (or policy, prefixed "policy:") that caused the event.
	Actor         string `json:"actor,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	// IdempotencyKey, on the first event of an append, makes the append
	// happen at most once: see EventStore.Append.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// RequestHash fingerprints the request that caused the append, so that
	// a retry with the same idempotency key but another body is told apart.
	RequestHash string `json:"requestHash,omitempty"`
	TraceParent string `json:"traceparent,omitempty"`
}

// EventData is an event proposed for append: the store assigns version,
// position and hash.
type EventData struct {
	ID       string
	Type     string
	Schema   int
	Data     json.RawMessage
	Metadata Metadata
	// RecordedAt is set by the command side (from its clock, or a simulated
	// one when loading history); a zero value means "the store's now".
	RecordedAt time.Time
}

// ExpectedVersion states what the writer believes a stream's version to be.
// Values ≥ 1 are exact versions.
type ExpectedVersion int64

const (
	// AnyVersion appends whatever the stream's version.
	AnyVersion ExpectedVersion = -1
	// NoStream requires that the stream has no events yet.
	NoStream ExpectedVersion = 0
	// StreamExists requires that the stream has at least one event.
	StreamExists ExpectedVersion = -2
)

// ExactVersion requires the stream to be at version v (0 means NoStream).
func ExactVersion(v int64) ExpectedVersion { return ExpectedVersion(v) }

// String implements fmt.Stringer.
func (e ExpectedVersion) String() string {
	switch e {
	case AnyVersion:
		return "any"
	case NoStream:
		return "no stream"
	case StreamExists:
		return "stream exists"
	}
	return strconv.FormatInt(int64(e), 10)
}

// Matches reports whether a stream at version actual satisfies e.
func (e ExpectedVersion) Matches(actual int64) bool {
	switch {
	case e == AnyVersion:
		return true
	case e == StreamExists:
		return actual > 0
	case e < 0:
		return false
	}
	return int64(e) == actual
}

// AppendResult tells what an append wrote.
type AppendResult struct {
	// Version is the stream's version after the append.
	Version int64
	// Position is the store-wide position of the last event written (0 in
	// stores without a global order).
	Position int64
}

// EventStore is the system of record. Every adapter passes storetest.
type EventStore interface {
	// Append writes events atomically at the end of stream if expected
	// matches, and returns only once they are durable. On mismatch it
	// returns a *WrongExpectedVersionError and writes nothing. An append of
	// no events checks the expectation only.
	//
	// If the first event carries a Metadata.IdempotencyKey that an earlier
	// append already carried, Append writes nothing and returns a
	// *DuplicateAppendError describing the earlier append; the key is
	// recorded in the same transaction as the events.
	//
	// RecordedAt is stored with microsecond precision (zero: the store's
	// clock), in UTC, so that every adapter keeps the same bytes for the
	// hash chain.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream returns up to limit events of stream with version ≥
	// fromVersion, in version order (limit ≤ 0: all). A missing stream
	// yields no events and no error.
	ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]Event, error)
	// ReadAll returns up to limit events with position > after, in
	// position order. Stores without a global order return ENotImplemented.
	ReadAll(ctx context.Context, after int64, limit int) ([]Event, error)
	// Subscribe yields every event with position > after, first those
	// already stored, then new ones as they commit, until ctx ends (then it
	// yields ctx's error once) or a read fails.
	Subscribe(ctx context.Context, after int64) iter.Seq2[Event, error]
	// Head returns the position of the last committed event (0 if none).
	Head(ctx context.Context) (int64, error)
	// Close waits for in-flight appends and releases the store.
	Close() error
}

// canonicalEvent fixes the bytes that the hash chain covers. Position is
// left out on purpose so that a store can be migrated to one that numbers
// events differently (or not at all) without breaking chains.
type canonicalEvent struct {
	ID         string          `json:"id"`
	Stream     string          `json:"stream"`
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	Schema     int             `json:"schema"`
	Data       json.RawMessage `json:"data"`
	Metadata   Metadata        `json:"metadata"`
	RecordedAt string          `json:"recordedAt"`
	// RawData holds Data (as base64) when it is not valid JSON, which
	// json.Marshal would refuse; valid events never carry it, so their bytes
	// are unchanged.
	RawData []byte `json:"rawData,omitempty"`
}

// ChainHash returns the hash of e chained to prev, the hash of the previous
// event in the same stream ("" for the first).
func ChainHash(prev string, e Event) string {
	c := canonicalEvent{
		ID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type, Schema: e.Schema,
		Metadata: e.Metadata, RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano),
	}
	if len(e.Data) > 0 {
		var data bytes.Buffer
		if err := json.Compact(&data, e.Data); err == nil {
			c.Data = data.Bytes()
		} else {
			// Without this json.Marshal would fail and every such event
			// would hash to sha256(prev), whatever its content.
			c.RawData = e.Data
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic("eventdesk: ChainHash: " + err.Error()) // unreachable: every field marshals
	}
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// NormalizeTime is how every adapter stores RecordedAt: UTC, microseconds.
func NormalizeTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
