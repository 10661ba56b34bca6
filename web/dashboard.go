package web

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
)

// dashboardView is the dashboard: figures and charts from the dashboard
// read model (projection.Dashboard), never from a scan of the tickets.
type dashboardView struct {
	Page
	// Available is false when this server keeps no dashboard read model.
	Available  bool
	Days       int
	DayOptions []option
	From, To   time.Time
	// Backlog now, by active status, and its total.
	Backlog      []backlogCard
	BacklogTotal int
	Created      int
	Resolved     int
	FirstResponse,
	Resolution eventdesk.DurationSummary
	// Tone summarises the sentiment scores of the period; ToneAverage is
	// its average, formatted ("" when nothing was scored).
	Tone        eventdesk.ToneSummary
	ToneAverage string
	// The backlog is drawn twice: across the page on wide screens, in a
	// column on narrow ones (CSS shows one).
	BacklogWide, BacklogChart, FlowChart, TimesChart, ToneChart chart
	Table                                                       []dayRow
}

type backlogCard struct {
	Status eventdesk.Status
	Count  int
	URL    string
}

// dayRow is one day of the data table under the charts.
type dayRow struct {
	Day                         time.Time
	New, Open, Pending          int
	Created, Resolved           int
	FirstResponse, Resolution   time.Duration
	FirstResponses, Resolutions int
	// Scored counts the texts whose tone was measured, ToneAverage is
	// their average score (formatted, "" for none), Negative counts the
	// strongly negative ones.
	Scored, Negative int
	ToneAverage      string
}

var dashboardWindows = []int{7, 30, 90}

func (s *Server) showDashboard(w http.ResponseWriter, r *http.Request) {
	v := dashboardView{Page: s.basePage(r, "Dashboard", "dashboard"), Days: app.DefaultDashboardDays}
	if d := r.URL.Query().Get("days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			s.renderError(w, r, eventdesk.FieldError("days", "must be a number of days"))
			return
		}
		v.Days = n
	}
	for _, n := range dashboardWindows {
		v.DayOptions = append(v.DayOptions, option{Value: strconv.Itoa(n), Label: "Last " + strconv.Itoa(n) + " days", Selected: n == v.Days})
	}
	if s.dashboard == nil {
		// Authorization first: a requester learns nothing either way.
		if _, err := s.app.Stats.Handle(r.Context(), app.GetStats{}); err != nil {
			s.renderError(w, r, err)
			return
		}
		s.render(w, r, http.StatusOK, "dashboard", v)
		return
	}
	d, err := s.dashboard.Handle(r.Context(), app.GetDashboard{Days: v.Days})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v.Available, v.From, v.To = true, d.From, d.To
	v.FirstResponse, v.Resolution = d.FirstResponse, d.Resolution
	for _, st := range eventdesk.ActiveStatuses {
		v.Backlog = append(v.Backlog, backlogCard{Status: st, Count: d.Backlog[st], URL: "/tickets?status=" + string(st)})
		v.BacklogTotal += d.Backlog[st]
	}
	n := len(d.Days)
	days := make([]time.Time, n)
	created, resolved := make([]float64, n), make([]float64, n)
	backlog := map[eventdesk.Status][]float64{}
	frt, ttr := make([]float64, n), make([]float64, n)
	toneAvg, scored, negative := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, day := range d.Days {
		days[i] = day.Day
		created[i], resolved[i] = float64(day.Created), float64(day.Resolved)
		v.Created += day.Created
		v.Resolved += day.Resolved
		for _, st := range eventdesk.ActiveStatuses {
			backlog[st] = append(backlog[st], float64(day.Backlog[st]))
		}
		frt[i], ttr[i] = seconds(day.FirstResponse), seconds(day.Resolution)
		toneAvg[i], scored[i], negative[i] = math.NaN(), float64(day.Tone.Count), float64(day.Tone.Negative)
		if avg, ok := day.Tone.Average(); ok {
			toneAvg[i] = avg
		}
		v.Table = append(v.Table, dayRow{
			Day: day.Day, New: day.Backlog[eventdesk.StatusNew], Open: day.Backlog[eventdesk.StatusOpen], Pending: day.Backlog[eventdesk.StatusPending],
			Created: day.Created, Resolved: day.Resolved, FirstResponse: day.FirstResponse.Median, Resolution: day.Resolution.Median,
			FirstResponses: day.FirstResponse.Count, Resolutions: day.Resolution.Count,
			Scored: day.Tone.Count, Negative: day.Tone.Negative, ToneAverage: averageTone(day.Tone),
		})
	}
	v.Tone, v.ToneAverage = d.Tone, averageTone(d.Tone)
	span := d.From.Format("2 Jan") + " to " + d.To.Format("2 Jan 2006")
	var bs []series
	for _, st := range eventdesk.ActiveStatuses {
		bs = append(bs, series{Label: statusLabel(st), Class: "s-" + string(st), Values: backlog[st]})
	}
	backlogDesc := "Tickets in new, open and pending at the end of each day, stacked, " + span + "."
	v.BacklogChart = stackedAreaChart(newChart("chart-backlog", "Open backlog by status", backlogDesc), days, bs)
	v.BacklogWide = stackedAreaChart(sizedChart("chart-backlog-wide", "Open backlog by status", backlogDesc, wideW), days, bs)
	v.FlowChart = groupedBarChart(newChart("chart-flow", "Created and resolved per day",
		"Tickets opened and tickets resolved on each day, "+span+"."), days,
		[]series{{Label: "Created", Class: "s-created", Values: created}, {Label: "Resolved", Class: "s-resolved", Values: resolved}}, "")
	v.TimesChart = durationChart(newChart("chart-times", "Median time to first response and to resolution",
		"Median time from opening to the first public reply by the team, and to resolution, for the tickets answered or resolved on each day; logarithmic scale, "+span+"."), days,
		[]series{{Label: "First response", Class: "s-frt", Values: frt}, {Label: "Resolution", Class: "s-ttr", Values: ttr}})
	toneDesc := "Average sentiment score, from -1 (very negative) to +1 (very positive), of the ticket descriptions and public comments scored on each day (line, left scale), and how many of them were strongly negative, at " +
		signed(eventdesk.NegativeTone, 1) + " or below (bars, right scale), " + span + "."
	if v.Tone.Count > 0 {
		toneDesc += " Over the period: " + plural(v.Tone.Count, "text", "texts") + ", average " + v.ToneAverage + ", " + strconv.Itoa(v.Tone.Negative) + " strongly negative."
	}
	v.ToneChart = toneChart(newChart("chart-tone", "Customer tone per day", toneDesc), days, toneAvg, scored, negative)
	// The table lists the newest day first, like the rest of the UI.
	for i, j := 0, len(v.Table)-1; i < j; i, j = i+1, j-1 {
		v.Table[i], v.Table[j] = v.Table[j], v.Table[i]
	}
	s.render(w, r, http.StatusOK, "dashboard", v)
}

// averageTone formats the average score of s, "" when nothing was scored.
func averageTone(s eventdesk.ToneSummary) string {
	avg, ok := s.Average()
	if !ok {
		return ""
	}
	return signed(avg, 2)
}

// seconds returns the median of a day in seconds, NaN when there is none
// (a gap in the line).
func seconds(s eventdesk.DurationSummary) float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	return s.Median.Seconds()
}
