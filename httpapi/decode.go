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
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || !contains(accepted, mt) {
		return nil, httpError(codeUnsupportedMedia, "Content-Type must be "+strings.Join(accepted, " or "))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, httpError(codeUnsupportedMedia, "only the UTF-8 charset is accepted")
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
	v := r.Header.Get("X-Min-Position")
	field := "X-Min-Position"
	if q := r.URL.Query().Get("minPosition"); q != "" {
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
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	for k, vs := range q {
		repeatable, ok := known[k]
		if !ok {
			return eventdesk.FieldError(k, "unknown query parameter")
		}
		if len(vs) > 1 && !repeatable {
			return eventdesk.FieldError(k, "must be given at most once")
		}
	}
	return nil
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
	v := r.URL.Query().Get(name)
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
