package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/projection"
)

// The read-model table is a single-table design keyed (pk, sk), both
// strings:
//
//   - a ticket:      ("T#<id>", "T") with the ticket (without comments) as
//     JSON in doc, and the attributes the indexes below sort and filter on;
//   - its comments:  ("T#<id>", "C#<000001>"), one item each, so that a long
//     conversation never meets DynamoDB's 400 KB item limit; one Query of
//     the ticket's partition returns the ticket and its comments;
//   - a counter:     ("COUNT", <name>) with n;
//   - a checkpoint:  ("CHECKPOINT", <projection>) with pos.
//
// Global secondary indexes (all projecting every attribute, so a list page
// is one Query) serve the list's sorts and its most selective filters:
//
//	index        partition key         sort key
//	byCreated    all ("T")             created  (<createdAt>#<id>)
//	byUpdated    all                   updated  (<updatedAt>#<id>)
//	byPriority   all                   prio     (<rank>#<createdAt>#<id>)
//	byRequester  requester             created
//	byAssignee   asg ("u#<name>"|"-")  created
//	byStatus     status                created
//
// The other filters of a query become a FilterExpression on the chosen
// index.
const (
	attrPK       = "pk"
	attrSK       = "sk"
	attrDoc      = "doc"
	attrVer      = "ver"
	attrNC       = "nc" // number of comment items
	attrAll      = "all"
	attrCreated  = "created"
	attrUpdated  = "updated"
	attrPrio     = "prio"
	attrStatus   = "status"
	attrPriority = "priority"
	attrAsg      = "asg"
	attrReqr     = "requester"
	attrTags     = "tags"
	attrSearch   = "search" // lower-cased title and description, for Text
	attrN        = "n"
	attrPos      = "pos"

	idxCreated   = "byCreated"
	idxUpdated   = "byUpdated"
	idxPriority  = "byPriority"
	idxRequester = "byRequester"
	idxAssignee  = "byAssignee"
	idxStatus    = "byStatus"

	skTicket     = "T"
	pkCounters   = "COUNT"
	pkCheckpoint = "CHECKPOINT"
	allTickets   = "T"
	unassigned   = "-"
)

// indexKeys names each index's partition and sort key attributes.
var indexKeys = map[string][2]string{
	idxCreated:   {attrAll, attrCreated},
	idxUpdated:   {attrAll, attrUpdated},
	idxPriority:  {attrAll, attrPrio},
	idxRequester: {attrReqr, attrCreated},
	idxAssignee:  {attrAsg, attrCreated},
	idxStatus:    {attrStatus, attrCreated},
}

// ReadModels keeps the ticket read models in one DynamoDB table. It is both
// the eventdesk.ProjectionStore the projector writes through and the
// eventdesk.TicketReader queries read from.
type ReadModels struct {
	client *ddb.Client
	table  string
	// poll is how often WaitFor looks at the checkpoint.
	poll time.Duration
	// reached holds, per projection, a checkpoint known to be stored: a
	// lower bound, since checkpoints never move back. A Project at or
	// below it needs neither to read nor to write the checkpoint (on AWS,
	// where every position is 0, that is every Project but the first).
	mu      sync.Mutex
	reached map[string]int64
}

var (
	_ eventdesk.ProjectionStore = (*ReadModels)(nil)
	_ eventdesk.TicketReader    = (*ReadModels)(nil)
)

// ReadModels returns the read models in table (created by CreateReadTable
// or the SAM template).
func (db *DB) ReadModels(table string) *ReadModels {
	return &ReadModels{client: db.client, table: table, poll: 50 * time.Millisecond, reached: map[string]int64{}}
}

// Table returns the name of the read-model table.
func (r *ReadModels) Table() string { return r.table }

// CreateReadTable creates a read-model table with the indexes above,
// shaped like the one in deploy/aws/template.yaml, and waits until it is
// active. It exists for local runs and tests.
func (db *DB) CreateReadTable(ctx context.Context, name string) error {
	defs := []types.AttributeDefinition{
		{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
	}
	seen := map[string]bool{attrPK: true, attrSK: true}
	var gsis []types.GlobalSecondaryIndex
	for _, name := range slices.Sorted(mapsKeys(indexKeys)) {
		k := indexKeys[name]
		for _, a := range k {
			if !seen[a] {
				seen[a] = true
				defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS})
			}
		}
		gsis = append(gsis, types.GlobalSecondaryIndex{
			IndexName: aws.String(name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(k[0]), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(k[1]), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	_, err := db.client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: defs,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: gsis,
		BillingMode:            types.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("dynamodb: create table %s: %w", name, err)
	}
	return db.waitActive(ctx, name)
}

func mapsKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// ---- queries ----

// Ticket implements eventdesk.TicketReader.
func (r *ReadModels) Ticket(ctx context.Context, id string) (eventdesk.Ticket, error) {
	if !eventdesk.ValidID(id) {
		return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket %q not found", id)
	}
	t, found, err := r.loadTicket(ctx, id)
	if err != nil {
		return t, fmt.Errorf("dynamodb: ticket %s: %w", id, err)
	}
	if !found {
		return t, eventdesk.Errorf(eventdesk.ENotFound, "ticket %s not found", id)
	}
	return t, nil
}

// loadTicket reads a ticket and its comments with one strongly consistent
// Query of its partition.
func (r *ReadModels) loadTicket(ctx context.Context, id string) (eventdesk.Ticket, bool, error) {
	in := &ddb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(ticketPK(id))},
		ConsistentRead:            aws.Bool(true),
	}
	var (
		t        eventdesk.Ticket
		found    bool
		comments []eventdesk.Comment
	)
	for {
		out, err := r.client.Query(ctx, in)
		if err != nil {
			return t, false, err
		}
		for _, item := range out.Items {
			switch sk := getStr(item, attrSK); {
			case sk == skTicket:
				if err := json.Unmarshal([]byte(getStr(item, attrDoc)), &t); err != nil {
					return t, false, fmt.Errorf("decode ticket %s: %w", id, err)
				}
				found = true
			case strings.HasPrefix(sk, "C#"):
				var c eventdesk.Comment
				if err := json.Unmarshal([]byte(getStr(item, attrDoc)), &c); err != nil {
					return t, false, fmt.Errorf("decode comment %s of ticket %s: %w", sk, id, err)
				}
				comments = append(comments, c)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if found {
		t.Comments = comments
	}
	return t, found, nil
}

// Stats implements eventdesk.TicketReader from the counters the projection
// keeps.
func (r *ReadModels) Stats(ctx context.Context) (eventdesk.Stats, error) {
	counters := map[string]int64{}
	in := &ddb.QueryInput{
		TableName:                 aws.String(r.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkCounters)},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := r.client.Query(ctx, in)
		if err != nil {
			return eventdesk.Stats{}, fmt.Errorf("dynamodb: stats: %w", err)
		}
		for _, item := range out.Items {
			n, err := getNum(item, attrN)
			if err != nil {
				return eventdesk.Stats{}, fmt.Errorf("dynamodb: stats: counter %s: %w", getStr(item, attrSK), err)
			}
			counters[getStr(item, attrSK)] = n
		}
		if len(out.LastEvaluatedKey) == 0 {
			return eventdesk.StatsFromCounters(counters), nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Position implements eventdesk.TicketReader: the checkpoint of the ticket
// projection, which stays 0 when it is fed by the DynamoDB event store
// (no global position).
func (r *ReadModels) Position(ctx context.Context) (int64, error) {
	pos, _, err := r.Checkpoint(ctx, projection.TicketsName)
	return pos, err
}

// WaitFor implements eventdesk.TicketReader by polling the checkpoint.
// Position 0 (all the DynamoDB event store ever returns) is reached at
// once: on AWS, reads are eventually consistent.
func (r *ReadModels) WaitFor(ctx context.Context, position int64) error {
	if position <= 0 {
		return nil
	}
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		pos, err := r.Position(ctx)
		if err == nil && pos >= position {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("dynamodb: wait for position %d: %w", position, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dynamodb: %w: %w", &eventdesk.Error{Code: eventdesk.EUnavailable,
				Message: fmt.Sprintf("the read models did not reach position %d in time", position)}, ctx.Err())
		case <-t.C:
		}
	}
}

// plan is how one list query runs: which index, which partition, which
// direction, and what is left for the FilterExpression.
type plan struct {
	index       string
	partition   string
	forward     bool
	fingerprint string
}

func planFor(f eventdesk.TicketFilter) plan {
	p := plan{index: idxCreated, partition: allTickets, fingerprint: fingerprint(f)}
	sort := f.Sort
	p.forward = !strings.HasPrefix(string(sort), "-")
	switch strings.TrimPrefix(string(sort), "-") {
	case "updated":
		p.index = idxUpdated
	case "priority":
		p.index = idxPriority
	default:
		switch {
		case f.Requester != "":
			p.index, p.partition = idxRequester, f.Requester
		case f.Assignee != "":
			p.index, p.partition = idxAssignee, assigneeKey(f.Assignee)
		case f.Unassigned:
			p.index, p.partition = idxAssignee, unassigned
		case len(f.Status) == 1:
			p.index, p.partition = idxStatus, string(f.Status[0])
		}
	}
	return p
}

// fingerprint identifies a normalized filter apart from its page size and
// cursor, so that a cursor is refused with another filter.
func fingerprint(f eventdesk.TicketFilter) string {
	f.Limit, f.Cursor = 0, ""
	b, _ := json.Marshal(f)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// cursor is what TicketPage.Next encodes: the index's LastEvaluatedKey
// (as of the last ticket returned) and the filter it belongs to.
type cursor struct {
	Index  string            `json:"i"`
	Filter string            `json:"f"`
	Key    map[string]string `json:"k"`
}

func encodeCursor(p plan, item map[string]types.AttributeValue) string {
	k := indexKeys[p.index]
	c := cursor{Index: p.index, Filter: p.fingerprint, Key: map[string]string{
		attrPK: getStr(item, attrPK), attrSK: getStr(item, attrSK),
		k[0]: getStr(item, k[0]), k[1]: getStr(item, k[1]),
	}}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor checks a cursor against the query's plan and returns the
// ExclusiveStartKey it stands for.
func decodeCursor(p plan, s string) (map[string]types.AttributeValue, error) {
	bad := func(why string) error {
		return &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid cursor", Fields: map[string]string{"cursor": why}}
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 4096 {
		return nil, bad("is not a cursor returned by this list")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, bad("is not a cursor returned by this list")
	}
	if c.Index != p.index || c.Filter != p.fingerprint {
		return nil, bad("belongs to another filter or sort")
	}
	k := indexKeys[p.index]
	want := []string{attrPK, attrSK, k[0], k[1]}
	if len(c.Key) != len(uniq(want)) {
		return nil, bad("is malformed")
	}
	key := make(map[string]types.AttributeValue, len(c.Key))
	for _, a := range want {
		v, ok := c.Key[a]
		if !ok || v == "" {
			return nil, bad("is malformed")
		}
		key[a] = str(v)
	}
	if c.Key[k[0]] != p.partition || c.Key[attrSK] != skTicket || !strings.HasPrefix(c.Key[attrPK], "T#") {
		return nil, bad("belongs to another filter or sort")
	}
	return key, nil
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// normalizeFilter checks a filter and brings it to one form: statuses and
// priorities sorted and without duplicates, the tag lower-cased (tags are
// stored so), the text lower-cased, the default sort and limit filled in.
func normalizeFilter(f eventdesk.TicketFilter) (eventdesk.TicketFilter, error) {
	fields := map[string]string{}
	switch {
	case f.Limit == 0:
		f.Limit = eventdesk.DefaultListLimit
	case f.Limit < 0 || f.Limit > eventdesk.MaxListLimit:
		fields["limit"] = fmt.Sprintf("must be between 1 and %d", eventdesk.MaxListLimit)
	}
	if f.Sort == "" {
		f.Sort = eventdesk.SortCreatedDesc
	} else if !f.Sort.Valid() {
		fields["sort"] = "must be one of created, -created, updated, -updated, priority, -priority"
	}
	for _, st := range f.Status {
		if !st.Valid() {
			fields["status"] = fmt.Sprintf("unknown status %q", st)
		}
	}
	for _, p := range f.Priority {
		if !p.Valid() {
			fields["priority"] = fmt.Sprintf("unknown priority %q", p)
		}
	}
	if f.Assignee != "" && f.Unassigned {
		fields["unassigned"] = "cannot be combined with an assignee"
	}
	if len(fields) > 0 {
		return f, &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid ticket filter", Fields: fields}
	}
	f.Status = slices.Compact(slices.Sorted(slices.Values(f.Status)))
	f.Priority = slices.Compact(slices.Sorted(slices.Values(f.Priority)))
	f.Tag = strings.ToLower(strings.TrimSpace(f.Tag))
	f.Text = strings.ToLower(strings.TrimSpace(f.Text))
	return f, nil
}

// Tickets implements eventdesk.TicketReader: one index Query (more if the
// FilterExpression drops items) per page.
func (r *ReadModels) Tickets(ctx context.Context, f eventdesk.TicketFilter) (eventdesk.TicketPage, error) {
	f, err := normalizeFilter(f)
	if err != nil {
		return eventdesk.TicketPage{}, err
	}
	limit := f.Limit
	p := planFor(f)
	k := indexKeys[p.index]
	names := map[string]string{"#p": k[0]}
	values := map[string]types.AttributeValue{":p": str(p.partition)}
	var conds []string
	in := func(attr string, vals []string) {
		if len(vals) == 0 {
			return
		}
		ph := make([]string, len(vals))
		for i, v := range vals {
			ph[i] = fmt.Sprintf(":%s%d", attr, i)
			values[ph[i]] = str(v)
		}
		names["#"+attr] = attr
		conds = append(conds, fmt.Sprintf("#%s IN (%s)", attr, strings.Join(ph, ", ")))
	}
	eq := func(attr, v string) {
		names["#"+attr] = attr
		values[":"+attr] = str(v)
		conds = append(conds, fmt.Sprintf("#%s = :%s", attr, attr))
	}
	if p.index != idxStatus {
		in(attrStatus, stringsOf(f.Status))
	}
	in(attrPriority, stringsOf(f.Priority))
	if p.index != idxRequester && f.Requester != "" {
		eq(attrReqr, f.Requester)
	}
	if p.index != idxAssignee {
		switch {
		case f.Assignee != "":
			eq(attrAsg, assigneeKey(f.Assignee))
		case f.Unassigned:
			eq(attrAsg, unassigned)
		}
	}
	if f.Tag != "" {
		names["#tags"] = attrTags
		values[":tag"] = str(f.Tag)
		conds = append(conds, "contains(#tags, :tag)")
	}
	if f.Text != "" {
		names["#search"] = attrSearch
		values[":text"] = str(f.Text)
		conds = append(conds, "contains(#search, :text)")
	}
	q := &ddb.QueryInput{
		TableName:                 aws.String(r.table),
		IndexName:                 aws.String(p.index),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(p.forward),
	}
	if len(conds) > 0 {
		q.FilterExpression = aws.String(strings.Join(conds, " AND "))
	}
	if f.Cursor != "" {
		start, err := decodeCursor(p, f.Cursor)
		if err != nil {
			return eventdesk.TicketPage{}, err
		}
		q.ExclusiveStartKey = start
	}
	// Read one more than the page: if it exists, there is a next page, and
	// the cursor points at the last item returned.
	var items []map[string]types.AttributeValue
	for {
		q.Limit = aws.Int32(int32(limit + 1 - len(items)))
		if len(conds) > 0 {
			q.Limit = aws.Int32(int32(max(limit+1, 100)))
		}
		out, err := r.client.Query(ctx, q)
		if err != nil {
			return eventdesk.TicketPage{}, fmt.Errorf("dynamodb: list tickets: %w", err)
		}
		items = append(items, out.Items...)
		if len(items) > limit || len(out.LastEvaluatedKey) == 0 {
			break
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
	page := eventdesk.TicketPage{Items: make([]eventdesk.Ticket, 0, min(len(items), limit))}
	for i, item := range items {
		if i == limit {
			page.Next = encodeCursor(p, items[limit-1])
			break
		}
		var t eventdesk.Ticket
		if err := json.Unmarshal([]byte(getStr(item, attrDoc)), &t); err != nil {
			return eventdesk.TicketPage{}, fmt.Errorf("dynamodb: list tickets: decode %s: %w", getStr(item, attrPK), err)
		}
		page.Items = append(page.Items, t)
	}
	return page, nil
}

func stringsOf[S ~string](vs []S) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

func assigneeKey(name string) string { return "u#" + name }

func ticketPK(id string) string { return "T#" + id }

func commentSK(i int) string { return fmt.Sprintf("C#%06d", i+1) }

// ---- projections ----

// maxProjectAttempts bounds the retries of a projection transaction that
// keeps losing races with concurrent projectors.
const maxProjectAttempts = 32

// Checkpoint implements eventdesk.ProjectionStore.
func (r *ReadModels) Checkpoint(ctx context.Context, name string) (int64, bool, error) {
	out, err := r.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:      aws.String(r.table),
		Key:            map[string]types.AttributeValue{attrPK: str(pkCheckpoint), attrSK: str(name)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, false, fmt.Errorf("dynamodb: checkpoint %s: %w", name, err)
	}
	if out.Item == nil {
		return 0, false, nil
	}
	pos, err := getNum(out.Item, attrPos)
	if err != nil {
		return 0, false, fmt.Errorf("dynamodb: checkpoint %s: %w", name, err)
	}
	return pos, true, nil
}

// Project implements eventdesk.ProjectionStore. fn's writes are buffered
// and committed with one TransactWriteItems, each ticket conditioned on the
// version read, so that concurrent projectors (several Lambda instances)
// never lose an update: a transaction that loses a race runs fn again on
// fresh reads. A commit may hold at most 100 items (tickets, new or changed
// comments, counters and the checkpoint); a bigger one fails with an
// ETooLarge error, so callers project a bounded batch of events at a time.
func (r *ReadModels) Project(ctx context.Context, name string, position int64, fn func(tx eventdesk.ProjectionTx) error) error {
	for attempt := 1; ; attempt++ {
		r.mu.Lock()
		cp, found := r.reached[name]
		r.mu.Unlock()
		if !found || position > cp {
			var err error
			if cp, found, err = r.Checkpoint(ctx, name); err != nil {
				return err
			}
			if found {
				r.mu.Lock()
				r.reached[name] = max(r.reached[name], cp)
				r.mu.Unlock()
			}
		}
		tx := &projectionTx{r: r, tickets: map[string]*txTicket{}, counters: map[string]int64{}}
		if err := fn(tx); err != nil {
			return err
		}
		items := tx.items()
		switch {
		case !found:
			items = append(items, r.putCheckpoint(name, max(position, 0), false, 0))
		case position > cp:
			items = append(items, r.putCheckpoint(name, position, true, cp))
		}
		if len(items) == 0 {
			return nil
		}
		if len(items) > 100 {
			return eventdesk.Errorf(eventdesk.ETooLarge,
				"dynamodb: project %s: %d writes exceed DynamoDB's 100 items per transaction; project fewer events at once", name, len(items))
		}
		_, err := r.client.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			r.mu.Lock()
			r.reached[name] = max(r.reached[name], position, cp)
			r.mu.Unlock()
			return nil
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return fmt.Errorf("dynamodb: project %s: %w", name, err)
		}
		if !retryable(canceled) {
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

// putCheckpoint writes a checkpoint, conditioned on the value read (or its
// absence), so that it never moves backwards.
func (r *ReadModels) putCheckpoint(name string, pos int64, exists bool, old int64) types.TransactWriteItem {
	put := &types.Put{
		TableName: aws.String(r.table),
		Item: map[string]types.AttributeValue{
			attrPK: str(pkCheckpoint), attrSK: str(name), attrPos: num(pos),
		},
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
	}
	if exists {
		put.ConditionExpression = aws.String("#pos = :old")
		put.ExpressionAttributeNames = map[string]string{"#pos": attrPos}
		put.ExpressionAttributeValues = map[string]types.AttributeValue{":old": num(old)}
	}
	return types.TransactWriteItem{Put: put}
}

// txTicket is a ticket as stored when the transaction first touched it,
// and as fn left it.
type txTicket struct {
	stored eventdesk.Ticket
	found  bool
	saved  *eventdesk.Ticket
}

// projectionTx buffers a projection's writes until Project commits them.
type projectionTx struct {
	r        *ReadModels
	tickets  map[string]*txTicket
	order    []string
	counters map[string]int64
}

func (tx *projectionTx) load(ctx context.Context, id string) (*txTicket, error) {
	if tt, ok := tx.tickets[id]; ok {
		return tt, nil
	}
	t, found, err := tx.r.loadTicket(ctx, id)
	if err != nil {
		return nil, err
	}
	tt := &txTicket{stored: t, found: found}
	tx.tickets[id] = tt
	tx.order = append(tx.order, id)
	return tt, nil
}

// Ticket implements eventdesk.ProjectionTx; it sees the transaction's own
// writes.
func (tx *projectionTx) Ticket(ctx context.Context, id string) (eventdesk.Ticket, bool, error) {
	tt, err := tx.load(ctx, id)
	if err != nil {
		return eventdesk.Ticket{}, false, fmt.Errorf("dynamodb: ticket %s: %w", id, err)
	}
	if tt.saved != nil {
		return cloneTicket(*tt.saved), true, nil
	}
	return cloneTicket(tt.stored), tt.found, nil
}

// SaveTicket implements eventdesk.ProjectionTx.
func (tx *projectionTx) SaveTicket(ctx context.Context, t eventdesk.Ticket) error {
	if !eventdesk.ValidID(t.ID) {
		return eventdesk.Errorf(eventdesk.EInvalid, "dynamodb: save ticket: invalid id %q", t.ID)
	}
	tt, err := tx.load(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("dynamodb: save ticket %s: %w", t.ID, err)
	}
	c := cloneTicket(t)
	tt.saved = &c
	return nil
}

// AddCount implements eventdesk.ProjectionTx.
func (tx *projectionTx) AddCount(ctx context.Context, counter string, delta int64) error {
	if counter == "" {
		return eventdesk.Errorf(eventdesk.EInvalid, "dynamodb: add count: empty counter name")
	}
	tx.counters[counter] += delta
	return nil
}

func cloneTicket(t eventdesk.Ticket) eventdesk.Ticket {
	t.Tags = slices.Clone(t.Tags)
	t.Comments = slices.Clone(t.Comments)
	t.Sentiment = slices.Clone(t.Sentiment)
	return t
}

// items turns the buffered writes into transaction items.
func (tx *projectionTx) items() []types.TransactWriteItem {
	var items []types.TransactWriteItem
	table := aws.String(tx.r.table)
	for _, id := range tx.order {
		tt := tx.tickets[id]
		if tt.saved == nil {
			continue
		}
		t := *tt.saved
		put := &types.Put{TableName: table, Item: ticketItem(t)}
		if tt.found {
			put.ConditionExpression = aws.String("#ver = :ver")
			put.ExpressionAttributeNames = map[string]string{"#ver": attrVer}
			put.ExpressionAttributeValues = map[string]types.AttributeValue{":ver": num(tt.stored.Version)}
		} else {
			put.ConditionExpression = aws.String("attribute_not_exists(#pk)")
			put.ExpressionAttributeNames = map[string]string{"#pk": attrPK}
		}
		items = append(items, types.TransactWriteItem{Put: put})
		// Comments are written only where they changed: in practice the
		// one a commented event added.
		for i, c := range t.Comments {
			if i < len(tt.stored.Comments) && sameComment(c, tt.stored.Comments[i]) {
				continue
			}
			doc, _ := json.Marshal(c)
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: table, Item: map[string]types.AttributeValue{
				attrPK: str(ticketPK(id)), attrSK: str(commentSK(i)), attrDoc: str(string(doc)),
			}}})
		}
		for i := len(t.Comments); i < len(tt.stored.Comments); i++ {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: table, Key: map[string]types.AttributeValue{
				attrPK: str(ticketPK(id)), attrSK: str(commentSK(i)),
			}}})
		}
	}
	for _, name := range slices.Sorted(mapsKeys(tx.counters)) {
		d := tx.counters[name]
		if d == 0 {
			continue
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 table,
			Key:                       map[string]types.AttributeValue{attrPK: str(pkCounters), attrSK: str(name)},
			UpdateExpression:          aws.String("ADD #n :d"),
			ExpressionAttributeNames:  map[string]string{"#n": attrN},
			ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(d)},
		}})
	}
	return items
}

func sameComment(a, b eventdesk.Comment) bool {
	return a.ID == b.ID && a.Author == b.Author && a.Body == b.Body && a.Internal == b.Internal && a.CreatedAt.Equal(b.CreatedAt)
}

// ticketItem is the item of a ticket: its JSON without comments, and the
// attributes the indexes key on.
func ticketItem(t eventdesk.Ticket) map[string]types.AttributeValue {
	comments := len(t.Comments)
	t.Comments = nil
	doc, _ := json.Marshal(t)
	created := t.CreatedAt.UTC().Format(timeLayout) + "#" + t.ID
	item := map[string]types.AttributeValue{
		attrPK:       str(ticketPK(t.ID)),
		attrSK:       str(skTicket),
		attrDoc:      str(string(doc)),
		attrVer:      num(t.Version),
		attrNC:       num(int64(comments)),
		attrAll:      str(allTickets),
		attrCreated:  str(created),
		attrUpdated:  str(t.UpdatedAt.UTC().Format(timeLayout) + "#" + t.ID),
		attrPrio:     str(strconv.Itoa(t.Priority.Rank()) + "#" + created),
		attrPriority: str(string(t.Priority)),
		attrAsg:      str(unassigned),
		attrSearch:   str(strings.ToLower(t.Title + "\n" + t.Description)),
	}
	if t.Status != "" {
		item[attrStatus] = str(string(t.Status))
	}
	if t.Assignee != "" {
		item[attrAsg] = str(assigneeKey(t.Assignee))
	}
	if t.Requester != "" {
		item[attrReqr] = str(t.Requester)
	}
	if len(t.Tags) > 0 {
		item[attrTags] = &types.AttributeValueMemberSS{Value: uniq(t.Tags)}
	}
	return item
}
