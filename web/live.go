package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// liveEvent is what the page scripts are told about each change: enough to
// say who changed which ticket, not the change itself (the page fetches
// that, rendered and authorized like any page).
type liveEvent struct {
	Ticket   string `json:"ticket"`
	Version  int64  `json:"version"`
	Position int64  `json:"position"`
	Type     string `json:"type"`
	Actor    string `json:"actor"`
	Summary  string `json:"summary"`
}

// liveStream follows the changefeed as Server-Sent Events, with the
// user's authorization (app.ChangefeedHandler.Follow): a requester hears
// about their own tickets only, and never about internal notes. Each
// event's id is its position, so a reconnecting browser resumes with
// Last-Event-ID and misses nothing.
func (s *Server) liveStream(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		s.renderError(w, r, eventdesk.FieldError("after", "must be a position ≥ 0"))
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n >= 0 {
			after = n
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	seq, err := s.app.Changefeed.Follow(ctx, after)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("retry: 3000\n: connected\n\n")); err != nil || rc.Flush() != nil {
		return
	}
	type item struct {
		e   eventdesk.Event
		err error
	}
	items := make(chan item, 64)
	go func() {
		defer close(items)
		for e, err := range seq {
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
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if _, err := w.Write([]byte(": heartbeat\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case it, ok := <-items:
			if !ok {
				return
			}
			if it.err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "live stream", "err", it.err.Error(), "request_id", requestID(ctx))
				}
				return // the browser reconnects and resumes
			}
			buf.Reset()
			writeLive(&buf, it.e)
			// Send what else is ready in the same write.
		more:
			for buf.Len() < 32<<10 {
				select {
				case it, ok = <-items:
					if !ok || it.err != nil {
						break more
					}
					writeLive(&buf, it.e)
				default:
					break more
				}
			}
			if _, err := w.Write(buf.Bytes()); err != nil || rc.Flush() != nil {
				return
			}
			if !ok || it.err != nil {
				return
			}
		}
	}
}

func writeLive(buf *bytes.Buffer, e eventdesk.Event) {
	id, _ := eventdesk.TicketIDFromStream(e.Stream)
	data, _ := json.Marshal(liveEvent{Ticket: id, Version: e.Version, Position: e.Position, Type: e.Type,
		Actor: e.Metadata.Actor, Summary: app.Summarize(e)})
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatInt(e.Position, 10))
	buf.WriteString("\nevent: ticket\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}
