package eventdesk_test

import (
	"context"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
)

func TestStatus(t *testing.T) {
	for _, s := range eventdesk.Statuses {
		if !s.Valid() {
			t.Errorf("%s is not valid", s)
		}
		if want := s != eventdesk.StatusResolved && s != eventdesk.StatusClosed; s.Active() != want {
			t.Errorf("%s.Active() = %v, want %v", s, s.Active(), want)
		}
		var want []eventdesk.Status
		for _, to := range eventdesk.Statuses {
			if s.CanMoveTo(to) != statusMatrix[s][to] {
				t.Errorf("%s.CanMoveTo(%s) = %v, want %v", s, to, s.CanMoveTo(to), statusMatrix[s][to])
			}
			if statusMatrix[s][to] {
				want = append(want, to)
			}
		}
		if diff := cmp.Diff(want, s.NextStatuses()); diff != "" {
			t.Errorf("%s.NextStatuses() (-want +got):\n%s", s, diff)
		}
		if s.CanMoveTo(s) {
			t.Errorf("%s may move to itself", s)
		}
	}
	// NextStatuses returns a copy.
	next := eventdesk.StatusNew.NextStatuses()
	next[0] = "hacked"
	if eventdesk.StatusNew.NextStatuses()[0] != eventdesk.StatusOpen {
		t.Error("NextStatuses returns the shared table")
	}
	for _, s := range []eventdesk.Status{"", "Open", "archived", " open"} {
		if s.Valid() || s.CanMoveTo(eventdesk.StatusOpen) || len(s.NextStatuses()) != 0 {
			t.Errorf("unknown status %q is accepted", s)
		}
	}
	if eventdesk.StatusOpen.CanMoveTo("archived") {
		t.Error("a move to an unknown status is allowed")
	}
}

func TestPriority(t *testing.T) {
	for i, p := range eventdesk.Priorities {
		if !p.Valid() || p.Rank() != i+1 {
			t.Errorf("%s: Valid %v Rank %d, want true %d", p, p.Valid(), p.Rank(), i+1)
		}
	}
	if got := []eventdesk.Priority{"low", "normal", "high", "urgent"}; !cmp.Equal(got, eventdesk.Priorities) {
		t.Errorf("Priorities = %v", eventdesk.Priorities)
	}
	for _, p := range []eventdesk.Priority{"", "Low", "critical"} {
		if p.Valid() || p.Rank() != 0 {
			t.Errorf("unknown priority %q: Valid %v Rank %d", p, p.Valid(), p.Rank())
		}
	}
}

func TestRole(t *testing.T) {
	cases := []struct {
		r                     eventdesk.Role
		valid, staff, seesAll bool
	}{
		{eventdesk.RoleRequester, true, false, false},
		{eventdesk.RoleAgent, true, true, true},
		{eventdesk.RoleAdmin, true, true, true},
		{eventdesk.RoleAuditor, true, false, true},
		{"", false, false, false},
		{"root", false, false, false},
	}
	for _, tc := range cases {
		if tc.r.Valid() != tc.valid || tc.r.IsStaff() != tc.staff || tc.r.SeesAll() != tc.seesAll {
			t.Errorf("%q: Valid %v IsStaff %v SeesAll %v", tc.r, tc.r.Valid(), tc.r.IsStaff(), tc.r.SeesAll())
		}
	}
	if len(eventdesk.Roles) != 4 {
		t.Errorf("Roles = %v", eventdesk.Roles)
	}
}

func TestActorContext(t *testing.T) {
	ctx := context.Background()
	if _, ok := eventdesk.ActorFromContext(ctx); ok {
		t.Error("an empty context carries an actor")
	}
	a := eventdesk.Actor{Name: "bob", Role: eventdesk.RoleAgent}
	got, ok := eventdesk.ActorFromContext(eventdesk.NewContextWithActor(ctx, a))
	if !ok || got != a {
		t.Errorf("ActorFromContext = %+v, %v", got, ok)
	}
	if _, ok := eventdesk.ActorFromContext(eventdesk.NewContextWithActor(ctx, eventdesk.Actor{Role: eventdesk.RoleAdmin})); ok {
		t.Error("an actor without a name counts as an actor")
	}
	if p := eventdesk.PolicyActor("escalation"); p.Name != "policy:escalation" || p.Role != eventdesk.RoleAgent {
		t.Errorf("PolicyActor = %+v", p)
	}
}

func TestValidID(t *testing.T) {
	cases := map[string]bool{
		ticketID:                                   true,
		"00000000-0000-0000-0000-000000000000":     true,
		strings.ToUpper(ticketID):                  false,
		"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7":      false, // short
		"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b0":    false, // long
		"0190a5b27c3d7e4f8a1b2c3d4e5f6a7b":         false, // no dashes
		"0190a5b2-7c3d-7e4f-8a1b_2c3d4e5f6a7b":     false,
		"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7g":     false,
		"{0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7}":    false,
		"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a\u00e9": false, // 36 bytes, not ASCII
		"": false,
	}
	for s, want := range cases {
		if got := eventdesk.ValidID(s); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestTicketStream(t *testing.T) {
	if got := eventdesk.TicketStream(ticketID); got != "ticket-"+ticketID {
		t.Errorf("TicketStream = %q", got)
	}
	cases := []struct {
		stream string
		id     string
		ok     bool
	}{
		{"ticket-" + ticketID, ticketID, true},
		{"ticket-42", "42", false},
		{"order-" + ticketID, "order-" + ticketID, false},
		{"ticket-", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		id, ok := eventdesk.TicketIDFromStream(tc.stream)
		if id != tc.id || ok != tc.ok {
			t.Errorf("TicketIDFromStream(%q) = %q, %v; want %q, %v", tc.stream, id, ok, tc.id, tc.ok)
		}
	}
}

func TestTicketExists(t *testing.T) {
	if (eventdesk.Ticket{}).Exists() {
		t.Error("the zero ticket exists")
	}
	if !ticketIn(t, eventdesk.StatusNew).Exists() {
		t.Error("a created ticket does not exist")
	}
}

// TestNormalizers covers the exported validation helpers directly, for
// callers (API, UI) that validate before building a command.
func TestNormalizers(t *testing.T) {
	if got, err := eventdesk.NormalizeTitle("  Hello  "); got != "Hello" || err != nil {
		t.Errorf("NormalizeTitle = %q, %v", got, err)
	}
	if _, err := eventdesk.NormalizeText("body", "", true); eventdesk.ErrorFields(err)["body"] != "must not be empty" {
		t.Errorf("NormalizeText(required) = %v", err)
	}
	if got, err := eventdesk.NormalizeText("description", "", false); got != "" || err != nil {
		t.Errorf("NormalizeText(optional) = %q, %v", got, err)
	}
	if got, err := eventdesk.NormalizeTags(nil); err != nil || got == nil || len(got) != 0 {
		t.Errorf("NormalizeTags(nil) = %#v, %v; want an empty, non-nil slice", got, err)
	}
	for name, want := range map[string]string{
		"":                      "must not be empty",
		strings.Repeat("x", 65): "must be at most 64 characters",
		"a b":                   "may contain only letters, digits and . _ @ - +",
		"bob\x00":               "may contain only letters, digits and . _ @ - +",
		"policy:sentiment":      "may contain only letters, digits and . _ @ - +",
		"Zoë.o'brien":           "may contain only letters, digits and . _ @ - +",
		"zoë.obrien+it@ex.org":  "",
		"李雷":                    "",
		strings.Repeat("é", 64): "",
		"0":                     "",
	} {
		err := eventdesk.ValidateUserName("assignee", name)
		if got := eventdesk.ErrorFields(err)["assignee"]; got != want {
			t.Errorf("ValidateUserName(%q) = %v, want %q", name, err, want)
		}
	}
}
