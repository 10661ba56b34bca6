package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

func stdJSON(tb testing.TB, v any) string {
	tb.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

var tricky = []string{"", "plain", `"quoted" \back\slash`, "line\nbreak\ttab\rcr\bbs\fff", "\x00\x01\x1f\x7f",
	"<script>&amp;</script>", "emoji 🎫 and ünïcödé", "sep\u2028para\u2029", "bad \xff\xfe utf8", "\xe2\x82", "ok\u00a0nbsp"}

func TestAppendTicketMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600000, time.UTC)
	assignee := "agnes"
	for i, s := range tricky {
		comments := []commentJSON{{ID: "c", Author: s, Body: s, Internal: i%2 == 0, CreatedAt: at.Add(time.Duration(i) * time.Nanosecond)}}
		var none []commentJSON
		for _, tk := range []ticketJSON{
			{ID: s, Title: s, Description: s, Priority: "high", Status: "open", Requester: s, Tags: []string{s, "x"}, Version: int64(i), CreatedAt: at, UpdatedAt: at.Add(time.Second)},
			{ID: "id", Assignee: &assignee, Tags: nil, Comments: &comments, CommentCount: 1, CreatedAt: time.Time{}, UpdatedAt: at.In(time.FixedZone("x", 3600))},
			{ID: "id", Tags: []string{}, Comments: &none},
			{ID: "id", Tags: []string{}, Comments: &[]commentJSON{}},
		} {
			got := string(appendTicket(nil, &tk))
			if want := stdJSON(t, tk); got != want {
				t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
			}
		}
	}
}

func TestAppendSentimentMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600000, time.UTC)
	trend := "improving"
	scores := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.123456789, 1e-7, -3e-9, 1e-6, 123456789, 1e20, 1e21, 2.5e300, 5e-324}
	for i, f := range scores {
		sc := scoreJSON{Score: f, Label: tricky[i%len(tricky)], At: at.Add(time.Duration(i)), SourceEventID: tricky[(i+1)%len(tricky)]}
		for _, s := range []sentimentJSON{
			{Latest: sc},
			{Latest: sc, Trend: &trend, History: []scoreJSON{sc, {Score: -f}}},
			{Latest: sc, History: []scoreJSON{}},
		} {
			tk := ticketJSON{ID: "id", Tags: []string{}, Sentiment: &s}
			if got, want := string(appendTicket(nil, &tk)), stdJSON(t, tk); got != want {
				t.Errorf("score %v:\n got %s\nwant %s", f, got, want)
			}
		}
	}
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1, -0.5, 1e-7, 1e21, 123.456} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		got, ok := appendFloat(nil, v)
		want, err := json.Marshal(v)
		if ok != (err == nil) || ok && string(got) != string(want) {
			t.Fatalf("%v: got %s (%t), want %s (%v)", v, got, ok, want, err)
		}
	})
}

func FuzzAppendString(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendString(nil, s)), stdJSON(t, s); got != want {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
