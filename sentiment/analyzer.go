// Package sentiment measures the tone of ticket texts and acts on it. It
// holds two side-effect subscribers for the subscription runtime:
//
//   - Scorer scores every ticket description (ticket.created,
//     ticket.description_changed) and every public comment with VADER and
//     records the result as a ticket.sentiment_scored event through the
//     application layer, caused by (and idempotent on) the scored event.
//     Internal notes are not scored: they are the team talking among
//     themselves, not the customer's tone, and would skew the trend.
//   - Escalation is a policy on top of the scores: a strongly negative new
//     ticket or public comment by the requester raises the ticket's
//     priority to high, as the actor "policy:escalation", with a reason.
//
// The model is VADER (Hutto & Gilbert, 2014), a lexicon and rule-based
// analyzer tuned for short social texts, through its Go port
// github.com/jonreiter/govader (MIT licence, as is the VADER lexicon).
// The lexicon and emoji dictionary are compiled into the binary as Go map
// literals (lexicon_gen.go, generated from govader's own parse and held
// equal to it by TestLexiconIsGovaders): nothing is downloaded, unpacked
// or parsed at run time. This is the only package that imports govader.
//
// The package imports the root package, app (to issue commands), the
// standard library and govader.
package sentiment

import (
	"strings"
	"unicode/utf8"

	"github.com/jonreiter/govader"
)

// Labels of a compound score, with VADER's customary thresholds.
const (
	LabelPositive = "positive"
	LabelNeutral  = "neutral"
	LabelNegative = "negative"
)

// LabelThreshold is the magnitude of compound score from which a text
// counts as positive or negative (VADER's authors suggest 0.05).
const LabelThreshold = 0.05

// MaxTextBytes bounds how much of a text is scored. VADER is meant for
// sentences and paragraphs; the head of a long text (a pasted log, a
// quoted e-mail thread) carries its tone, and the bound keeps the cost of
// one event small.
const MaxTextBytes = 8 << 10

// Score is the measured tone of one text.
type Score struct {
	// Compound is the normalized overall score in [-1, 1].
	Compound float64
	// Positive, Neutral and Negative are the proportions of the text in
	// each category; they add up to about 1.
	Positive, Neutral, Negative float64
	// Label is LabelPositive, LabelNeutral or LabelNegative.
	Label string
}

// Analyzer scores texts. It is safe for concurrent use. Building one
// fills two maps of about 11,000 entries (about a millisecond): build it
// once.
type Analyzer struct {
	sia *govader.SentimentIntensityAnalyzer
}

//go:generate env EVENTDESK_UPDATE_LEXICON=1 go test -run ^TestLexiconIsGovaders$ .

// NewAnalyzer returns an analyzer with VADER's lexicon.
//
// govader's own constructor gunzips its embedded lexicon files (half a
// megabyte) and splits them line by line, some 15–30 ms of CPU on every
// start; on AWS Lambda that was most of the sentiment function's cold
// start above the others'. The same maps, built from literals, cost about
// a millisecond; the scoring code is govader's, unchanged.
func NewAnalyzer() *Analyzer {
	return &Analyzer{sia: &govader.SentimentIntensityAnalyzer{
		Lexicon:   vaderLexicon(),
		EmojiDict: vaderEmoji(),
		Constants: govader.NewTermConstants(),
	}}
}

// Score measures the tone of text (its first MaxTextBytes).
func (a *Analyzer) Score(text string) Score {
	text = strings.TrimSpace(truncate(text, MaxTextBytes))
	if text == "" {
		return Score{Neutral: 1, Label: LabelNeutral}
	}
	s := a.sia.PolarityScores(text)
	return Score{Compound: clamp(s.Compound), Positive: s.Positive, Neutral: s.Neutral, Negative: s.Negative, Label: Label(s.Compound)}
}

// Label names a compound score.
func Label(compound float64) string {
	switch {
	case compound >= LabelThreshold:
		return LabelPositive
	case compound <= -LabelThreshold:
		return LabelNegative
	}
	return LabelNeutral
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clamp keeps a score in [-1, 1] (and maps NaN to 0), the range the
// domain accepts.
func clamp(f float64) float64 {
	switch {
	case f != f:
		return 0
	case f < -1:
		return -1
	case f > 1:
		return 1
	}
	return f
}
