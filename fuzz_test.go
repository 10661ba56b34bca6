package eventdesk_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecode feeds arbitrary stored events to Decode: it never panics, never
// changes the stored bytes, rejects with an EInvalid *Error, and whatever it
// accepts re-encodes (at the current schema) and decodes to the same value.
// Evolve must not panic on the event either.
func FuzzDecode(f *testing.F) {
	for _, p := range samplePayloads() {
		typ, schema, data, err := eventdesk.Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(typ, schema, []byte(data))
	}
	for _, s := range []struct {
		typ    string
		schema int
		data   string
	}{
		{"ticket.created", 1, schema1Created},
		{"ticket.created", 1, `{"text":"a","description":"b","DESCRIPTION":"c"}`},
		{"ticket.created", 2, `{"TITLE":"x","tags":[]}`},
		{"ticket.created", 2, `{"title":"\ud800","tags":null}`},
		{"ticket.tags_changed", 1, `{"added":[],"removed":null}`},
		{"ticket.sentiment_scored", 1, `{"score":-0,"sourceEventId":"x"}`},
		{"ticket.sentiment_scored", 1, `{"score":1e-320}`},
		{"ticket.commented", 1, "{\"body\":\"\xff\"}"},
		{"ticket.status_changed", 1, `null`},
		{"ticket.status_changed", 3, `{}`},
		{"ticket.nope", 1, `{}`},
		{"ticket.created", 0, ``},
	} {
		f.Add(s.typ, s.schema, []byte(s.data))
	}
	rich := richTicket(f)
	f.Fuzz(func(t *testing.T, typ string, schema int, data []byte) {
		stored := bytes.Clone(data)
		e := eventdesk.Event{ID: eventID1, Stream: stream, Version: 1, Type: typ, Schema: schema, Data: data, RecordedAt: at(1)}
		p, err := eventdesk.Decode(e)
		if !bytes.Equal(stored, data) {
			t.Fatalf("Decode changed the stored bytes %q to %q", stored, data)
		}
		// Evolve sees the same event at the start of a stream and in the
		// middle of one; it may refuse, never panic.
		_, _ = eventdesk.Evolve(eventdesk.Ticket{}, e)
		e.Version = rich.Version + 1
		_, _ = eventdesk.Evolve(rich, e)
		if err != nil {
			if code := eventdesk.ErrorCode(err); code != eventdesk.EInvalid {
				t.Fatalf("Decode error with code %q: %v", code, err)
			}
			if p != nil {
				t.Fatalf("Decode returned %#v with an error", p)
			}
			return
		}
		if p.EventType() != typ {
			t.Fatalf("decoded a %s from a %s event", p.EventType(), typ)
		}
		typ2, schema2, data2, err := eventdesk.Encode(p)
		if err != nil {
			t.Fatalf("a decoded payload does not encode: %v", err)
		}
		if typ2 != typ || schema2 != eventdesk.CurrentSchema(typ) {
			t.Fatalf("re-encoded as %s schema %d", typ2, schema2)
		}
		p2, err := eventdesk.Decode(eventdesk.Event{Type: typ2, Schema: schema2, Data: data2})
		if err != nil {
			t.Fatalf("re-encoded payload %s does not decode: %v", data2, err)
		}
		// Empty and nil slices are the same fact ("added": [] is omitted).
		if diff := cmp.Diff(p, p2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-decoded +re-decoded):\n%s", diff)
		}
		if _, _, data3, _ := eventdesk.Encode(p2); !bytes.Equal(data2, data3) {
			t.Fatalf("encoding is not stable: %s then %s", data2, data3)
		}
	})
}

// FuzzUpcast feeds arbitrary ticket.created payloads of any schema to Upcast.
func FuzzUpcast(f *testing.F) {
	for _, s := range []string{
		schema1Created, `{}`, `{"text":null}`, `{"text":"a","description":"b"}`, `{"text":{"nested":[1,2]}}`,
		`{"Text":"case"}`, `{"text":"a","text":"b"}`, `null`, `[]`, `"text"`, `{"text":"\u00e9\ud800"}`, ``, `{"text":"a"} x`,
	} {
		f.Add(1, []byte(s))
		f.Add(2, []byte(s))
	}
	f.Add(3, []byte(`{}`))
	f.Add(-1, []byte(`{}`))
	f.Fuzz(func(t *testing.T, schema int, data []byte) {
		stored := bytes.Clone(data)
		out, err := eventdesk.Upcast(eventdesk.TypeTicketCreated, schema, data)
		if !bytes.Equal(stored, data) {
			t.Fatalf("Upcast changed its input %q to %q", stored, data)
		}
		if err != nil {
			if code := eventdesk.ErrorCode(err); code != eventdesk.EInvalid {
				t.Fatalf("Upcast error with code %q: %v", code, err)
			}
			if schema == 2 {
				t.Fatalf("the current schema was refused: %v", err)
			}
			return
		}
		if schema != 1 && schema != 2 {
			t.Fatalf("Upcast accepted schema %d", schema)
		}
		if schema == 2 {
			if !bytes.Equal(out, data) {
				t.Fatalf("schema 2 changed from %q to %q", data, out)
			}
			return
		}
		// Schema 1: a JSON object whose "text" became "description", unless
		// there was a description already.
		var in, up map[string]json.RawMessage
		if err := json.Unmarshal(data, &in); err != nil {
			t.Fatalf("Upcast accepted invalid input %q", data)
		}
		if err := json.Unmarshal(out, &up); err != nil || up == nil {
			t.Fatalf("Upcast returned %q, not a JSON object (%v)", out, err)
		}
		if _, ok := up["text"]; ok {
			t.Fatalf("upcast payload still has text: %s", out)
		}
		want, ok := in["description"]
		if !ok {
			want, ok = in["text"]
		}
		if got, has := up["description"]; has != ok || ok && !jsonEqual(t, want, got) {
			t.Fatalf("description %s, want %s (input %s)", got, want, data)
		}
		for k, v := range in {
			if k != "text" && k != "description" && !jsonEqual(t, v, up[k]) {
				t.Fatalf("field %q changed from %s to %s", k, v, up[k])
			}
		}
		if again, err := eventdesk.Upcast(eventdesk.TypeTicketCreated, 2, out); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("upcast result is not stable at schema 2: %s, %v", again, err)
		}
	})
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(tb testing.TB, a, b json.RawMessage) bool {
	tb.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return cmp.Equal(x, y)
}

// richTicket is a ticket with a bit of everything: assignee, 20 tags,
// comments of both kinds, scores.
func richTicket(tb testing.TB) eventdesk.Ticket {
	tb.Helper()
	c := created()
	c.Assignee = agent
	c.Tags = nil
	for i := range eventdesk.MaxTags {
		c.Tags = append(c.Tags, fmt.Sprintf("tag%02d", i))
	}
	return fold(tb, events(tb,
		c,
		eventdesk.TicketCommented{CommentID: commentID1, Author: agent, Body: "public"},
		eventdesk.StatusChanged{From: "new", To: "open"},
		eventdesk.TicketCommented{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000003", Author: agent, Body: "note", Internal: true},
		eventdesk.SentimentScored{SourceEventID: eventID1, Score: -0.7, Label: "negative"},
		eventdesk.StatusChanged{From: "open", To: "pending"},
	))
}

// fuzzStates are the states every fuzzed command is decided on.
func fuzzStates(tb testing.TB) map[string]eventdesk.Ticket {
	tb.Helper()
	states := map[string]eventdesk.Ticket{"none": {}, "rich": richTicket(tb)}
	for _, s := range eventdesk.Statuses {
		states[string(s)] = ticketIn(tb, s)
	}
	return states
}

// commandKinds decode fuzzed JSON into each command type.
var commandKinds = []func([]byte) (eventdesk.Command, error){
	func(b []byte) (eventdesk.Command, error) { var c eventdesk.OpenTicket; return c, json.Unmarshal(b, &c) },
	func(b []byte) (eventdesk.Command, error) { var c eventdesk.EditTicket; return c, json.Unmarshal(b, &c) },
	func(b []byte) (eventdesk.Command, error) {
		var c eventdesk.AssignTicket
		return c, json.Unmarshal(b, &c)
	},
	func(b []byte) (eventdesk.Command, error) {
		var c eventdesk.ChangeStatus
		return c, json.Unmarshal(b, &c)
	},
	func(b []byte) (eventdesk.Command, error) { var c eventdesk.AddComment; return c, json.Unmarshal(b, &c) },
	func(b []byte) (eventdesk.Command, error) {
		var c eventdesk.RecordSentiment
		return c, json.Unmarshal(b, &c)
	},
}

// FuzzCommands decodes arbitrary JSON into each command and decides it on a
// few fixed states. Decide never panics; a rejection is a typed 4xx error
// with no events; accepted events are consistent with the state, fold
// without error into a ticket that keeps every invariant, and deciding the
// same command again changes nothing.
func FuzzCommands(f *testing.F) {
	seeds := []struct {
		kind uint8
		json string
	}{
		{0, `{"title":"  Printer on fire ","description":"smoke\n","priority":"urgent","requester":"alice","tags":["Printer","HW","printer"],"assignee":"bob"}`},
		{0, `{"title":"x","requester":"alice","tags":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q","r","s","t","u"]}`},
		{0, `{"title":"\u200b","requester":"a b"}`},
		{0, `{"title":"İ","requester":"ǅ","tags":["ǅ","K","K"]}`},
		{1, `{"title":"New","description":"","priority":"low","tags":[],"status":"closed","assignee":"","reason":"r"}`},
		{1, `{"status":"open","title":"Reopened","tags":["X"]}`},
		{1, `{"tags":null,"title":null}`},
		{1, `{"priority":"","status":"new"}`},
		{2, `{"assignee":"carol"}`},
		{2, `{"assignee":""}`},
		{3, `{"status":"resolved"}`},
		{3, `{"status":"open"}`},
		{3, `{"status":"closed"}`},
		{4, `{"commentId":"0190a5b2-7c3d-7e4f-8a1b-000000000009","author":"alice","body":"still broken"}`},
		{4, `{"commentId":"0190a5b2-7c3d-7e4f-8a1b-000000000009","author":"bob","body":" note ","internal":true}`},
		{4, `{"commentId":"0190a5b2-7c3d-7e4f-8a1b-000000000001","author":"bob","body":"dup"}`},
		{5, `{"sourceEventId":"0190a5b2-7c3d-7e4f-8a1b-e00000000009","score":-1,"label":"negative"}`},
		{5, `{"sourceEventId":"0190a5b2-7c3d-7e4f-8a1b-e00000000001","score":0.5}`},
		{5, `{"sourceEventId":"x","score":1e308}`},
	}
	for _, s := range seeds {
		f.Add(s.kind, []byte(s.json))
	}
	states := fuzzStates(f)
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		cmd, err := commandKinds[int(kind)%len(commandKinds)](data)
		if err != nil {
			return
		}
		for name, state := range states {
			checkDecision(t, name, state, cmd)
		}
	})
}

// checkDecision decides cmd on state and checks everything FuzzCommands
// promises.
func checkDecision(t *testing.T, name string, state eventdesk.Ticket, cmd eventdesk.Command) {
	t.Helper()
	ps, err := eventdesk.Decide(state, cmd)
	if err != nil {
		var e *eventdesk.Error
		switch code := eventdesk.ErrorCode(err); {
		case !errors.As(err, &e):
			t.Fatalf("%s: %T error %v is not an *eventdesk.Error", name, err, err)
		case code != eventdesk.EInvalid && code != eventdesk.ENotFound && code != eventdesk.EConflict:
			t.Fatalf("%s: code %q is not a client error: %v", name, code, err)
		case e.Message == "":
			t.Fatalf("%s: error without a message: %#v", name, e)
		case code == eventdesk.EInvalid && len(e.Fields) == 0:
			t.Fatalf("%s: invalid input without field errors: %v", name, err)
		case ps != nil:
			t.Fatalf("%s: events %v with error %v", name, ps, err)
		}
		return
	}
	next := state
	for i, p := range ps {
		checkPayloadFollows(t, name, next, p)
		e := encodeEvent(t, p, eventdesk.Event{
			ID: eventID2, Stream: stream, Version: state.Version + int64(i) + 1, Position: 1000 + int64(i), RecordedAt: at(100 + i),
			Metadata: eventdesk.Metadata{Actor: agent},
		})
		if next, err = eventdesk.Evolve(next, e); err != nil {
			t.Fatalf("%s: decided event %#v does not fold: %v", name, p, err)
		}
	}
	checkInvariants(t, name, next)
	if len(ps) == 0 && !cmp.Equal(state, next) {
		t.Fatalf("%s: no events but the state changed", name)
	}
	if len(ps) == 0 {
		return
	}
	// Deciding the same command again is a no-op or a conflict.
	again, err := eventdesk.Decide(next, cmd)
	switch cmd.(type) {
	case eventdesk.OpenTicket, eventdesk.AddComment:
		if eventdesk.ErrorCode(err) != eventdesk.EConflict {
			t.Fatalf("%s: repeating %#v gave %v, %v; want a conflict", name, cmd, again, err)
		}
	default:
		if err != nil || len(again) != 0 {
			t.Fatalf("%s: repeating %#v gave %v, %v; want nothing", name, cmd, again, err)
		}
	}
}

// checkPayloadFollows checks that a decided event describes a real change
// from t.
func checkPayloadFollows(t *testing.T, name string, tk eventdesk.Ticket, p eventdesk.Payload) {
	t.Helper()
	bad := func(why string) { t.Fatalf("%s: %#v on %+v: %s", name, p, tk, why) }
	switch v := p.(type) {
	case eventdesk.TicketCreated:
		if tk.Exists() {
			bad("created twice")
		}
	case eventdesk.TitleChanged:
		if v.From != tk.Title || v.To == tk.Title {
			bad("title From/To")
		}
	case eventdesk.DescriptionChanged:
		if v.Description == tk.Description {
			bad("no change")
		}
	case eventdesk.PriorityChanged:
		if v.From != tk.Priority || v.To == tk.Priority {
			bad("priority From/To")
		}
	case eventdesk.TagsChanged:
		if len(v.Added)+len(v.Removed) == 0 {
			bad("no change")
		}
		for _, a := range v.Added {
			if slices.Contains(tk.Tags, a) {
				bad("added an existing tag")
			}
		}
		for _, r := range v.Removed {
			if !slices.Contains(tk.Tags, r) {
				bad("removed a missing tag")
			}
		}
	case eventdesk.TicketAssigned:
		if v.Previous != tk.Assignee || v.Assignee == tk.Assignee || v.Assignee == "" {
			bad("assignee Previous/Assignee")
		}
	case eventdesk.TicketUnassigned:
		if v.Previous != tk.Assignee || tk.Assignee == "" {
			bad("unassigned nobody")
		}
	case eventdesk.StatusChanged:
		if v.From != tk.Status || !v.From.CanMoveTo(v.To) {
			bad("status transition not allowed")
		}
	case eventdesk.TicketCommented:
		if tk.Status == eventdesk.StatusClosed {
			bad("comment on a closed ticket")
		}
	case eventdesk.SentimentScored:
		if math.IsNaN(v.Score) || v.Score < -1 || v.Score > 1 {
			bad("score out of range")
		}
	default:
		bad("unknown payload")
	}
	if tk.Status == eventdesk.StatusClosed {
		switch p.(type) {
		case eventdesk.StatusChanged, eventdesk.SentimentScored:
		default:
			bad("closed ticket changed")
		}
	}
}

// checkInvariants checks what must hold of every ticket folded from decided
// events.
func checkInvariants(t *testing.T, name string, tk eventdesk.Ticket) {
	t.Helper()
	bad := func(format string, args ...any) { t.Fatalf("%s: %s in %+v", name, fmt.Sprintf(format, args...), tk) }
	if !tk.Exists() {
		if !cmp.Equal(tk, eventdesk.Ticket{}) {
			bad("a ticket that does not exist has fields")
		}
		return
	}
	if !eventdesk.ValidID(tk.ID) {
		bad("id %q", tk.ID)
	}
	if n := utf8.RuneCountInString(tk.Title); n < 1 || n > eventdesk.MaxTitleLen || strings.TrimSpace(tk.Title) != tk.Title || !utf8.ValidString(tk.Title) ||
		strings.IndexFunc(tk.Title, unicode.IsControl) >= 0 {
		bad("title %q", tk.Title)
	}
	if len(tk.Description) > eventdesk.MaxTextBytes || !utf8.ValidString(tk.Description) || strings.TrimSpace(tk.Description) != tk.Description {
		bad("description")
	}
	if !tk.Priority.Valid() || !tk.Status.Valid() {
		bad("priority %q status %q", tk.Priority, tk.Status)
	}
	if eventdesk.ValidateUserName("requester", tk.Requester) != nil {
		bad("requester %q", tk.Requester)
	}
	if tk.Assignee != "" && eventdesk.ValidateUserName("assignee", tk.Assignee) != nil {
		bad("assignee %q", tk.Assignee)
	}
	if tk.Tags == nil || len(tk.Tags) > eventdesk.MaxTags {
		bad("%d tags", len(tk.Tags))
	}
	for i, tag := range tk.Tags {
		if n := utf8.RuneCountInString(tag); n < 1 || n > eventdesk.MaxTagLen || strings.ToLower(tag) != tag || strings.TrimSpace(tag) != tag {
			bad("tag %q", tag)
		}
		if i > 0 && tk.Tags[i-1] >= tag {
			bad("tags not sorted and unique: %q", tk.Tags)
		}
	}
	// Normalizing the stored tags again changes nothing.
	if again, err := eventdesk.NormalizeTags(tk.Tags); err != nil || !slices.Equal(again, tk.Tags) {
		bad("tags %q normalize to %q, %v", tk.Tags, again, err)
	}
	if tk.CommentCount != len(tk.Comments) {
		bad("comment count %d of %d", tk.CommentCount, len(tk.Comments))
	}
	ids := map[string]bool{}
	for _, c := range tk.Comments {
		if ids[c.ID] || !eventdesk.ValidID(c.ID) || c.Body == "" || len(c.Body) > eventdesk.MaxTextBytes {
			bad("comment %+v", c)
		}
		ids[c.ID] = true
	}
	if tk.Status.Active() != tk.ResolvedAt.IsZero() {
		bad("status %s with ResolvedAt %v", tk.Status, tk.ResolvedAt)
	}
	if len(tk.Sentiment) > eventdesk.MaxSentimentHistory {
		bad("%d scores", len(tk.Sentiment))
	}
	for _, s := range tk.Sentiment {
		if s.Score < -1 || s.Score > 1 || !eventdesk.ValidID(s.SourceEventID) {
			bad("score %+v", s)
		}
	}
}

// FuzzChainHash checks that ChainHash is deterministic, hex SHA-256, blind
// to what it documents it ignores (position, hash, time zone, JSON layout)
// and sensitive to the previous hash.
func FuzzChainHash(f *testing.F) {
	f.Add("", "id", "ticket-x", int64(1), "ticket.created", 2, []byte(schema1Created), "alice", int64(0), int64(1))
	f.Add("abc", "", "", int64(-1), "", 0, []byte(nil), "", int64(-1), int64(0))
	f.Add("p", "id", "s", int64(math.MaxInt64), "t", 1, []byte(`{bad`), "\xff", int64(math.MaxInt64), int64(7))
	f.Add("p", "id", "s", int64(3), "t", 1, []byte(" [1, 2, {\"a\" : \"<&>\u2028\"}] "), "bob", int64(1741078800123456789), int64(-3600))
	f.Fuzz(func(t *testing.T, prev, id, stream string, version int64, typ string, schema int, data []byte, actor string, nanos, zone int64) {
		e := eventdesk.Event{
			ID: id, Stream: stream, Version: version, Type: typ, Schema: schema, Data: data,
			Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: time.Unix(0, nanos).UTC(),
		}
		h := eventdesk.ChainHash(prev, e)
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			t.Fatalf("hash %q is not hex SHA-256", h)
		}
		if again := eventdesk.ChainHash(prev, e); again != h {
			t.Fatalf("not deterministic: %s then %s", h, again)
		}
		other := e
		other.Position, other.Hash = 42, "x"
		other.RecordedAt = e.RecordedAt.In(time.FixedZone("z", int(zone%(24*3600))))
		if json.Valid(data) {
			var indented bytes.Buffer
			if err := json.Indent(&indented, data, " ", "\t"); err != nil {
				t.Fatal(err)
			}
			other.Data = indented.Bytes()
		}
		if got := eventdesk.ChainHash(prev, other); got != h {
			t.Fatalf("position, hash, zone or JSON layout changed the hash")
		}
		if eventdesk.ChainHash(prev+"0", e) == h {
			t.Fatalf("the previous hash is ignored")
		}
	})
}

// FuzzDecideFields builds commands from fuzzed field values directly (byte
// mutations of JSON rarely reach long or exotic strings) and checks them as
// FuzzCommands does. Tags are the text split at ",".
func FuzzDecideFields(f *testing.F) {
	f.Add("  Printer on fire ", "smoke\n", "urgent", "open", "Printer,HW,printer", "bob", "alice", 0.5, uint8(0xff))
	f.Add("\u200b", "", "", "closed", "", "", "", math.Inf(1), uint8(0x0f))
	f.Add(strings.Repeat("é", 200), strings.Repeat("x", 64<<10), "low", "resolved", strings.Repeat("ǅ", 40)+",K,k", "carol", "alice", -1.0, uint8(0xaa))
	f.Add("İ", "\r\n", "high", "pending", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t", "", "bob", 0.0, uint8(0x55))
	states := fuzzStates(f)
	f.Fuzz(func(t *testing.T, title, text, priority, status, tags, assignee, author string, score float64, mask uint8) {
		var tagList []string
		if tags != "" {
			tagList = strings.Split(tags, ",")
		}
		set := func(bit uint8) bool { return mask&bit != 0 }
		edit := eventdesk.EditTicket{Reason: text}
		if set(1) {
			edit.Title = &title
		}
		if set(2) {
			edit.Description = &text
		}
		if set(4) {
			edit.Priority = ptr(eventdesk.Priority(priority))
		}
		if set(8) {
			edit.Tags = &tagList
		}
		if set(16) {
			edit.Status = ptr(eventdesk.Status(status))
		}
		if set(32) {
			edit.Assignee = &assignee
		}
		cmds := []eventdesk.Command{
			eventdesk.OpenTicket{Title: title, Description: text, Priority: eventdesk.Priority(priority), Requester: author, Tags: tagList, Assignee: assignee},
			edit,
			eventdesk.AssignTicket{Assignee: assignee},
			eventdesk.ChangeStatus{Status: eventdesk.Status(status)},
			eventdesk.AddComment{CommentID: "0190a5b2-7c3d-7e4f-8a1b-000000000009", Author: author, Body: text, Internal: set(64)},
			eventdesk.RecordSentiment{SourceEventID: eventID2, Score: score, Label: priority},
		}
		for _, cmd := range cmds {
			for name, state := range states {
				checkDecision(t, name, state, cmd)
			}
		}
	})
}
