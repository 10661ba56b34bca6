package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// Keys of the dashboard read model in the read table. Its tickets (the
// slim rows projection.Dashboard keeps) live apart from the ticket read
// model's and carry none of the index attributes, so they stay out of the
// list indexes; its counters live in a partition of their own, so that a
// dashboard query is one Query from the first day of the window on.
const (
	pkDashCounters = "DASH"
	dashTicketSK   = "D"
)

func dashTicketPK(id string) string { return "D#" + id }

// Dashboard keeps the dashboard read model (projection.Dashboard) in the
// read table: it is the eventdesk.ProjectionStore the projection writes
// through and the eventdesk.DashboardReader the dashboard page reads.
type Dashboard struct {
	r *ReadModels
	// reached is as in ReadModels: a checkpoint known to be stored.
	mu      sync.Mutex
	reached map[string]int64
}

var (
	_ eventdesk.ProjectionStore = (*Dashboard)(nil)
	_ eventdesk.DashboardReader = (*Dashboard)(nil)
)

// Dashboard returns the dashboard read model kept in table (the read
// table: CreateReadTable or the SAM template).
func (db *DB) Dashboard(table string) *Dashboard {
	return &Dashboard{r: db.ReadModels(table), reached: map[string]int64{}}
}

// Checkpoint implements eventdesk.ProjectionStore.
func (d *Dashboard) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	return d.r.Checkpoint(ctx, name)
}

// Project implements eventdesk.ProjectionStore. fn's writes are buffered
// and committed with TransactWriteItems, each ticket conditioned on the
// version read. One transaction takes at most 100 items; a bigger commit
// (a batch touching many tickets and days) is split per ticket: a ticket's
// row travels in the same transaction as every counter change its events
// caused, and the checkpoint in the last one. So a commit interrupted
// between two parts has applied some tickets wholly and the others not at
// all; running the batch again (the checkpoint has not moved) skips the
// applied tickets by their version (projection.Dashboard ignores events at
// or below a ticket's stored version) and applies the rest: every event
// still counts exactly once. A transaction that loses a race with another
// projector runs fn again on fresh reads.
func (d *Dashboard) Project(ctx context.Context, name string, position int64, fn func(tx eventdesk.ProjectionTx) error) error {
	r := d.r
	for attempt := 1; ; attempt++ {
		d.mu.Lock()
		cp, found := d.reached[name]
		d.mu.Unlock()
		if !found || position > cp {
			var err error
			if cp, found, err = r.Checkpoint(ctx, name); err != nil {
				return err
			}
		}
		tx := &dashTx{d: d, tickets: map[string]*txTicket{}, counters: map[string]map[string]int64{}}
		if err := fn(tx); err != nil {
			return err
		}
		parts, err := tx.parts()
		if err != nil {
			return fmt.Errorf("dynamodb: project %s: %w", name, err)
		}
		var cpItem *types.TransactWriteItem
		switch {
		case !found:
			it := r.putCheckpoint(name, max(position, 0), false, 0)
			cpItem = &it
		case position > cp:
			it := r.putCheckpoint(name, position, true, cp)
			cpItem = &it
		}
		if cpItem != nil {
			if n := len(parts); n == 0 || len(parts[n-1]) >= 100 {
				parts = append(parts, nil)
			}
			parts[len(parts)-1] = append(parts[len(parts)-1], *cpItem)
		}
		err = nil
		for _, items := range parts {
			if _, err = r.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: items}); err != nil {
				break
			}
		}
		if err == nil {
			d.mu.Lock()
			d.reached[name] = max(d.reached[name], position, cp)
			d.mu.Unlock()
			return nil
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) || !retryable(canceled) {
			return fmt.Errorf("dynamodb: project %s: %w", name, err)
		}
		if attempt >= maxProjectAttempts {
			return eventdesk.Errorf(eventdesk.EUnavailable,
				"dynamodb: project %s: gave up after %d attempts under contention: %v", name, attempt, err)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return fmt.Errorf("dynamodb: project %s: %w", name, err)
		}
	}
}

// dashTx buffers the dashboard projection's writes. Counter changes are
// attributed to the ticket last read (projection.Dashboard reads the
// ticket of each event before counting it), so that a ticket and the
// counts it caused commit together.
type dashTx struct {
	d        *Dashboard
	tickets  map[string]*txTicket
	order    []string
	cur      string
	counters map[string]map[string]int64 // ticket id ("" if none) → counter → delta
}

func (tx *dashTx) load(ctx context.Context, id string) (*txTicket, error) {
	if tt, ok := tx.tickets[id]; ok {
		return tt, nil
	}
	out, err := tx.d.r.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(tx.d.r.table),
		Key:            map[string]types.AttributeValue{attrPK: str(dashTicketPK(id)), attrSK: str(dashTicketSK)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	tt := &txTicket{}
	if out.Item != nil {
		if err := json.Unmarshal([]byte(getStr(out.Item, attrDoc)), &tt.stored); err != nil {
			return nil, fmt.Errorf("decode dashboard ticket %s: %w", id, err)
		}
		tt.found = true
	}
	tx.tickets[id] = tt
	tx.order = append(tx.order, id)
	return tt, nil
}

// Ticket implements eventdesk.ProjectionTx.
func (tx *dashTx) Ticket(ctx context.Context, id string) (eventdesk.Ticket, bool, error) {
	tt, err := tx.load(ctx, id)
	if err != nil {
		return eventdesk.Ticket{}, false, fmt.Errorf("dynamodb: dashboard ticket %s: %w", id, err)
	}
	tx.cur = id
	if tt.saved != nil {
		return cloneTicket(*tt.saved), true, nil
	}
	return cloneTicket(tt.stored), tt.found, nil
}

// SaveTicket implements eventdesk.ProjectionTx. Only the fields of
// projection.Slim are kept.
func (tx *dashTx) SaveTicket(ctx context.Context, t eventdesk.Ticket) error {
	if !eventdesk.ValidID(t.ID) {
		return eventdesk.Errorf(eventdesk.EInvalid, "dynamodb: save dashboard ticket: invalid id %q", t.ID)
	}
	tt, err := tx.load(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("dynamodb: save dashboard ticket %s: %w", t.ID, err)
	}
	tx.cur = t.ID
	s := projection.Slim(t)
	tt.saved = &s
	return nil
}

// AddCount implements eventdesk.ProjectionTx.
func (tx *dashTx) AddCount(_ context.Context, counter string, delta int64) error {
	if counter == "" {
		return eventdesk.Errorf(eventdesk.EInvalid, "dynamodb: add count: empty counter name")
	}
	m := tx.counters[tx.cur]
	if m == nil {
		m = map[string]int64{}
		tx.counters[tx.cur] = m
	}
	m[counter] += delta
	return nil
}

// parts groups the buffered writes into transactions of at most 100 items,
// never splitting a ticket from its counter changes.
func (tx *dashTx) parts() ([][]types.TransactWriteItem, error) {
	table := aws.String(tx.d.r.table)
	var (
		parts   [][]types.TransactWriteItem
		cur     []types.TransactWriteItem
		pending = map[string]int64{} // counters of cur, merged
	)
	flush := func() {
		for _, name := range slices.Sorted(mapsKeys(pending)) {
			if d := pending[name]; d != 0 {
				cur = append(cur, counterUpdate(table, pkDashCounters, name, d))
			}
		}
		if len(cur) > 0 {
			parts = append(parts, cur)
		}
		cur, pending = nil, map[string]int64{}
	}
	for _, id := range append(slices.Clone(tx.order), "") {
		var put []types.TransactWriteItem
		if id != "" {
			if tt := tx.tickets[id]; tt.saved != nil {
				put = append(put, dashTicketPut(table, *tt.saved, tt))
			}
		}
		counts := tx.counters[id]
		if len(put) == 0 && len(counts) == 0 {
			continue
		}
		own := len(put)
		for _, d := range counts {
			if d != 0 {
				own++
			}
		}
		if own > 100 {
			return nil, eventdesk.Errorf(eventdesk.ETooLarge,
				"ticket %s needs %d writes, more than DynamoDB's 100 items per transaction; project fewer events at once", id, own)
		}
		newCounters := 0
		for name := range counts {
			if _, ok := pending[name]; !ok {
				newCounters++
			}
		}
		if len(cur)+len(pending)+len(put)+newCounters > 100 {
			flush()
		}
		cur = append(cur, put...)
		for name, d := range counts {
			pending[name] += d
		}
	}
	flush()
	return parts, nil
}

func dashTicketPut(table *string, t eventdesk.Ticket, tt *txTicket) types.TransactWriteItem {
	doc, _ := json.Marshal(t)
	put := &types.Put{TableName: table, Item: map[string]types.AttributeValue{
		attrPK: str(dashTicketPK(t.ID)), attrSK: str(dashTicketSK), attrDoc: str(string(doc)), attrVer: num(t.Version),
	}}
	if tt.found {
		put.ConditionExpression = aws.String("#ver = :ver")
		put.ExpressionAttributeNames = map[string]string{"#ver": attrVer}
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":ver": num(tt.stored.Version)}
	} else {
		put.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		put.ExpressionAttributeNames = map[string]string{"#pk": attrPK}
	}
	return types.TransactWriteItem{Put: put}
}

func counterUpdate(table *string, pk, name string, d int64) types.TransactWriteItem {
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 table,
		Key:                       map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(name)},
		UpdateExpression:          aws.String("ADD #n :d"),
		ExpressionAttributeNames:  map[string]string{"#n": attrN},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(d)},
	}}
}

// Dashboard implements eventdesk.DashboardReader: one strongly consistent
// Query of the counters from the window's first day on (the later days
// and the current backlog give the backlog at the end of each day, see
// projection.BuildDashboard).
func (d *Dashboard) Dashboard(ctx context.Context, from, to time.Time) (eventdesk.Dashboard, error) {
	from, to = eventdesk.Day(from), eventdesk.Day(to)
	if _, err := projection.BuildDashboard(nil, from, to); err != nil {
		return eventdesk.Dashboard{}, err
	}
	lo, _ := projection.DashboardCounterRange(from)
	in := &ddb.QueryInput{
		TableName:                 aws.String(d.r.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk >= :lo"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkDashCounters), ":lo": str(lo)},
		ConsistentRead:            aws.Bool(true),
	}
	counters := map[string]int64{}
	for {
		out, err := d.r.client.Query(ctx, in)
		if err != nil {
			return eventdesk.Dashboard{}, fmt.Errorf("dynamodb: dashboard: %w", err)
		}
		for _, item := range out.Items {
			name := getStr(item, attrSK)
			if !strings.HasPrefix(name, "d:") && !strings.HasPrefix(name, projection.DashboardNowPrefix) {
				continue
			}
			n, err := getNum(item, attrN)
			if err != nil {
				return eventdesk.Dashboard{}, fmt.Errorf("dynamodb: dashboard: counter %s: %w", name, err)
			}
			counters[name] = n
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return projection.BuildDashboard(counters, from, to)
}
