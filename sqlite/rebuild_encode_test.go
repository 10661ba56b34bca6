package sqlite

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// checkTicketRow fails unless appendTicketDoc and appendComments write
// what json.Marshal writes for t (without its comments) and its comments,
// or fail where it fails.
func checkTicketRow(tb testing.TB, t eventdesk.Ticket) {
	tb.Helper()
	prefix := []byte("prefix")
	noComments := t
	noComments.Comments = nil
	want, wantErr := json.Marshal(noComments)
	got, err := appendTicketDoc(bytes.Clone(prefix), &t)
	if (err != nil) != (wantErr != nil) {
		tb.Fatalf("doc error %v, encoding/json's %v", err, wantErr)
	}
	if err == nil && !bytes.Equal(got, append(bytes.Clone(prefix), want...)) {
		tb.Fatalf("doc\n got %s\nwant prefix%s", got, want)
	}
	if len(t.Comments) == 0 {
		return
	}
	want, wantErr = json.Marshal(t.Comments)
	got, err = appendComments(bytes.Clone(prefix), t.Comments)
	if (err != nil) != (wantErr != nil) {
		tb.Fatalf("comments error %v, encoding/json's %v", err, wantErr)
	}
	if err == nil && !bytes.Equal(got, append(bytes.Clone(prefix), want...)) {
		tb.Fatalf("comments\n got %s\nwant prefix%s", got, want)
	}
}

func TestEncodeTicketRowMatchesJSON(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891000, time.UTC)
	base := eventdesk.Ticket{
		ID: "0190c8e2-0000-7000-8000-000000000001", Title: "Printer on fire", Description: "It smokes.",
		Priority: eventdesk.PriorityHigh, Status: eventdesk.StatusOpen, Requester: "alice", Assignee: "bob",
		Tags: []string{"hardware", "urgent"}, CreatedAt: at, UpdatedAt: at.Add(time.Second), UpdatedBy: "bob",
		Version: 7, Position: 1234, FirstResponseAt: at.Add(time.Minute), ResolvedAt: at.Add(time.Hour),
		CommentCount: 2, PublicCommentCount: 1,
		Comments: []eventdesk.Comment{
			{ID: "c1", Author: "bob", Body: "On it.", CreatedAt: at},
			{ID: "c2", Author: "carol", Body: "Internal note", Internal: true, CreatedAt: at.Add(time.Nanosecond)},
		},
	}
	cases := map[string]func(t *eventdesk.Ticket){
		"full":            func(*eventdesk.Ticket) {},
		"minimal":         func(t *eventdesk.Ticket) { *t = eventdesk.Ticket{} },
		"nil tags":        func(t *eventdesk.Ticket) { t.Tags = nil },
		"empty tags":      func(t *eventdesk.Ticket) { t.Tags = []string{} },
		"no assignee":     func(t *eventdesk.Ticket) { t.Assignee, t.UpdatedBy, t.Position = "", "", 0 },
		"html":            func(t *eventdesk.Ticket) { t.Title = "a < b && c > d" },
		"quotes":          func(t *eventdesk.Ticket) { t.Description = `say "hi" \ bye` },
		"control":         func(t *eventdesk.Ticket) { t.Description = "line\nnext\ttab\x00\x1f\x7f" },
		"unicode":         func(t *eventdesk.Ticket) { t.Title = "Ärger über € 😀" },
		"line separators": func(t *eventdesk.Ticket) { t.Title = "a\u2028b\u2029c" },
		"invalid utf-8":   func(t *eventdesk.Ticket) { t.Requester = "bad\xff\xfe" },
		"tag escapes":     func(t *eventdesk.Ticket) { t.Tags = []string{"x<y", "ok"} },
		"comment escapes": func(t *eventdesk.Ticket) { t.Comments[1].Body = "<script>\n" },
		"comment unicode": func(t *eventdesk.Ticket) { t.Comments[0].Author = "Zoë" },
		"zero times": func(t *eventdesk.Ticket) {
			t.CreatedAt, t.UpdatedAt, t.FirstResponseAt, t.ResolvedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		},
		"other zone":      func(t *eventdesk.Ticket) { t.UpdatedAt = at.In(time.FixedZone("x", 5*3600+1800)) },
		"monotonic":       func(t *eventdesk.Ticket) { t.CreatedAt = time.Now() },
		"year 10000":      func(t *eventdesk.Ticket) { t.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"comment year -1": func(t *eventdesk.Ticket) { t.Comments[0].CreatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"negative":        func(t *eventdesk.Ticket) { t.Version, t.Position, t.CommentCount = -1, math.MinInt64, -5 },
		"sentiment": func(t *eventdesk.Ticket) {
			t.Sentiment = []eventdesk.SentimentScore{{SourceEventID: "e1", Score: -0.25, Label: "negative", At: at}, {Score: 1e-9}}
		},
		"sentiment nan": func(t *eventdesk.Ticket) { t.Sentiment = []eventdesk.SentimentScore{{Score: math.NaN()}} },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			tk := base
			tk.Tags = append([]string(nil), base.Tags...)
			tk.Comments = append([]eventdesk.Comment(nil), base.Comments...)
			change(&tk)
			checkTicketRow(t, tk)
		})
	}
}

// FuzzEncodeTicketRow looks for a ticket whose hand-written row JSON
// differs from encoding/json's.
func FuzzEncodeTicketRow(f *testing.F) {
	f.Add("Printer on fire", "desc", "tag", "alice", "body", int64(1700000000), int64(123456789), int64(7), true, 0.5)
	f.Add("<&>", "\u2028", "", "", "\xff", int64(-62135596800), int64(0), int64(0), false, math.Inf(1))
	f.Add("é", "\"\\", "a\x00", "b\x7f", "😀", int64(253402300800), int64(1), int64(-1), false, math.Copysign(0, -1))
	f.Fuzz(func(t *testing.T, title, desc, tag, user, body string, sec, nsec, n int64, internal bool, score float64) {
		at := time.Unix(sec, nsec).UTC()
		tk := eventdesk.Ticket{
			ID: user, Title: title, Description: desc, Priority: eventdesk.Priority(tag), Status: eventdesk.Status(title),
			Requester: user, Assignee: tag, Tags: []string{tag, title}, CreatedAt: at, UpdatedAt: at.Add(time.Duration(n)),
			UpdatedBy: body, Version: n, Position: sec, CommentCount: int(nsec), PublicCommentCount: int(n),
			Comments: []eventdesk.Comment{{ID: tag, Author: user, Body: body, Internal: internal, CreatedAt: at}},
		}
		if internal {
			tk.FirstResponseAt, tk.ResolvedAt = at, time.Unix(n, 0)
			tk.Tags = nil
		}
		if n%3 == 0 {
			tk.Sentiment = []eventdesk.SentimentScore{{SourceEventID: body, Score: score, Label: tag, At: at}}
		}
		checkTicketRow(t, tk)
	})
}
