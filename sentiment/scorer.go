package sentiment

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// ScorerName is the subscriber name of the Scorer.
const ScorerName = "sentiment"

// ScorerActor is the actor of the ticket.sentiment_scored events.
var ScorerActor = eventdesk.PolicyActor("sentiment")

// ScoredTypes are the event types whose text the Scorer reads.
var ScoredTypes = []string{eventdesk.TypeTicketCreated, eventdesk.TypeDescriptionChanged, eventdesk.TypeTicketCommented}

// Scorer is the side-effect subscriber that scores ticket texts. Declare it
// with Types ScoredTypes.
type Scorer struct {
	analyzer *Analyzer
	commands *app.Automation
}

// NewScorer returns a scorer that records through commands.
func NewScorer(a *Analyzer, commands *app.Automation) (*Scorer, error) {
	if a == nil || commands == nil {
		return nil, errors.New("sentiment: a scorer needs an analyzer and the application's automation commands")
	}
	return &Scorer{analyzer: a, commands: commands}, nil
}

// Text returns the text of e that the Scorer scores, and whether there is
// one: a new ticket's title and description, a new description, a public
// comment's body. Internal notes and other events have none.
func Text(p eventdesk.Payload) (string, bool) {
	switch v := p.(type) {
	case eventdesk.TicketCreated:
		if v.Description == "" {
			return v.Title, true
		}
		// The title is the customer's first sentence ("Still broken!!").
		return v.Title + "\n\n" + v.Description, true
	case eventdesk.DescriptionChanged:
		return v.Description, v.Description != ""
	case eventdesk.TicketCommented:
		return v.Body, !v.Internal
	}
	return "", false
}

// Handle scores the text of e, if it has one, and records the score on
// its ticket. Recording is idempotent on e.ID, so redelivery is harmless.
func (s *Scorer) Handle(ctx context.Context, e eventdesk.Event) error {
	id, ok := eventdesk.TicketIDFromStream(e.Stream)
	if !ok {
		return nil
	}
	p, err := eventdesk.Decode(e)
	if err != nil {
		return fmt.Errorf("sentiment: %w", err)
	}
	text, ok := Text(p)
	if !ok {
		return nil
	}
	score := s.analyzer.Score(text)
	ctx = eventdesk.NewContextWithActor(ctx, ScorerActor)
	_, err = s.commands.RecordSentiment(ctx, app.RecordSentiment{
		TicketID: id, SourceEventID: e.ID, Score: score.Compound, Label: score.Label,
		CorrelationID: e.Metadata.CorrelationID,
	})
	if err != nil {
		return fmt.Errorf("sentiment: record score of event %s: %w", e.ID, err)
	}
	return nil
}
