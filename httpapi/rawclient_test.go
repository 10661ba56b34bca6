package httpapi_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// rawClient is the load generator's HTTP/1.1 client: one keep-alive
// connection, requests written as bytes, responses read just enough to
// know their status and where they end. On a two-core machine the load
// generator competes with the server it measures; net/http's client
// (two goroutines per connection, a Request and a Response per round
// trip) costs about as much CPU as a trivial handler's server side, so the
// benchmarks use this one, as one would use wrk. The flag -bench.nethttp
// switches back to net/http's client for comparison.
type rawClient struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
}

// do sends one request (wire bytes) and returns the response's status.
func (c *rawClient) do(req []byte) (int, error) {
	if c.conn == nil {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return 0, err
	}
	status, keep, err := readResponse(c.br)
	if err != nil || !keep {
		c.close()
	}
	return status, err
}

func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// readResponse reads one response from br, discarding its body, and
// reports its status and whether the connection stays open.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, keep := -1, false, true
	for {
		if line, err = br.ReadSlice('\n'); err != nil {
			return status, false, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil {
				return status, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		return status, keep, nil // no body, whatever the headers say
	case chunked:
		for {
			if line, err = br.ReadSlice('\n'); err != nil {
				return status, false, err
			}
			hex, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
			size, err := strconv.ParseInt(string(hex), 16, 64)
			if err != nil || size < 0 {
				return status, false, fmt.Errorf("bad chunk size %q", line)
			}
			if size == 0 {
				for { // trailer, then the empty line
					if line, err = br.ReadSlice('\n'); err != nil {
						return status, false, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						return status, keep, nil
					}
				}
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				return status, false, err
			}
		}
	case length >= 0:
		_, err = br.Discard(length)
		return status, keep, err
	default:
		_, err = io.Copy(io.Discard, br)
		return status, false, err
	}
}

// wire returns r as bytes on the wire (HTTP/1.1, body with its length).
func wire(r *http.Request) ([]byte, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
	}
	if r.URL.Host == "" {
		return nil, errors.New("request without a host")
	}
	b := make([]byte, 0, 256+len(body))
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.URL.Host...)
	b = append(b, "\r\n"...)
	for k, vs := range r.Header {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if body != nil {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...), nil
}

// TestRawClient holds the load generator's client to what a server
// sends: a body with a length, a chunked body (one too big for the
// server's buffer, with no length set), an empty body, and a connection
// the server closes; each response is read to its end, so that the next
// request on the connection gets its own answer.
func TestRawClient(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		case "/chunked":
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, big)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	c := &rawClient{addr: srv.Listener.Addr().String()}
	defer c.close()
	for _, step := range []struct {
		path string
		want int
	}{{"/length", 200}, {"/chunked", 202}, {"/empty", 204}, {"/chunked", 202}, {"/close", 418}, {"/length", 200}} {
		r, _ := http.NewRequest("POST", srv.URL+step.path, strings.NewReader(`{"a":1}`))
		r.Header.Set("Content-Type", "application/json")
		req, err := wire(r)
		if err != nil {
			t.Fatal(err)
		}
		status, err := c.do(req)
		if err != nil || status != step.want {
			t.Fatalf("%s: status %d, %v; want %d", step.path, status, err, step.want)
		}
	}
}
