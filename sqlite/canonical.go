package sqlite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
)

// The hash chain and the stored metadata are JSON made by encoding/json
// (eventdesk.ChainHash, json.Marshal of eventdesk.Metadata). Through
// reflection that costs more CPU per append than the rest of the append
// path but SQLite itself, so the store writes the same bytes by hand
// whenever it can tell that encoding/json would write them verbatim: plain
// strings (valid UTF-8 without quotes, backslashes, control characters,
// <, >, & or U+2028/U+2029, which encoding/json escapes) and data already
// compact. Anything else takes encoding/json's own path. TestCanonical*
// checks the two against each other, and a fuzz target looks for a
// difference.

// canonical is an event's hashed bytes without its version, which only
// the writer knows: eventdesk.ChainHash(prev, e) is
// sha256(prev ‖ head ‖ version ‖ tail), hex-encoded. meta is the stored
// metadata JSON (a slice of tail).
type canonical struct {
	head, tail, meta []byte
	// data is a copy of the event's data that the store owns (inside
	// tail when the bytes were made by hand).
	data []byte
	// slow: the bytes could not be made by hand; hash with
	// eventdesk.ChainHash.
	slow bool
}

// encodeCanonical prepares e's hash input and stored metadata. e.Data must
// be valid JSON (ValidateAppend checked it).
func encodeCanonical(e *eventdesk.Event) (canonical, error) {
	b := make([]byte, 0, 160+len(e.Stream)+len(e.Data)+metaLen(&e.Metadata))
	ok := true
	var data []byte
	b = append(b, `{"id":`...)
	b, ok = appendPlain(b, e.ID, ok)
	b = append(b, `,"stream":`...)
	b, ok = appendPlain(b, e.Stream, ok)
	b = append(b, `,"version":`...)
	split := len(b)
	b = append(b, `,"type":`...)
	b, ok = appendPlain(b, e.Type, ok)
	b = append(b, `,"schema":`...)
	b = strconv.AppendInt(b, int64(e.Schema), 10)
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else if compactPlain(e.Data) {
		d0 := len(b)
		b = append(b, e.Data...)
		data = b[d0:len(b):len(b)]
	} else {
		ok = false
	}
	b = append(b, `,"metadata":`...)
	m0 := len(b)
	b, ok = appendMetadata(b, &e.Metadata, ok)
	m1 := len(b)
	b = append(b, `,"recordedAt":"`...)
	b = e.RecordedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	if ok {
		return canonical{head: b[:split], tail: b[split:], meta: b[m0:m1], data: data}, nil
	}
	meta, err := json.Marshal(e.Metadata)
	return canonical{meta: meta, data: bytes.Clone(e.Data), slow: true}, err
}

// hash returns eventdesk.ChainHash(prev, e) for the event c was made from,
// at version; buf is scratch space, returned for reuse.
func (c *canonical) hash(prev string, e *eventdesk.Event, version int64, buf []byte) (string, []byte) {
	if c.slow {
		ev := *e
		ev.Version = version
		return eventdesk.ChainHash(prev, ev), buf
	}
	buf = append(buf[:0], prev...)
	buf = append(buf, c.head...)
	buf = strconv.AppendInt(buf, version, 10)
	buf = append(buf, c.tail...)
	sum := sha256.Sum256(buf)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:]), buf
}

// encodeMetadata returns json.Marshal(m), by hand when it can.
func encodeMetadata(m *eventdesk.Metadata) ([]byte, error) {
	b, ok := appendMetadata(make([]byte, 0, metaLen(m)), m, true)
	if ok {
		return b, nil
	}
	return json.Marshal(m)
}

func metaLen(m *eventdesk.Metadata) int {
	return 96 + len(m.Actor) + len(m.CorrelationID) + len(m.CausationID) + len(m.IdempotencyKey) + len(m.RequestHash) + len(m.TraceParent)
}

// appendMetadata appends m as encoding/json does (fields in declaration
// order, empty ones omitted); ok turns false if a value needs escaping.
func appendMetadata(b []byte, m *eventdesk.Metadata, ok bool) ([]byte, bool) {
	b = append(b, '{')
	first := true
	field := func(name, v string) {
		if v == "" {
			return
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, name...)
		b, ok = appendPlain(b, v, ok)
	}
	field(`"actor":`, m.Actor)
	field(`"correlationId":`, m.CorrelationID)
	field(`"causationId":`, m.CausationID)
	field(`"idempotencyKey":`, m.IdempotencyKey)
	field(`"requestHash":`, m.RequestHash)
	field(`"traceparent":`, m.TraceParent)
	return append(b, '}'), ok
}

// appendPlain appends s quoted if encoding/json would write it unchanged;
// otherwise ok turns false (and what is appended does not matter).
func appendPlain(b []byte, s string, ok bool) ([]byte, bool) {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), ok && plain(s)
}

// plain reports whether encoding/json writes s between quotes as is.
func plain(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&':
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return ascii || utf8.ValidString(s) && !hasLineSeparator(s)
}

// hasLineSeparator reports whether s holds U+2028 or U+2029, which
// encoding/json escapes.
func hasLineSeparator(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == 0xE2 && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
			return true
		}
	}
	return false
}

// compactPlain reports whether json.Compact and json.Marshal leave the
// valid JSON text data byte for byte as it is: no white space between
// tokens, nothing that HTML-safe encoding escapes.
func compactPlain(data []byte) bool {
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && data[i+2]&^1 == 0xA8:
			return false
		case in && c == '\\':
			i++ // an escaped character, never the closing quote
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// metadataKeys are the keys of eventdesk.Metadata in the order
// appendMetadata writes them.
var metadataKeys = [...]string{"actor", "correlationId", "causationId", "idempotencyKey", "requestHash", "traceparent"}

// decodeMetadata decodes stored metadata JSON into m (which must be
// zero): by hand when the bytes have the shape appendMetadata writes,
// with json.Unmarshal otherwise.
func decodeMetadata(b []byte, m *eventdesk.Metadata) error {
	if fastMetadata(b, m) {
		return nil
	}
	*m = eventdesk.Metadata{}
	return json.Unmarshal(b, m)
}

// fastMetadata decodes b if it is an object of known keys in
// appendMetadata's order, without white space, whose values are plain
// strings (no escapes, valid UTF-8): then json.Unmarshal would give the
// same. It reports false, leaving m in any state, otherwise.
func fastMetadata(b []byte, m *eventdesk.Metadata) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	fields := [...]*string{&m.Actor, &m.CorrelationID, &m.CausationID, &m.IdempotencyKey, &m.RequestHash, &m.TraceParent}
	rest := b[1 : len(b)-1]
	next := 0
	for len(rest) > 0 {
		if next > 0 {
			if rest[0] != ',' {
				return false
			}
			rest = rest[1:]
		}
		key, r, ok := plainString(rest)
		if !ok || len(r) == 0 || r[0] != ':' {
			return false
		}
		i := next
		for i < len(metadataKeys) && metadataKeys[i] != string(key) {
			i++
		}
		if i == len(metadataKeys) {
			return false // unknown, repeated or out of order: encoding/json decides
		}
		v, r, ok := plainString(r[1:])
		if !ok {
			return false
		}
		*fields[i] = string(v)
		next, rest = i+1, r
	}
	return true
}

// plainString parses a JSON string without escapes or control characters
// at the start of b, holding valid UTF-8: its contents and what follows.
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	ascii := true
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s = b[1:i]
			return s, b[i+1:], ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, nil, false
}
