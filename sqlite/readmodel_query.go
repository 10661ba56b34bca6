package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/listcursor"
)

// Ticket implements eventdesk.TicketReader.
func (m *ReadModels) Ticket(ctx context.Context, id string) (eventdesk.Ticket, error) {
	if !eventdesk.ValidID(id) {
		return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket %q not found", id)
	}
	m.swap.RLock()
	defer m.swap.RUnlock()
	if m.closed {
		return eventdesk.Ticket{}, errReadModelsClosed
	}
	var doc, comments []byte
	err := m.r.QueryRowContext(ctx, "SELECT doc, comments FROM tickets WHERE id = ?", id).Scan(&doc, &comments)
	if errors.Is(err, sql.ErrNoRows) {
		return eventdesk.Ticket{}, eventdesk.Errorf(eventdesk.ENotFound, "ticket %s not found", id)
	}
	if err != nil {
		return eventdesk.Ticket{}, fmt.Errorf("sqlite: ticket %s: %w", id, err)
	}
	t, err := decodeTicketRow(doc, comments)
	if err != nil {
		return eventdesk.Ticket{}, fmt.Errorf("sqlite: ticket %s: %w", id, err)
	}
	return t, nil
}

// Stats implements eventdesk.TicketReader from the counters the projection
// keeps: it reads a handful of rows whatever the number of tickets.
func (m *ReadModels) Stats(ctx context.Context) (eventdesk.Stats, error) {
	m.swap.RLock()
	defer m.swap.RUnlock()
	if m.closed {
		return eventdesk.Stats{}, errReadModelsClosed
	}
	rows, err := m.r.QueryContext(ctx, "SELECT name, value FROM counters")
	if err != nil {
		return eventdesk.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer rows.Close()
	counters := map[string]int64{}
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			return eventdesk.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
		}
		counters[name] = v
	}
	if err := rows.Err(); err != nil {
		return eventdesk.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	return eventdesk.StatsFromCounters(counters), nil
}

// A list query walks indices in sort order, led by its most selective
// filter (tag, then assignee, requester, status, priority), and checks the
// other filters on the index entries (or the rows) it meets; keyset
// pagination continues strictly after the last row's (sort key, id), so
// rows that did not change are never repeated or skipped whatever is
// written meanwhile. The indices of tickets are split by priority after
// their filter column (fewer indices, a cheaper insert per new ticket), so
// a created or updated sort runs one walk per priority and merges them,
// as a multi-valued status filter runs one walk per status.

// rmSortSpec describes how a TicketSort maps onto columns and indices.
type rmSortSpec struct {
	keys   []string // sort-key columns before id
	suffix string   // index name suffix
	desc   bool
}

func rmSortOf(s eventdesk.TicketSort) rmSortSpec {
	desc := strings.HasPrefix(string(s), "-")
	switch strings.TrimPrefix(string(s), "-") {
	case "updated":
		return rmSortSpec{keys: []string{"updated_at"}, suffix: "updated", desc: desc}
	case "priority":
		return rmSortSpec{keys: []string{"prio_rank", "created_at"}, suffix: "prio", desc: desc}
	}
	return rmSortSpec{keys: []string{"created_at"}, suffix: "created", desc: desc}
}

// rmCursor is the decoded form of TicketPage.Next, shared with postgres.
type rmCursor = listcursor.Cursor

func decodeCursor(s string, sort eventdesk.TicketSort, spec rmSortSpec, fp string) (rmCursor, error) {
	return listcursor.Decode(s, sort, len(spec.keys), fp)
}

func encodeCursor(c rmCursor) string { return c.Encode() }

// filterFingerprint identifies a filter regardless of the order of its
// multi-valued fields; a cursor only continues the list it came from.
func filterFingerprint(f eventdesk.TicketFilter, statuses []eventdesk.Status, ranks []int) string {
	var b strings.Builder
	for _, s := range statuses {
		b.WriteString(string(s) + ",")
	}
	b.WriteString("|")
	for _, r := range ranks {
		fmt.Fprintf(&b, "%d,", r)
	}
	fmt.Fprintf(&b, "|%q|%t|%q|%q|%q", f.Assignee, f.Unassigned, f.Requester, f.Tag, f.Text)
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// Tickets implements eventdesk.TicketReader.
func (m *ReadModels) Tickets(ctx context.Context, f eventdesk.TicketFilter) (eventdesk.TicketPage, error) {
	q, err := buildTicketQuery(f)
	if err != nil {
		return eventdesk.TicketPage{}, err
	}
	m.swap.RLock()
	defer m.swap.RUnlock()
	if m.closed {
		return eventdesk.TicketPage{}, errReadModelsClosed
	}
	cache := m.listCache()
	var rows *sql.Rows
	if st := cache.stmt(ctx, q.sql); st != nil {
		rows, err = st.QueryContext(ctx, q.args...)
	} else {
		rows, err = m.r.QueryContext(ctx, q.sql, q.args...)
	}
	if err != nil {
		return eventdesk.TicketPage{}, fmt.Errorf("sqlite: list tickets: %w", err)
	}
	defer rows.Close()
	page := eventdesk.TicketPage{Items: make([]eventdesk.Ticket, 0, q.limit)}
	var more bool
	for rows.Next() {
		if len(page.Items) == q.limit {
			more = true
			break
		}
		var (
			id       string
			ver, pos int64
			doc      sql.RawBytes // the driver's copy, valid until Next: decoded or dropped here
		)
		if err := rows.Scan(&id, &ver, &pos, &doc); err != nil {
			return eventdesk.TicketPage{}, fmt.Errorf("sqlite: list tickets: %w", err)
		}
		t, ok := cache.get(id, ver, pos)
		if !ok {
			if t, err = decodeTicketRow(doc, nil); err != nil {
				return eventdesk.TicketPage{}, fmt.Errorf("sqlite: list tickets: %w", err)
			}
			cache.put(id, ver, pos, t)
		}
		page.Items = append(page.Items, t)
	}
	if err := rows.Err(); err != nil {
		return eventdesk.TicketPage{}, fmt.Errorf("sqlite: list tickets: %w", err)
	}
	if more {
		last := page.Items[len(page.Items)-1]
		c := listcursor.After(last, q.sort, q.spec.keys, q.fp)
		page.Next = encodeCursor(c)
	}
	return page, nil
}

// ticketQuery is a list query ready to run.
type ticketQuery struct {
	sql   string
	args  []any
	limit int
	sort  eventdesk.TicketSort
	spec  rmSortSpec
	fp    string
}

// buildTicketQuery validates f and turns it into SQL.
func buildTicketQuery(f eventdesk.TicketFilter) (ticketQuery, error) {
	invalid := &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid ticket filter", Fields: map[string]string{}}
	sort := f.Sort
	if sort == "" {
		sort = eventdesk.SortCreatedDesc
	}
	if !sort.Valid() {
		invalid.Fields["sort"] = "must be one of created, -created, updated, -updated, priority, -priority"
	}
	limit := f.Limit
	if limit == 0 {
		limit = eventdesk.DefaultListLimit
	}
	if limit < 1 || limit > eventdesk.MaxListLimit {
		invalid.Fields["limit"] = fmt.Sprintf("must be between 1 and %d", eventdesk.MaxListLimit)
	}
	var statuses []eventdesk.Status
	for _, s := range f.Status {
		if !s.Valid() {
			invalid.Fields["status"] = "must be one of new, open, pending, resolved, closed"
		} else if !slices.Contains(statuses, s) {
			statuses = append(statuses, s)
		}
	}
	slices.Sort(statuses)
	var ranks []int
	for _, p := range f.Priority {
		if !p.Valid() {
			invalid.Fields["priority"] = "must be one of low, normal, high, urgent"
		} else if !slices.Contains(ranks, p.Rank()) {
			ranks = append(ranks, p.Rank())
		}
	}
	slices.Sort(ranks)
	if f.Unassigned && f.Assignee != "" {
		invalid.Fields["assignee"] = "cannot be combined with unassigned"
	}
	if strings.TrimSpace(f.Text) != "" {
		invalid.Fields["text"] = "free-text search is not supported by this read model yet"
	}
	if len(invalid.Fields) > 0 {
		return ticketQuery{}, invalid
	}
	spec := rmSortOf(sort)
	fp := filterFingerprint(f, statuses, ranks)
	var cur *rmCursor
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor, sort, spec, fp)
		if err != nil {
			return ticketQuery{}, err
		}
		cur = &c
	}

	// Choose the driving walks. Every index of tickets is led by its
	// filter column (none, status, assignee, requester), then prio_rank,
	// then one sort key: a priority sort walks it in order; a created or
	// updated sort walks it once per priority and merges the walks.
	type walk struct {
		from  string // FROM clause, with INDEXED BY
		alias string // alias whose sort-key columns the walk is ordered by
		conds []string
		args  []any
		rank  int // the priority it is limited to, or 0
	}
	assignee, hasAssignee := f.Assignee, f.Assignee != "" || f.Unassigned
	byPrio := spec.suffix == "prio"
	// Each lead's index for this sort (created_at also serves priority).
	idx := func(lead string) string {
		upd := spec.suffix == "updated"
		switch {
		case lead == "" && upd:
			return "tk_prio_updated"
		case lead == "":
			return "tk_prio"
		case lead == "status" && upd:
			return "tk_status_prio_updated"
		case lead == "status":
			return "tk_status_prio"
		case upd:
			return "tk_" + lead + "_prio_updated"
		}
		return "tk_" + lead + "_prio_created"
	}
	// perRank splits a walk into one per priority (the filter's, or all
	// four), except for a priority sort without a priority filter, which
	// walks them all in order. (With a filter, a single walk would take
	// the priorities as IN values and could not start at the cursor.)
	allRanks := []int{eventdesk.PriorityLow.Rank(), eventdesk.PriorityNormal.Rank(), eventdesk.PriorityHigh.Rank(), eventdesk.PriorityUrgent.Rank()}
	var walks []walk
	perRank := func(w walk) {
		if byPrio && len(ranks) == 0 {
			walks = append(walks, w)
			return
		}
		rs := ranks
		if len(rs) == 0 {
			rs = allRanks
		}
		for _, r := range rs {
			c := w
			c.conds = append(slices.Clip(w.conds), w.alias+".prio_rank = ?")
			c.args = append(slices.Clip(w.args), r)
			c.rank = r
			walks = append(walks, c)
		}
	}
	residual := map[string]bool{}
	switch {
	case f.Tag != "":
		// One walk, in sort order: the other filters are checked on the
		// tickets rows, which one walk per priority would read four
		// times over.
		walks = []walk{{from: "ticket_tags AS g INDEXED BY tg_" + spec.suffix + " CROSS JOIN tickets AS t", alias: "g",
			conds: []string{"g.tag = ?", "t.id = g.id"}, args: []any{strings.ToLower(f.Tag)}}}
		residual["status"], residual["rank"], residual["assignee"], residual["requester"] = true, true, true, true
	case hasAssignee:
		perRank(walk{from: "tickets AS t INDEXED BY " + idx("assignee"), alias: "t", conds: []string{"t.assignee = ?"}, args: []any{assignee}})
		residual["status"], residual["requester"] = true, true
	case f.Requester != "":
		perRank(walk{from: "tickets AS t INDEXED BY " + idx("requester"), alias: "t", conds: []string{"t.requester = ?"}, args: []any{f.Requester}})
		residual["status"] = true
	case len(statuses) > 0:
		for _, s := range statuses {
			perRank(walk{from: "tickets AS t INDEXED BY " + idx("status"), alias: "t", conds: []string{"t.status = ?"}, args: []any{string(s)}})
		}
	default:
		perRank(walk{from: "tickets AS t INDEXED BY " + idx(""), alias: "t"})
	}

	dir, cmp := "ASC", ">"
	if spec.desc {
		dir, cmp = "DESC", "<"
	}
	// A single walk selects the rows themselves: SQLite reads a row only
	// once its index entry passed the filters. Merged walks select index
	// keys only (every filter they check is in their index, except a
	// requester next to an assignee), and the page's rows are fetched
	// by rowid after the merge: reading each walk's rows first would read
	// up to four pages of rows for one.
	merged := len(walks) > 1
	var args []any
	arms := make([]string, 0, len(walks))
	for _, w := range walks {
		var b strings.Builder
		cols := make([]string, 0, len(spec.keys)+1)
		for _, k := range spec.keys {
			cols = append(cols, w.alias+"."+k)
		}
		cols = append(cols, w.alias+".id")
		what := "t.doc AS doc, t.version AS ver, t.position AS pos"
		if merged {
			what = "t.rowid AS rid"
		}
		where := "1"
		if len(w.conds) > 0 {
			where = strings.Join(w.conds, " AND ")
		}
		fmt.Fprintf(&b, "SELECT %s, %s FROM %s WHERE %s", what, strings.Join(sortAliases(cols), ", "), w.from, where)
		args = append(args, w.args...)
		switch {
		case cur != nil && byPrio && w.rank != 0:
			// A walk of one priority, by priority: it starts at the
			// cursor if the cursor is in its priority, and is empty or
			// whole if its priority is before or after the cursor's.
			// The bounds keep one statement for every cursor.
			key, id := cur.Key[1], cur.ID
			switch c := int64(w.rank); {
			case c == cur.Key[0]:
			case c < cur.Key[0] == spec.desc:
				key, id = math.MaxInt64, "" // not reached: all of it
				if !spec.desc {
					key = math.MinInt64
				}
			default:
				key, id = math.MinInt64, "" // passed: none of it
				if !spec.desc {
					key = math.MaxInt64
				}
			}
			fmt.Fprintf(&b, " AND (%s) %s (?, ?)", strings.Join(cols[1:], ", "), cmp)
			args = append(args, key, id)
		case cur != nil:
			ph := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
			fmt.Fprintf(&b, " AND (%s) %s (%s)", strings.Join(cols, ", "), cmp, ph)
			for _, k := range cur.Key {
				args = append(args, k)
			}
			args = append(args, cur.ID)
		}
		if residual["status"] && len(statuses) > 0 {
			fmt.Fprintf(&b, " AND t.status IN (%s)", placeholders(len(statuses)))
			for _, s := range statuses {
				args = append(args, string(s))
			}
		}
		if residual["rank"] && len(ranks) > 0 && w.rank == 0 {
			fmt.Fprintf(&b, " AND %s.prio_rank IN (%s)", w.alias, placeholders(len(ranks)))
			for _, r := range ranks {
				args = append(args, r)
			}
		}
		if residual["assignee"] && hasAssignee {
			b.WriteString(" AND t.assignee = ?")
			args = append(args, assignee)
		}
		if residual["requester"] && f.Requester != "" {
			b.WriteString(" AND t.requester = ?")
			args = append(args, f.Requester)
		}
		order := make([]string, len(cols))
		for i, c := range cols {
			order[i] = c + " " + dir
		}
		fmt.Fprintf(&b, " ORDER BY %s LIMIT %d", strings.Join(order, ", "), limit+1)
		arms = append(arms, b.String())
	}
	var sqlText string
	if !merged {
		sqlText = "SELECT k_id, ver, pos, doc FROM (" + arms[0] + ")"
	} else {
		order := make([]string, 0, len(spec.keys)+1)
		outer := make([]string, 0, len(spec.keys)+1)
		for _, k := range spec.keys {
			order = append(order, "k_"+k+" "+dir)
			outer = append(outer, "k.k_"+k+" "+dir)
		}
		order = append(order, "k_id "+dir)
		outer = append(outer, "k.k_id "+dir)
		parts := make([]string, len(arms))
		for i, a := range arms {
			parts[i] = "SELECT * FROM (" + a + ")"
		}
		sqlText = "SELECT d.id, d.version, d.position, d.doc FROM (SELECT * FROM (" + strings.Join(parts, " UNION ALL ") + ") ORDER BY " +
			strings.Join(order, ", ") + fmt.Sprintf(" LIMIT %d", limit+1) + ") AS k CROSS JOIN tickets AS d ON d.rowid = k.rid ORDER BY " + strings.Join(outer, ", ")
	}
	return ticketQuery{sql: sqlText, args: args, limit: limit, sort: sort, spec: spec, fp: fp}, nil
}

// sortAliases names the sort-key columns of an arm k_<column> so that
// merged arms can be ordered by them.
func sortAliases(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		_, name, _ := strings.Cut(c, ".")
		out[i] = c + " AS k_" + name
	}
	return out
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// listCacheSize bounds the decoded list rows kept (about 1 KB each).
const listCacheSize = 16384

// maxListStmts bounds the prepared list statements kept: one per shape of
// query (filters present, number of statuses and priorities, sort,
// cursor), a few hundred at most in practice.
const maxListStmts = 512

// rowCache keeps the tickets that list queries decoded, by id, with the
// version and position they were decoded at. A stored row at a given
// (version, position) does not change while the file is open (the
// projection writes a ticket again only with a later event; migrations
// rewrite rows only as the file opens, and every open, a rebuild's swap
// included, brings a new reader pool, which empties the cache), so a page
// whose rows are cached is answered
// without decoding JSON: the query still runs and reads each row's version
// and position, and only a changed or unknown row is decoded. The cached
// tickets are shared between callers, which must not modify them (their
// slices included).
type rowCache struct {
	mu sync.Mutex
	// db is the reader pool the rows came from: a rebuild swaps the file
	// and opens a new pool, which empties the cache.
	db   *sql.DB
	rows map[string]cachedRow
	// stmts are the list queries prepared on db, by SQL text: SQLite
	// parses and plans a query once per connection instead of once per
	// request.
	stmts map[string]*sql.Stmt
}

type cachedRow struct {
	version, position int64
	t                 eventdesk.Ticket
}

// listCache returns the row cache for the current file. The caller holds
// m.swap for reading.
func (m *ReadModels) listCache() *rowCache {
	c := &m.rowCache
	c.mu.Lock()
	if c.db != m.r {
		for _, st := range c.stmts {
			_ = st.Close() // the old pool is closed already
		}
		c.db, c.rows, c.stmts = m.r, make(map[string]cachedRow, 1024), map[string]*sql.Stmt{}
	}
	c.mu.Unlock()
	return c
}

// stmt returns the prepared statement for query, or nil if too many are
// prepared or preparing fails (the caller then runs the text).
func (c *rowCache) stmt(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if len(c.stmts) >= maxListStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.stmts[query] = st
	return st
}

func (c *rowCache) get(id string, version, position int64) (eventdesk.Ticket, bool) {
	c.mu.Lock()
	r, ok := c.rows[id]
	c.mu.Unlock()
	if !ok || r.version != version || r.position != position {
		return eventdesk.Ticket{}, false
	}
	return r.t, true
}

func (c *rowCache) put(id string, version, position int64, t eventdesk.Ticket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rows[id]; !ok && len(c.rows) >= listCacheSize {
		// Evict an eighth, in map order (random), as rmCache does.
		n := listCacheSize / 8
		for k := range c.rows {
			delete(c.rows, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.rows[id] = cachedRow{version: version, position: position, t: t}
}
