package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// readBody checks the content type against accepted and reads the body
// (at most MaxBodyBytes).
func readBody(w http.ResponseWriter, r *http.Request, accepted ...string) ([]byte, error) {
	// The usual header is exactly an accepted type: no parsing needed.
	if ct := r.Header.Get("Content-Type"); !contains(accepted, ct) {
		mt, params, err := mime.ParseMediaType(ct)
		if ct == "" || err != nil || !contains(accepted, mt) {
			return nil, httpError(codeUnsupportedMedia, "Content-Type must be "+strings.Join(accepted, " or "))
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, httpError(codeUnsupportedMedia, "only the UTF-8 charset is accepted")
		}
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, eventdesk.Errorf(eventdesk.ETooLarge, "the body must be at most %d bytes", MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, eventdesk.Errorf(eventdesk.ETooLarge, "the body must be at most %d bytes", MaxBodyBytes)
	}
	if err != nil {
		return nil, eventdesk.Errorf(eventdesk.EInvalid, "could not read the body")
	}
	return body, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// decodeStrict decodes one JSON object into v, refusing unknown fields,
// wrong types and trailing data.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return eventdesk.Errorf(eventdesk.EInvalid, "the body must be a JSON object")
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn bad bytes into U+FFFD.
		return eventdesk.Errorf(eventdesk.EInvalid, "the body must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return eventdesk.Errorf(eventdesk.EInvalid, "the body must hold exactly one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a caller-facing EInvalid.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return eventdesk.Errorf(eventdesk.EInvalid, "malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return eventdesk.Errorf(eventdesk.EInvalid, "the body must be a JSON object")
		}
		return eventdesk.FieldError(field, "must be "+jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return eventdesk.Errorf(eventdesk.EInvalid, "malformed JSON: unexpected end")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return eventdesk.FieldError(f, "unknown field")
	}
	return eventdesk.Errorf(eventdesk.EInvalid, "malformed JSON")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "int", "int64":
		return "an integer"
	case "struct", "map":
		return "an object"
	}
	return "a " + k
}

// requestHash fingerprints a request for idempotency: the same key with a
// different method, path or body is told apart.
func requestHash(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotency reads the Idempotency-Key header.
func idempotency(r *http.Request, body []byte) app.Idempotency {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return app.Idempotency{}
	}
	return app.Idempotency{Key: key, RequestHash: requestHash(r, body)}
}

// ifMatch parses If-Match: required is false when the header is absent;
// "*" yields 0 (any version).
func ifMatch(r *http.Request) (version int64, present bool, err error) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return 0, false, nil
	}
	v := strings.TrimSpace(strings.Join(vals, ","))
	if v == "*" {
		return 0, true, nil
	}
	n, ok := parseETag(v)
	if !ok {
		return 0, true, eventdesk.FieldError("If-Match", `must be one ETag of this API, e.g. "3"`)
	}
	return n, true, nil
}

// parseETag reads a strong ETag "<version>".
func parseETag(v string) (int64, bool) {
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, false
	}
	n, err := strconv.ParseInt(v[1:len(v)-1], 10, 64)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// minPosition reads X-Min-Position or ?minPosition=.
func minPosition(r *http.Request) (int64, error) {
	return minPositionOf(r, r.URL.Query())
}

// minPositionOf is minPosition with the query already parsed.
func minPositionOf(r *http.Request, query url.Values) (int64, error) {
	v := r.Header.Get("X-Min-Position")
	field := "X-Min-Position"
	if q := query.Get("minPosition"); q != "" {
		v, field = q, "minPosition"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, eventdesk.FieldError(field, "must be a position ≥ 0")
	}
	return n, nil
}

// queryParams checks that a query has only known parameters, each at most
// once unless repeatable, so that a typo is an error rather than ignored.
func queryParams(r *http.Request, known map[string]bool) error {
	_, err := checkedQuery(r, known)
	return err
}

// checkedQuery is queryParams that also returns the parsed query, for
// handlers that read several parameters (each Query call parses again).
func checkedQuery(r *http.Request, known map[string]bool) (url.Values, error) {
	q, err := parseQuery(r)
	if err != nil {
		return nil, err
	}
	for k, vs := range q {
		repeatable, ok := known[k]
		if !ok {
			return nil, eventdesk.FieldError(k, "unknown query parameter")
		}
		if len(vs) > 1 && !repeatable {
			return nil, eventdesk.FieldError(k, "must be given at most once")
		}
	}
	return q, nil
}

func parseQuery(r *http.Request) (map[string][]string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, eventdesk.Errorf(eventdesk.EInvalid, "malformed query string")
	}
	return q, nil
}

// parseInt reads an integer query parameter within [lo, hi].
func parseInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	return parseIntOf(r.URL.Query(), name, def, lo, hi)
}

// parseIntOf is parseInt with the query already parsed.
func parseIntOf(q url.Values, name string, def, lo, hi int64) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, eventdesk.FieldError(name, fmt.Sprintf("must be an integer between %d and %d", lo, hi))
	}
	return n, nil
}

// parseTime reads an RFC 3339 time.
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, eventdesk.FieldError(name, "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
	}
	return t, nil
}

// decodeCreateFast decodes the usual create body — one flat object of the
// request's own field names, each at most once, with strings free of
// escapes — without reflection, and reports whether it did. Anything else
// (escapes, nulls where a string goes, other keys or key spellings,
// trailing data, bad JSON) returns false untouched, for decodeStrict to
// decode or refuse as it always has; what this accepts, decodeStrict
// decodes to the same value.
func decodeCreateFast(body []byte, req *createTicketRequest) bool {
	if !utf8.Valid(body) {
		return false
	}
	s := jsonScanner{b: body}
	s.space()
	if !s.byte('{') {
		return false
	}
	var out createTicketRequest
	var seen uint8
	s.space()
	if !s.byte('}') {
		for {
			s.space()
			key, ok := s.plainString()
			if !ok {
				return false
			}
			s.space()
			if !s.byte(':') {
				return false
			}
			s.space()
			var bit uint8
			switch key {
			case "title":
				bit = 1
				out.Title, ok = s.plainString()
			case "description":
				bit = 2
				out.Description, ok = s.plainString()
			case "priority":
				bit = 4
				var p string
				p, ok = s.plainString()
				out.Priority = eventdesk.Priority(p)
			case "requester":
				bit = 8
				out.Requester, ok = s.plainString()
			case "assignee":
				bit = 16
				if !s.null() {
					var a string
					a, ok = s.plainString()
					out.Assignee = &a
				}
			case "tags":
				bit = 32
				if !s.null() {
					out.Tags, ok = s.plainStrings()
				}
			default:
				return false
			}
			if !ok || seen&bit != 0 {
				return false
			}
			seen |= bit
			s.space()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return false
			}
		}
	}
	s.space()
	if s.i != len(s.b) {
		return false
	}
	*req = out
	return true
}

// jsonScanner reads the few JSON shapes decodeCreateFast accepts.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c if it is next.
func (s *jsonScanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// null consumes a null literal if it is next (and not a prefix of more).
func (s *jsonScanner) null() bool {
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// plainString reads a string without escapes or control characters.
func (s *jsonScanner) plainString() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := string(s.b[s.i:j])
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// plainStrings reads an array of plain strings (empty: not nil, as
// encoding/json decodes []).
func (s *jsonScanner) plainStrings() ([]string, bool) {
	if !s.byte('[') {
		return nil, false
	}
	out := []string{}
	s.space()
	if s.byte(']') {
		return out, true
	}
	for {
		s.space()
		v, ok := s.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		s.space()
		if s.byte(']') {
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}
