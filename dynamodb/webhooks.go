package dynamodb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/webhook"
)

// Webhooks is the webhook outbox (webhook.Store), the users' notification
// preferences (app.PreferenceStore) and the webhook dead letters
// (app.DeadLetterQueue) of the AWS deployment, in the state table:
//
//   - an endpoint:   ("WHEP", <id>) with its registration as JSON (doc),
//     its secrets as JSON, and the attributes that change (disabled…,
//     failSince, failures) apart, so that updates need no read first;
//   - a delivery:    ("WHD#<endpoint>", <seq, 20 digits>): the log, newest
//     first by a reverse Query;
//   - its guard:     ("WHE#<endpoint>", <event id>) with the seq: written
//     under attribute_not_exists with the delivery, which makes Enqueue
//     idempotent, and the lookup Requeue needs;
//   - pending:       ("WHPEND", "<endpoint>#<seq>") with stream, position,
//     version and next attempt, for every pending delivery: Due and
//     NextDue read this one partition (strongly consistent, no index,
//     whose eventual consistency could hand out a ticket's second event
//     before its first);
//   - dead:          ("WHDEAD", <seq>) with the endpoint and event ids, for
//     every dead delivery: the dead letters the API lists and redrives;
//   - the sequence:  ("WHSEQ", "N"), an atomic counter;
//   - preferences:   ("PREF", <user>) with emailOptOut.
//
// Every change of a delivery writes the delivery and its markers in one
// TransactWriteItems. Positions are 0 on DynamoDB (there is none): order
// per stream is by (position, version), i.e. by version.
type Webhooks struct {
	client *ddb.Client
	table  string
	now    func() time.Time
}

var (
	_ webhook.Store       = (*Webhooks)(nil)
	_ app.PreferenceStore = (*Webhooks)(nil)
	_ app.DeadLetterQueue = (*Webhooks)(nil)
)

// Webhooks returns the webhook store in the state table.
func (db *DB) Webhooks(table string) *Webhooks {
	return &Webhooks{client: db.client, table: table, now: time.Now}
}

const (
	pkEndpoint   = "WHEP"
	pkDelivery   = "WHD#"
	pkGuard      = "WHE#"
	pkPending    = "WHPEND"
	pkDead       = "WHDEAD"
	pkSeq        = "WHSEQ"
	pkPreference = "PREF"

	attrSecrets   = "secrets"
	attrDisabled  = "disabled"
	attrDisAt     = "disabledAt"
	attrReason    = "reason"
	attrFailSince = "failSince"
	attrFailures  = "failures"
	attrSeq       = "seq"
	attrEndpoint  = "ep"
	attrEventID   = "eid"
	attrStreamW   = "stream"
	attrPayload   = "payload"
	attrAttempts  = "attempts"
	attrNext      = "next"
	attrDelivered = "delivered"
	attrLastAt    = "lastAt"
	attrLastCode  = "lastCode"
	attrLatency   = "latency"
	attrLastErr   = "lastErr"
	attrOptOut    = "emailOptOut"
)

func seqKey(seq int64) string { return fmt.Sprintf("%020d", seq) }

func micros(t time.Time) types.AttributeValue { return num(t.UnixMicro()) }

func fromMicros(item map[string]types.AttributeValue, name string) time.Time {
	n, err := getNum(item, name)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func optNum(item map[string]types.AttributeValue, name string) int64 {
	n, _ := getNum(item, name)
	return n
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

// endpointDoc is the part of an endpoint that never changes.
type endpointDoc struct {
	URL           string    `json:"url"`
	EventTypes    []string  `json:"eventTypes"`
	Description   string    `json:"description,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	CreatedBy     string    `json:"createdBy"`
	StartPosition int64     `json:"startPosition"`
}

func errEndpointNotFound(id string) error {
	return eventdesk.Errorf(eventdesk.ENotFound, "webhook %s not found", id)
}

func isConditionFailed(err error) bool {
	var failed *types.ConditionalCheckFailedException
	return errors.As(err, &failed)
}

// CreateEndpoint implements webhook.Store.
func (w *Webhooks) CreateEndpoint(ctx context.Context, e webhook.Endpoint) error {
	doc, err := json.Marshal(endpointDoc{e.URL, e.EventTypes, e.Description, e.CreatedAt.UTC(), e.CreatedBy, e.StartPosition})
	if err != nil {
		return fmt.Errorf("dynamodb: create webhook: %w", err)
	}
	secrets, err := json.Marshal(e.Secrets)
	if err != nil {
		return fmt.Errorf("dynamodb: create webhook: %w", err)
	}
	item := key(pkEndpoint, e.ID)
	item[attrDoc] = str(string(doc))
	item[attrSecrets] = str(string(secrets))
	item[attrFailures] = num(int64(e.ConsecutiveFailures))
	if e.Disabled {
		item[attrDisabled] = &types.AttributeValueMemberBOOL{Value: true}
		item[attrDisAt] = micros(e.DisabledAt)
		item[attrReason] = str(e.DisabledReason)
	}
	_, err = w.client.PutItem(ctx, &ddb.PutItemInput{
		TableName: aws.String(w.table), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if isConditionFailed(err) {
		return eventdesk.Errorf(eventdesk.EConflict, "webhook %s exists", e.ID)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: create webhook: %w", err)
	}
	return nil
}

func itemEndpoint(item map[string]types.AttributeValue) (webhook.Endpoint, error) {
	var doc endpointDoc
	if err := json.Unmarshal([]byte(getStr(item, attrDoc)), &doc); err != nil {
		return webhook.Endpoint{}, fmt.Errorf("dynamodb: webhook %s: %w", getStr(item, attrSK), err)
	}
	e := webhook.Endpoint{
		ID: getStr(item, attrSK), URL: doc.URL, EventTypes: doc.EventTypes, Description: doc.Description,
		CreatedAt: doc.CreatedAt.UTC(), CreatedBy: doc.CreatedBy, StartPosition: doc.StartPosition,
		DisabledAt: fromMicros(item, attrDisAt), DisabledReason: getStr(item, attrReason),
		FailingSince: fromMicros(item, attrFailSince), ConsecutiveFailures: int(optNum(item, attrFailures)),
	}
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	if v, ok := item[attrDisabled].(*types.AttributeValueMemberBOOL); ok {
		e.Disabled = v.Value
	}
	if err := json.Unmarshal([]byte(getStr(item, attrSecrets)), &e.Secrets); err != nil {
		return webhook.Endpoint{}, fmt.Errorf("dynamodb: webhook %s secrets: %w", e.ID, err)
	}
	return e, nil
}

// Endpoint implements webhook.Store.
func (w *Webhooks) Endpoint(ctx context.Context, id string) (webhook.Endpoint, error) {
	out, err := w.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(w.table), Key: key(pkEndpoint, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("dynamodb: webhook %s: %w", id, err)
	}
	if out.Item == nil {
		return webhook.Endpoint{}, errEndpointNotFound(id)
	}
	return itemEndpoint(out.Item)
}

// query reads every item of partition pk (whose sort key begins with
// prefix, if any), strongly consistent.
func (w *Webhooks) query(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(w.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :p)")
		in.ExpressionAttributeNames["#sk"] = attrSK
		in.ExpressionAttributeValues[":p"] = str(prefix)
	}
	var items []map[string]types.AttributeValue
	for {
		out, err := w.client.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Endpoints implements webhook.Store.
func (w *Webhooks) Endpoints(ctx context.Context) ([]webhook.Endpoint, error) {
	items, err := w.query(ctx, pkEndpoint, "")
	if err != nil {
		return nil, fmt.Errorf("dynamodb: webhooks: %w", err)
	}
	out := make([]webhook.Endpoint, 0, len(items))
	for _, item := range items {
		e, err := itemEndpoint(item)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b webhook.Endpoint) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// updateEndpoint updates an existing endpoint; ENotFound if there is none.
func (w *Webhooks) updateEndpoint(ctx context.Context, id, expr string, names map[string]string, values map[string]types.AttributeValue) error {
	names["#pk"] = attrPK
	in := &ddb.UpdateItemInput{
		TableName: aws.String(w.table), Key: key(pkEndpoint, id),
		UpdateExpression:         aws.String(expr),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: names,
	}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	_, err := w.client.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		return errEndpointNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: update webhook %s: %w", id, err)
	}
	return nil
}

// SetSecrets implements webhook.Store.
func (w *Webhooks) SetSecrets(ctx context.Context, id string, secrets []webhook.Secret) error {
	b, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("dynamodb: webhook %s secrets: %w", id, err)
	}
	return w.updateEndpoint(ctx, id, "SET #s = :s", map[string]string{"#s": attrSecrets}, map[string]types.AttributeValue{":s": str(string(b))})
}

// SetDisabled implements webhook.Store.
func (w *Webhooks) SetDisabled(ctx context.Context, id string, disabled bool, reason string, at time.Time) error {
	names := map[string]string{"#d": attrDisabled, "#at": attrDisAt, "#r": attrReason}
	if disabled {
		return w.updateEndpoint(ctx, id, "SET #d = :t, #at = :at, #r = :r", names, map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberBOOL{Value: true}, ":at": micros(at), ":r": str(reason),
		})
	}
	names["#fs"], names["#f"] = attrFailSince, attrFailures
	return w.updateEndpoint(ctx, id, "SET #f = :z REMOVE #d, #at, #r, #fs", names, map[string]types.AttributeValue{":z": num(0)})
}

// DeleteEndpoint implements webhook.Store: the endpoint first (so that
// nothing is delivered to it any more), then its deliveries and markers.
// Markers left by an interrupted delete belong to no endpoint: Due and
// NextDue ignore them.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, id string) error {
	_, err := w.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName: aws.String(w.table), Key: key(pkEndpoint, id),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if isConditionFailed(err) {
		return errEndpointNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: delete webhook %s: %w", id, err)
	}
	var keys []map[string]types.AttributeValue
	for _, part := range []struct{ pk, prefix string }{{pkDelivery + id, ""}, {pkGuard + id, ""}, {pkPending, id + "#"}} {
		items, err := w.query(ctx, part.pk, part.prefix)
		if err != nil {
			return fmt.Errorf("dynamodb: delete webhook %s: %w", id, err)
		}
		for _, it := range items {
			keys = append(keys, key(getStr(it, attrPK), getStr(it, attrSK)))
		}
	}
	dead, err := w.query(ctx, pkDead, "")
	if err != nil {
		return fmt.Errorf("dynamodb: delete webhook %s: %w", id, err)
	}
	for _, it := range dead {
		if getStr(it, attrEndpoint) == id {
			keys = append(keys, key(pkDead, getStr(it, attrSK)))
		}
	}
	if err := w.deleteKeys(ctx, keys); err != nil {
		return fmt.Errorf("dynamodb: delete webhook %s: %w", id, err)
	}
	return nil
}

// deleteKeys deletes items, 25 per BatchWriteItem, retrying what DynamoDB
// leaves unprocessed.
func (w *Webhooks) deleteKeys(ctx context.Context, keys []map[string]types.AttributeValue) error {
	for chunk := range slices.Chunk(keys, 25) {
		reqs := make([]types.WriteRequest, len(chunk))
		for i, k := range chunk {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}}
		}
		pending := map[string][]types.WriteRequest{w.table: reqs}
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt > 0 {
				if err := sleep(ctx, backoff(attempt)); err != nil {
					return err
				}
			}
			out, err := w.client.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return err
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}

// Enqueue implements webhook.Store: one transaction per delivery (guard,
// delivery, pending marker), so that one already stored fails only its
// own guard's condition.
func (w *Webhooks) Enqueue(ctx context.Context, ds []webhook.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	out, err := w.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName: aws.String(w.table), Key: key(pkSeq, "N"),
		UpdateExpression:          aws.String("ADD #n :k"),
		ExpressionAttributeNames:  map[string]string{"#n": attrSeq},
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": num(int64(len(ds)))},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return fmt.Errorf("dynamodb: enqueue webhooks: sequence: %w", err)
	}
	last, err := getNum(out.Attributes, attrSeq)
	if err != nil {
		return fmt.Errorf("dynamodb: enqueue webhooks: sequence: %w", err)
	}
	for i, d := range ds {
		d.Seq = last - int64(len(ds)) + 1 + int64(i)
		if err := w.enqueue(ctx, d); err != nil {
			return fmt.Errorf("dynamodb: enqueue webhook %s of %s: %w", d.EventID, d.EndpointID, err)
		}
	}
	return nil
}

func (w *Webhooks) enqueue(ctx context.Context, d webhook.Delivery) error {
	guard := key(pkGuard+d.EndpointID, d.EventID)
	guard[attrSeq] = num(d.Seq)
	item := key(pkDelivery+d.EndpointID, seqKey(d.Seq))
	for k, v := range map[string]types.AttributeValue{
		attrSeq: num(d.Seq), attrEndpoint: str(d.EndpointID), attrEventID: str(d.EventID), attrType: str(d.EventType),
		attrStreamW: str(d.Stream), attrPos: num(d.Position), attrVer: num(d.Version),
		attrPayload: &types.AttributeValueMemberB{Value: d.Payload}, attrStatus: str(string(d.Status)),
		attrAttempts: num(int64(d.Attempts)), attrCreated: micros(d.CreatedAt),
	} {
		item[k] = v
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: aws.String(w.table), Item: guard,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
		{Put: &types.Put{TableName: aws.String(w.table), Item: item}},
	}
	if d.Status == webhook.StatusPending || d.Status == "" {
		item[attrStatus] = str(string(webhook.StatusPending))
		item[attrNext] = micros(d.NextAttemptAt)
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(w.table), Item: pendingItem(d)}})
	}
	_, err := w.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) && len(canceled.CancellationReasons) > 0 && aws.ToString(canceled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return nil // enqueued before
	}
	return err
}

func pendingItem(d webhook.Delivery) map[string]types.AttributeValue {
	m := key(pkPending, d.EndpointID+"#"+seqKey(d.Seq))
	m[attrEndpoint], m[attrSeq], m[attrStreamW] = str(d.EndpointID), num(d.Seq), str(d.Stream)
	m[attrPos], m[attrVer], m[attrNext] = num(d.Position), num(d.Version), micros(d.NextAttemptAt)
	return m
}

// pending is a pending marker.
type pending struct {
	endpoint, stream string
	seq, pos, ver    int64
	next             time.Time
}

// pendingOf reads the pending markers of enabled endpoints.
func (w *Webhooks) pendingOf(ctx context.Context) ([]pending, error) {
	eps, err := w.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	enabled := map[string]bool{}
	for _, e := range eps {
		enabled[e.ID] = !e.Disabled
	}
	items, err := w.query(ctx, pkPending, "")
	if err != nil {
		return nil, fmt.Errorf("dynamodb: pending webhooks: %w", err)
	}
	var out []pending
	for _, it := range items {
		p := pending{
			endpoint: getStr(it, attrEndpoint), stream: getStr(it, attrStreamW),
			seq: optNum(it, attrSeq), pos: optNum(it, attrPos), ver: optNum(it, attrVer), next: fromMicros(it, attrNext),
		}
		if enabled[p.endpoint] {
			out = append(out, p)
		}
	}
	return out, nil
}

// Due implements webhook.Store.
func (w *Webhooks) Due(ctx context.Context, now time.Time, limit int) ([]webhook.Delivery, error) {
	ps, err := w.pendingOf(ctx)
	if err != nil {
		return nil, err
	}
	type line struct{ endpoint, stream string }
	first := map[line]pending{}
	for _, p := range ps {
		l := line{p.endpoint, p.stream}
		if f, ok := first[l]; !ok || p.pos < f.pos || (p.pos == f.pos && (p.ver < f.ver || (p.ver == f.ver && p.seq < f.seq))) {
			first[l] = p
		}
	}
	var due []pending
	for _, p := range first {
		if !p.next.After(now) {
			due = append(due, p)
		}
	}
	slices.SortFunc(due, func(a, b pending) int { return cmp.Or(a.next.Compare(b.next), cmp.Compare(a.seq, b.seq)) })
	if limit > 0 && len(due) > limit {
		due = due[:limit]
	}
	out := make([]webhook.Delivery, 0, len(due))
	for _, p := range due {
		d, ok, err := w.delivery(ctx, p.endpoint, p.seq)
		if err != nil {
			return nil, err
		}
		if ok && d.Status == webhook.StatusPending {
			out = append(out, d)
		}
	}
	return out, nil
}

func (w *Webhooks) delivery(ctx context.Context, endpoint string, seq int64) (webhook.Delivery, bool, error) {
	out, err := w.client.GetItem(ctx, &ddb.GetItemInput{
		TableName: aws.String(w.table), Key: key(pkDelivery+endpoint, seqKey(seq)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return webhook.Delivery{}, false, fmt.Errorf("dynamodb: webhook delivery %d: %w", seq, err)
	}
	if out.Item == nil {
		return webhook.Delivery{}, false, nil
	}
	return itemDelivery(out.Item), true, nil
}

func itemDelivery(it map[string]types.AttributeValue) webhook.Delivery {
	d := webhook.Delivery{
		Seq: optNum(it, attrSeq), EndpointID: getStr(it, attrEndpoint), EventID: getStr(it, attrEventID),
		EventType: getStr(it, attrType), Stream: getStr(it, attrStreamW), Position: optNum(it, attrPos), Version: optNum(it, attrVer),
		Status: webhook.Status(getStr(it, attrStatus)), Attempts: int(optNum(it, attrAttempts)),
		CreatedAt: fromMicros(it, attrCreated), NextAttemptAt: fromMicros(it, attrNext), DeliveredAt: fromMicros(it, attrDelivered),
		LastAttemptAt: fromMicros(it, attrLastAt), LastStatusCode: int(optNum(it, attrLastCode)),
		LastLatency: time.Duration(optNum(it, attrLatency)), LastError: getStr(it, attrLastErr),
	}
	if b, ok := it[attrPayload].(*types.AttributeValueMemberB); ok {
		d.Payload = b.Value
	}
	return d
}

// NextDue implements webhook.Store.
func (w *Webhooks) NextDue(ctx context.Context) (time.Time, bool, error) {
	ps, err := w.pendingOf(ctx)
	if err != nil || len(ps) == 0 {
		return time.Time{}, false, err
	}
	next := ps[0].next
	for _, p := range ps[1:] {
		if p.next.Before(next) {
			next = p.next
		}
	}
	return next, true, nil
}

// RecordAttempt implements webhook.Store: the delivery (only while it is
// pending: a second attempt of the same delivery, made concurrently by
// another invocation, cannot overwrite the first's outcome), its markers
// and the endpoint's run of failures, in one transaction.
func (w *Webhooks) RecordAttempt(ctx context.Context, a webhook.Attempt) (time.Time, int, error) {
	names := map[string]string{"#st": attrStatus, "#n": attrAttempts, "#la": attrLastAt, "#lc": attrLastCode, "#ll": attrLatency, "#le": attrLastErr, "#nx": attrNext}
	values := map[string]types.AttributeValue{
		":st": str(string(a.Status)), ":one": num(1), ":la": micros(a.At), ":lc": num(int64(a.StatusCode)),
		":ll": num(int64(a.Latency)), ":pending": str(string(webhook.StatusPending)),
	}
	set := "SET #st = :st, #la = :la, #lc = :lc, #ll = :ll"
	var remove []string
	if a.Error != "" {
		set += ", #le = :le"
		values[":le"] = str(a.Error)
	} else {
		remove = append(remove, "#le")
	}
	switch a.Status {
	case webhook.StatusPending:
		set += ", #nx = :nx"
		values[":nx"] = micros(a.NextAttemptAt)
	case webhook.StatusDelivered:
		set += ", #dl = :la"
		names["#dl"] = attrDelivered
		remove = append(remove, "#nx")
	default:
		remove = append(remove, "#nx")
	}
	expr := set + " ADD #n :one"
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	names["#pk"] = attrPK
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName: aws.String(w.table), Key: key(pkDelivery+a.EndpointID, seqKey(a.Seq)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #st = :pending"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}}}
	marker := key(pkPending, a.EndpointID+"#"+seqKey(a.Seq))
	if a.Status == webhook.StatusPending {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: aws.String(w.table), Key: marker,
			UpdateExpression:          aws.String("SET #nx = :nx"),
			ExpressionAttributeNames:  map[string]string{"#nx": attrNext},
			ExpressionAttributeValues: map[string]types.AttributeValue{":nx": micros(a.NextAttemptAt)},
		}})
	} else {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(w.table), Key: marker}})
	}
	if a.Status == webhook.StatusDead {
		dead := key(pkDead, seqKey(a.Seq))
		dead[attrEndpoint], dead[attrSeq] = str(a.EndpointID), num(a.Seq)
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(w.table), Item: dead}})
	}
	epUpdate := &types.Update{
		TableName: aws.String(w.table), Key: key(pkEndpoint, a.EndpointID),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#f": attrFailures, "#fs": attrFailSince},
	}
	if a.Status == webhook.StatusDelivered {
		epUpdate.UpdateExpression = aws.String("SET #f = :z REMOVE #fs")
		epUpdate.ExpressionAttributeValues = map[string]types.AttributeValue{":z": num(0)}
	} else {
		epUpdate.UpdateExpression = aws.String("SET #fs = if_not_exists(#fs, :at), #f = if_not_exists(#f, :z) + :one")
		epUpdate.ExpressionAttributeValues = map[string]types.AttributeValue{":z": num(0), ":one": num(1), ":at": micros(a.At)}
	}
	items = append(items, types.TransactWriteItem{Update: epUpdate})
	_, err := w.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		if hasReason(canceled, "ConditionalCheckFailed") {
			return time.Time{}, 0, eventdesk.Errorf(eventdesk.EConflict, "webhook delivery %d of %s is no longer pending, or its endpoint is gone", a.Seq, a.EndpointID)
		}
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("dynamodb: record webhook attempt %d: %w", a.Seq, err)
	}
	ep, err := w.Endpoint(ctx, a.EndpointID)
	if err != nil {
		return time.Time{}, 0, err
	}
	return ep.FailingSince, ep.ConsecutiveFailures, nil
}

// Requeue implements webhook.Store.
func (w *Webhooks) Requeue(ctx context.Context, endpointID, eventID string, at time.Time) (webhook.Status, error) {
	out, err := w.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(w.table), Key: key(pkGuard+endpointID, eventID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("dynamodb: requeue webhook: %w", err)
	}
	if out.Item == nil {
		return "", nil
	}
	d, ok, err := w.delivery(ctx, endpointID, optNum(out.Item, attrSeq))
	if err != nil || !ok {
		return "", err
	}
	if d.Status != webhook.StatusDead {
		return d.Status, nil
	}
	d.NextAttemptAt = at
	_, err = w.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: aws.String(w.table), Key: key(pkDelivery+endpointID, seqKey(d.Seq)),
			UpdateExpression:          aws.String("SET #st = :p, #n = :z, #nx = :at"),
			ConditionExpression:       aws.String("#st = :dead"),
			ExpressionAttributeNames:  map[string]string{"#st": attrStatus, "#n": attrAttempts, "#nx": attrNext},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(string(webhook.StatusPending)), ":z": num(0), ":at": micros(at), ":dead": str(string(webhook.StatusDead))},
		}},
		{Put: &types.Put{TableName: aws.String(w.table), Item: pendingItem(d)}},
		{Delete: &types.Delete{TableName: aws.String(w.table), Key: key(pkDead, seqKey(d.Seq))}},
	}})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) && hasReason(canceled, "ConditionalCheckFailed") {
		// Requeued (or deleted) meanwhile by someone else.
		d, _, err := w.delivery(ctx, endpointID, d.Seq)
		return d.Status, err
	}
	if err != nil {
		return "", fmt.Errorf("dynamodb: requeue webhook %s: %w", eventID, err)
	}
	return webhook.StatusDead, nil
}

// Deliveries implements webhook.Store.
func (w *Webhooks) Deliveries(ctx context.Context, endpointID string, before int64, limit int) ([]webhook.Delivery, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(w.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkDelivery + endpointID)},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
	}
	if before > 0 {
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk < :b")
		in.ExpressionAttributeNames["#sk"] = attrSK
		in.ExpressionAttributeValues[":b"] = str(seqKey(before))
	}
	if limit > 0 {
		in.Limit = aws.Int32(int32(min(limit, 1000)))
	}
	out, err := w.client.Query(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: webhook deliveries of %s: %w", endpointID, err)
	}
	ds := make([]webhook.Delivery, len(out.Items))
	for i, it := range out.Items {
		ds[i] = itemDelivery(it)
	}
	return ds, nil
}

// Counts implements webhook.Store. It reads every endpoint's log (status
// only): the log is pruned (webhook.DefaultRetention), so it stays small.
func (w *Webhooks) Counts(ctx context.Context) (map[string]map[webhook.Status]int64, error) {
	eps, err := w.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]map[webhook.Status]int64{}
	for _, e := range eps {
		items, err := w.query(ctx, pkDelivery+e.ID, "")
		if err != nil {
			return nil, fmt.Errorf("dynamodb: webhook counts: %w", err)
		}
		if len(items) == 0 {
			continue
		}
		c := map[webhook.Status]int64{}
		for _, it := range items {
			c[webhook.Status(getStr(it, attrStatus))]++
		}
		out[e.ID] = c
	}
	return out, nil
}

// Prune implements webhook.Store: delivered deliveries older than cutoff
// go, with their guards.
func (w *Webhooks) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	eps, err := w.Endpoints(ctx)
	if err != nil {
		return 0, err
	}
	var keys []map[string]types.AttributeValue
	for _, e := range eps {
		items, err := w.query(ctx, pkDelivery+e.ID, "")
		if err != nil {
			return 0, fmt.Errorf("dynamodb: prune webhooks: %w", err)
		}
		for _, it := range items {
			d := itemDelivery(it)
			if d.Status == webhook.StatusDelivered && d.DeliveredAt.Before(cutoff) {
				keys = append(keys, key(pkDelivery+e.ID, seqKey(d.Seq)), key(pkGuard+e.ID, d.EventID))
			}
		}
	}
	if err := w.deleteKeys(ctx, keys); err != nil {
		return 0, fmt.Errorf("dynamodb: prune webhooks: %w", err)
	}
	return int64(len(keys) / 2), nil
}

// DeadLetters implements app.DeadLetterQueue over the dead deliveries:
// a letter's id is the delivery's seq, its subscriber
// "webhook:<endpoint id>" (webhook.DeadLetterSubscriber), as under
// `eventdesk serve`. subscriber "" lists all.
func (w *Webhooks) DeadLetters(ctx context.Context, subscriber string) ([]eventdesk.DeadLetter, error) {
	items, err := w.query(ctx, pkDead, "")
	if err != nil {
		return nil, fmt.Errorf("dynamodb: dead webhooks: %w", err)
	}
	out := []eventdesk.DeadLetter{}
	for _, it := range items {
		ep := getStr(it, attrEndpoint)
		if subscriber != "" && subscriber != webhook.DeadLetterSubscriber(ep) {
			continue
		}
		d, ok, err := w.delivery(ctx, ep, optNum(it, attrSeq))
		if err != nil {
			return nil, err
		}
		if !ok || d.Status != webhook.StatusDead {
			continue
		}
		out = append(out, eventdesk.DeadLetter{
			ID: d.Seq, Subscriber: webhook.DeadLetterSubscriber(ep), Attempts: d.Attempts, Error: d.LastError, FailedAt: d.LastAttemptAt,
			Event: eventdesk.Event{
				ID: d.EventID, Stream: d.Stream, Version: d.Version, Position: d.Position, Type: d.EventType,
				Schema: eventdesk.CurrentSchema(d.EventType), Data: d.Payload,
			},
		})
	}
	return out, nil
}

// Redrive implements app.DeadLetterQueue: the dead delivery is pending
// again, due now, with no attempts; the webhook function's next run sends
// it (ENotFound if there is no such dead letter).
func (w *Webhooks) Redrive(ctx context.Context, id int64) error {
	out, err := w.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(w.table), Key: key(pkDead, seqKey(id)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("dynamodb: redrive webhook %d: %w", id, err)
	}
	if out.Item == nil {
		return eventdesk.Errorf(eventdesk.ENotFound, "dead letter %d not found", id)
	}
	ep := getStr(out.Item, attrEndpoint)
	d, ok, err := w.delivery(ctx, ep, id)
	if err != nil {
		return err
	}
	if !ok {
		return eventdesk.Errorf(eventdesk.ENotFound, "dead letter %d not found", id)
	}
	if _, err := w.Requeue(ctx, ep, d.EventID, w.now().UTC().Truncate(time.Microsecond)); err != nil {
		return err
	}
	return nil
}

// EmailOptOut implements app.PreferenceStore (and email.Preferences).
func (w *Webhooks) EmailOptOut(ctx context.Context, user string) (bool, error) {
	out, err := w.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(w.table), Key: key(pkPreference, user), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, fmt.Errorf("dynamodb: preferences of %s: %w", user, err)
	}
	v, ok := out.Item[attrOptOut].(*types.AttributeValueMemberBOOL)
	return ok && v.Value, nil
}

// SetEmailOptOut implements app.PreferenceStore.
func (w *Webhooks) SetEmailOptOut(ctx context.Context, user string, optOut bool) error {
	_, err := w.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName: aws.String(w.table), Key: key(pkPreference, user),
		UpdateExpression:          aws.String("SET #o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": attrOptOut},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberBOOL{Value: optOut}},
	})
	if err != nil {
		return fmt.Errorf("dynamodb: preferences of %s: %w", user, err)
	}
	return nil
}

// pkEnqueued holds, per stream, the version up to which its events were
// turned into deliveries (("WHS#<stream>", "V") with ver).
const pkEnqueued = "WHS#"

// EnqueuedUpTo returns the version of stream up to which events were
// enqueued (0: none), for a webhook enqueuer that reads the stream itself
// so as to enqueue a ticket's events in order even when their messages
// arrive out of order.
func (w *Webhooks) EnqueuedUpTo(ctx context.Context, stream string) (int64, error) {
	out, err := w.client.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(w.table), Key: key(pkEnqueued+stream, "V"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, fmt.Errorf("dynamodb: webhooks enqueued of %s: %w", stream, err)
	}
	return optNum(out.Item, attrVer), nil
}

// SetEnqueuedUpTo moves stream's mark forward to version (never back).
func (w *Webhooks) SetEnqueuedUpTo(ctx context.Context, stream string, version int64) error {
	_, err := w.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName: aws.String(w.table), Key: key(pkEnqueued+stream, "V"),
		UpdateExpression:          aws.String("SET #v = :v"),
		ConditionExpression:       aws.String("attribute_not_exists(#v) OR #v < :v"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVer},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(version)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("dynamodb: webhooks enqueued of %s: %w", stream, err)
	}
	return nil
}
