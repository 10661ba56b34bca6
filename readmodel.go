package eventdesk

import "context"

// TicketSort orders a ticket list. A leading "-" means descending.
type TicketSort string

// Sort orders.
const (
	SortCreatedDesc  TicketSort = "-created" // newest first (the default)
	SortCreatedAsc   TicketSort = "created"
	SortUpdatedDesc  TicketSort = "-updated"
	SortUpdatedAsc   TicketSort = "updated"
	SortPriorityDesc TicketSort = "-priority" // urgent first, then newest
	SortPriorityAsc  TicketSort = "priority"
)

// TicketSorts lists every sort order.
var TicketSorts = []TicketSort{SortCreatedDesc, SortCreatedAsc, SortUpdatedDesc, SortUpdatedAsc, SortPriorityDesc, SortPriorityAsc}

// Valid reports whether s is a known sort order.
func (s TicketSort) Valid() bool {
	for _, v := range TicketSorts {
		if s == v {
			return true
		}
	}
	return false
}

// Limits of list queries.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// TicketFilter selects and orders tickets from the list read model. Empty
// fields do not filter.
type TicketFilter struct {
	Status   []Status
	Priority []Priority
	// Assignee matches the assignee exactly; Unassigned selects tickets
	// with none.
	Assignee   string
	Unassigned bool
	Requester  string
	Tag        string
	// Text is a free-text search (where the adapter supports it).
	Text  string
	Sort  TicketSort
	Limit int
	// Cursor continues a previous page (TicketPage.Next); it is opaque and
	// only valid with the same filter and sort.
	Cursor string
}

// TicketPage is one page of a ticket list. Items carry no comments.
type TicketPage struct {
	Items []Ticket
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

// Stats counts tickets.
type Stats struct {
	Total      int              `json:"total"`
	ByStatus   map[Status]int   `json:"byStatus"`
	ByPriority map[Priority]int `json:"byPriority"`
}

// TicketReader answers queries from the ticket read models. They are
// eventually consistent; Position tells how far they have caught up.
type TicketReader interface {
	// Ticket returns one ticket with its comments, or an ENotFound error.
	Ticket(ctx context.Context, id string) (Ticket, error)
	// Tickets returns a page of tickets; a bad cursor is an EInvalid error.
	Tickets(ctx context.Context, f TicketFilter) (TicketPage, error)
	// Stats counts tickets by status and priority.
	Stats(ctx context.Context) (Stats, error)
	// Position returns the store position the read models have reached.
	Position(ctx context.Context) (int64, error)
	// WaitFor returns once the read models have reached position (read
	// your writes: pass the position an append returned). It gives up when
	// ctx ends, with an EUnavailable error that also wraps ctx's error.
	WaitFor(ctx context.Context, position int64) error
}
