// Package sse writes a feed of events to an HTTP response as Server-Sent
// Events: the loop shared by the API's changefeed stream (httpapi) and the
// UI's live updates (web), which differ only in how an event is encoded
// and what a client is told when the feed fails. It imports the root
// package and the standard library only.
package sse

import (
	"bytes"
	"context"
	"iter"
	"net/http"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
)

// Options says how Serve writes the stream.
type Options struct {
	// Retry is the reconnection delay the client is told to use.
	Retry time.Duration
	// Heartbeat is how often a comment line is sent when nothing else is,
	// so that proxies keep the connection open and a dead client is seen.
	Heartbeat time.Duration
	// MaxBatch bounds, in bytes, the events sent in one write and flush.
	MaxBatch int
	// Encode appends one event's SSE fields (id:, event:, data:) and the
	// blank line that ends it.
	Encode func(buf *bytes.Buffer, e eventdesk.Event)
	// FailEvent, if set, is written when feed fails, before the stream
	// ends, so that the client knows to reconnect.
	FailEvent []byte
}

// Serve writes the SSE response headers, then every event of feed as it
// comes, batching what is ready into one write and flush, with heartbeats
// in between, until the client leaves (ctx ends), the feed ends, or it
// fails. It returns the feed's error if it failed while the client was
// still there, for the caller to log; write errors only end the stream.
func Serve(ctx context.Context, w http.ResponseWriter, feed iter.Seq2[eventdesk.Event, error], o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc := http.NewResponseController(w)
	// A stream outlives any write timeout the server has.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	hello := "retry: " + strconv.FormatInt(o.Retry.Milliseconds(), 10) + "\n: connected\n\n"
	if _, err := w.Write([]byte(hello)); err != nil || rc.Flush() != nil {
		return nil
	}

	type item struct {
		e   eventdesk.Event
		err error
	}
	items := make(chan item, 64)
	go func() {
		defer close(items)
		for e, err := range feed {
			select {
			case items <- item{e, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	beat := time.NewTicker(o.Heartbeat)
	defer beat.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || rc.Flush() != nil {
				return nil
			}
		case it, ok := <-items:
			if !ok {
				return nil
			}
			// Send what else is ready in the same write and flush.
			buf.Reset()
			var failed error
		batch:
			for {
				if it.err != nil {
					failed = it.err
					break
				}
				o.Encode(&buf, it.e)
				if buf.Len() >= o.MaxBatch {
					break
				}
				select {
				case it, ok = <-items:
					if !ok {
						break batch
					}
				default:
					break batch
				}
			}
			if buf.Len() > 0 {
				if _, err := w.Write(buf.Bytes()); err != nil || rc.Flush() != nil {
					return nil
				}
			}
			if failed != nil {
				if ctx.Err() != nil {
					return nil
				}
				if o.FailEvent != nil {
					_, _ = w.Write(o.FailEvent)
					_ = rc.Flush()
				}
				return failed
			}
			if !ok {
				return nil
			}
		}
	}
}
