package sentiment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// EscalationName is the subscriber name of the escalation policy.
const EscalationName = "escalation"

// EscalationActor is the actor of the priority changes the policy makes.
var EscalationActor = eventdesk.PolicyActor("escalation")

// DefaultThreshold is the compound score at or below which a text counts
// as strongly negative.
const DefaultThreshold = -0.5

// DefaultMaxAge is how old a scored text may be for the policy to act on
// it (see EscalationConfig.MaxAge).
const DefaultMaxAge = 24 * time.Hour

// EscalationConfig configures the policy.
type EscalationConfig struct {
	// Disabled turns the policy off: scores pass without effect. (The
	// subscriber stays declared, so that turning it on again does not act
	// on the scores recorded while it was off.)
	Disabled bool
	// Threshold: a compound score ≤ Threshold escalates. It must be in
	// [-1, 0). Zero means DefaultThreshold.
	Threshold float64
	// MaxAge: texts written longer ago than this are not acted on, so that
	// a backfill of scores for old tickets does not escalate them. Zero
	// means DefaultMaxAge; negative means no limit.
	MaxAge time.Duration
	// Now is the clock for MaxAge (nil: time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// StreamReader reads a ticket's events; eventdesk.EventStore is one.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion int64, limit int) ([]eventdesk.Event, error)
}

// Escalation is the policy subscriber: it reads ticket.sentiment_scored
// events and raises the priority of the ticket to high when the scored
// text is the requester's (the new ticket, or one of their public
// comments) and its score is at or below the threshold. It never lowers a
// priority, leaves urgent and high tickets and inactive (resolved, closed)
// tickets alone, and does nothing for descriptions edited later or for
// comments by the team. Declare it with Types EscalationTypes.
type Escalation struct {
	cfg      EscalationConfig
	events   StreamReader
	commands *app.Automation
}

// EscalationTypes are the event types the policy reads.
var EscalationTypes = []string{eventdesk.TypeSentimentScored}

// NewEscalation returns the policy.
func NewEscalation(cfg EscalationConfig, events StreamReader, commands *app.Automation) (*Escalation, error) {
	if events == nil || commands == nil {
		return nil, errors.New("sentiment: the escalation policy needs the event store and the application's automation commands")
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = DefaultThreshold
	}
	if cfg.Threshold < -1 || cfg.Threshold >= 0 || cfg.Threshold != cfg.Threshold {
		return nil, fmt.Errorf("sentiment: escalation threshold %v: want a compound score in [-1, 0)", cfg.Threshold)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Escalation{cfg: cfg, events: events, commands: commands}, nil
}

// Threshold returns the effective threshold.
func (p *Escalation) Threshold() float64 { return p.cfg.Threshold }

// Handle implements the policy for one event.
func (p *Escalation) Handle(ctx context.Context, e eventdesk.Event) error {
	if p.cfg.Disabled || e.Type != eventdesk.TypeSentimentScored {
		return nil
	}
	id, ok := eventdesk.TicketIDFromStream(e.Stream)
	if !ok {
		return nil
	}
	pl, err := eventdesk.Decode(e)
	if err != nil {
		return fmt.Errorf("sentiment: escalation: %w", err)
	}
	scored, _ := pl.(eventdesk.SentimentScored)
	if scored.Score > p.cfg.Threshold {
		return nil
	}
	events, err := p.events.ReadStream(ctx, e.Stream, 1, int(e.Version))
	if err != nil {
		return fmt.Errorf("sentiment: escalation: read %s: %w", e.Stream, err)
	}
	what, ok := p.escalates(events, scored.SourceEventID)
	if !ok {
		return nil
	}
	reason := fmt.Sprintf("negative sentiment %.2f (threshold %.2f) in %s", scored.Score, p.cfg.Threshold, what)
	_, err = p.commands.RaisePriority(eventdesk.NewContextWithActor(ctx, EscalationActor), app.RaisePriority{
		TicketID: id, To: eventdesk.PriorityHigh, Reason: reason,
		CausationID: e.ID, CorrelationID: e.Metadata.CorrelationID,
	})
	if err != nil {
		return fmt.Errorf("sentiment: escalate ticket %s: %w", id, err)
	}
	p.cfg.Logger.InfoContext(ctx, "sentiment: strongly negative text; priority raised to high unless it was already", "ticket", id, "score", scored.Score, "cause", e.ID)
	return nil
}

// escalates finds the scored event among events and tells whether it is a
// text the policy acts on, and what it was ("the new ticket", "a
// comment").
func (p *Escalation) escalates(events []eventdesk.Event, source string) (string, bool) {
	var requester string
	for _, ev := range events {
		pl, err := eventdesk.Decode(ev)
		if err != nil {
			continue
		}
		if c, ok := pl.(eventdesk.TicketCreated); ok {
			requester = c.Requester
		}
		if ev.ID != source {
			continue
		}
		if p.cfg.MaxAge > 0 && p.cfg.Now().Sub(ev.RecordedAt) > p.cfg.MaxAge {
			return "", false
		}
		switch v := pl.(type) {
		case eventdesk.TicketCreated:
			return "the new ticket", true
		case eventdesk.TicketCommented:
			return "a comment by the requester", !v.Internal && v.Author == requester
		}
		return "", false
	}
	return "", false
}
