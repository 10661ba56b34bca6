package app

import "github.com/eventdesk/eventdesk"

// Trends of a ticket's sentiment.
const (
	TrendImproving = "improving"
	TrendWorsening = "worsening"
	TrendSteady    = "steady"
)

// trendWindow is how many earlier scores the latest is compared with, and
// trendDelta how far it must move from their mean to count as a change.
const (
	trendWindow = 3
	trendDelta  = 0.2
)

// SentimentSummary is what interfaces show of a ticket's sentiment scores.
type SentimentSummary struct {
	// Latest is the most recent score.
	Latest eventdesk.SentimentScore
	// Trend is TrendImproving, TrendWorsening or TrendSteady, comparing
	// the latest score with the mean of the (up to three) before it; ""
	// with a single score.
	Trend string
	// History holds the kept scores, oldest first (for a chart).
	History []eventdesk.SentimentScore
}

// SummarizeSentiment returns the summary of t's scores; ok is false when
// it has none (or the caller may not see them: requesters' tickets come
// without scores).
func SummarizeSentiment(t eventdesk.Ticket) (s SentimentSummary, ok bool) {
	n := len(t.Sentiment)
	if n == 0 {
		return s, false
	}
	s.Latest = t.Sentiment[n-1]
	s.History = t.Sentiment
	if n == 1 {
		return s, true
	}
	prev := t.Sentiment[max(0, n-1-trendWindow) : n-1]
	var sum float64
	for _, p := range prev {
		sum += p.Score
	}
	switch d := s.Latest.Score - sum/float64(len(prev)); {
	case d >= trendDelta:
		s.Trend = TrendImproving
	case d <= -trendDelta:
		s.Trend = TrendWorsening
	default:
		s.Trend = TrendSteady
	}
	return s, true
}
