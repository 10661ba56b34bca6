package web_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/auth"
	"github.com/eventdesk/eventdesk/sqlite"
	"github.com/eventdesk/eventdesk/web"
)

// failingReader is the SQLite read model with its list broken (a disk
// error, say) and its wait for a position timing out.
type failingReader struct {
	eventdesk.TicketReader
}

func (failingReader) Tickets(context.Context, eventdesk.TicketFilter) (eventdesk.TicketPage, error) {
	return eventdesk.TicketPage{}, errors.New("sqlite: read /var/lib/eventdesk/secret-path: disk I/O error")
}

func (failingReader) WaitFor(ctx context.Context, position int64) error {
	return eventdesk.Errorf(eventdesk.EUnavailable, "the read models have not reached position %d yet", position)
}

// syncBuffer is a log sink that the server may write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServerErrorPages: a failure on the server's side is a page with
// status 500 that says so in plain words and gives the request id, while
// the details go to the log only; a read model that lags is 503 with its
// own words.
func TestServerErrorPages(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(t.TempDir(), sqlite.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rm, err := db.OpenReadModels(sqlite.ReadModelsOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{Store: db, Reader: failingReader{rm}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	key := make([]byte, 32)
	sessions, _ := auth.NewSessions(key, 0)
	ws, err := web.NewServer(web.Config{App: a, Sessions: sessions, Key: key, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.CreateTicket.Handle(as("alice", eventdesk.RoleAgent), app.CreateTicket{Title: "Lagging"})
	if err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: auth.CookieName, Value: sessions.Encode(eventdesk.Actor{Name: "alice", Role: eventdesk.RoleAgent})}

	req := httpRequest("GET", "/tickets", nil)
	req.AddCookie(cookie)
	rec := newRecorder()
	ws.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("a failing read model: status %d, want 500", rec.Code)
	}
	mustContain(t, body, "Something went wrong on our side", "tell your administrator the request id", "<html")
	mustNotContain(t, body, "secret-path", "disk I/O", "sqlite")
	id := regexpFind(t, body, `Request (w[0-9a-f]+-[0-9a-z]+)`)
	if l := logs.String(); !strings.Contains(l, "secret-path") || !strings.Contains(l, id) {
		t.Errorf("the log lacks the details or the request id %s:\n%s", id, l)
	}

	// The ticket page waits for the position the user just wrote (the
	// flash cookie after a post); a read model that lags says so.
	req = httpRequest("GET", "/tickets/"+res.Ticket.ID, nil)
	req.AddCookie(cookie)
	req.Header.Set("X-Eventdesk-Position", "1")
	rec = newRecorder()
	ws.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a lagging read model: status %d, want 503", rec.Code)
	}
	mustContain(t, rec.Body.String(), "eventdesk is catching up")
}
