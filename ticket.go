package eventdesk

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of ticket fields.
const (
	MaxTitleLen    = 200      // characters, after trimming
	MaxTextBytes   = 64 << 10 // description and comment bodies
	MaxTags        = 20       // per ticket
	MaxTagLen      = 40       // characters
	MaxUserNameLen = 64       // characters
)

// Status is where a ticket is in its life.
type Status string

// Statuses, in their usual order.
const (
	StatusNew      Status = "new"
	StatusOpen     Status = "open"
	StatusPending  Status = "pending"
	StatusResolved Status = "resolved"
	StatusClosed   Status = "closed"
)

// Statuses lists every status in display order.
var Statuses = []Status{StatusNew, StatusOpen, StatusPending, StatusResolved, StatusClosed}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Active reports whether a ticket in this status still needs work.
func (s Status) Active() bool { return s == StatusNew || s == StatusOpen || s == StatusPending }

// transitions lists, for each status, where a ticket may go next. A closed
// ticket can only be reopened.
var transitions = map[Status][]Status{
	StatusNew:      {StatusOpen, StatusPending, StatusResolved, StatusClosed},
	StatusOpen:     {StatusPending, StatusResolved, StatusClosed},
	StatusPending:  {StatusOpen, StatusResolved, StatusClosed},
	StatusResolved: {StatusOpen, StatusClosed},
	StatusClosed:   {StatusOpen},
}

// NextStatuses returns the statuses a ticket in s may move to.
func (s Status) NextStatuses() []Status { return append([]Status(nil), transitions[s]...) }

// CanMoveTo reports whether a ticket in s may change to next.
func (s Status) CanMoveTo(next Status) bool {
	for _, v := range transitions[s] {
		if v == next {
			return true
		}
	}
	return false
}

// Priority is how urgent a ticket is.
type Priority string

// Priorities, lowest first.
const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Priorities lists every priority, lowest first.
var Priorities = []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool { return p.Rank() > 0 }

// Rank orders priorities: low=1 … urgent=4; 0 for an unknown value.
func (p Priority) Rank() int {
	for i, v := range Priorities {
		if p == v {
			return i + 1
		}
	}
	return 0
}

// Role is what a user may do.
type Role string

// Roles.
const (
	RoleRequester Role = "requester" // opens tickets, sees only their own
	RoleAgent     Role = "agent"     // works on every ticket
	RoleAdmin     Role = "admin"     // agent plus configuration
	RoleAuditor   Role = "auditor"   // reads everything, writes nothing
)

// Roles lists every role.
var Roles = []Role{RoleRequester, RoleAgent, RoleAdmin, RoleAuditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// IsStaff reports whether the role works on every ticket (agent or admin).
func (r Role) IsStaff() bool { return r == RoleAgent || r == RoleAdmin }

// SeesAll reports whether the role may read every ticket and internal note.
func (r Role) SeesAll() bool { return r.IsStaff() || r == RoleAuditor }

// Actor is who issues a command.
type Actor struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// PolicyActor names an automated policy as the actor of its events.
func PolicyActor(name string) Actor { return Actor{Name: "policy:" + name, Role: RoleAgent} }

type actorKey struct{}

// NewContextWithActor returns ctx carrying actor.
func NewContextWithActor(ctx context.Context, actor Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFromContext returns the actor carried by ctx, if any.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.Name != ""
}

// Ticket is the state of one ticket, folded from its events.
type Ticket struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Priority    Priority  `json:"priority"`
	Status      Status    `json:"status"`
	Requester   string    `json:"requester"`
	Assignee    string    `json:"assignee,omitempty"`
	Tags        []string  `json:"tags"`
	Comments    []Comment `json:"comments,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// UpdatedBy is the actor of the last event.
	UpdatedBy string `json:"updatedBy,omitempty"`
	// Version is the version of the last event folded in (0: no ticket).
	Version int64 `json:"version"`
	// Position is the store position of the last event folded in.
	Position int64 `json:"position,omitempty"`
	// FirstResponseAt is when someone other than the requester first
	// replied publicly.
	FirstResponseAt time.Time `json:"firstResponseAt,omitzero"`
	// ResolvedAt is when the ticket last left the active statuses (became
	// resolved, or closed without being resolved first; resolved → closed
	// keeps the time of resolving); zero while it is active.
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	// CommentCount counts all comments, internal notes included: staff's
	// count.
	CommentCount int `json:"commentCount"`
	// PublicCommentCount counts the comments that are not internal notes:
	// the count a requester sees, kept next to CommentCount so that a list
	// (which carries no comments) never reveals that internal notes exist.
	PublicCommentCount int `json:"publicCommentCount"`
	// Sentiment holds the latest scores, oldest first (at most
	// MaxSentimentHistory).
	Sentiment []SentimentScore `json:"sentiment,omitempty"`
}

// MaxSentimentHistory bounds Ticket.Sentiment.
const MaxSentimentHistory = 20

// Exists reports whether the ticket has been created.
func (t Ticket) Exists() bool { return t.Version > 0 }

// Comment is one message on a ticket.
type Comment struct {
	ID        string    `json:"id"`
	Author    string    `json:"author"`
	Body      string    `json:"body"`
	Internal  bool      `json:"internal"`
	CreatedAt time.Time `json:"createdAt"`
}

// SentimentScore is the measured tone of one text on a ticket.
type SentimentScore struct {
	// SourceEventID is the event whose text was scored.
	SourceEventID string `json:"sourceEventId"`
	// Score is the compound score in [-1, 1]; negative is unhappy.
	Score float64   `json:"score"`
	Label string    `json:"label"`
	At    time.Time `json:"at"`
}

// StreamPrefix starts the name of every ticket stream.
const StreamPrefix = "ticket-"

// TicketStream returns the stream name of a ticket.
func TicketStream(id string) string { return StreamPrefix + id }

// TicketIDFromStream returns the ticket id of a stream name.
func TicketIDFromStream(stream string) (string, bool) {
	id, ok := strings.CutPrefix(stream, StreamPrefix)
	return id, ok && ValidID(id)
}

// ValidID reports whether s is a UUID in canonical lower-case text form.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// NormalizeTitle trims a title and checks its length and characters. A
// title is one line: control characters and Unicode line or paragraph
// separators are refused, and a title of only invisible characters (such as
// zero-width spaces, which TrimSpace keeps) counts as empty.
func NormalizeTitle(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", FieldError("title", "must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case n == 0 || !hasVisible(s):
		return "", FieldError("title", "must not be empty")
	case n > MaxTitleLen:
		return "", FieldError("title", "must be at most 200 characters")
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) >= 0 {
		return "", FieldError("title", "must not contain control characters or line breaks")
	}
	return s, nil
}

// hasVisible reports whether s contains a character that shows: a letter,
// mark, number, punctuation or symbol.
func hasVisible(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) }) >= 0
}

// NormalizeText checks a description or comment body (field names the
// field in errors). Surrounding white space is trimmed; line breaks and tabs
// inside are kept. The size limit applies to the trimmed text, in bytes. A
// required text must contain a visible character.
func NormalizeText(field, s string, required bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", FieldError(field, "must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	switch {
	case len(s) > MaxTextBytes:
		return "", FieldError(field, "must be at most 64 KiB")
	case required && !hasVisible(s):
		return "", FieldError(field, "must not be empty")
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' }) >= 0 {
		return "", FieldError(field, "must not contain control characters")
	}
	return s, nil
}

// NormalizeTags lower-cases, trims, de-duplicates and sorts tags, and checks
// their number and form. Duplicates (also those differing only in case) are
// merged silently; the limit of MaxTags counts distinct tags.
func NormalizeTags(tags []string) ([]string, error) {
	seen := make(map[string]bool, len(tags))
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !utf8.ValidString(t) {
			return nil, FieldError("tags", "a tag must be valid UTF-8")
		}
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			return nil, FieldError("tags", "a tag must not be empty")
		}
		if utf8.RuneCountInString(t) > MaxTagLen {
			return nil, FieldError("tags", fmt.Sprintf("tag %q is longer than 40 characters", t))
		}
		for _, r := range t {
			// Marks are allowed so that decomposed accents ("e" + U+0301)
			// are as valid as composed ones ("é").
			if !unicode.IsLetter(r) && !unicode.IsMark(r) && !unicode.IsDigit(r) && !strings.ContainsRune("-_.:/+#", r) {
				return nil, FieldError("tags", fmt.Sprintf("tag %q may contain only letters, digits and - _ . : / + #", t))
			}
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, FieldError("tags", "at most 20 tags")
	}
	slices.Sort(out)
	return out, nil
}

// ValidateUserName checks a user name (requester, assignee, author).
func ValidateUserName(field, s string) error {
	if s == "" {
		return FieldError(field, "must not be empty")
	}
	if utf8.RuneCountInString(s) > MaxUserNameLen {
		return FieldError(field, "must be at most 64 characters")
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._@-+", r)) {
			return FieldError(field, "may contain only letters, digits and . _ @ - +")
		}
	}
	return nil
}
