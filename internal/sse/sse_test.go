package sse_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/sse"
)

func encode(buf *bytes.Buffer, e eventdesk.Event) {
	buf.WriteString("id: " + strconv.FormatInt(e.Position, 10) + "\ndata: " + e.Type + "\n\n")
}

// feed yields n events, then err if not nil, then ends.
func feed(n int, err error) iter.Seq2[eventdesk.Event, error] {
	return func(yield func(eventdesk.Event, error) bool) {
		for i := 1; i <= n; i++ {
			if !yield(eventdesk.Event{Position: int64(i), Type: "t" + strconv.Itoa(i)}, nil) {
				return
			}
		}
		if err != nil {
			yield(eventdesk.Event{}, err)
		}
	}
}

func TestServeWritesEveryEventThenTheFailure(t *testing.T) {
	w := httptest.NewRecorder()
	broken := errors.New("store gone")
	err := sse.Serve(context.Background(), w, feed(3, broken), sse.Options{
		Retry: 2 * time.Second, Heartbeat: time.Hour, MaxBatch: 16, Encode: encode, FailEvent: []byte("event: error\n\n"),
	})
	if !errors.Is(err, broken) {
		t.Fatalf("Serve = %v, want the feed's error", err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	want := "retry: 2000\n: connected\n\nid: 1\ndata: t1\n\nid: 2\ndata: t2\n\nid: 3\ndata: t3\n\nevent: error\n\n"
	if got := w.Body.String(); got != want {
		t.Errorf("body:\n%q\nwant\n%q", got, want)
	}
}

func TestServeEndsWithTheFeed(t *testing.T) {
	w := httptest.NewRecorder()
	if err := sse.Serve(context.Background(), w, feed(2, nil), sse.Options{Retry: 3 * time.Second, Heartbeat: time.Hour, MaxBatch: 1 << 10, Encode: encode}); err != nil {
		t.Fatal(err)
	}
	if got := w.Body.String(); !strings.HasPrefix(got, "retry: 3000\n") || !strings.HasSuffix(got, "id: 2\ndata: t2\n\n") {
		t.Errorf("body %q", got)
	}
}

func TestServeSendsHeartbeatsUntilTheClientLeaves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	quiet := func(yield func(eventdesk.Event, error) bool) { <-ctx.Done() }
	w := httptest.NewRecorder()
	if err := sse.Serve(ctx, w, quiet, sse.Options{Retry: time.Second, Heartbeat: 10 * time.Millisecond, MaxBatch: 1 << 10, Encode: encode}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(w.Body.String(), ": heartbeat\n\n") {
		t.Errorf("no heartbeat in %q", w.Body.String())
	}
}
