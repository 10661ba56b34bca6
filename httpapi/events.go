package httpapi

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

// eventJSON is an event as the changefeed shows it; it maps 1:1 onto a
// CloudEvents envelope.
type eventJSON struct {
	ID         string          `json:"id"`
	Stream     string          `json:"stream"`
	Version    int64           `json:"version"`
	Position   int64           `json:"position"`
	Type       string          `json:"type"`
	Schema     int             `json:"schema"`
	Data       json.RawMessage `json:"data"`
	Metadata   metadataJSON    `json:"metadata"`
	RecordedAt time.Time       `json:"recordedAt"`
	Hash       string          `json:"hash"`
}

type metadataJSON struct {
	Actor         string `json:"actor,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	TraceParent   string `json:"traceparent,omitempty"`
}

// toEventJSON leaves out the idempotency key and request hash: they are
// the writer's business.
func toEventJSON(e eventdesk.Event) eventJSON {
	data := e.Data
	if !json.Valid(data) {
		data = json.RawMessage("null")
	}
	return eventJSON{
		ID: e.ID, Stream: e.Stream, Version: e.Version, Position: e.Position, Type: e.Type, Schema: e.Schema,
		Data: data, RecordedAt: e.RecordedAt.UTC(), Hash: e.Hash,
		Metadata: metadataJSON{Actor: e.Metadata.Actor, CorrelationID: e.Metadata.CorrelationID,
			CausationID: e.Metadata.CausationID, TraceParent: e.Metadata.TraceParent},
	}
}

type feedJSON struct {
	Items []eventJSON `json:"items"`
	// Next is the position to pass as ?after= for the following page.
	Next int64 `json:"next"`
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"after": false, "limit": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := parseInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := parseInt(r, "limit", app.DefaultFeedLimit, 1, app.MaxFeedLimit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.app.Changefeed.Handle(r.Context(), app.Changefeed{After: after, Limit: int(limit)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := feedJSON{Items: make([]eventJSON, len(page.Events)), Next: page.Next}
	for i, e := range page.Events {
		out.Items[i] = toEventJSON(e)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// eventStream serves the changefeed as Server-Sent Events: each event's
// id is its position, so that a client resuming with Last-Event-ID (or
// ?after=) gets every later event exactly once.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	if err := queryParams(r, map[string]bool{"after": false}); err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := parseInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, eventdesk.FieldError("Last-Event-ID", "must be a position ≥ 0"))
			return
		}
		after = n
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	seq, err := s.app.Changefeed.Follow(ctx, after)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	err = sse.Serve(ctx, w, seq, sse.Options{
		Retry: 2 * time.Second, Heartbeat: s.heartbeat, MaxBatch: 64 << 10, Encode: writeSSE,
		// Tell the client to come back; it resumes from its last id.
		FailEvent: []byte("event: error\ndata: {\"detail\":\"the stream failed; reconnect\"}\n\n"),
	})
	if err != nil {
		s.log.ErrorContext(ctx, "event stream", "err", err.Error())
	}
}

func writeSSE(buf *bytes.Buffer, e eventdesk.Event) {
	data, _ := json.Marshal(toEventJSON(e))
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatInt(e.Position, 10))
	buf.WriteString("\nevent: ")
	buf.WriteString(e.Type)
	buf.WriteString("\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
}
