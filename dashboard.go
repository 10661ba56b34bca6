package eventdesk

import (
	"context"
	"time"
)

// Dashboard summarises the flow of tickets per day (UTC) over a window of
// days, as the dashboard read model keeps it: incrementally, from events,
// so that reading it costs the same at any number of tickets.
type Dashboard struct {
	// From and To are the first and last day of the window (UTC midnight).
	From, To time.Time
	// Days lists every day of the window, oldest first.
	Days []DashboardDay
	// FirstResponse and Resolution summarise the whole window.
	FirstResponse, Resolution DurationSummary
	// Backlog counts the tickets in each active status now.
	Backlog map[Status]int
	// Tone summarises the sentiment scores of the whole window.
	Tone ToneSummary
}

// DashboardDay is one day of a Dashboard.
type DashboardDay struct {
	// Day is the day's UTC midnight.
	Day time.Time
	// Created counts tickets opened that day; Resolved counts tickets that
	// left the active statuses that day (resolved, or closed unresolved).
	Created, Resolved int
	// Backlog counts the tickets in each active status (new, open,
	// pending) at the end of the day.
	Backlog map[Status]int
	// FirstResponse measures, for each ticket first answered that day, the
	// time from its creation to that answer; Resolution, for each ticket
	// resolved that day, the time from its creation.
	FirstResponse, Resolution DurationSummary
	// Tone summarises the sentiment scores (ticket.sentiment_scored)
	// recorded that day: the tone of the texts scored that day.
	Tone ToneSummary
}

// ToneSummary describes a set of sentiment scores (compound scores in
// [-1, 1], see SentimentScore).
type ToneSummary struct {
	// Count is the number of texts scored.
	Count int
	// Sum is the total of their scores, each rounded to ToneScale.
	Sum float64
	// Negative counts the strongly negative ones: scores at or below
	// NegativeTone.
	Negative int
}

// Average returns the mean score; ok is false when nothing was scored.
func (s ToneSummary) Average() (avg float64, ok bool) {
	if s.Count == 0 {
		return 0, false
	}
	return s.Sum / float64(s.Count), true
}

// NegativeTone is the score at or below which a text counts as strongly
// negative on the dashboard: an unhappy customer, not a neutral
// complaint about a fault.
const NegativeTone = -0.5

// ToneScale is the resolution of the scores summed in a ToneSummary: the
// read models add them up as integers in units of ToneScale (four
// decimals, as VADER's reference implementation reports them), so that a
// sum never depends on the order of additions.
const ToneScale = 1e-4

// DurationSummary describes a set of durations.
type DurationSummary struct {
	Count int
	// Median and P90 are estimated from a histogram whose buckets are
	// 2^(1/8) (about 9%) wide: exact enough to watch a trend, cheap to keep.
	// Both are 0 when Count is 0.
	Median, P90 time.Duration
}

// ActiveStatuses lists the statuses of tickets that still need work, the
// backlog.
var ActiveStatuses = []Status{StatusNew, StatusOpen, StatusPending}

// MaxDashboardDays bounds the window of a dashboard query.
const MaxDashboardDays = 366

// DashboardReader answers queries from the dashboard read model.
type DashboardReader interface {
	// Dashboard returns the days from through to (UTC dates; the times of
	// day are ignored), at most MaxDashboardDays of them.
	Dashboard(ctx context.Context, from, to time.Time) (Dashboard, error)
}

// Day returns t's UTC date at midnight.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
