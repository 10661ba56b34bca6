package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestListQueryPlans checks with EXPLAIN QUERY PLAN that every list query
// walks an index in sort order: no table scan, and no sort of the matching
// rows (only multi-valued filters merge their walks, a sort of at most
// limit+1 rows per value).
func TestListQueryPlans(t *testing.T) {
	m, err := OpenReadModels(t.TempDir(), ReadModelsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cursorOf := func(f eventdesk.TicketFilter) string {
		q, err := buildTicketQuery(f)
		if err != nil {
			t.Fatal(err)
		}
		return encodeCursor(rmCursor{Sort: string(q.sort), Key: make([]int64, len(q.spec.keys)), ID: "01950000-0000-7000-8000-000000000000", Filter: q.fp})
	}
	filters := map[string]eventdesk.TicketFilter{
		"none":              {},
		"status":            {Status: []eventdesk.Status{eventdesk.StatusOpen}},
		"statuses":          {Status: []eventdesk.Status{eventdesk.StatusOpen, eventdesk.StatusNew}},
		"priority":          {Priority: []eventdesk.Priority{eventdesk.PriorityUrgent}},
		"priorities":        {Priority: []eventdesk.Priority{eventdesk.PriorityUrgent, eventdesk.PriorityHigh}},
		"assignee":          {Assignee: "alice", Status: []eventdesk.Status{eventdesk.StatusOpen}},
		"unassigned":        {Unassigned: true},
		"requester":         {Requester: "rita", Priority: []eventdesk.Priority{eventdesk.PriorityLow}},
		"tag":               {Tag: "billing", Status: []eventdesk.Status{eventdesk.StatusOpen}, Assignee: "bob"},
		"status+priorities": {Status: []eventdesk.Status{eventdesk.StatusPending}, Priority: []eventdesk.Priority{eventdesk.PriorityUrgent, eventdesk.PriorityHigh}},
	}
	for name, f := range filters {
		for _, s := range eventdesk.TicketSorts {
			for _, withCursor := range []bool{false, true} {
				f := f
				f.Sort = s
				if withCursor {
					f.Cursor = cursorOf(f)
				}
				q, err := buildTicketQuery(f)
				if err != nil {
					t.Fatal(err)
				}
				rows, err := m.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q.sql, q.args...)
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", name, s, err, q.sql)
				}
				var plan []string
				for rows.Next() {
					var id, parent, notused int
					var detail string
					if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, detail)
				}
				rows.Close()
				text := strings.Join(plan, "\n")
				arms := max(len(f.Status), 1)
				if f.Tag != "" || f.Assignee != "" || f.Unassigned || f.Requester != "" || len(f.Status) == 0 {
					arms = 1
				}
				if len(f.Status) == 0 && f.Tag == "" && f.Assignee == "" && !f.Unassigned && f.Requester == "" && len(f.Priority) > 1 {
					arms = len(f.Priority)
				}
				sorts := strings.Count(text, "TEMP B-TREE")
				if (arms == 1 && sorts > 0) || sorts > 1 || strings.Contains(text, "SCAN t\n") || strings.HasSuffix(text, "SCAN t") || strings.Contains(text, "SCAN g") && !strings.Contains(text, "USING") {
					t.Errorf("%s, sort %s, cursor %t: plan walks no index in order:\n%s\n%s", name, s, withCursor, text, q.sql)
				}
				if withCursor && !strings.Contains(text, "SEARCH") {
					t.Errorf("%s, sort %s: the cursor does not narrow the index walk:\n%s", name, s, text)
				}
			}
		}
	}
}
