package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/listcursor"
	"github.com/jackc/pgx/v5"
)

// A list query is one SELECT over rm_tickets: the filters as equalities
// (the planner picks among the (filter, sort key, id) indexes, or the GIN
// index of tags), ordered by (sort keys, id), and keyset pagination that
// continues strictly after the last row's (sort keys, id). So a row that
// did not change is never repeated or skipped, whatever is written
// between pages.

// maxTextFilter bounds the free-text filter.
const maxTextFilter = 200

// sortSpec maps a TicketSort onto columns.
type sortSpec struct {
	keys []string // sort-key columns before id
	desc bool
}

func sortOf(s eventdesk.TicketSort) sortSpec {
	desc := strings.HasPrefix(string(s), "-")
	switch strings.TrimPrefix(string(s), "-") {
	case "updated":
		return sortSpec{keys: []string{"updated_at"}, desc: desc}
	case "priority":
		return sortSpec{keys: []string{"prio_rank", "created_at"}, desc: desc}
	}
	return sortSpec{keys: []string{"created_at"}, desc: desc}
}

// listCursor is the decoded form of TicketPage.Next, shared with sqlite.
type listCursor = listcursor.Cursor

func decodeCursor(s string, sort eventdesk.TicketSort, spec sortSpec, fp string) (listCursor, error) {
	return listcursor.Decode(s, sort, len(spec.keys), fp)
}

func encodeCursor(c listCursor) string { return c.Encode() }

// fingerprint identifies a filter regardless of the order of its
// multi-valued fields; a cursor only continues the list it came from.
func fingerprint(f eventdesk.TicketFilter, statuses []string, ranks []int, text string) string {
	var b strings.Builder
	b.WriteString(strings.Join(statuses, ",") + "|")
	for _, r := range ranks {
		fmt.Fprintf(&b, "%d,", r)
	}
	fmt.Fprintf(&b, "|%q|%t|%q|%q|%q", f.Assignee, f.Unassigned, f.Requester, strings.ToLower(f.Tag), text)
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// listQuery is a validated list query ready to run.
type listQuery struct {
	sql   string
	args  []any
	limit int
	sort  eventdesk.TicketSort
	spec  sortSpec
	fp    string
}

// buildListQuery validates f and turns it into SQL.
func buildListQuery(f eventdesk.TicketFilter) (listQuery, error) {
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
	var statuses []string
	for _, s := range f.Status {
		if !s.Valid() {
			invalid.Fields["status"] = "must be one of new, open, pending, resolved, closed"
		} else if !slices.Contains(statuses, string(s)) {
			statuses = append(statuses, string(s))
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
	text := strings.ToLower(strings.TrimSpace(f.Text))
	if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		invalid.Fields["text"] = "must be valid UTF-8"
	} else if utf8.RuneCountInString(text) > maxTextFilter {
		invalid.Fields["text"] = fmt.Sprintf("must be at most %d characters", maxTextFilter)
	}
	for field, v := range map[string]string{"assignee": f.Assignee, "requester": f.Requester, "tag": f.Tag} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			invalid.Fields[field] = "must be valid UTF-8"
		}
	}
	if len(invalid.Fields) > 0 {
		return listQuery{}, invalid
	}
	spec := sortOf(sort)
	fp := fingerprint(f, statuses, ranks, text)
	var cur *listCursor
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor, sort, spec, fp)
		if err != nil {
			return listQuery{}, err
		}
		cur = &c
	}

	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(statuses) > 0 {
		where = append(where, "status = ANY("+arg(statuses)+"::text[])")
	}
	if len(ranks) > 0 {
		where = append(where, "prio_rank = ANY("+arg(ranks)+"::int[])")
	}
	switch {
	case f.Unassigned:
		where = append(where, "assignee = ''")
	case f.Assignee != "":
		where = append(where, "assignee = "+arg(f.Assignee))
	}
	if f.Requester != "" {
		where = append(where, "requester = "+arg(f.Requester))
	}
	if f.Tag != "" {
		where = append(where, "tags @> ARRAY["+arg(strings.ToLower(f.Tag))+"::text]")
	}
	if text != "" {
		where = append(where, "strpos(search, "+arg(text)+") > 0")
	}
	cols := append(slices.Clone(spec.keys), "id")
	dir, cmp := "ASC", ">"
	if spec.desc {
		dir, cmp = "DESC", "<"
	}
	if cur != nil {
		ph := make([]string, 0, len(cols))
		for _, k := range cur.Key {
			ph = append(ph, arg(k))
		}
		ph = append(ph, arg(cur.ID))
		where = append(where, "("+strings.Join(cols, ", ")+") "+cmp+" ("+strings.Join(ph, ", ")+")")
	}
	order := make([]string, len(cols))
	for i, c := range cols {
		order[i] = c + " " + dir
	}
	q := "SELECT doc FROM rm_tickets"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(limit+1)
	return listQuery{sql: q, args: args, limit: limit, sort: sort, spec: spec, fp: fp}, nil
}

// Tickets implements eventdesk.TicketReader. Filters match exactly (the
// tag ignores case); Text matches a substring of the title or description,
// ignoring case.
func (m *ReadModels) Tickets(ctx context.Context, f eventdesk.TicketFilter) (eventdesk.TicketPage, error) {
	q, err := buildListQuery(f)
	if err != nil {
		return eventdesk.TicketPage{}, err
	}
	rows, err := m.db.pool.Query(ctx, q.sql, q.args...)
	if err != nil {
		return eventdesk.TicketPage{}, fmt.Errorf("postgres: list tickets: %w", unavailable(err))
	}
	page := eventdesk.TicketPage{Items: make([]eventdesk.Ticket, 0, q.limit)}
	more := false
	var doc []byte
	_, err = pgx.ForEachRow(rows, []any{&doc}, func() error {
		if len(page.Items) == q.limit {
			more = true
			return nil
		}
		t, err := decodeTicketRow(doc, nil)
		if err != nil {
			return err
		}
		page.Items = append(page.Items, t)
		return nil
	})
	if err != nil {
		return eventdesk.TicketPage{}, fmt.Errorf("postgres: list tickets: %w", unavailable(err))
	}
	if more {
		last := page.Items[len(page.Items)-1]
		c := listcursor.After(last, q.sort, q.spec.keys, q.fp)
		page.Next = encodeCursor(c)
	}
	return page, nil
}
