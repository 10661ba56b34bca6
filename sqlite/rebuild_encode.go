package sqlite

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
)

// A rebuild writes every ticket row at least once, and encoding/json's
// reflection made the row's JSON (doc and comments) a good part of that
// cost. The bulk load writes the same bytes by hand: every field in
// eventdesk.Ticket's order with its omitempty/omitzero rules, strings that
// encoding/json writes verbatim (see plain), times as Time.MarshalJSON
// writes them. Anything else (a string it would escape, a time it cannot
// write, a sentiment score's float) takes encoding/json's path for the
// whole value, so the bytes are always json.Marshal's:
// TestEncodeTicketRowMatchesJSON and FuzzEncodeTicketRow hold the two
// equal, and TestRebuildEqualsLiveProjection the rebuilt rows equal the
// live projection's.

// appendTicketDoc appends the JSON of t without its comments, as
// json.Marshal writes it.
func appendTicketDoc(b []byte, t *eventdesk.Ticket) ([]byte, error) {
	start := len(b)
	ok := len(t.Sentiment) == 0
	if ok {
		b = append(b, `{"id":`...)
		b, ok = appendPlain(b, t.ID, ok)
		b = append(b, `,"title":`...)
		b, ok = appendPlain(b, t.Title, ok)
		b = append(b, `,"description":`...)
		b, ok = appendPlain(b, t.Description, ok)
		b = append(b, `,"priority":`...)
		b, ok = appendPlain(b, string(t.Priority), ok)
		b = append(b, `,"status":`...)
		b, ok = appendPlain(b, string(t.Status), ok)
		b = append(b, `,"requester":`...)
		b, ok = appendPlain(b, t.Requester, ok)
		if t.Assignee != "" {
			b = append(b, `,"assignee":`...)
			b, ok = appendPlain(b, t.Assignee, ok)
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
				b, ok = appendPlain(b, tag, ok)
			}
			b = append(b, ']')
		}
		b = append(b, `,"createdAt":`...)
		b, ok = appendTime(b, t.CreatedAt, ok)
		b = append(b, `,"updatedAt":`...)
		b, ok = appendTime(b, t.UpdatedAt, ok)
		if t.UpdatedBy != "" {
			b = append(b, `,"updatedBy":`...)
			b, ok = appendPlain(b, t.UpdatedBy, ok)
		}
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, t.Version, 10)
		if t.Position != 0 {
			b = append(b, `,"position":`...)
			b = strconv.AppendInt(b, t.Position, 10)
		}
		if !t.FirstResponseAt.IsZero() {
			b = append(b, `,"firstResponseAt":`...)
			b, ok = appendTime(b, t.FirstResponseAt, ok)
		}
		if !t.ResolvedAt.IsZero() {
			b = append(b, `,"resolvedAt":`...)
			b, ok = appendTime(b, t.ResolvedAt, ok)
		}
		b = append(b, `,"commentCount":`...)
		b = strconv.AppendInt(b, int64(t.CommentCount), 10)
		b = append(b, `,"publicCommentCount":`...)
		b = strconv.AppendInt(b, int64(t.PublicCommentCount), 10)
		b = append(b, '}')
	}
	if ok {
		return b, nil
	}
	c := *t
	c.Comments = nil
	j, err := json.Marshal(c)
	if err != nil {
		return b[:start], err
	}
	return append(b[:start], j...), nil
}

// appendComments appends the JSON of cs (not empty) as json.Marshal
// writes it.
func appendComments(b []byte, cs []eventdesk.Comment) ([]byte, error) {
	start := len(b)
	ok := true
	b = append(b, '[')
	for i := range cs {
		c := &cs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b, ok = appendPlain(b, c.ID, ok)
		b = append(b, `,"author":`...)
		b, ok = appendPlain(b, c.Author, ok)
		b = append(b, `,"body":`...)
		b, ok = appendPlain(b, c.Body, ok)
		b = append(b, `,"internal":`...)
		b = strconv.AppendBool(b, c.Internal)
		b = append(b, `,"createdAt":`...)
		b, ok = appendTime(b, c.CreatedAt, ok)
		b = append(b, '}')
		if !ok {
			break
		}
	}
	b = append(b, ']')
	if ok {
		return b, nil
	}
	j, err := json.Marshal(cs)
	if err != nil {
		return b[:start], err
	}
	return append(b[:start], j...), nil
}

// appendTime appends t quoted as Time.MarshalJSON writes it; ok turns
// false if that would fail.
func appendTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	q, err := t.AppendText(append(b, '"'))
	if err != nil {
		return b, false // AppendText returned nil
	}
	return append(q, '"'), ok
}
