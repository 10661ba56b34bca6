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
	"github.com/eventdesk/eventdesk/internal/sse"
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
	if s.noLive {
		s.renderError(w, r, eventdesk.Errorf(eventdesk.ENotImplemented, "live updates are turned off on this server: reload the page to see changes"))
		return
	}
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
	// The browser reconnects and resumes after a failure.
	err = sse.Serve(ctx, w, seq, sse.Options{Retry: 3 * time.Second, Heartbeat: s.heartbeat, MaxBatch: 32 << 10, Encode: writeLive})
	if err != nil {
		s.log.ErrorContext(ctx, "live stream", "err", err.Error(), "request_id", requestID(ctx))
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
