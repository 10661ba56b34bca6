package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestListQueryPlans checks with EXPLAIN QUERY PLAN that every list query
// walks the index meant for its filter and sort in order: no table scan
// and no sort of the matching rows. A created or updated sort walks once
// per priority (and a multi-valued status filter once per status); such
// walks read index keys only, each sorts at most limit+1 of them for the
// merge, and the page's rows are fetched by rowid afterwards.
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
		"assignee only":     {Assignee: "alice"},
		"unassigned":        {Unassigned: true},
		"requester":         {Requester: "rita", Priority: []eventdesk.Priority{eventdesk.PriorityLow}},
		"requester only":    {Requester: "rita"},
		"requester+status":  {Requester: "rita", Status: []eventdesk.Status{eventdesk.StatusOpen, eventdesk.StatusNew}},
		"tag":               {Tag: "billing", Status: []eventdesk.Status{eventdesk.StatusOpen}, Assignee: "bob"},
		"tag only":          {Tag: "billing"},
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
				index, arms := expectedWalks(f)
				fail := func(why string) {
					t.Helper()
					t.Errorf("%s, sort %s, cursor %t: %s:\n%s\n%s", name, s, withCursor, why, text, q.sql)
				}
				var walks, covering int
				for _, line := range plan {
					if strings.Contains(line, "INDEX "+index+" ") || strings.HasSuffix(line, "INDEX "+index) {
						walks++
						if strings.Contains(line, "COVERING INDEX") {
							covering++
						}
						if withCursor && !strings.Contains(line, ")<(") && !strings.Contains(line, ")>(") {
							fail("the cursor does not narrow the walk")
						}
					}
					if (strings.HasPrefix(line, "SCAN t") || strings.HasPrefix(line, "SCAN g") || strings.HasPrefix(line, "SCAN d")) && !strings.Contains(line, "INDEX") {
						fail("a table scan")
					}
				}
				if walks != arms {
					fail(fmt.Sprintf("%d walks of %s, want %d", walks, index, arms))
				}
				sorts := strings.Count(text, "TEMP B-TREE")
				if arms == 1 && sorts > 0 || sorts > arms {
					fail("a sort of the matching rows")
				}
				if arms > 1 {
					// Merged walks check every filter on their index
					// (these filters have no requester next to an
					// assignee) and fetch the page's rows by rowid.
					if covering != arms {
						fail("a merged walk reads rows")
					}
					if !strings.Contains(text, "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)") {
						fail("the page's rows are not fetched by rowid")
					}
				}
			}
		}
	}
}

// expectedWalks returns the index a list query should walk and how many
// walks of it it should merge.
func expectedWalks(f eventdesk.TicketFilter) (index string, walks int) {
	sort := strings.TrimPrefix(string(f.Sort), "-")
	ranks := len(f.Priority)
	if ranks == 0 {
		ranks = 4
	}
	if sort == "priority" && len(f.Priority) == 0 {
		ranks = 1 // one walk in priority order
	}
	suffix := "_prio_created"
	if sort == "updated" {
		suffix = "_prio_updated"
	}
	switch {
	case f.Tag != "":
		return "tg_" + map[string]string{"created": "created", "updated": "updated", "priority": "prio"}[sort], 1
	case f.Assignee != "" || f.Unassigned:
		return "tk_assignee" + suffix, ranks
	case f.Requester != "":
		return "tk_requester" + suffix, ranks
	case len(f.Status) > 0:
		return "tk_status" + strings.TrimSuffix(suffix, "_created"), ranks * len(f.Status)
	}
	return "tk" + strings.TrimSuffix(suffix, "_created"), ranks
}
