package httpapi

import (
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Tickets are the API's most frequent answers (every create, every list
// item), so they are encoded by hand instead of by reflection. The output
// is byte for byte what encoding/json (without HTML escaping) writes for
// ticketJSON; TestAppendTicketMatchesEncodingJSON holds it to that.

// bufPool holds response buffers for reuse.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// getBuf returns an empty buffer; give it back, grown, with putBuf.
func getBuf() *[]byte {
	b := bufPool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		bufPool.Put(b)
	}
}

// appendTicket appends t as JSON.
func appendTicket(b []byte, t *ticketJSON) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, t.ID)
	b = append(b, `,"title":`...)
	b = appendString(b, t.Title)
	b = append(b, `,"description":`...)
	b = appendString(b, t.Description)
	b = append(b, `,"priority":`...)
	b = appendString(b, string(t.Priority))
	b = append(b, `,"status":`...)
	b = appendString(b, string(t.Status))
	b = append(b, `,"requester":`...)
	b = appendString(b, t.Requester)
	b = append(b, `,"assignee":`...)
	if t.Assignee == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *t.Assignee)
	}
	b = append(b, `,"tags":`...)
	if t.Tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, tag := range t.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, tag)
		}
		b = append(b, ']')
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, t.Version, 10)
	b = append(b, `,"createdAt":`...)
	b = appendTime(b, t.CreatedAt)
	b = append(b, `,"updatedAt":`...)
	b = appendTime(b, t.UpdatedAt)
	b = append(b, `,"commentCount":`...)
	b = strconv.AppendInt(b, int64(t.CommentCount), 10)
	if t.Comments != nil {
		b = append(b, `,"comments":`...)
		if *t.Comments == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i := range *t.Comments {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendComment(b, &(*t.Comments)[i])
			}
			b = append(b, ']')
		}
	}
	if t.Sentiment != nil {
		b = append(b, `,"sentiment":`...)
		b = appendSentiment(b, t.Sentiment)
	}
	return append(b, '}')
}

// appendSentiment writes a ticket's sentiment (every scored ticket a
// staff member lists or opens carries one).
func appendSentiment(b []byte, s *sentimentJSON) []byte {
	start := len(b)
	b = append(b, `{"latest":`...)
	b, ok := appendScore(b, &s.Latest)
	b = append(b, `,"trend":`...)
	if s.Trend == nil {
		b = append(b, "null"...)
	} else {
		b = appendString(b, *s.Trend)
	}
	if len(s.History) > 0 {
		b = append(b, `,"history":[`...)
		for i := range s.History {
			if i > 0 {
				b = append(b, ',')
			}
			var okh bool
			if b, okh = appendScore(b, &s.History[i]); !okh {
				ok = false
			}
		}
		b = append(b, ']')
	}
	if !ok {
		// A score encoding/json cannot write (NaN, ±Inf): it fails, and so
		// did this before it was written by hand.
		return append(b[:start], "null"...)
	}
	return append(b, '}')
}

// appendScore writes one score; ok is false for a score JSON cannot hold.
func appendScore(b []byte, s *scoreJSON) ([]byte, bool) {
	b = append(b, `{"score":`...)
	b, ok := appendFloat(b, s.Score)
	b = append(b, `,"label":`...)
	b = appendString(b, s.Label)
	b = append(b, `,"at":`...)
	b = appendTime(b, s.At)
	b = append(b, `,"sourceEventId":`...)
	b = appendString(b, s.SourceEventID)
	return append(b, '}'), ok
}

// appendFloat writes f as encoding/json writes a float64: the shortest
// representation, in exponent form only below 1e-6 or from 1e21 on, with
// a two-digit exponent shortened (1e-07 → 1e-7).
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

func appendComment(b []byte, c *commentJSON) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"author":`...)
	b = appendString(b, c.Author)
	b = append(b, `,"body":`...)
	b = appendString(b, c.Body)
	b = append(b, `,"internal":`...)
	b = strconv.AppendBool(b, c.Internal)
	b = append(b, `,"createdAt":`...)
	b = appendTime(b, c.CreatedAt)
	return append(b, '}')
}

// appendTime writes t as time.Time.MarshalJSON does.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with
// HTML escaping off: quotes, backslashes and control characters escaped,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
