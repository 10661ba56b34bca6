package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/sqlite"
)

func newApp(tb testing.TB) (*app.App, *sqlite.DB) {
	tb.Helper()
	db, err := sqlite.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := db.OpenTokens()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a, err := app.New(app.Config{Store: db, Reader: rm, Tokens: tokens, Clock: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	return a, db
}

func as(name string, role eventdesk.Role) context.Context {
	return eventdesk.NewContextWithActor(context.Background(), eventdesk.Actor{Name: name, Role: role})
}

func TestNewRejectsMissingDependencies(t *testing.T) {
	if _, err := app.New(app.Config{}); err == nil {
		t.Fatal("New accepted no store")
	}
}

func TestAnonymousIsUnauthorized(t *testing.T) {
	a, _ := newApp(t)
	ctx := context.Background()
	id := "00000000-0000-7000-8000-000000000000"
	checks := map[string]error{}
	_, checks["create"] = a.CreateTicket.Handle(ctx, app.CreateTicket{Title: "x"})
	_, checks["update"] = a.UpdateTicket.Handle(ctx, app.UpdateTicket{ID: id})
	_, checks["comment"] = a.AddComment.Handle(ctx, app.AddComment{TicketID: id, Body: "x"})
	_, checks["ticket"] = a.Ticket.Handle(ctx, app.GetTicket{ID: id})
	_, checks["tickets"] = a.Tickets.Handle(ctx, app.ListTickets{})
	_, checks["stats"] = a.Stats.Handle(ctx, app.GetStats{})
	_, checks["history"] = a.History.Handle(ctx, app.GetHistory{TicketID: id})
	_, checks["changefeed"] = a.Changefeed.Handle(ctx, app.Changefeed{})
	_, checks["follow"] = a.Changefeed.Follow(ctx, 0)
	_, checks["list tokens"] = a.ListTokens.Handle(ctx)
	_, _, checks["create token"] = a.CreateToken.Handle(ctx, app.CreateToken{User: "x", Role: "agent"})
	checks["revoke token"] = a.RevokeToken.Handle(ctx, id)
	for name, err := range checks {
		if eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
			t.Errorf("%s: %v, want unauthorized", name, err)
		}
	}
}

func TestCreateNeedsNoRead(t *testing.T) {
	a, db := newApp(t)
	res, err := a.CreateTicket.Handle(as("rita", eventdesk.RoleRequester), app.CreateTicket{Title: "Help", Tags: []string{"b", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	// The answer is folded from the decided events; it must equal the
	// ticket folded from the stream.
	events, err := db.ReadStream(context.Background(), eventdesk.TicketStream(res.Ticket.ID), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := eventdesk.Fold(events)
	if err != nil {
		t.Fatal(err)
	}
	stored.UpdatedBy = ""
	got, _ := json.Marshal(res.Ticket)
	want, _ := json.Marshal(stored)
	if string(got) != string(want) {
		t.Fatalf("answer %s\nstream %s", got, want)
	}
	if res.Position != events[0].Position || events[0].Metadata.Actor != "rita" {
		t.Fatalf("position %d, event %+v", res.Position, events[0])
	}
}

func TestTokens(t *testing.T) {
	a, _ := newApp(t)
	admin := as("adam", eventdesk.RoleAdmin)
	if _, _, err := a.CreateToken.Handle(admin, app.CreateToken{User: "bot", Role: "root"}); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
		t.Fatalf("bad role: %v", err)
	}
	if _, _, err := a.CreateToken.Handle(as("agnes", eventdesk.RoleAgent), app.CreateToken{User: "bot", Role: "agent"}); eventdesk.ErrorCode(err) != eventdesk.EForbidden {
		t.Fatalf("agent creates a token: %v", err)
	}
	tok, secret, err := a.CreateToken.Handle(admin, app.CreateToken{User: "bot", Role: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	who, err := a.Authenticate.Handle(context.Background(), secret)
	if err != nil || who != (eventdesk.Actor{Name: "bot", Role: "agent"}) {
		t.Fatalf("authenticate: %+v %v", who, err)
	}
	if err := a.RevokeToken.Handle(admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	// Revocation through the app takes effect at once, cache or not.
	if _, err := a.Authenticate.Handle(context.Background(), secret); eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
	for _, bad := range []string{"", "edk_", "nope", secret + "x"} {
		if _, err := a.Authenticate.Handle(context.Background(), bad); eventdesk.ErrorCode(err) != eventdesk.EUnauthorized {
			t.Errorf("token %q: %v", bad, err)
		}
	}
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		p    eventdesk.Payload
		want string
	}{
		{eventdesk.TicketCreated{Title: "Help", Requester: "alice"}, `alice opened the ticket "Help"`},
		{eventdesk.TicketCreated{Title: "Help", Requester: "bob", Assignee: "alice"}, `alice opened the ticket "Help" for bob, assigned to alice`},
		{eventdesk.TitleChanged{From: "a", To: "b"}, `alice changed the title from "a" to "b"`},
		{eventdesk.DescriptionChanged{Description: "x"}, "alice edited the description"},
		{eventdesk.PriorityChanged{From: "low", To: "high", Reason: "negative sentiment"}, "alice changed priority from low to high (negative sentiment)"},
		{eventdesk.TagsChanged{Added: []string{"a", "b"}, Removed: []string{"c"}}, "alice added tags a, b and removed tag c"},
		{eventdesk.TicketAssigned{Assignee: "bob"}, "alice assigned the ticket to bob"},
		{eventdesk.TicketAssigned{Assignee: "bob", Previous: "carol"}, "alice reassigned the ticket from carol to bob"},
		{eventdesk.TicketUnassigned{Previous: "bob"}, "alice unassigned bob"},
		{eventdesk.StatusChanged{From: "new", To: "open"}, "alice changed status from new to open"},
		{eventdesk.TicketCommented{Body: "x"}, "alice commented"},
		{eventdesk.TicketCommented{Body: "x", Internal: true}, "alice added an internal note"},
		{eventdesk.SentimentScored{Score: -0.5, Label: "negative"}, "alice scored the sentiment negative (-0.50)"},
	} {
		typ, schema, data, err := eventdesk.Encode(c.p)
		if err != nil {
			t.Fatal(err)
		}
		got := app.Summarize(eventdesk.Event{Type: typ, Schema: schema, Data: data, Metadata: eventdesk.Metadata{Actor: "alice"}})
		if got != c.want {
			t.Errorf("%s: %q, want %q", typ, got, c.want)
		}
	}
	if got := app.Summarize(eventdesk.Event{Type: "ticket.exploded", Schema: 1, Data: []byte(`{}`)}); got != "someone recorded ticket.exploded" {
		t.Errorf("unknown type: %q", got)
	}
}
