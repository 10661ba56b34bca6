package projection

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/eventdesk/eventdesk"
)

// DashboardName is the name (and checkpoint key) of the dashboard
// projection.
const DashboardName = "dashboard"

// Dashboard is the projection behind the dashboard: per day, tickets
// created and resolved, the change of the backlog in each active status,
// and histograms of the time to first response and to resolution. It keeps
// counters only, so that a dashboard of any window is read without
// scanning tickets.
//
// It runs over its own eventdesk.ProjectionStore, apart from the ticket
// read models: its ticket rows are slim (see Slim), just what it needs to
// tell what an event changed. Like Tickets it folds with eventdesk.Evolve,
// so "first response" and "resolved" mean exactly what they mean on a
// ticket, and it is idempotent on (stream, version).
//
// Counter names (days are UTC, YYYY-MM-DD):
//
//	now:<status>             tickets in an active status now
//	d:<day>:created          tickets opened that day
//	d:<day>:resolved         tickets that left the active statuses that day
//	d:<day>:s:<status>       net change that day of tickets in an active status
//	d:<day>:frt:<bucket>     first responses that day, by time since creation
//	d:<day>:ttr:<bucket>     resolutions that day, by time since creation
//	d:<day>:tone:n           texts whose sentiment was scored that day
//	d:<day>:tone:sum         the sum of their scores, in ToneUnits
//	d:<day>:tone:neg         those scored at or below eventdesk.NegativeTone
//
// A bucket is 0 for under a minute, else 1+⌊8·log₂(seconds/60)⌋: eight
// buckets per doubling.
//
// A score counts on the day of its ticket.sentiment_scored event, which
// the scorer records within moments of the text; a scorer that backfills
// old tickets counts them on the day it scores them. Dashboards projected
// before the tone counters existed are brought up to date by a migration
// of each adapter: SQLite empties dashboard.db so that it is rebuilt from
// position 0; PostgreSQL counts the scores up to the checkpoint in SQL
// (see ToneUnits).
type Dashboard struct{}

// Slim returns what the dashboard keeps of a ticket: its identity, status,
// requester (a first response is an answer by someone else), and times.
func Slim(t eventdesk.Ticket) eventdesk.Ticket {
	return eventdesk.Ticket{
		ID: t.ID, Status: t.Status, Requester: t.Requester, CreatedAt: t.CreatedAt,
		FirstResponseAt: t.FirstResponseAt, ResolvedAt: t.ResolvedAt,
		Version: t.Version, Position: t.Position,
	}
}

// Apply folds e into the counters. Events of other streams are ignored.
func (Dashboard) Apply(ctx context.Context, tx eventdesk.ProjectionTx, e eventdesk.Event) error {
	if !strings.HasPrefix(e.Stream, eventdesk.StreamPrefix) {
		return nil
	}
	id, ok := eventdesk.TicketIDFromStream(e.Stream)
	if !ok {
		return fmt.Errorf("projection: dashboard: event %s at position %d: stream %q is not a valid ticket stream", e.ID, e.Position, e.Stream)
	}
	old, found, err := tx.Ticket(ctx, id)
	if err != nil {
		return fmt.Errorf("projection: dashboard: load ticket %s: %w", id, err)
	}
	if found && e.Version <= old.Version {
		return nil
	}
	t, err := eventdesk.Evolve(old, e)
	if err != nil {
		return fmt.Errorf("projection: dashboard: event %s (%s v%d at position %d): %w", e.ID, e.Stream, e.Version, e.Position, err)
	}
	t = Slim(t)
	if err := tx.SaveTicket(ctx, t); err != nil {
		return fmt.Errorf("projection: dashboard: save ticket %s: %w", id, err)
	}
	var cerr error
	err = DashboardCounts(old, t, e, func(name string, n int64) {
		if cerr == nil {
			if err := tx.AddCount(ctx, name, n); err != nil {
				cerr = fmt.Errorf("projection: dashboard: counter %s: %w", name, err)
			}
		}
	})
	if err != nil {
		return err
	}
	return cerr
}

// DashboardCounts calls add with each change of the dashboard's counters
// that event e makes by moving a ticket from old (the zero Ticket if e
// creates it) to t = Evolve(old, e). It reads only the fields Slim keeps,
// so old and t may be slim or full tickets: a bulk rebuild that folds the
// full tickets anyway derives the dashboard in the same pass.
func DashboardCounts(old, t eventdesk.Ticket, e eventdesk.Event, add func(name string, n int64)) error {
	day := dayKey(e.RecordedAt)
	if !old.Exists() {
		add("d:"+day+":created", 1)
	}
	if old.Status != t.Status {
		if old.Exists() && old.Status.Active() {
			add("now:"+string(old.Status), -1)
			add("d:"+day+":s:"+string(old.Status), -1)
		}
		if t.Status.Active() {
			add("now:"+string(t.Status), 1)
			add("d:"+day+":s:"+string(t.Status), 1)
		}
	}
	if old.ResolvedAt.IsZero() && !t.ResolvedAt.IsZero() {
		add("d:"+day+":resolved", 1)
		add("d:"+day+":ttr:"+strconv.Itoa(Bucket(t.ResolvedAt.Sub(t.CreatedAt))), 1)
	}
	if old.FirstResponseAt.IsZero() && !t.FirstResponseAt.IsZero() {
		add("d:"+day+":frt:"+strconv.Itoa(Bucket(t.FirstResponseAt.Sub(t.CreatedAt))), 1)
	}
	if e.Type == eventdesk.TypeSentimentScored {
		p, err := eventdesk.Decode(e)
		if err != nil {
			return fmt.Errorf("projection: dashboard: event %s: %w", e.ID, err)
		}
		score := p.(eventdesk.SentimentScored).Score
		add("d:"+day+":tone:n", 1)
		add("d:"+day+":tone:sum", ToneUnits(score))
		if score <= eventdesk.NegativeTone {
			add("d:"+day+":tone:neg", 1)
		}
	}
	return nil
}

// ApplyAll applies events in order, stopping at the first error.
func (p Dashboard) ApplyAll(ctx context.Context, tx eventdesk.ProjectionTx, events []eventdesk.Event) error {
	for _, e := range events {
		if err := p.Apply(ctx, tx, e); err != nil {
			return err
		}
	}
	return nil
}

func dayKey(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// toneUnitsPerScore is 1/eventdesk.ToneScale, exactly.
const toneUnitsPerScore = 1 / eventdesk.ToneScale

// ToneUnits returns a sentiment score as the integer the d:<day>:tone:sum
// counter adds: ⌊score·10⁴ + ½⌋, in IEEE double arithmetic. The PostgreSQL
// migration that backfills the counters computes exactly this in SQL
// (float8), so keep the two in step.
func ToneUnits(score float64) int64 {
	return int64(math.Floor(score*toneUnitsPerScore + 0.5))
}

// bucketsPerDoubling sets the histogram's resolution.
const bucketsPerDoubling = 8

// Bucket returns the histogram bucket of a duration (see Dashboard).
func Bucket(d time.Duration) int {
	s := d.Seconds()
	if s < 60 {
		return 0
	}
	return 1 + int(math.Floor(bucketsPerDoubling*math.Log2(s/60)))
}

// bucketBounds returns the range of durations in bucket b.
func bucketBounds(b int) (lo, hi float64) {
	if b <= 0 {
		return 0, 60
	}
	return 60 * math.Exp2(float64(b-1)/bucketsPerDoubling), 60 * math.Exp2(float64(b)/bucketsPerDoubling)
}

// DashboardCounterRange returns the range [lo, hi) of the names of the
// per-day counters from day from onwards; the "now:" counters are apart.
func DashboardCounterRange(from time.Time) (lo, hi string) {
	return "d:" + dayKey(from), "d;"
}

// DashboardNowPrefix starts the names of the counters of the current
// backlog.
const DashboardNowPrefix = "now:"

// BuildDashboard computes the dashboard of days from through to out of
// counters: the "now:" counters and every per-day counter from day from
// onwards (to the latest, not only to day to: the backlog at the end of a
// day is the backlog now minus what changed after it).
func BuildDashboard(counters map[string]int64, from, to time.Time) (eventdesk.Dashboard, error) {
	from, to = eventdesk.Day(from), eventdesk.Day(to)
	if to.Before(from) {
		return eventdesk.Dashboard{}, eventdesk.FieldError("from", "must not be after to")
	}
	n := int(to.Sub(from).Hours()/24) + 1
	if n > eventdesk.MaxDashboardDays {
		return eventdesk.Dashboard{}, eventdesk.FieldError("from", fmt.Sprintf("the window must be at most %d days", eventdesk.MaxDashboardDays))
	}
	type dayAcc struct {
		created, resolved int
		delta             map[eventdesk.Status]int
		frt, ttr          map[int]int
		tones, toneNeg    int
		toneSum           int64
	}
	acc := make([]dayAcc, n)
	for i := range acc {
		acc[i] = dayAcc{delta: map[eventdesk.Status]int{}, frt: map[int]int{}, ttr: map[int]int{}}
	}
	now := make(map[eventdesk.Status]int, len(eventdesk.ActiveStatuses))
	after := make(map[eventdesk.Status]int, len(eventdesk.ActiveStatuses)) // changes after day to
	for name, v := range counters {
		if s, ok := strings.CutPrefix(name, DashboardNowPrefix); ok {
			now[eventdesk.Status(s)] += int(v)
			continue
		}
		rest, ok := strings.CutPrefix(name, "d:")
		if !ok || len(rest) < 11 || rest[10] != ':' {
			continue
		}
		day, err := time.Parse(time.DateOnly, rest[:10])
		if err != nil || day.Before(from) {
			continue
		}
		metric := rest[11:]
		if day.After(to) {
			if s, ok := strings.CutPrefix(metric, "s:"); ok {
				after[eventdesk.Status(s)] += int(v)
			}
			continue
		}
		a := &acc[int(day.Sub(from).Hours()/24)]
		switch {
		case metric == "created":
			a.created += int(v)
		case metric == "resolved":
			a.resolved += int(v)
		case metric == "tone:n":
			a.tones += int(v)
		case metric == "tone:sum":
			a.toneSum += v
		case metric == "tone:neg":
			a.toneNeg += int(v)
		case strings.HasPrefix(metric, "s:"):
			a.delta[eventdesk.Status(metric[2:])] += int(v)
		case strings.HasPrefix(metric, "frt:"), strings.HasPrefix(metric, "ttr:"):
			b, err := strconv.Atoi(metric[4:])
			if err != nil {
				continue
			}
			if metric[0] == 'f' {
				a.frt[b] += int(v)
			} else {
				a.ttr[b] += int(v)
			}
		}
	}
	d := eventdesk.Dashboard{From: from, To: to, Days: make([]eventdesk.DashboardDay, n), Backlog: map[eventdesk.Status]int{}}
	// Walk back from the end of day to: backlog(end of day i-1) =
	// backlog(end of day i) − change during day i.
	level := map[eventdesk.Status]int{}
	for _, s := range eventdesk.ActiveStatuses {
		d.Backlog[s] = max(now[s], 0)
		level[s] = now[s] - after[s]
	}
	allFRT, allTTR := map[int]int{}, map[int]int{}
	var tones, toneNeg int
	var toneSum int64
	for i := n - 1; i >= 0; i-- {
		a := acc[i]
		day := eventdesk.DashboardDay{
			Day: from.AddDate(0, 0, i), Created: a.created, Resolved: a.resolved,
			Backlog:       make(map[eventdesk.Status]int, len(eventdesk.ActiveStatuses)),
			FirstResponse: summarize(a.frt), Resolution: summarize(a.ttr),
			Tone: toneSummary(a.tones, a.toneSum, a.toneNeg),
		}
		tones, toneSum, toneNeg = tones+a.tones, toneSum+a.toneSum, toneNeg+a.toneNeg
		for _, s := range eventdesk.ActiveStatuses {
			day.Backlog[s] = max(level[s], 0)
			level[s] -= a.delta[s]
		}
		for b, c := range a.frt {
			allFRT[b] += c
		}
		for b, c := range a.ttr {
			allTTR[b] += c
		}
		d.Days[i] = day
	}
	d.FirstResponse, d.Resolution = summarize(allFRT), summarize(allTTR)
	d.Tone = toneSummary(tones, toneSum, toneNeg)
	return d, nil
}

func toneSummary(n int, units int64, negative int) eventdesk.ToneSummary {
	return eventdesk.ToneSummary{Count: n, Sum: float64(units) / toneUnitsPerScore, Negative: negative}
}

// summarize estimates the median and 90th percentile of a histogram,
// interpolating geometrically inside the bucket where the rank falls.
func summarize(h map[int]int) eventdesk.DurationSummary {
	var s eventdesk.DurationSummary
	top := 0
	for b, c := range h {
		s.Count += c
		top = max(top, b)
	}
	if s.Count == 0 {
		return s
	}
	quantile := func(q float64) time.Duration {
		rank := q * float64(s.Count)
		seen := 0
		for b := 0; b <= top; b++ {
			c := h[b]
			if c == 0 {
				continue
			}
			if float64(seen+c) >= rank {
				lo, hi := bucketBounds(b)
				f := (rank - float64(seen)) / float64(c)
				var v float64
				if b == 0 {
					v = lo + f*(hi-lo)
				} else {
					v = lo * math.Pow(hi/lo, f)
				}
				return time.Duration(v * float64(time.Second)).Round(time.Second)
			}
			seen += c
		}
		_, hi := bucketBounds(top)
		return time.Duration(hi * float64(time.Second)).Round(time.Second)
	}
	s.Median, s.P90 = quantile(0.5), quantile(0.9)
	return s
}
