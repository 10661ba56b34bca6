// Package listcursor is the keyset cursor of the ticket list
// (eventdesk.TicketPage.Next), shared by the SQL read models (sqlite,
// postgres) so that both accept and refuse exactly the same cursors. It
// imports the root package and the standard library only.
package listcursor

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Cursor is the decoded form of TicketPage.Next: the last row's sort keys
// and id, the sort, and a fingerprint of the filter it belongs to.
type Cursor struct {
	Sort   string  `json:"s"`
	Key    []int64 `json:"k"`
	ID     string  `json:"id"`
	Filter string  `json:"f"`
}

// maxLen bounds a decoded cursor: anything longer was not made by Encode.
const maxLen = 1024

// Invalid is the error of a cursor that cannot continue the list asked
// for, saying why.
func Invalid(why string) error {
	return &eventdesk.Error{Code: eventdesk.EInvalid, Message: "invalid cursor", Fields: map[string]string{"cursor": why}}
}

// Decode parses s, made by Encode, and checks that it continues a list in
// sort order with keys sort keys and the filter fingerprint filter;
// otherwise the error is an EInvalid one from Invalid.
func Decode(s string, sort eventdesk.TicketSort, keys int, filter string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > maxLen {
		return c, Invalid("is not a cursor returned by this list")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return c, Invalid("is not a cursor returned by this list")
	}
	if len(c.Key) != keys || !eventdesk.ValidID(c.ID) || c.Sort != string(sort) {
		return c, Invalid("does not belong to this sort order")
	}
	if c.Filter != filter {
		return c, Invalid("does not belong to this filter")
	}
	return c, nil
}

// Encode returns the cursor as TicketPage.Next carries it.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// After returns the cursor of the list that continues after t, sorted by
// the columns keys (created_at, updated_at, prio_rank: the read models'
// sort columns, times in Unix microseconds), in sort order, under the
// filter fingerprint filter.
func After(t eventdesk.Ticket, sort eventdesk.TicketSort, keys []string, filter string) Cursor {
	c := Cursor{Sort: string(sort), ID: t.ID, Filter: filter}
	for _, k := range keys {
		switch k {
		case "created_at":
			c.Key = append(c.Key, micros(t.CreatedAt))
		case "updated_at":
			c.Key = append(c.Key, micros(t.UpdatedAt))
		case "prio_rank":
			c.Key = append(c.Key, int64(t.Priority.Rank()))
		}
	}
	return c
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
