package eventdesk_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
)

// decideCase is one "given events, when command, then events / error" case.
type decideCase struct {
	name  string
	given []eventdesk.Payload // nil: the ticket does not exist
	when  eventdesk.Command
	then  []eventdesk.Payload // nil: no events
	err   *wantErr
}

func runDecide(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var prior []eventdesk.Event
			if tc.given != nil {
				prior = events(t, tc.given...)
			}
			state := fold(t, prior)
			got, err := eventdesk.Decide(state, tc.when)
			checkErr(t, err, tc.err)
			if diff := cmp.Diff(tc.then, got); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			// Whatever Decide emits must fold onto the state it decided on.
			steps := make([]step, len(got))
			for i, p := range got {
				steps[i] = step{agent, p}
			}
			if _, err := eventdesk.Fold(appendEvents(t, prior, steps...)); err != nil {
				t.Fatalf("decided events do not fold: %v", err)
			}
		})
	}
}

// in returns the history of a ticket in status s (a shorter name for
// tables).
func in(s eventdesk.Status) []eventdesk.Payload { return history(s) }

// with is the history of a new ticket followed by more events.
func with(ps ...eventdesk.Payload) []eventdesk.Payload {
	return append([]eventdesk.Payload{created()}, ps...)
}

func TestDecideOpenTicket(t *testing.T) {
	valid := func(edit func(*eventdesk.OpenTicket)) eventdesk.OpenTicket {
		c := eventdesk.OpenTicket{Title: "Printer on fire", Requester: requester}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	createdWith := func(edit func(*eventdesk.TicketCreated)) []eventdesk.Payload {
		e := eventdesk.TicketCreated{Title: "Printer on fire", Priority: eventdesk.PriorityNormal, Requester: requester, Tags: []string{}}
		if edit != nil {
			edit(&e)
		}
		return []eventdesk.Payload{e}
	}
	tags := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%02d", prefix, i)
		}
		return out
	}
	cases := []decideCase{
		{name: "minimal", when: valid(nil), then: createdWith(nil)},
		{
			name: "every field, normalized",
			when: eventdesk.OpenTicket{
				Title: "  Printer on fire \n", Description: "\n  It smells of toner.\n\tReally.  \n", Priority: eventdesk.PriorityUrgent,
				Requester: requester, Assignee: agent, Tags: []string{" Printer", "HARDWARE", "printer", "floor:3"},
			},
			then: createdWith(func(e *eventdesk.TicketCreated) {
				e.Description = "It smells of toner.\n\tReally."
				e.Priority = eventdesk.PriorityUrgent
				e.Assignee = agent
				e.Tags = []string{"floor:3", "hardware", "printer"}
			}),
		},
		{name: "pointer command", when: ptr(valid(nil)), then: createdWith(nil)},
		{name: "nil pointer command", when: (*eventdesk.OpenTicket)(nil), err: &wantErr{code: eventdesk.EInvalid}},

		// Title.
		{name: "title 200 ASCII characters", when: valid(func(c *eventdesk.OpenTicket) { c.Title = strings.Repeat("a", 200) }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Title = strings.Repeat("a", 200) })},
		{name: "title 201 characters", when: valid(func(c *eventdesk.OpenTicket) { c.Title = strings.Repeat("a", 201) }),
			err: invalid("title", "must be at most 200 characters")},
		{name: "title 200 two-byte characters", when: valid(func(c *eventdesk.OpenTicket) { c.Title = strings.Repeat("é", 200) }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Title = strings.Repeat("é", 200) })},
		{name: "title 201 two-byte characters", when: valid(func(c *eventdesk.OpenTicket) { c.Title = strings.Repeat("é", 201) }),
			err: invalid("title", "must be at most 200 characters")},
		{name: "title 200 four-byte characters", when: valid(func(c *eventdesk.OpenTicket) { c.Title = strings.Repeat("🎫", 200) }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Title = strings.Repeat("🎫", 200) })},
		{name: "title 200 characters once trimmed", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "   " + strings.Repeat("a", 200) + "\t\n" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Title = strings.Repeat("a", 200) })},
		{name: "title one character", when: valid(func(c *eventdesk.OpenTicket) { c.Title = " ? " }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Title = "?" })},
		{name: "title emoji with zero-width joiner", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "👩\u200d💻 help" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Title = "👩\u200d💻 help" })},
		{name: "title empty", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "" }), err: invalid("title", "must not be empty")},
		{name: "title only white space", when: valid(func(c *eventdesk.OpenTicket) { c.Title = " \t\n\u00a0\u3000 " }), err: invalid("title", "must not be empty")},
		{name: "title only zero-width space", when: valid(func(c *eventdesk.OpenTicket) { c.Title = " \u200b\ufeff " }), err: invalid("title", "must not be empty")},
		{name: "title with newline inside", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "two\nlines" }),
			err: invalid("title", "must not contain control characters or line breaks")},
		{name: "title with tab inside", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "a\tb" }),
			err: invalid("title", "must not contain control characters or line breaks")},
		{name: "title with NUL", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "a\x00b" }),
			err: invalid("title", "must not contain control characters or line breaks")},
		{name: "title with C1 control", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "a\u009bb" }),
			err: invalid("title", "must not contain control characters or line breaks")},
		{name: "title with line separator", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "a\u2028b" }),
			err: invalid("title", "must not contain control characters or line breaks")},
		{name: "title invalid UTF-8", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "caf\xe9" }), err: invalid("title", "must be valid UTF-8")},
		{name: "title invalid UTF-8 in trimmed space", when: valid(func(c *eventdesk.OpenTicket) { c.Title = "ok \xff" }), err: invalid("title", "must be valid UTF-8")},

		// Description.
		{name: "description empty", when: valid(func(c *eventdesk.OpenTicket) { c.Description = "  " }), then: createdWith(nil)},
		{name: "description 64 KiB", when: valid(func(c *eventdesk.OpenTicket) { c.Description = strings.Repeat("x", 64<<10) }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Description = strings.Repeat("x", 64<<10) })},
		{name: "description 64 KiB + 1", when: valid(func(c *eventdesk.OpenTicket) { c.Description = strings.Repeat("x", 64<<10+1) }),
			err: invalid("description", "must be at most 64 KiB")},
		{name: "description 64 KiB of multi-byte text", when: valid(func(c *eventdesk.OpenTicket) { c.Description = strings.Repeat("€", (64<<10)/3) + "x" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Description = strings.Repeat("€", (64<<10)/3) + "x" })},
		{name: "description limit counts bytes", when: valid(func(c *eventdesk.OpenTicket) { c.Description = strings.Repeat("€", (64<<10)/3+1) }),
			err: invalid("description", "must be at most 64 KiB")},
		{name: "description 64 KiB once trimmed", when: valid(func(c *eventdesk.OpenTicket) { c.Description = "\n" + strings.Repeat("x", 64<<10) + "  " }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Description = strings.Repeat("x", 64<<10) })},
		{name: "description keeps line breaks and tabs", when: valid(func(c *eventdesk.OpenTicket) { c.Description = "a\r\n\tb" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Description = "a\r\n\tb" })},
		{name: "description with bell", when: valid(func(c *eventdesk.OpenTicket) { c.Description = "ding\a" }),
			err: invalid("description", "must not contain control characters")},
		{name: "description invalid UTF-8", when: valid(func(c *eventdesk.OpenTicket) { c.Description = "\xc3\x28" }),
			err: invalid("description", "must be valid UTF-8")},

		// Priority.
		{name: "priority low", when: valid(func(c *eventdesk.OpenTicket) { c.Priority = "low" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Priority = eventdesk.PriorityLow })},
		{name: "priority normal", when: valid(func(c *eventdesk.OpenTicket) { c.Priority = "normal" }), then: createdWith(nil)},
		{name: "priority high", when: valid(func(c *eventdesk.OpenTicket) { c.Priority = "high" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Priority = eventdesk.PriorityHigh })},
		{name: "priority urgent", when: valid(func(c *eventdesk.OpenTicket) { c.Priority = "urgent" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Priority = eventdesk.PriorityUrgent })},
		{name: "priority upper case", when: valid(func(c *eventdesk.OpenTicket) { c.Priority = "URGENT" }),
			err: invalid("priority", "must be one of low, normal, high, urgent")},
		{name: "priority unknown", when: valid(func(c *eventdesk.OpenTicket) { c.Priority = "critical" }),
			err: invalid("priority", "must be one of low, normal, high, urgent")},

		// Requester and assignee.
		{name: "requester missing", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = "" }), err: invalid("requester", "must not be empty")},
		{name: "requester 64 characters", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = strings.Repeat("ü", 64) }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Requester = strings.Repeat("ü", 64) })},
		{name: "requester 65 characters", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = strings.Repeat("a", 65) }),
			err: invalid("requester", "must be at most 64 characters")},
		{name: "requester e-mail like", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = "a.b_c-d+e@example.com" }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Requester = "a.b_c-d+e@example.com" })},
		{name: "requester with space", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = "alice smith" }),
			err: invalid("requester", "may contain only letters, digits and . _ @ - +")},
		{name: "requester not trimmed", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = " alice" }),
			err: invalid("requester", "may contain only letters, digits and . _ @ - +")},
		{name: "requester policy name", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = "policy:x" }),
			err: invalid("requester", "may contain only letters, digits and . _ @ - +")},
		{name: "requester invalid UTF-8", when: valid(func(c *eventdesk.OpenTicket) { c.Requester = "al\xffce" }),
			err: invalid("requester", "may contain only letters, digits and . _ @ - +")},
		{name: "assignee bad", when: valid(func(c *eventdesk.OpenTicket) { c.Assignee = "bob/x" }),
			err: invalid("assignee", "may contain only letters, digits and . _ @ - +")},

		// Tags.
		{name: "20 tags", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = tags(20, "t") }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = tags(20, "t") })},
		{name: "21 tags", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = tags(21, "t") }), err: invalid("tags", "at most 20 tags")},
		{name: "21 tags of which 20 distinct", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = append(tags(20, "T"), "t05") }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = tags(20, "t") })},
		{name: "tag of 40 characters", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{strings.Repeat("ü", 40)} }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = []string{strings.Repeat("ü", 40)} })},
		{name: "tag of 41 characters", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{strings.Repeat("a", 41)} }),
			err: invalid("tags", `tag "`+strings.Repeat("a", 41)+`" is longer than 40 characters`)},
		{name: "tag of 40 characters once trimmed", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{" " + strings.Repeat("a", 40) + " "} }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = []string{strings.Repeat("a", 40)} })},
		{name: "tags lower-cased, unique, sorted", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"VPN", "Bug", "bug", "BUG", "vpn", "Äpfel"} }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = []string{"bug", "vpn", "äpfel"} })},
		{name: "tag punctuation allowed", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"c++", "#urgent", "team/it", "v1.2_b-c:d"} }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = []string{"#urgent", "c++", "team/it", "v1.2_b-c:d"} })},
		{name: "tag with dotted capital I", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"İstanbul"} }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = []string{"istanbul"} })},
		{name: "tag with combining accent", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"Cafe\u0301"} }),
			then: createdWith(func(e *eventdesk.TicketCreated) { e.Tags = []string{"cafe\u0301"} })},
		{name: "tag empty", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"ok", ""} }), err: invalid("tags", "a tag must not be empty")},
		{name: "tag blank", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{" \t "} }), err: invalid("tags", "a tag must not be empty")},
		{name: "tag with space", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"two words"} }),
			err: invalid("tags", `tag "two words" may contain only letters, digits and - _ . : / + #`)},
		{name: "tag with control character", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"a\x01"} }),
			err: invalid("tags", `tag "a\x01" may contain only letters, digits and - _ . : / + #`)},
		{name: "tag invalid UTF-8", when: valid(func(c *eventdesk.OpenTicket) { c.Tags = []string{"\xff"} }), err: invalid("tags", "a tag must be valid UTF-8")},

		{
			name: "every problem at once",
			when: eventdesk.OpenTicket{Title: " ", Description: "\x00", Priority: "meh", Requester: "", Assignee: "a b", Tags: []string{""}},
			err: invalid("title", "must not be empty", "description", "must not contain control characters",
				"priority", "must be one of low, normal, high, urgent", "requester", "must not be empty",
				"assignee", "may contain only letters, digits and . _ @ - +", "tags", "a tag must not be empty"),
		},
	}
	for _, s := range eventdesk.Statuses {
		cases = append(cases, decideCase{name: "ticket exists in " + string(s), given: in(s), when: valid(nil), err: conflict})
	}
	runDecide(t, cases)
}

func TestDecideEditTicket(t *testing.T) {
	var cases []decideCase
	// Every field on a missing ticket, and every field in every status.
	fields := []struct {
		name string
		edit eventdesk.EditTicket
		then eventdesk.Payload
	}{
		{"title", eventdesk.EditTicket{Title: ptr(" Printer fixed ")}, eventdesk.TitleChanged{From: "Printer on fire", To: "Printer fixed"}},
		{"description", eventdesk.EditTicket{Description: ptr("Smoke.\n")}, eventdesk.DescriptionChanged{Description: "Smoke."}},
		{"priority", eventdesk.EditTicket{Priority: ptr(eventdesk.PriorityHigh)}, eventdesk.PriorityChanged{From: "normal", To: "high"}},
		{"tags", eventdesk.EditTicket{Tags: &[]string{"Printer", "Fire"}}, eventdesk.TagsChanged{Added: []string{"fire"}, Removed: []string{"hardware"}}},
		{"assignee", eventdesk.EditTicket{Assignee: ptr(agent)}, eventdesk.TicketAssigned{Assignee: agent}},
	}
	for _, f := range fields {
		cases = append(cases, decideCase{name: f.name + " of a missing ticket", when: f.edit, err: notFound})
		for _, s := range activeStatuses {
			cases = append(cases, decideCase{name: f.name + " in " + string(s), given: in(s), when: f.edit, then: []eventdesk.Payload{f.then}})
		}
		cases = append(cases, decideCase{name: f.name + " in closed", given: in(eventdesk.StatusClosed), when: f.edit, err: conflict})
	}
	assigned := with(eventdesk.TicketAssigned{Assignee: agent})
	cases = append(cases, []decideCase{
		// No-op edits emit nothing.
		{name: "empty edit", given: in("open"), when: eventdesk.EditTicket{}},
		{name: "reason only", given: in("open"), when: eventdesk.EditTicket{Reason: "because"}},
		{name: "same title", given: in("open"), when: eventdesk.EditTicket{Title: ptr("Printer on fire")}},
		{name: "same title once trimmed", given: in("open"), when: eventdesk.EditTicket{Title: ptr("  Printer on fire\n")}},
		{name: "same description once trimmed", given: in("open"), when: eventdesk.EditTicket{Description: ptr(" It smells of toner. ")}},
		{name: "same priority", given: in("open"), when: eventdesk.EditTicket{Priority: ptr(eventdesk.PriorityNormal), Reason: "x"}},
		{name: "same tags in another order and case", given: in("open"), when: eventdesk.EditTicket{Tags: &[]string{"PRINTER", "hardware", "printer"}}},
		{name: "same assignee", given: assigned, when: eventdesk.EditTicket{Assignee: ptr(agent)}},
		{name: "unassign when nobody is assigned", given: in("open"), when: eventdesk.EditTicket{Assignee: ptr("")}},
		{name: "same status", given: in("pending"), when: eventdesk.EditTicket{Status: ptr(eventdesk.StatusPending)}},
		{name: "everything the same", given: assigned, when: eventdesk.EditTicket{
			Title: ptr("Printer on fire"), Description: ptr("It smells of toner."), Priority: ptr(eventdesk.PriorityNormal),
			Tags: &[]string{"printer", "hardware"}, Assignee: ptr(agent), Status: ptr(eventdesk.StatusNew),
		}},
		// A closed ticket is frozen, but asking for what it already is is
		// not an error (debatable: it keeps retries idempotent).
		{name: "no-op edit of a closed ticket", given: in("closed"), when: eventdesk.EditTicket{Title: ptr("Printer on fire"), Status: ptr(eventdesk.StatusClosed)}},

		// Changes.
		{name: "priority with a reason", given: in("open"), when: eventdesk.EditTicket{Priority: ptr(eventdesk.PriorityUrgent), Reason: "negative sentiment"},
			then: []eventdesk.Payload{eventdesk.PriorityChanged{From: "normal", To: "urgent", Reason: "negative sentiment"}}},
		{name: "add a tag", given: in("open"), when: eventdesk.EditTicket{Tags: &[]string{"printer", "hardware", "Urgent"}},
			then: []eventdesk.Payload{eventdesk.TagsChanged{Added: []string{"urgent"}}}},
		{name: "remove a tag", given: in("open"), when: eventdesk.EditTicket{Tags: &[]string{"printer"}},
			then: []eventdesk.Payload{eventdesk.TagsChanged{Removed: []string{"hardware"}}}},
		{name: "clear tags", given: in("open"), when: eventdesk.EditTicket{Tags: &[]string{}},
			then: []eventdesk.Payload{eventdesk.TagsChanged{Removed: []string{"hardware", "printer"}}}},
		{name: "clear description", given: in("open"), when: eventdesk.EditTicket{Description: ptr(" ")},
			then: []eventdesk.Payload{eventdesk.DescriptionChanged{}}},
		{name: "reassign", given: assigned, when: eventdesk.EditTicket{Assignee: ptr("carol")},
			then: []eventdesk.Payload{eventdesk.TicketAssigned{Assignee: "carol", Previous: agent}}},
		{name: "unassign", given: assigned, when: eventdesk.EditTicket{Assignee: ptr("")},
			then: []eventdesk.Payload{eventdesk.TicketUnassigned{Previous: agent}}},
		{name: "status", given: in("open"), when: eventdesk.EditTicket{Status: ptr(eventdesk.StatusPending)},
			then: []eventdesk.Payload{eventdesk.StatusChanged{From: "open", To: "pending"}}},

		// Combined edits: edits first, the status change last...
		{
			name: "every field and close", given: in("open"),
			when: eventdesk.EditTicket{
				Title: ptr("New title"), Description: ptr("New text"), Priority: ptr(eventdesk.PriorityLow),
				Tags: &[]string{"done"}, Assignee: ptr(agent), Status: ptr(eventdesk.StatusClosed), Reason: "cleanup",
			},
			then: []eventdesk.Payload{
				eventdesk.TitleChanged{From: "Printer on fire", To: "New title"},
				eventdesk.DescriptionChanged{Description: "New text"},
				eventdesk.PriorityChanged{From: "normal", To: "low", Reason: "cleanup"},
				eventdesk.TagsChanged{Added: []string{"done"}, Removed: []string{"hardware", "printer"}},
				eventdesk.TicketAssigned{Assignee: agent},
				eventdesk.StatusChanged{From: "open", To: "closed"},
			},
		},
		{name: "some fields the same, some not", given: in("open"),
			when: eventdesk.EditTicket{Title: ptr("Printer on fire"), Priority: ptr(eventdesk.PriorityHigh), Status: ptr(eventdesk.StatusOpen)},
			then: []eventdesk.Payload{eventdesk.PriorityChanged{From: "normal", To: "high"}}},
		// ... except when reopening a closed ticket: the reopening comes first.
		{
			name: "reopen a closed ticket with edits", given: in("closed"),
			when: eventdesk.EditTicket{Title: ptr("Again"), Assignee: ptr(agent), Status: ptr(eventdesk.StatusOpen)},
			then: []eventdesk.Payload{
				eventdesk.StatusChanged{From: "closed", To: "open"},
				eventdesk.TitleChanged{From: "Printer on fire", To: "Again"},
				eventdesk.TicketAssigned{Assignee: agent},
			},
		},
		{name: "edit a closed ticket without reopening", given: in("closed"), when: eventdesk.EditTicket{Title: ptr("Again")}, err: conflict},
		{name: "edit a closed ticket and keep it closed", given: in("closed"),
			when: eventdesk.EditTicket{Title: ptr("Again"), Status: ptr(eventdesk.StatusClosed)}, err: conflict},
		{name: "edit a closed ticket moving it elsewhere", given: in("closed"),
			when: eventdesk.EditTicket{Title: ptr("Again"), Status: ptr(eventdesk.StatusResolved)}, err: conflict},
		{name: "reopen with an invalid title", given: in("closed"),
			when: eventdesk.EditTicket{Title: ptr(""), Status: ptr(eventdesk.StatusOpen)}, err: invalid("title", "must not be empty")},

		// Validation.
		{name: "invalid title", given: in("open"), when: eventdesk.EditTicket{Title: ptr(strings.Repeat("x", 201))},
			err: invalid("title", "must be at most 200 characters")},
		{name: "invalid description", given: in("open"), when: eventdesk.EditTicket{Description: ptr(strings.Repeat("x", 64<<10+1))},
			err: invalid("description", "must be at most 64 KiB")},
		{name: "empty priority", given: in("open"), when: eventdesk.EditTicket{Priority: ptr(eventdesk.Priority(""))},
			err: invalid("priority", "must be one of low, normal, high, urgent")},
		{name: "21 tags", given: in("open"), when: eventdesk.EditTicket{Tags: ptr(strings.Fields("a b c d e f g h i j k l m n o p q r s t u"))},
			err: invalid("tags", "at most 20 tags")},
		{name: "invalid assignee", given: in("open"), when: eventdesk.EditTicket{Assignee: ptr("bob!")},
			err: invalid("assignee", "may contain only letters, digits and . _ @ - +")},
		{name: "invalid status", given: in("open"), when: eventdesk.EditTicket{Status: ptr(eventdesk.Status("archived"))},
			err: invalid("status", "must be one of new, open, pending, resolved, closed")},
		{name: "one invalid field rejects the valid ones", given: in("open"),
			when: eventdesk.EditTicket{Title: ptr("Fine"), Priority: ptr(eventdesk.Priority("p1"))},
			err:  invalid("priority", "must be one of low, normal, high, urgent")},
		{name: "refused transition rejects the edits", given: in("open"),
			when: eventdesk.EditTicket{Title: ptr("Fine"), Status: ptr(eventdesk.StatusNew)},
			err:  &wantErr{code: eventdesk.EConflict, fields: map[string]string{"status": "allowed next: pending, resolved, closed"}}},
		{name: "invalid input wins over a refused transition", given: in("open"),
			when: eventdesk.EditTicket{Title: ptr(""), Status: ptr(eventdesk.StatusNew)},
			err:  invalid("title", "must not be empty")},
		{name: "every problem at once", given: in("closed"),
			when: eventdesk.EditTicket{
				Title: ptr("a\x7f"), Description: ptr("\xff"), Priority: ptr(eventdesk.Priority("x")),
				Tags: &[]string{"a b"}, Assignee: ptr("." + strings.Repeat("x", 64)), Status: ptr(eventdesk.Status("x")),
			},
			err: invalid("title", "must not contain control characters or line breaks", "description", "must be valid UTF-8",
				"priority", "must be one of low, normal, high, urgent", "tags", `tag "a b" may contain only letters, digits and - _ . : / + #`,
				"assignee", "must be at most 64 characters", "status", "must be one of new, open, pending, resolved, closed")},
	}...)
	runDecide(t, cases)
}

func TestDecideAssignTicket(t *testing.T) {
	assigned := with(eventdesk.TicketAssigned{Assignee: agent})
	cases := []decideCase{
		{name: "missing ticket", when: eventdesk.AssignTicket{Assignee: agent}, err: notFound},
		{name: "same assignee", given: assigned, when: eventdesk.AssignTicket{Assignee: agent}},
		{name: "reassign", given: assigned, when: eventdesk.AssignTicket{Assignee: "carol"},
			then: []eventdesk.Payload{eventdesk.TicketAssigned{Assignee: "carol", Previous: agent}}},
		{name: "unassign", given: assigned, when: eventdesk.AssignTicket{},
			then: []eventdesk.Payload{eventdesk.TicketUnassigned{Previous: agent}}},
		{name: "unassign nobody", given: in("new"), when: eventdesk.AssignTicket{}},
		{name: "bad name", given: in("new"), when: eventdesk.AssignTicket{Assignee: "bob smith"},
			err: invalid("assignee", "may contain only letters, digits and . _ @ - +")},
		{name: "too long", given: in("new"), when: eventdesk.AssignTicket{Assignee: strings.Repeat("b", 65)},
			err: invalid("assignee", "must be at most 64 characters")},
		{name: "closed", given: in("closed"), when: eventdesk.AssignTicket{Assignee: agent}, err: conflict},
		{name: "pointer", given: in("new"), when: &eventdesk.AssignTicket{Assignee: agent},
			then: []eventdesk.Payload{eventdesk.TicketAssigned{Assignee: agent}}},
	}
	for _, s := range activeStatuses {
		cases = append(cases, decideCase{name: "assign in " + string(s), given: in(s), when: eventdesk.AssignTicket{Assignee: agent},
			then: []eventdesk.Payload{eventdesk.TicketAssigned{Assignee: agent}}})
	}
	runDecide(t, cases)
}

// statusMatrix is the specification of status transitions: from → to →
// allowed. It is written out rather than derived from CanMoveTo so that a
// change to the rules has to change this table too.
var statusMatrix = map[eventdesk.Status]map[eventdesk.Status]bool{
	"new":      {"open": true, "pending": true, "resolved": true, "closed": true},
	"open":     {"pending": true, "resolved": true, "closed": true},
	"pending":  {"open": true, "resolved": true, "closed": true},
	"resolved": {"open": true, "closed": true},
	"closed":   {"open": true},
}

func TestDecideChangeStatus(t *testing.T) {
	cases := []decideCase{
		{name: "missing ticket", when: eventdesk.ChangeStatus{Status: eventdesk.StatusOpen}, err: notFound},
		{name: "empty status", given: in("open"), when: eventdesk.ChangeStatus{}, err: invalid("status", "must be one of new, open, pending, resolved, closed")},
		{name: "upper case", given: in("open"), when: eventdesk.ChangeStatus{Status: "Closed"}, err: invalid("status", "must be one of new, open, pending, resolved, closed")},
		{name: "unknown", given: in("closed"), when: eventdesk.ChangeStatus{Status: "spam"}, err: invalid("status", "must be one of new, open, pending, resolved, closed")},
		{name: "pointer", given: in("new"), when: &eventdesk.ChangeStatus{Status: eventdesk.StatusOpen},
			then: []eventdesk.Payload{eventdesk.StatusChanged{From: "new", To: "open"}}},
	}
	for _, from := range eventdesk.Statuses {
		for _, to := range eventdesk.Statuses {
			tc := decideCase{name: string(from) + " to " + string(to), given: in(from), when: eventdesk.ChangeStatus{Status: to}}
			switch {
			case from == to: // no-op
			case statusMatrix[from][to]:
				tc.then = []eventdesk.Payload{eventdesk.StatusChanged{From: from, To: to}}
			default:
				next := []string{}
				for _, s := range eventdesk.Statuses {
					if statusMatrix[from][s] {
						next = append(next, string(s))
					}
				}
				tc.err = &wantErr{code: eventdesk.EConflict, fields: map[string]string{"status": "allowed next: " + strings.Join(next, ", ")}}
			}
			cases = append(cases, tc)
		}
	}
	runDecide(t, cases)
}

func TestDecideAddComment(t *testing.T) {
	comment := func(author string, internal bool) eventdesk.AddComment {
		return eventdesk.AddComment{CommentID: commentID2, Author: author, Body: "Have you tried turning it off?", Internal: internal}
	}
	commented := func(author string, internal bool) eventdesk.TicketCommented {
		return eventdesk.TicketCommented{CommentID: commentID2, Author: author, Body: "Have you tried turning it off?", Internal: internal}
	}
	cases := []decideCase{
		{name: "missing ticket", when: comment(agent, false), err: notFound},
		{name: "body trimmed, inner lines kept", given: in("open"),
			when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: "\n Hi,\n\n  thanks. \n"},
			then: []eventdesk.Payload{eventdesk.TicketCommented{CommentID: commentID2, Author: agent, Body: "Hi,\n\n  thanks."}}},
		{name: "body 64 KiB", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: strings.Repeat("x", 64<<10)},
			then: []eventdesk.Payload{eventdesk.TicketCommented{CommentID: commentID2, Author: agent, Body: strings.Repeat("x", 64<<10)}}},
		{name: "body 64 KiB + 1", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: strings.Repeat("x", 64<<10+1)},
			err: invalid("body", "must be at most 64 KiB")},
		{name: "body empty", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent}, err: invalid("body", "must not be empty")},
		{name: "body blank", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: " \n\t "}, err: invalid("body", "must not be empty")},
		{name: "body invisible", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: "\u200b\u200d"}, err: invalid("body", "must not be empty")},
		{name: "body control character", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: "a\x1bb"},
			err: invalid("body", "must not contain control characters")},
		{name: "body invalid UTF-8", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: "\xed\xa0\x80"},
			err: invalid("body", "must be valid UTF-8")},
		{name: "author missing", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Body: "x"}, err: invalid("author", "must not be empty")},
		{name: "author bad", given: in("open"), when: eventdesk.AddComment{CommentID: commentID2, Author: "<bob>", Body: "x"},
			err: invalid("author", "may contain only letters, digits and . _ @ - +")},
		{name: "comment id missing", given: in("open"), when: eventdesk.AddComment{Author: agent, Body: "x"}, err: invalid("commentId", "must be a UUID")},
		{name: "comment id upper case", given: in("open"), when: eventdesk.AddComment{CommentID: strings.ToUpper(commentID2), Author: agent, Body: "x"},
			err: invalid("commentId", "must be a UUID")},
		{name: "every problem at once", given: in("open"), when: eventdesk.AddComment{CommentID: "1", Author: "", Body: ""},
			err: invalid("commentId", "must be a UUID", "author", "must not be empty", "body", "must not be empty")},
		{name: "duplicate comment id", given: with(eventdesk.TicketCommented{CommentID: commentID2, Author: agent, Body: "first"}),
			when: comment(agent, false), err: conflict},
		{name: "public comment on a closed ticket", given: in("closed"), when: comment(requester, false), err: conflict},
		{name: "internal note on a closed ticket", given: in("closed"), when: comment(agent, true), err: conflict},
		{name: "invalid input on a closed ticket", given: in("closed"), when: eventdesk.AddComment{}, err: &wantErr{code: eventdesk.EInvalid}},
		{name: "first reply opens, second does not", given: with(eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "first"},
			eventdesk.StatusChanged{From: "new", To: "open"}),
			when: comment(agent, false), then: []eventdesk.Payload{commented(agent, false)}},
		{name: "pointer", given: in("open"), when: ptr(comment(agent, false)), then: []eventdesk.Payload{commented(agent, false)}},
	}
	// The automatic status changes, for every active status, author and
	// visibility.
	opened := func(from eventdesk.Status) eventdesk.Payload {
		return eventdesk.StatusChanged{From: from, To: eventdesk.StatusOpen}
	}
	auto := []struct {
		status   eventdesk.Status
		author   string
		internal bool
		then     eventdesk.Payload // nil: no status change
	}{
		{"new", agent, false, opened("new")}, // the first public reply by the team opens a new ticket
		{"new", agent, true, nil},            // an internal note is no reply
		{"new", requester, false, nil},       // the requester adding detail is no reply
		{"new", requester, true, nil},
		{"open", agent, false, nil},
		{"open", agent, true, nil},
		{"open", requester, false, nil},
		{"open", requester, true, nil},
		{"pending", agent, false, nil},
		{"pending", agent, true, nil},
		{"pending", requester, false, opened("pending")}, // the requester answered: back to the team
		{"pending", requester, true, nil},
		{"resolved", agent, false, nil},
		{"resolved", agent, true, nil},
		{"resolved", requester, false, opened("resolved")}, // "it is still broken" reopens
		{"resolved", requester, true, nil},
	}
	for _, a := range auto {
		who := map[string]string{agent: "agent", requester: "requester"}[a.author]
		kind := map[bool]string{false: "reply", true: "note"}[a.internal]
		tc := decideCase{name: fmt.Sprintf("%s %s in %s", who, kind, a.status), given: in(a.status), when: comment(a.author, a.internal),
			then: []eventdesk.Payload{commented(a.author, a.internal)}}
		if a.then != nil {
			tc.then = append(tc.then, a.then)
		}
		cases = append(cases, tc)
	}
	runDecide(t, cases)
}

func TestDecideRecordSentiment(t *testing.T) {
	score := func(source string, s float64) eventdesk.RecordSentiment {
		return eventdesk.RecordSentiment{SourceEventID: source, Score: s, Label: "negative"}
	}
	scored := func(source string, s float64) []eventdesk.Payload {
		return []eventdesk.Payload{eventdesk.SentimentScored{SourceEventID: source, Score: s, Label: "negative"}}
	}
	cases := []decideCase{
		{name: "missing ticket", when: score(eventID1, -0.5), err: notFound},
		{name: "lowest score", given: in("open"), when: score(eventID1, -1), then: scored(eventID1, -1)},
		{name: "highest score", given: in("open"), when: score(eventID1, 1), then: scored(eventID1, 1)},
		{name: "zero score, empty label", given: in("open"), when: eventdesk.RecordSentiment{SourceEventID: eventID1},
			then: []eventdesk.Payload{eventdesk.SentimentScored{SourceEventID: eventID1}}},
		{name: "label of 32 characters", given: in("open"), when: eventdesk.RecordSentiment{SourceEventID: eventID1, Label: strings.Repeat("ö", 32)},
			then: []eventdesk.Payload{eventdesk.SentimentScored{SourceEventID: eventID1, Label: strings.Repeat("ö", 32)}}},
		{name: "below -1", given: in("open"), when: score(eventID1, -1.0000001), err: invalid("score", "must be between -1 and 1")},
		{name: "above 1", given: in("open"), when: score(eventID1, math.Nextafter(1, 2)), err: invalid("score", "must be between -1 and 1")},
		{name: "NaN", given: in("open"), when: score(eventID1, math.NaN()), err: invalid("score", "must be between -1 and 1")},
		{name: "+Inf", given: in("open"), when: score(eventID1, math.Inf(1)), err: invalid("score", "must be between -1 and 1")},
		{name: "-Inf", given: in("open"), when: score(eventID1, math.Inf(-1)), err: invalid("score", "must be between -1 and 1")},
		{name: "no source", given: in("open"), when: score("", 0), err: invalid("sourceEventId", "must be an event id (a UUID)")},
		{name: "source not an id", given: in("open"), when: score("comment-1", 0), err: invalid("sourceEventId", "must be an event id (a UUID)")},
		{name: "label of 33 characters", given: in("open"), when: eventdesk.RecordSentiment{SourceEventID: eventID1, Label: strings.Repeat("x", 33)},
			err: invalid("label", "must be at most 32 characters")},
		{name: "label with control character", given: in("open"), when: eventdesk.RecordSentiment{SourceEventID: eventID1, Label: "neg\n"},
			err: invalid("label", "must not contain control characters")},
		{name: "label invalid UTF-8", given: in("open"), when: eventdesk.RecordSentiment{SourceEventID: eventID1, Label: "\xc0"},
			err: invalid("label", "must be valid UTF-8")},
		{name: "every problem at once", given: in("open"), when: eventdesk.RecordSentiment{Score: 2, Label: "\xc0"},
			err: invalid("sourceEventId", "must be an event id (a UUID)", "score", "must be between -1 and 1", "label", "must be valid UTF-8")},
		{name: "already scored", given: with(eventdesk.SentimentScored{SourceEventID: eventID1, Score: -0.5, Label: "negative"}),
			when: score(eventID1, 0.9)},
		{name: "another source", given: with(eventdesk.SentimentScored{SourceEventID: eventID1, Score: -0.5, Label: "negative"}),
			when: score(eventID2, 0.9), then: scored(eventID2, 0.9)},
		{name: "pointer", given: in("open"), when: ptr(score(eventID1, 0)), then: scored(eventID1, 0)},
	}
	// Scores annotate a ticket in every status, closed included: the last
	// comment is often scored after the ticket was closed.
	for _, s := range eventdesk.Statuses {
		cases = append(cases, decideCase{name: "in " + string(s), given: in(s), when: score(eventID1, -0.25), then: scored(eventID1, -0.25)})
	}
	// Idempotency covers the kept history only: a source that fell out of
	// the last MaxSentimentHistory scores is scored again.
	long := with()
	for i := range eventdesk.MaxSentimentHistory + 1 {
		long = append(long, eventdesk.SentimentScored{SourceEventID: fmt.Sprintf("0190a5b2-7c3d-7e4f-8a1b-e000000000%02d", i), Score: 0})
	}
	cases = append(cases,
		decideCase{name: "oldest kept score", given: long, when: score("0190a5b2-7c3d-7e4f-8a1b-e00000000001", 0)},
		decideCase{name: "score out of the history", given: long, when: score("0190a5b2-7c3d-7e4f-8a1b-e00000000000", 0),
			then: scored("0190a5b2-7c3d-7e4f-8a1b-e00000000000", 0)},
	)
	runDecide(t, cases)
}

// otherCommand is a Command Decide does not know.
type otherCommand struct{}

func (otherCommand) CommandName() string { return "other" }

func TestDecideUnknownCommands(t *testing.T) {
	runDecide(t, []decideCase{
		{name: "nil", given: in("open"), when: nil, err: &wantErr{code: eventdesk.EInvalid}},
		{name: "unknown type", given: in("open"), when: otherCommand{}, err: &wantErr{code: eventdesk.EInvalid}},
		{name: "nil pointer", given: in("open"), when: (*eventdesk.EditTicket)(nil), err: &wantErr{code: eventdesk.EInvalid}},
		{name: "pointer to unknown type", given: in("open"), when: &otherCommand{}, err: &wantErr{code: eventdesk.EInvalid}},
	})
}

func TestCommandNames(t *testing.T) {
	got := map[string]bool{}
	for _, c := range []eventdesk.Command{
		eventdesk.OpenTicket{}, eventdesk.EditTicket{}, eventdesk.AssignTicket{},
		eventdesk.ChangeStatus{}, eventdesk.AddComment{}, eventdesk.RecordSentiment{},
	} {
		n := c.CommandName()
		if n == "" || got[n] {
			t.Errorf("%T: name %q is empty or not unique", c, n)
		}
		got[n] = true
	}
}

// TestDecideDoesNotMutate checks that Decide leaves the state it decides on
// and the command's slices alone.
func TestDecideDoesNotMutate(t *testing.T) {
	state := fold(t, events(t, with(eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "x"})...))
	before := fold(t, events(t, with(eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "x"})...))
	tags := []string{"Zeta", "alpha", "ALPHA"}
	for _, c := range []eventdesk.Command{
		eventdesk.EditTicket{Tags: &tags, Title: ptr("x"), Status: ptr(eventdesk.StatusClosed)},
		eventdesk.AddComment{CommentID: commentID2, Author: agent, Body: "y"},
		eventdesk.RecordSentiment{SourceEventID: eventID1, Score: 0.1},
	} {
		if _, err := eventdesk.Decide(state, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eventdesk.Decide(eventdesk.Ticket{}, eventdesk.OpenTicket{Title: "x", Requester: requester, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, state); diff != "" {
		t.Errorf("state changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Zeta", "alpha", "ALPHA"}, tags); diff != "" {
		t.Errorf("command tags changed (-before +after):\n%s", diff)
	}
}
