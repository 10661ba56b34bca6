package awslambda_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk/awslambda"
)

// seen is what the echo handler saw of a request.
type seen struct {
	Method, Path, RawPath, RawQuery, Host, RemoteAddr, Body, Proto string
	Query                                                          map[string][]string
	Cookies                                                        map[string]string
	Header                                                         map[string]string
	TLS                                                            bool
	Deadline                                                       bool
	ContentLength                                                  int64
}

func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Host: r.Host,
			RemoteAddr: r.RemoteAddr, Body: string(body), Proto: r.Proto, Query: r.URL.Query(),
			Cookies: map[string]string{}, Header: map[string]string{}, TLS: r.TLS != nil, ContentLength: r.ContentLength,
		}
		_, s.Deadline = r.Context().Deadline()
		for _, c := range r.Cookies() {
			s.Cookies[c.Name] = c.Value
		}
		for k := range r.Header {
			s.Header[k] = r.Header.Get(k)
		}
		switch r.URL.Path {
		case "/binary":
			w.Header().Set("Content-Type", "image/png")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff})
			return
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: hello\n\n"))
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", HttpOnly: true})
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Vary", "Cookie")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(s)
	})
}

func TestAPIAdapter(t *testing.T) {
	api := awslambda.NewAPI(echoHandler(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default",
		RawPath:        "/api/v1/tickets/a%2Fb",
		RawQueryString: "status=new&status=open&q=caf%C3%A9+au+lait",
		Cookies:        []string{"session=abc.def", "theme=dark"},
		Headers: map[string]string{
			"host": "api.example.com", "content-type": "application/json", "x-forwarded-proto": "https",
			"accept": "application/json, text/plain", "authorization": "Bearer edk_x",
		},
		Body:            base64.StdEncoding.EncodeToString([]byte(`{"title":"Ünïcode ✓"}`)),
		IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1", DomainName: "fallback.example.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/api/v1/tickets/a/b", Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"},
		},
	}
	res, err := api.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.IsBase64Encoded {
		t.Fatalf("status %d, base64 %t", res.StatusCode, res.IsBase64Encoded)
	}
	var s seen
	if err := json.Unmarshal([]byte(res.Body), &s); err != nil {
		t.Fatalf("body %q: %v", res.Body, err)
	}
	checks := map[string]bool{
		"method":         s.Method == "POST",
		"path":           s.Path == "/api/v1/tickets/a/b" && s.RawPath == "/api/v1/tickets/a%2Fb",
		"query":          slices.Equal(s.Query["status"], []string{"new", "open"}) && s.Query["q"][0] == "café au lait",
		"host":           s.Host == "api.example.com",
		"remote":         s.RemoteAddr == "203.0.113.7:0",
		"body":           s.Body == `{"title":"Ünïcode ✓"}` && s.ContentLength == int64(len(s.Body)),
		"cookies":        s.Cookies["session"] == "abc.def" && s.Cookies["theme"] == "dark",
		"headers":        s.Header["Authorization"] == "Bearer edk_x" && s.Header["Accept"] == "application/json, text/plain",
		"request id":     s.Header["X-Request-Id"] == "req-1",
		"tls":            s.TLS,
		"deadline":       s.Deadline,
		"proto":          s.Proto == "HTTP/1.1",
		"set-cookie":     slices.Equal(res.Cookies, []string{"a=1; Path=/", "b=2; HttpOnly"}),
		"joined headers": res.Headers["Vary"] == "Accept, Cookie",
		"content type":   res.Headers["Content-Type"] == "application/json; charset=utf-8",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s: request seen as %+v; response %+v", name, s, res)
		}
	}

	// A binary response is base64-encoded; the status passes through.
	ev = events.APIGatewayV2HTTPRequest{RawPath: "/binary", RequestContext: events.APIGatewayV2HTTPRequestContext{
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}}
	res, err = api.Handle(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := base64.StdEncoding.DecodeString(res.Body)
	if res.StatusCode != http.StatusCreated || !res.IsBase64Encoded || string(body) != "\x89PNG\x00\x01\x02\xff" {
		t.Fatalf("binary response %+v", res)
	}
	ev.RawPath = "/empty"
	if res, _ = api.Handle(ctx, ev); res.StatusCode != http.StatusNoContent || res.Body != "" || res.IsBase64Encoded {
		t.Fatalf("empty response %+v", res)
	}

	// Server-Sent Events cannot pass API Gateway: a request for them, or a
	// response of that type, gets a 501 problem.
	for _, h := range []map[string]string{{"accept": "text/event-stream"}, nil} {
		ev := events.APIGatewayV2HTTPRequest{RawPath: "/stream", Headers: h, RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}}
		if res, _ := api.Handle(ctx, ev); res.StatusCode != http.StatusNotImplemented || res.Headers["Content-Type"] != "application/problem+json" {
			t.Errorf("event stream (headers %v): %+v", h, res)
		}
	}

	// An event that cannot be a request gets a 400, not a failed
	// invocation.
	for name, bad := range map[string]events.APIGatewayV2HTTPRequest{
		"no method":  {RawPath: "/x"},
		"bad base64": {RawPath: "/x", Body: "%%%", IsBase64Encoded: true, RequestContext: ev.RequestContext},
		"bad uri":    {RawPath: "/x y\x00", RequestContext: ev.RequestContext},
	} {
		res, err := api.Handle(ctx, bad)
		if err != nil || res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}
}

// TestAPIDeadlineMargin: the handler's request context ends half a second
// before the invocation's deadline, so that a slow handler (a DynamoDB
// call that hangs) is cut off and its answer (here a 503) still reaches
// API Gateway, instead of Lambda killing the invocation with no answer.
func TestAPIDeadlineMargin(t *testing.T) {
	var seen time.Time
	api := awslambda.NewAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = r.Context().Deadline()
		<-r.Context().Done()
		http.Error(w, "timed out", http.StatusServiceUnavailable)
	}), nil)
	deadline := time.Now().Add(2 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	res, err := api.Handle(ctx, events.APIGatewayV2HTTPRequest{RawPath: "/slow", RequestContext: events.APIGatewayV2HTTPRequestContext{
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := deadline.Add(-500 * time.Millisecond); !seen.Equal(want) {
		t.Errorf("handler's deadline %v, want the invocation's minus 500 ms (%v)", seen, want)
	}
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("answer %d, want the handler's 503", res.StatusCode)
	}
}
