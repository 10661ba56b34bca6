package eventdesk

import (
	"slices"
	"time"
)

// Evolve returns t with event e applied. It fails on an event that does not
// follow t (wrong stream or version) or cannot be decoded: a stream that
// does not fold is corrupt and must not be shown as if it were fine.
func Evolve(t Ticket, e Event) (Ticket, error) {
	if e.Version != t.Version+1 {
		return t, Errorf(EInternal, "event %s of %s has version %d, want %d", e.ID, e.Stream, e.Version, t.Version+1)
	}
	if t.Exists() && TicketStream(t.ID) != e.Stream {
		return t, Errorf(EInternal, "event %s belongs to %s, not to ticket %s", e.ID, e.Stream, t.ID)
	}
	p, err := Decode(e)
	if err != nil {
		return t, err
	}
	return evolveDecoded(t, e, p)
}

// EvolveDecoded is Evolve for an event whose payload p = Decode(e) was
// decoded already, e.g. on another goroutine of a bulk rebuild. It checks
// exactly what Evolve checks.
func EvolveDecoded(t Ticket, e Event, p Payload) (Ticket, error) {
	if e.Version != t.Version+1 {
		return t, Errorf(EInternal, "event %s of %s has version %d, want %d", e.ID, e.Stream, e.Version, t.Version+1)
	}
	if t.Exists() && TicketStream(t.ID) != e.Stream {
		return t, Errorf(EInternal, "event %s belongs to %s, not to ticket %s", e.ID, e.Stream, t.ID)
	}
	return evolveDecoded(t, e, p)
}

func evolveDecoded(t Ticket, e Event, p Payload) (Ticket, error) {
	if !t.Exists() {
		if _, ok := p.(TicketCreated); !ok {
			return t, Errorf(EInternal, "stream %s starts with %s, not %s", e.Stream, e.Type, TypeTicketCreated)
		}
		id, ok := TicketIDFromStream(e.Stream)
		if !ok {
			return t, Errorf(EInternal, "stream %s is not a ticket stream", e.Stream)
		}
		t.ID = id
	} else if _, ok := p.(TicketCreated); ok {
		return t, Errorf(EInternal, "event %s of %s creates a ticket that already exists", e.ID, e.Stream)
	}
	t = Apply(t, p, e.RecordedAt, e.Metadata.Actor)
	t.Version = e.Version
	t.Position = e.Position
	return t, nil
}

// Apply applies a decoded payload that happened at time at by actor. Evolve
// is the checked entry point; Apply is exported for folding payloads that
// have not been stored yet (a preview of a decision).
func Apply(t Ticket, p Payload, at time.Time, actor string) Ticket {
	touch := true
	switch v := p.(type) {
	case TicketCreated:
		t.Title, t.Description, t.Priority = v.Title, v.Description, v.Priority
		t.Requester, t.Assignee = v.Requester, v.Assignee
		t.Tags = slices.Clone(v.Tags)
		if t.Tags == nil {
			t.Tags = []string{}
		}
		t.Status = StatusNew
		t.CreatedAt = at
	case TitleChanged:
		t.Title = v.To
	case DescriptionChanged:
		t.Description = v.Description
	case PriorityChanged:
		t.Priority = v.To
	case TagsChanged:
		tags := make([]string, 0, len(t.Tags)+len(v.Added))
		for _, tag := range t.Tags {
			if !slices.Contains(v.Removed, tag) {
				tags = append(tags, tag)
			}
		}
		for _, tag := range v.Added {
			if !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
		slices.Sort(tags)
		t.Tags = tags
	case TicketAssigned:
		t.Assignee = v.Assignee
	case TicketUnassigned:
		t.Assignee = ""
	case StatusChanged:
		switch {
		case v.To == StatusResolved || v.To == StatusClosed:
			if t.ResolvedAt.IsZero() {
				t.ResolvedAt = at
			}
		default:
			t.ResolvedAt = time.Time{}
		}
		t.Status = v.To
	case TicketCommented:
		t.Comments = append(slices.Clip(t.Comments), Comment{
			ID: v.CommentID, Author: v.Author, Body: v.Body, Internal: v.Internal, CreatedAt: at,
		})
		t.CommentCount++
		if !v.Internal {
			t.PublicCommentCount++
		}
		if !v.Internal && v.Author != t.Requester && t.FirstResponseAt.IsZero() {
			t.FirstResponseAt = at
		}
	case SentimentScored:
		// A score annotates the ticket; it is not an update by a person.
		touch = false
		s := append(slices.Clip(t.Sentiment), SentimentScore{SourceEventID: v.SourceEventID, Score: v.Score, Label: v.Label, At: at})
		if len(s) > MaxSentimentHistory {
			s = s[len(s)-MaxSentimentHistory:]
		}
		t.Sentiment = s
	}
	if touch {
		t.UpdatedAt = at
		t.UpdatedBy = actor
	}
	return t
}

// Fold folds events into a ticket from scratch.
func Fold(events []Event) (Ticket, error) {
	var t Ticket
	for _, e := range events {
		var err error
		if t, err = Evolve(t, e); err != nil {
			return t, err
		}
	}
	return t, nil
}

// FoldUntil folds the events recorded at or before asOf (zero: no limit)
// and at or below version (0: no limit): the ticket as it was then.
func FoldUntil(events []Event, asOf time.Time, version int64) (Ticket, error) {
	var t Ticket
	for _, e := range events {
		if version > 0 && e.Version > version || !asOf.IsZero() && e.RecordedAt.After(asOf) {
			break
		}
		var err error
		if t, err = Evolve(t, e); err != nil {
			return t, err
		}
	}
	return t, nil
}
