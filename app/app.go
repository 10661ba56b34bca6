// Package app is eventdesk's application layer: one handler per intent
// (open a ticket, change it, comment, read, list, follow the changefeed,
// manage API tokens), each doing authorize → load → decide → append for
// commands and authorize → read model for queries.
//
// Every interface (REST API, HTML UI, later GraphQL or Lambda) calls these
// handlers, so the authorization rules below are the rules everywhere. The
// package imports the root package, the standard library and
// github.com/google/uuid (identifiers are generated here, never in the
// domain); it performs no I/O of its own beyond the ports it is given.
//
// # Roles
//
//   - requester: opens tickets (as themselves, without an assignee), sees
//     and comments on only their own tickets, never sees internal notes or
//     sentiment scores. Like a customer in Zammad's or FreeScout's portal,
//     a requester may correct the title and description of their own
//     ticket, close it, and reopen it once it is resolved or closed; the
//     priority, tags, assignee and every other status are the team's.
//   - agent: every ticket, every field, internal notes.
//   - admin: what an agent may, plus API tokens.
//   - auditor: reads everything (history and changefeed included), writes
//     nothing.
//
// A caller without an actor gets EUnauthorized; a forbidden action
// EForbidden; a requester asking for another requester's ticket gets
// ENotFound, so that ticket ids cannot be probed.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/google/uuid"
)

// EIdempotencyKeyReused is the code of a request that reuses an
// idempotency key with another body (HTTP 422).
const EIdempotencyKeyReused eventdesk.Code = "idempotency_key_reused"

// MaxWait bounds how long a query waits for the read models to reach a
// position the caller asked for (read-your-writes).
const MaxWait = 5 * time.Second

// Observer is told about appends, e.g. to record their latency as a
// metric. It may be nil.
type Observer interface {
	ObserveAppend(d time.Duration, events int, err error)
}

// Config holds the dependencies of App. Store and Reader are required.
type Config struct {
	Store  eventdesk.EventStore
	Reader eventdesk.TicketReader
	// Tokens stores API tokens; without it the token handlers and bearer
	// authentication fail with EUnavailable.
	Tokens TokenStore
	// Clock returns the current time (nil: time.Now).
	Clock func() time.Time
	// NewID returns a new unique id (nil: a UUIDv7).
	NewID    func() string
	Observer Observer
	Logger   *slog.Logger
}

// App groups the application's handlers.
type App struct {
	CreateTicket *CreateTicketHandler
	UpdateTicket *UpdateTicketHandler
	AddComment   *AddCommentHandler

	Ticket     *TicketHandler
	Tickets    *TicketsHandler
	Stats      *StatsHandler
	History    *HistoryHandler
	Changefeed *ChangefeedHandler

	CreateToken  *CreateTokenHandler
	ListTokens   *ListTokensHandler
	RevokeToken  *RevokeTokenHandler
	Authenticate *AuthenticateHandler

	// Head returns the position of the last committed event.
	Head func(ctx context.Context) (int64, error)
}

// deps is shared by every handler.
type deps struct {
	store     eventdesk.EventStore
	reader    eventdesk.TicketReader
	tokens    TokenStore
	now       func() time.Time
	newID     func() string
	observer  Observer
	log       *slog.Logger
	owners    *ownerCache
	authCache *tokenCache
}

// New returns the application over the given dependencies.
func New(c Config) (*App, error) {
	if c.Store == nil {
		return nil, errors.New("app: no event store")
	}
	if c.Reader == nil {
		return nil, errors.New("app: no ticket reader")
	}
	d := &deps{
		store: c.Store, reader: c.Reader, tokens: c.Tokens,
		now: c.Clock, newID: c.NewID, observer: c.Observer, log: c.Logger,
		owners: newOwnerCache(100_000), authCache: &tokenCache{m: map[string]cachedActor{}},
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.newID == nil {
		d.newID = NewID
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return &App{
		CreateTicket: &CreateTicketHandler{d},
		UpdateTicket: &UpdateTicketHandler{d},
		AddComment:   &AddCommentHandler{d},
		Ticket:       &TicketHandler{d},
		Tickets:      &TicketsHandler{d},
		Stats:        &StatsHandler{d},
		History:      &HistoryHandler{d},
		Changefeed:   &ChangefeedHandler{d},
		CreateToken:  &CreateTokenHandler{d},
		ListTokens:   &ListTokensHandler{d},
		RevokeToken:  &RevokeTokenHandler{d},
		Authenticate: &AuthenticateHandler{d},
		Head:         c.Store.Head,
	}, nil
}

// NewID returns a new UUIDv7 in canonical text form.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// actor returns the authenticated caller or EUnauthorized.
func actor(ctx context.Context) (eventdesk.Actor, error) {
	a, ok := eventdesk.ActorFromContext(ctx)
	if !ok {
		return a, eventdesk.Errorf(eventdesk.EUnauthorized, "authentication required")
	}
	if !a.Role.Valid() {
		return a, eventdesk.Errorf(eventdesk.EForbidden, "unknown role %q", a.Role)
	}
	return a, nil
}

// waitFor waits, at most MaxWait, until the read models reached pos.
func (d *deps) waitFor(ctx context.Context, pos int64) error {
	if pos <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, MaxWait)
	defer cancel()
	if err := d.reader.WaitFor(ctx, pos); err != nil {
		if ctx.Err() != nil {
			return eventdesk.Errorf(eventdesk.EUnavailable, "the read models did not reach position %d within %s", pos, MaxWait)
		}
		return fmt.Errorf("app: wait for position %d: %w", pos, err)
	}
	return nil
}
