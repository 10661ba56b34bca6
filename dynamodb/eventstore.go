package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
)

// The events table holds three kinds of item, told apart by attrKind:
//
//   - an event: (stream, version ≥ 1) with the envelope's fields;
//   - a stream's head: (stream, 0) with the stream's version and last hash.
//     Every append rewrites it under a condition on the version it read, so
//     it is the anchor of optimistic concurrency and of the hash chain;
//   - an idempotency key: (IdempotencyPrefix+key, 0), describing the append
//     that used the key, with a TTL;
//   - an event id: (EventIDPrefix+id, 0), which makes event ids unique
//     across the store (DynamoDB has no unique index but the key).
//
// An append writes its events, their ids, the head and the key in one
// TransactWriteItems, so all of them commit or none does.
const (
	attrStream  = "stream"  // partition key (S)
	attrVersion = "version" // sort key (N)
	attrKind    = "kind"    // kindEvent, kindHead or kindIdempotency
	attrID      = "id"
	attrType    = "type"
	attrSchema  = "schema"
	attrData    = "data" // the payload's JSON text, byte for byte as appended
	attrMeta    = "meta" // Metadata as JSON text
	attrAt      = "at"   // RecordedAt, RFC 3339 with microseconds, UTC
	attrHash    = "hash"
	attrHead    = "head"  // head: the stream's version
	attrFor     = "for"   // idempotency: the stream appended to
	attrFirst   = "first" // idempotency: the first event's id
	attrReq     = "req"   // idempotency: Metadata.RequestHash
	attrTTL     = "ttl"   // idempotency: expiry, Unix seconds (the table's TTL attribute)

	kindEvent       = "event"
	kindHead        = "head"
	kindIdempotency = "idempotency"
	kindEventID     = "eventid"
)

// Prefixes of the partition keys of idempotency and event-id items.
// Streams whose name starts with "$" followed by either are refused, so
// that no stream can collide with them.
const (
	IdempotencyPrefix = "$idempotency/"
	EventIDPrefix     = "$eventid/"
)

// MaxAppendEvents is the most events one append may carry: TransactWriteItems
// takes at most 100 items, and an append writes two per event (the event
// and its id) plus the stream's head and the idempotency key.
const MaxAppendEvents = 49

// maxKeyBytes keeps idempotency keys well under DynamoDB's 2048-byte limit
// for a partition key.
const maxKeyBytes = 1024

// Size limits, with room for attribute names and the other items: DynamoDB
// refuses items over 400 KB and transactions over 4 MB.
const (
	maxEventBytes  = 380 << 10
	maxAppendBytes = 3800 << 10
)

func metadataBytes(m eventdesk.Metadata) int {
	return len(m.Actor) + len(m.CorrelationID) + len(m.CausationID) + len(m.IdempotencyKey) + len(m.RequestHash) + len(m.TraceParent) + 128
}

// maxAttempts bounds the retries of an append that keeps losing races.
const maxAttempts = 64

// EventStoreOptions tunes an EventStore. The zero value is ready to use.
type EventStoreOptions struct {
	// IdempotencyTTL is how long an idempotency key is remembered
	// (default 24h). DynamoDB deletes expired keys lazily; the store treats
	// them as gone as soon as they expire.
	IdempotencyTTL time.Duration
	// Now is the clock for RecordedAt left zero by the writer and for key
	// expiry (default time.Now).
	Now func() time.Time
}

// EventStore is an eventdesk.EventStore on one DynamoDB table. It has no
// global position (see the package comment).
type EventStore struct {
	client *ddb.Client
	table  string
	ttl    time.Duration
	now    func() time.Time

	locks streamLocks
	heads headCache

	// mu is held (read) by every append and (write) by Close, which thus
	// waits for appends in flight.
	mu     sync.RWMutex
	closed bool
}

var _ eventdesk.EventStore = (*EventStore)(nil)

// EventStore returns the event store on table (created by
// CreateEventsTable or the SAM template).
func (db *DB) EventStore(table string, opts EventStoreOptions) *EventStore {
	if opts.IdempotencyTTL <= 0 {
		opts.IdempotencyTTL = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &EventStore{client: db.client, table: table, ttl: opts.IdempotencyTTL, now: opts.Now,
		locks: streamLocks{m: map[string]*streamLock{}}, heads: headCache{m: map[string]head{}}}
}

// Table returns the name of the events table.
func (s *EventStore) Table() string { return s.table }

// errNoPosition is what the position-based methods return.
func errNoPosition(method string) error {
	return eventdesk.Errorf(eventdesk.ENotImplemented,
		"the DynamoDB event store has no global position: %s is not available (subscribers follow the table's stream)", method)
}

// ReadAll implements eventdesk.EventStore: DynamoDB has no global order, so
// it always returns an ENotImplemented error.
func (s *EventStore) ReadAll(ctx context.Context, after int64, limit int) ([]eventdesk.Event, error) {
	return nil, errNoPosition("ReadAll")
}

// Subscribe implements eventdesk.EventStore: it yields one ENotImplemented
// error.
func (s *EventStore) Subscribe(ctx context.Context, after int64) iter.Seq2[eventdesk.Event, error] {
	return func(yield func(eventdesk.Event, error) bool) { yield(eventdesk.Event{}, errNoPosition("Subscribe")) }
}

// Head implements eventdesk.EventStore: it returns an ENotImplemented error.
func (s *EventStore) Head(ctx context.Context) (int64, error) { return 0, errNoPosition("Head") }

// Close waits for appends in flight; later appends fail.
func (s *EventStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// head is what the stream's head item says.
type head struct {
	exists  bool
	version int64
	hash    string
}

// dupe is what an idempotency item says.
type dupe struct {
	stream, first, requestHash string
	version                    int64
}

// Append implements eventdesk.EventStore.
//
// Appends to one stream from this process take turns (a per-stream lock)
// and start from the head this process wrote last, so that they do not
// race each other; appends from other processes are caught by the
// conditions on the head, after which the head is read again.
func (s *EventStore) Append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events ...eventdesk.EventData) (eventdesk.AppendResult, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventdesk.AppendResult{}, eventdesk.Errorf(eventdesk.EUnavailable, "dynamodb: append %s: store is closed", stream)
	}
	if err := s.checkAppend(stream, expected, events); err != nil {
		return eventdesk.AppendResult{}, fmt.Errorf("dynamodb: append %s: %w", stream, err)
	}
	unlock, err := s.locks.lock(ctx, stream)
	if err != nil {
		return eventdesk.AppendResult{}, fmt.Errorf("dynamodb: append %s: %w", stream, err)
	}
	defer unlock()
	res, err := s.append(ctx, stream, expected, events)
	if err != nil {
		var wrong *eventdesk.WrongExpectedVersionError
		var dup *eventdesk.DuplicateAppendError
		if !errors.As(err, &wrong) && !errors.As(err, &dup) && eventdesk.ErrorCode(err) == eventdesk.EInternal {
			err = fmt.Errorf("dynamodb: append %s: %w", stream, err)
		}
	}
	return res, err
}

func (s *EventStore) append(ctx context.Context, stream string, expected eventdesk.ExpectedVersion, events []eventdesk.EventData) (eventdesk.AppendResult, error) {
	now := s.now()
	key := ""
	if len(events) > 0 {
		key = events[0].Metadata.IdempotencyKey
	}
	// duplicate returns the error for an idempotency key already used, or
	// nil if it is free.
	duplicate := func() error {
		if key == "" {
			return nil
		}
		d, found, err := s.readKey(ctx, key, now)
		if err != nil {
			return err
		}
		if !found {
			return nil
		}
		return &eventdesk.DuplicateAppendError{
			Key: key, Stream: d.stream, FirstEventID: d.first,
			Result: eventdesk.AppendResult{Version: d.version}, RequestHash: d.requestHash,
		}
	}
	for attempt := 1; ; attempt++ {
		h, cached := s.heads.get(stream)
		if !cached || len(events) == 0 {
			var err error
			if h, err = s.readHead(ctx, stream); err != nil {
				return eventdesk.AppendResult{}, err
			}
		}
		if !expected.Matches(h.version) {
			if cached {
				// Another process may have appended since: look again.
				s.heads.drop(stream)
				continue
			}
			if err := duplicate(); err != nil {
				return eventdesk.AppendResult{}, err
			}
			return eventdesk.AppendResult{}, &eventdesk.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: h.version}
		}
		if len(events) == 0 {
			return eventdesk.AppendResult{Version: h.version}, nil
		}
		items, next := s.transaction(stream, h, events, now)
		_, err := s.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			s.heads.put(stream, next)
			return eventdesk.AppendResult{Version: next.version}, nil
		}
		s.heads.drop(stream)
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return eventdesk.AppendResult{}, err
		}
		// The items are: event and event id for each event, then the head,
		// then the idempotency key. A failed condition on the key means
		// the key was used; on the head, that another append won the race:
		// the next round reads the head again and reports the mismatch or
		// (for AnyVersion) appends after it. A failed condition on an event
		// id means the id is taken. A TransactionConflict means another
		// transaction was in flight on one of the items: back off, retry.
		reasons := canceled.CancellationReasons
		failed := func(i int) bool {
			return i < len(reasons) && aws.ToString(reasons[i].Code) == "ConditionalCheckFailed"
		}
		headAt := 2 * len(events)
		if failed(headAt + 1) {
			if err := duplicate(); err != nil {
				return eventdesk.AppendResult{}, err
			}
		}
		if !failed(headAt) {
			for i := range events {
				if failed(2*i) || failed(2*i+1) {
					return eventdesk.AppendResult{}, eventdesk.Errorf(eventdesk.EConflict,
						"dynamodb: append %s: event id %q is already in the store", stream, events[i].ID)
				}
			}
		}
		if !retryable(canceled) {
			return eventdesk.AppendResult{}, err
		}
		if attempt >= maxAttempts {
			return eventdesk.AppendResult{}, eventdesk.Errorf(eventdesk.EUnavailable,
				"dynamodb: append %s: gave up after %d attempts under contention: %v", stream, attempt, err)
		}
		if contended(canceled) {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return eventdesk.AppendResult{}, err
			}
		}
	}
}

// checkAppend rejects appends that are malformed (the checks every adapter
// makes) or that DynamoDB cannot take, before anything is read.
func (s *EventStore) checkAppend(stream string, expected eventdesk.ExpectedVersion, events []eventdesk.EventData) error {
	if err := eventdesk.ValidateAppend(stream, expected, events); err != nil {
		return err
	}
	if reserved(stream) {
		return eventdesk.FieldError("stream", fmt.Sprintf("must not start with %q or %q (reserved by the DynamoDB store)", IdempotencyPrefix, EventIDPrefix))
	}
	if len(events) > 0 && len(IdempotencyPrefix)+len(events[0].Metadata.IdempotencyKey) > maxKeyBytes {
		return eventdesk.FieldError("idempotencyKey", fmt.Sprintf("must be at most %d bytes", maxKeyBytes-len(IdempotencyPrefix)))
	}
	total := 0
	for i, e := range events {
		n := len(e.Data) + len(e.Type) + len(e.ID) + len(stream) + metadataBytes(e.Metadata)
		if n > maxEventBytes {
			return eventdesk.Errorf(eventdesk.ETooLarge,
				"event %d is %d bytes; a DynamoDB item holds at most 400 KB (events up to %d bytes are stored)", i, n, maxEventBytes)
		}
		total += n
	}
	if total > maxAppendBytes {
		return eventdesk.Errorf(eventdesk.ETooLarge,
			"the append is %d bytes; a DynamoDB transaction holds at most 4 MB (appends up to %d bytes are stored)", total, maxAppendBytes)
	}
	if len(events) > MaxAppendEvents {
		return eventdesk.Errorf(eventdesk.ETooLarge,
			"an append to DynamoDB may carry at most %d events (one TransactWriteItems of at most 100 items: each event and its id, the stream head and the idempotency key); got %d",
			MaxAppendEvents, len(events))
	}
	return nil
}

func reserved(stream string) bool {
	return strings.HasPrefix(stream, IdempotencyPrefix) || strings.HasPrefix(stream, EventIDPrefix)
}

// transaction builds the items of an append after head h, and returns them
// with the stream's new head.
func (s *EventStore) transaction(stream string, h head, events []eventdesk.EventData, now time.Time) ([]types.TransactWriteItem, head) {
	items := make([]types.TransactWriteItem, 0, 2*len(events)+2)
	prev, version := h.hash, h.version
	var firstID string
	for _, d := range events {
		version++
		at := d.RecordedAt
		if at.IsZero() {
			at = now
		}
		e := eventdesk.Event{
			ID: d.ID, Stream: stream, Version: version, Type: d.Type, Schema: d.Schema,
			Data: d.Data, Metadata: d.Metadata, RecordedAt: eventdesk.NormalizeTime(at),
		}
		e.Hash = eventdesk.ChainHash(prev, e)
		prev = e.Hash
		if firstID == "" {
			firstID = e.ID
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName:                aws.String(s.table),
			Item:                     eventItem(e),
			ConditionExpression:      aws.String("attribute_not_exists(#s)"),
			ExpressionAttributeNames: map[string]string{"#s": attrStream},
		}}, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				attrStream:  str(EventIDPrefix + e.ID),
				attrVersion: num(0),
				attrKind:    str(kindEventID),
				attrFor:     str(stream),
				attrHead:    num(version),
			},
			ConditionExpression:      aws.String("attribute_not_exists(#s)"),
			ExpressionAttributeNames: map[string]string{"#s": attrStream},
		}})
	}
	headPut := &types.Put{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrStream:  str(stream),
			attrVersion: num(0),
			attrKind:    str(kindHead),
			attrHead:    num(version),
			attrHash:    str(prev),
		},
		ExpressionAttributeNames: map[string]string{"#s": attrStream},
	}
	if h.exists {
		headPut.ConditionExpression = aws.String("#h = :h")
		headPut.ExpressionAttributeNames["#h"] = attrHead
		headPut.ExpressionAttributeValues = map[string]types.AttributeValue{":h": num(h.version)}
		delete(headPut.ExpressionAttributeNames, "#s")
	} else {
		headPut.ConditionExpression = aws.String("attribute_not_exists(#s)")
	}
	items = append(items, types.TransactWriteItem{Put: headPut})
	if key := events[0].Metadata.IdempotencyKey; key != "" {
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				attrStream:  str(IdempotencyPrefix + key),
				attrVersion: num(0),
				attrKind:    str(kindIdempotency),
				attrFor:     str(stream),
				attrFirst:   str(firstID),
				attrHead:    num(version),
				attrReq:     str(events[0].Metadata.RequestHash),
				attrTTL:     num(now.Add(s.ttl).Unix()),
			},
			// An expired key that DynamoDB has not deleted yet may be
			// reused.
			ConditionExpression:       aws.String("attribute_not_exists(#s) OR #t < :now"),
			ExpressionAttributeNames:  map[string]string{"#s": attrStream, "#t": attrTTL},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
		}})
	}
	return items, head{exists: true, version: version, hash: prev}
}

// readHead reads a stream's head item (strongly consistent).
func (s *EventStore) readHead(ctx context.Context, stream string) (head, error) {
	out, err := s.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{attrStream: str(stream), attrVersion: num(0)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return head{}, fmt.Errorf("read head: %w", err)
	}
	if out.Item == nil {
		return head{}, nil
	}
	v, err := getNum(out.Item, attrHead)
	if err != nil {
		return head{}, fmt.Errorf("head of %s: %w", stream, err)
	}
	return head{exists: true, version: v, hash: getStr(out.Item, attrHash)}, nil
}

// readKey reads an idempotency key's item; an expired one counts as absent.
func (s *EventStore) readKey(ctx context.Context, key string, now time.Time) (dupe, bool, error) {
	out, err := s.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{attrStream: str(IdempotencyPrefix + key), attrVersion: num(0)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return dupe{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if out.Item == nil {
		return dupe{}, false, nil
	}
	if exp, err := getNum(out.Item, attrTTL); err == nil && exp < now.Unix() {
		return dupe{}, false, nil
	}
	v, err := getNum(out.Item, attrHead)
	if err != nil {
		return dupe{}, false, fmt.Errorf("idempotency key %q: %w", key, err)
	}
	return dupe{stream: getStr(out.Item, attrFor), first: getStr(out.Item, attrFirst), requestHash: getStr(out.Item, attrReq), version: v}, true, nil
}

// ReadStream implements eventdesk.EventStore with strongly consistent
// reads, so that a command handler sees every event appended before.
func (s *EventStore) ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, eventdesk.Errorf(eventdesk.EUnavailable, "dynamodb: read %s: store is closed", stream)
	}
	if stream == "" || reserved(stream) || len(stream) > eventdesk.MaxStreamLen {
		return nil, nil
	}
	from := max(fromVersion, 1)
	in := &ddb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#s = :s AND #v >= :v"),
		ExpressionAttributeNames:  map[string]string{"#s": attrStream, "#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": str(stream), ":v": num(from)},
		ConsistentRead:            aws.Bool(true),
	}
	var out []eventdesk.Event
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(min(limit-len(out), 1000)))
		}
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("dynamodb: read %s: %w", stream, err)
		}
		for _, item := range page.Items {
			e, err := itemEvent(item)
			if err != nil {
				return nil, fmt.Errorf("dynamodb: read %s: %w", stream, err)
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) == 0 || limit > 0 && len(out) >= limit {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// eventItem is the item of a stored event.
func eventItem(e eventdesk.Event) map[string]types.AttributeValue {
	meta, _ := json.Marshal(e.Metadata)
	item := map[string]types.AttributeValue{
		attrStream:  str(e.Stream),
		attrVersion: num(e.Version),
		attrKind:    str(kindEvent),
		attrID:      str(e.ID),
		attrType:    str(e.Type),
		attrSchema:  num(int64(e.Schema)),
		attrMeta:    str(string(meta)),
		attrAt:      str(e.RecordedAt.Format(timeLayout)),
		attrHash:    str(e.Hash),
	}
	if e.Data != nil {
		item[attrData] = str(string(e.Data))
	}
	return item
}

// timeLayout keeps trailing zeros so that stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// itemEvent decodes an event item.
func itemEvent(item map[string]types.AttributeValue) (eventdesk.Event, error) {
	e := eventdesk.Event{
		Stream: getStr(item, attrStream), ID: getStr(item, attrID), Type: getStr(item, attrType),
		Hash: getStr(item, attrHash),
	}
	if k := getStr(item, attrKind); k != kindEvent {
		return e, fmt.Errorf("item (%s, %v) is a %q item, not an event", e.Stream, item[attrVersion], k)
	}
	var err error
	if e.Version, err = getNum(item, attrVersion); err != nil {
		return e, fmt.Errorf("event %s: %w", e.ID, err)
	}
	schema, err := getNum(item, attrSchema)
	if err != nil {
		return e, fmt.Errorf("event %s: %w", e.ID, err)
	}
	e.Schema = int(schema)
	if v, ok := item[attrData].(*types.AttributeValueMemberS); ok {
		e.Data = json.RawMessage(v.Value)
	}
	if err := json.Unmarshal([]byte(getStr(item, attrMeta)), &e.Metadata); err != nil {
		return e, fmt.Errorf("event %s: metadata: %w", e.ID, err)
	}
	if e.RecordedAt, err = time.Parse(time.RFC3339Nano, getStr(item, attrAt)); err != nil {
		return e, fmt.Errorf("event %s: recorded at: %w", e.ID, err)
	}
	e.RecordedAt = e.RecordedAt.UTC()
	return e, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func getStr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getNum(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s is missing or not a number", name)
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

// retryable reports whether a cancelled transaction may succeed if tried
// again: every item either passed or failed a condition (which the next
// round reads again) or met contention. Anything else (a validation error,
// an item too large) would fail the same way again.
func retryable(e *types.TransactionCanceledException) bool {
	for _, r := range e.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "", "None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
		default:
			return false
		}
	}
	return true
}

// contended reports whether a transaction lost to contention or throttling
// (rather than to a condition), which calls for a pause before retrying.
func contended(e *types.TransactionCanceledException) bool {
	return hasReason(e, "TransactionConflict") || hasReason(e, "ThrottlingError") ||
		hasReason(e, "ProvisionedThroughputExceeded") || hasReason(e, "RequestLimitExceeded")
}

func hasReason(e *types.TransactionCanceledException, code string) bool {
	for _, r := range e.CancellationReasons {
		if aws.ToString(r.Code) == code {
			return true
		}
	}
	return false
}

// backoff returns a jittered delay that grows with the attempt, capped.
func backoff(attempt int) time.Duration {
	d := time.Duration(min(attempt, 10)) * 10 * time.Millisecond
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// streamLocks makes appends to one stream from this process take turns.
type streamLocks struct {
	mu sync.Mutex
	m  map[string]*streamLock
}

type streamLock struct {
	ch   chan struct{} // holds a token while the lock is taken
	refs int
}

// lock waits for the stream's lock (or ctx) and returns its release.
func (l *streamLocks) lock(ctx context.Context, stream string) (func(), error) {
	l.mu.Lock()
	sl := l.m[stream]
	if sl == nil {
		sl = &streamLock{ch: make(chan struct{}, 1)}
		l.m[stream] = sl
	}
	sl.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if sl.refs--; sl.refs == 0 {
			delete(l.m, stream)
		}
		l.mu.Unlock()
	}
	select {
	case sl.ch <- struct{}{}:
		return func() { <-sl.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// maxCachedHeads bounds the head cache; past it, entries are evicted at
// random (a miss costs one GetItem).
const maxCachedHeads = 4096

// headCache remembers the head this process last wrote for each stream, so
// that the next append to it needs no read.
type headCache struct {
	mu sync.Mutex
	m  map[string]head
}

func (c *headCache) get(stream string) (head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.m[stream]
	return h, ok
}

func (c *headCache) put(stream string, h head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedHeads {
		for k := range c.m {
			delete(c.m, k)
			if len(c.m) < maxCachedHeads*3/4 {
				break
			}
		}
	}
	c.m[stream] = h
}

func (c *headCache) drop(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, stream)
}
