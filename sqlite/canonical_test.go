package sqlite

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
)

// checkCanonical fails unless the hand-made bytes hash and store exactly
// as eventdesk.ChainHash and json.Marshal do.
func checkCanonical(t *testing.T, e eventdesk.Event, prev string) {
	t.Helper()
	c, err := encodeCanonical(&e)
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(e.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.meta, want) {
		t.Fatalf("metadata %+v: got %s, want %s", e.Metadata, c.meta, want)
	}
	if m, err := encodeMetadata(&e.Metadata); err != nil || !bytes.Equal(m, want) {
		t.Fatalf("encodeMetadata(%+v) = %s, %v; want %s", e.Metadata, m, err, want)
	}
	for _, v := range []int64{1, 7, 1234567} {
		got, _ := c.hash(prev, &e, v, nil)
		e.Version = v
		if want := eventdesk.ChainHash(prev, e); got != want {
			t.Fatalf("hash of %+v (data %s) at version %d: got %s, want %s (slow path %t)", e, e.Data, v, got, want, c.slow)
		}
	}
}

func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891000, time.UTC)
	base := eventdesk.Event{
		ID: "0195f2d4-7a1c-7000-8000-000000000001", Stream: "ticket-0195f2d4-7a1c-7000-8000-000000000000",
		Type: "ticket.created", Schema: 2, Data: json.RawMessage(`{"title":"Printer on fire","tags":["a","b"],"n":1.5e3,"ok":true,"x":null}`),
		Metadata: eventdesk.Metadata{Actor: "alice", CorrelationID: "c-1"}, RecordedAt: at,
	}
	strs := []string{"", "plain", "josé", "tab\there", `quote"d`, `back\slash`, "<b>", "a&b", "line\u2028sep", "para\u2029", "bad\xffutf8", "\x7f", "日本語", "emoji 🎫", "nul\x00"}
	datas := []string{
		`{}`, `[]`, `"s"`, `1`, `null`, `{"a":"<"}`, `{"a":"\u003c"}`, `{ "a": 1 }`, "{\"a\":\n1}", `{"a":"x y"}`,
		`{"a":"\"quoted\" \\ back"}`, `{"a":"line` + "\u2028" + `"}`, `{"a":"josé"}`, `{"a":"\ud83c\udfab"}`, `{"a":"bad` + "\xff" + `"}`,
		`[1, 2]`, `{"a":[{"b":{}}]}`,
	}
	for _, s := range strs {
		for _, field := range []func(*eventdesk.Event, string){
			func(e *eventdesk.Event, s string) { e.ID = "id" + s },
			func(e *eventdesk.Event, s string) { e.Stream = "ticket-" + s },
			func(e *eventdesk.Event, s string) { e.Type = "t" + s },
			func(e *eventdesk.Event, s string) { e.Metadata.Actor = s },
			func(e *eventdesk.Event, s string) { e.Metadata.CausationID = s },
			func(e *eventdesk.Event, s string) { e.Metadata.IdempotencyKey = s },
			func(e *eventdesk.Event, s string) { e.Metadata.RequestHash = s },
			func(e *eventdesk.Event, s string) { e.Metadata.TraceParent = s },
			func(e *eventdesk.Event, s string) { e.Metadata.CorrelationID = s },
		} {
			e := base
			field(&e, s)
			checkCanonical(t, e, "")
			checkCanonical(t, e, "5f2c")
		}
	}
	for _, d := range datas {
		if !json.Valid([]byte(d)) {
			t.Fatalf("test data %q is not JSON", d)
		}
		e := base
		e.Data = json.RawMessage(d)
		checkCanonical(t, e, "")
	}
	e := base
	e.Data = nil
	checkCanonical(t, e, "")
	e.Metadata = eventdesk.Metadata{}
	e.RecordedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("X", 3600))
	checkCanonical(t, e, "")
}

func TestCanonicalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	alphabet := []string{"a", "Z", "0", " ", "-", "é", "<", "&", `"`, `\`, "\n", "\u2028", "日", "\xff", "\x7f"}
	str := func() string {
		var b []byte
		for range rng.IntN(6) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	for range 3000 {
		v := map[string]any{str(): str(), "n": rng.IntN(1000), "l": []any{str(), rng.Float64()}}
		data, _ := json.Marshal(v)
		if rng.IntN(3) == 0 {
			var buf bytes.Buffer
			_ = json.Indent(&buf, data, "", " ")
			data = buf.Bytes()
		}
		e := eventdesk.Event{
			ID: "id" + str(), Stream: "ticket-" + str(), Type: "t" + str(), Schema: 1 + rng.IntN(3), Data: data,
			Metadata:   eventdesk.Metadata{Actor: str(), CorrelationID: str(), TraceParent: str()},
			RecordedAt: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC(),
		}
		checkCanonical(t, e, str())
	}
}

func FuzzCanonical(f *testing.F) {
	f.Add("alice", "ticket-1", `{"a":"b"}`)
	f.Add("<x>", "t\u2028", `{ "a" : "<" }`)
	f.Fuzz(func(t *testing.T, actor, stream, data string) {
		if !json.Valid([]byte(data)) {
			return
		}
		e := eventdesk.Event{ID: "x", Stream: stream, Type: "ticket.created", Schema: 2, Data: json.RawMessage(data),
			Metadata: eventdesk.Metadata{Actor: actor}, RecordedAt: time.Unix(1e9, 5000).UTC()}
		checkCanonical(t, e, actor)
	})
}

// TestDecodeMetadataMatchesEncodingJSON checks the hand decoder against
// json.Unmarshal, on what the store writes and on anything else.
func TestDecodeMetadataMatchesEncodingJSON(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		var want eventdesk.Metadata
		wantErr := json.Unmarshal(b, &want)
		var got eventdesk.Metadata
		err := decodeMetadata(b, &got)
		if (err != nil) != (wantErr != nil) || err == nil && got != want {
			t.Fatalf("decodeMetadata(%s) = %+v, %v; json.Unmarshal: %+v, %v", b, got, err, want, wantErr)
		}
	}
	for _, s := range []string{
		`{}`, `{"actor":"a"}`, `{"actor":"a","traceparent":"t"}`, `{"traceparent":"t","actor":"a"}`, `{"actor":"a","actor":"b"}`,
		`{"Actor":"a"}`, `{"actor":"a\"b"}`, `{"actor":"a\u00e9"}`, `{"actor":"é"}`, `{"actor":"bad` + "\xff" + `"}`, `{ "actor":"a"}`,
		`{"actor":1}`, `{"actor":null}`, `{"other":"x"}`, `{"actor":"a",}`, `{"actor":"a"`, `[]`, `null`, `{"actor":"a"}x`, `{"actor":"<&>"}`,
		`{"actor":"a","correlationId":"c","causationId":"d","idempotencyKey":"k","requestHash":"h","traceparent":"t"}`,
	} {
		check([]byte(s))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", " ", "é", "<", `"`, `\`, "\n", "\u2028", "\xff"}
	str := func() string {
		var b []byte
		for range rng.IntN(5) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	for range 3000 {
		m := eventdesk.Metadata{Actor: str(), CorrelationID: str(), CausationID: str(), IdempotencyKey: str(), RequestHash: str(), TraceParent: str()}
		b, err := encodeMetadata(&m)
		if err != nil {
			t.Fatal(err)
		}
		check(b)
	}
}

func FuzzDecodeMetadata(f *testing.F) {
	f.Add([]byte(`{"actor":"alice","correlationId":"c"}`))
	f.Add([]byte(`{"actor":"a","actor":"b"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var want, got eventdesk.Metadata
		wantErr := json.Unmarshal(b, &want)
		err := decodeMetadata(b, &got)
		if (err != nil) != (wantErr != nil) || err == nil && got != want {
			t.Fatalf("decodeMetadata(%q) = %+v, %v; json.Unmarshal: %+v, %v", b, got, err, want, wantErr)
		}
	})
}
