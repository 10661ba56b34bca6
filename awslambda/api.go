package awslambda

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// API runs an http.Handler (the REST API of package httpapi) behind API
// Gateway HTTP APIs: each event (payload format 2.0) becomes an
// *http.Request, and what the handler writes becomes the response event.
// API Gateway buffers whole responses, so streaming endpoints (Server-Sent
// Events) cannot work here: requests for text/event-stream, and responses
// of that type, get a 501 problem instead. A handler still writing when
// the invocation's deadline nears is cut off by the request's context.
type API struct {
	h   http.Handler
	log *slog.Logger
}

// NewAPI returns the adapter around h.
func NewAPI(h http.Handler, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &API{h: h, log: log}
}

// deadlineMargin is kept free before the invocation's deadline so that a
// slow handler's context ends and it can still answer (with a 503) before
// Lambda kills the invocation.
const deadlineMargin = 500 * time.Millisecond

// Handle serves one API Gateway HTTP API event.
func (a *API) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-deadlineMargin))
		defer cancel()
	}
	req, err := NewRequest(ctx, ev)
	if err != nil {
		// A malformed event is API Gateway's doing or a test's, never the
		// client's: answer plainly rather than fail the invocation.
		a.log.Error("awslambda: bad API Gateway event", "err", err, "requestId", ev.RequestContext.RequestID)
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusBadRequest,
			Headers:    map[string]string{"Content-Type": "application/problem+json"},
			Body:       `{"type":"about:blank","title":"Bad Request","status":400,"detail":"the request could not be read"}`,
		}, nil
	}
	// API Gateway buffers whole responses: an event stream could only ever
	// arrive as one lump at the end, so refuse it plainly, before a
	// handler starts one (and whatever a handler streamed anyway).
	if acceptsEventStream(req.Header.Get("Accept")) {
		return noEventStream(), nil
	}
	rec := newRecorder()
	a.h.ServeHTTP(rec, req)
	if mt, _, _ := mime.ParseMediaType(rec.header.Get("Content-Type")); mt == "text/event-stream" {
		return noEventStream(), nil
	}
	return rec.response(), nil
}

func acceptsEventStream(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/event-stream" {
			return true
		}
	}
	return false
}

// noEventStream is the answer to a request for Server-Sent Events.
func noEventStream() events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusNotImplemented,
		Headers:    map[string]string{"Content-Type": "application/problem+json", "Cache-Control": "no-store"},
		Body: `{"type":"about:blank","title":"Not implemented","status":501,` +
			`"detail":"Server-Sent Events are not available on the AWS deployment (API Gateway buffers responses); poll the resource instead"}`,
	}
}

// NewRequest turns an API Gateway HTTP API event (payload 2.0) into an
// *http.Request: method, raw path and query, headers, cookies (which the
// event carries apart), the body (base64-decoded when so marked), the
// client's address and the Host.
func NewRequest(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("awslambda: event has no HTTP method")
	}
	rawPath := ev.RawPath
	if rawPath == "" {
		rawPath = ev.RequestContext.HTTP.Path
	}
	if rawPath == "" || rawPath[0] != '/' {
		rawPath = "/" + rawPath
	}
	uri := rawPath
	if ev.RawQueryString != "" {
		uri += "?" + ev.RawQueryString
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("awslambda: request URI %q: %w", uri, err)
	}
	var body []byte
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("awslambda: body is not base64: %w", err)
		}
	} else {
		body = []byte(ev.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, uri, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("awslambda: request: %w", err)
	}
	req.URL = u
	req.RequestURI = uri
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	if p := ev.RequestContext.HTTP.Protocol; p != "" {
		if major, minor, ok := http.ParseHTTPVersion(p); ok {
			req.Proto, req.ProtoMajor, req.ProtoMinor = p, major, minor
		}
	}
	for k, v := range ev.Headers {
		// API Gateway joins repeated headers with commas, which is how
		// HTTP defines their meaning too.
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Del("Content-Length")
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = ev.RequestContext.DomainName
	}
	req.Header.Del("Host")
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		req.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	// API Gateway terminates TLS; tell handlers the client used HTTPS.
	if strings.EqualFold(req.Header.Get("X-Forwarded-Proto"), "https") {
		req.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: req.Host}
	}
	// API Gateway's request id names the request in its logs and ours.
	if id := ev.RequestContext.RequestID; id != "" && req.Header.Get("X-Request-Id") == "" {
		req.Header.Set("X-Request-Id", id)
	}
	return req, nil
}

// recorder is the http.ResponseWriter a handler writes the response to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// Flush implements http.Flusher for handlers that flush: the response
// still leaves only when the handler returns.
func (r *recorder) Flush() {}

// response builds the API Gateway response: Set-Cookie headers go to
// Cookies (payload 2.0 has no repeated headers), other repeated headers are
// joined with commas, and a body that is not text is base64-encoded.
func (r *recorder) response() events.APIGatewayV2HTTPResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	res := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	for k, vs := range r.header {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			res.Cookies = append(res.Cookies, vs...)
			continue
		}
		res.Headers[k] = strings.Join(vs, ", ")
	}
	body := r.body.Bytes()
	if len(body) > 0 && res.Headers["Content-Type"] == "" {
		res.Headers["Content-Type"] = http.DetectContentType(body)
	}
	if isText(res.Headers["Content-Type"]) && utf8.Valid(body) {
		res.Body = string(body)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(body)
		res.IsBase64Encoded = len(body) > 0
	}
	return res
}

// isText reports whether a content type is text that API Gateway can pass
// as a string.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/x-www-form-urlencoded",
		mt == "image/svg+xml":
		return true
	}
	return false
}
