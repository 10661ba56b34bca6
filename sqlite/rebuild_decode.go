package sqlite

import (
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
)

// A rebuild decodes every payload of the log, and encoding/json's
// reflection was most of its reader's CPU. decodePayload reads by hand the
// payloads that eventdesk.Encode writes: a compact object of the type's
// own keys (exact case, each once) whose values are plain strings (no
// escapes), booleans or arrays of plain strings (or null), in the type's
// current schema. For those, encoding/json would give the same value;
// anything else (white space, an escape, an unknown or repeated key,
// another null, a number, an old schema that needs upcasting, an unknown
// type) goes to eventdesk.Decode, which also makes every error.
// TestDecodePayloadFastMatchesDecode and FuzzDecodePayloadFast hold the
// two equal.

// decodePayload returns what eventdesk.Decode(e) returns.
func decodePayload(e eventdesk.Event) (eventdesk.Payload, error) {
	if p, ok := decodePayloadFast(e); ok {
		return p, nil
	}
	return eventdesk.Decode(e)
}

// payloadField is where a decoded value goes: one of the three pointers.
type payloadField struct {
	key  string
	str  *string
	bl   *bool
	list *[]string
	seen bool
}

func strField(key string, p *string) payloadField    { return payloadField{key: key, str: p} }
func boolField(key string, p *bool) payloadField     { return payloadField{key: key, bl: p} }
func listField(key string, p *[]string) payloadField { return payloadField{key: key, list: p} }
func prioField(key string, p *eventdesk.Priority) payloadField {
	return payloadField{key: key, str: (*string)(p)}
}
func statusField(key string, p *eventdesk.Status) payloadField {
	return payloadField{key: key, str: (*string)(p)}
}

// decodePayloadFast decodes e's payload if it is of the plain form above,
// reporting false (and nothing else) otherwise.
func decodePayloadFast(e eventdesk.Event) (eventdesk.Payload, bool) {
	if e.Schema != eventdesk.CurrentSchema(e.Type) || len(e.Data) < 2 {
		return nil, false
	}
	// One copy of the data, whose substrings the fields become: one
	// allocation per event instead of one per string.
	s := string(e.Data)
	var fs [6]payloadField
	var f []payloadField
	var p eventdesk.Payload
	switch e.Type {
	case eventdesk.TypeTicketCreated:
		var v eventdesk.TicketCreated
		f = append(fs[:0], strField("title", &v.Title), strField("description", &v.Description), prioField("priority", &v.Priority),
			strField("requester", &v.Requester), listField("tags", &v.Tags), strField("assignee", &v.Assignee))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeStatusChanged:
		var v eventdesk.StatusChanged
		f = append(fs[:0], statusField("from", &v.From), statusField("to", &v.To))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeTicketCommented:
		var v eventdesk.TicketCommented
		f = append(fs[:0], strField("commentId", &v.CommentID), strField("author", &v.Author), strField("body", &v.Body), boolField("internal", &v.Internal))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeTicketAssigned:
		var v eventdesk.TicketAssigned
		f = append(fs[:0], strField("assignee", &v.Assignee), strField("previous", &v.Previous))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeTicketUnassigned:
		var v eventdesk.TicketUnassigned
		f = append(fs[:0], strField("previous", &v.Previous))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeTitleChanged:
		var v eventdesk.TitleChanged
		f = append(fs[:0], strField("from", &v.From), strField("to", &v.To))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeDescriptionChanged:
		var v eventdesk.DescriptionChanged
		f = append(fs[:0], strField("description", &v.Description))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypePriorityChanged:
		var v eventdesk.PriorityChanged
		f = append(fs[:0], prioField("from", &v.From), prioField("to", &v.To), strField("reason", &v.Reason))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	case eventdesk.TypeTagsChanged:
		var v eventdesk.TagsChanged
		f = append(fs[:0], listField("added", &v.Added), listField("removed", &v.Removed))
		if !parseFlatObject(s, f) {
			return nil, false
		}
		p = v
	default:
		return nil, false
	}
	return p, true
}

// parseFlatObject sets fields from s, a compact JSON object of their keys,
// reporting false if s is anything else.
func parseFlatObject(s string, fields []payloadField) bool {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	rest := s[1 : len(s)-1]
	for first := true; len(rest) > 0; first = false {
		if !first {
			if rest[0] != ',' {
				return false
			}
			rest = rest[1:]
		}
		key, r, ok := plainStr(rest)
		if !ok || len(r) == 0 || r[0] != ':' {
			return false
		}
		rest = r[1:]
		var f *payloadField
		for i := range fields {
			if fields[i].key == key {
				f = &fields[i]
				break
			}
		}
		if f == nil || f.seen {
			return false
		}
		f.seen = true
		switch {
		case f.str != nil:
			if *f.str, rest, ok = plainStr(rest); !ok {
				return false
			}
		case f.bl != nil:
			switch {
			case len(rest) >= 4 && rest[:4] == "true":
				*f.bl, rest = true, rest[4:]
			case len(rest) >= 5 && rest[:5] == "false":
				*f.bl, rest = false, rest[5:]
			default:
				return false
			}
		case len(rest) >= 4 && rest[:4] == "null":
			*f.list, rest = nil, rest[4:] // as Encode writes a nil list
		default:
			if len(rest) == 0 || rest[0] != '[' {
				return false
			}
			rest = rest[1:]
			list := []string{}
			for len(rest) > 0 && rest[0] != ']' {
				if len(list) > 0 {
					if rest[0] != ',' {
						return false
					}
					rest = rest[1:]
				}
				var v string
				if v, rest, ok = plainStr(rest); !ok {
					return false
				}
				list = append(list, v)
			}
			if len(rest) == 0 {
				return false
			}
			rest = rest[1:]
			*f.list = list
		}
	}
	return true
}

// plainStr is plainString for a string: the contents of the JSON string
// at the start of b if it has no escapes or control characters and is
// valid UTF-8 (then they are its value), and what follows it.
func plainStr(b string) (s, rest string, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", "", false
	}
	ascii := true
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s = b[1:i]
			return s, b[i+1:], ascii || utf8.ValidString(s)
		case c == '\\' || c < 0x20:
			return "", "", false
		case c >= 0x80:
			ascii = false
		}
	}
	return "", "", false
}
