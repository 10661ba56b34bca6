package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Charts are drawn here, on the server, as data for inline SVG: the
// templates only place what is computed. Colours come from CSS classes
// (no style attributes, which the Content-Security-Policy forbids).

// chart is one SVG chart in a viewBox of Width × Height.
type chart struct {
	ID            string
	Title, Desc   string
	Width, Height int
	Plot          rect
	YTicks        []tick
	// Y2Ticks label a second scale on the right of the plot (for the
	// series the legend says use it).
	Y2Ticks []tick
	XTicks  []tick
	Areas   []shape
	Lines   []shape
	Bars    []bar
	Points  []point
	Legend  []legendItem
	// YLabel names the unit of the y axis.
	YLabel string
	Empty  bool
}

type rect struct{ X, Y, W, H float64 }

// Right and Bottom are the plot's far edges.
func (r rect) Right() float64  { return r.X + r.W }
func (r rect) Bottom() float64 { return r.Y + r.H }

type tick struct {
	Pos   float64
	Label string
	// Anchor aligns an x label: "middle", or "end" at the right edge.
	Anchor string
}

type shape struct {
	D     string
	Class string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type point struct {
	X, Y  float64
	Class string
	Title string
}

type legendItem struct {
	Class, Label string
}

// Charts are drawn in a viewBox of chartW × chartH, or wideW for one that
// spans the page on wide screens; text keeps its size either way.
const (
	chartW = 600
	wideW  = 1200
	chartH = 260
)

func newChart(id, title, desc string) chart {
	return sizedChart(id, title, desc, chartW)
}

func sizedChart(id, title, desc string, width int) chart {
	w := float64(width)
	return chart{ID: id, Title: title, Desc: desc, Width: width, Height: chartH,
		Plot: rect{X: 56, Y: 12, W: w - 56 - 16, H: chartH - 12 - 36}}
}

// f formats a coordinate.
func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceMax rounds v up to 1, 2 or 5 × 10ⁿ (at least 4) and returns it with
// a step that gives four or five ticks.
func niceMax(v float64) (top, step float64) {
	if v < 4 {
		return 4, 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if top = m * mag; top >= v {
			break
		}
	}
	step = top / 4
	if step != math.Floor(step) {
		step = top / 5
	}
	return top, step
}

// dayTicks labels a day about every 110 units along the x axis.
func dayTicks(c chart, days []time.Time, x func(i int) float64) []tick {
	n := len(days)
	labels := max(2, int(c.Plot.W/110))
	every := max(1, (n+labels-1)/labels)
	var out []tick
	for i := n - 1; i >= 0; i -= every {
		t := tick{Pos: x(i), Label: days[i].Format("2 Jan"), Anchor: "middle"}
		if t.Pos > float64(c.Width)-56 {
			t.Anchor = "end"
			t.Pos = min(t.Pos+8, float64(c.Width)-2)
		}
		out = append(out, t)
	}
	return out
}

func linearTicks(top, step float64, y func(float64) float64) []tick {
	var out []tick
	for v := 0.0; v <= top+step/2; v += step {
		out = append(out, tick{Pos: y(v), Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return out
}

// series is one named row of values per day.
type series struct {
	Label, Class string
	Values       []float64
}

// stackedAreaChart stacks the series on top of each other, day by day.
func stackedAreaChart(c chart, days []time.Time, ss []series) chart {
	n := len(days)
	totals := make([]float64, n)
	for _, s := range ss {
		for i, v := range s.Values {
			totals[i] += v
		}
	}
	peak := 0.0
	for _, t := range totals {
		peak = max(peak, t)
	}
	top, step := niceMax(peak)
	p := c.Plot
	x := func(i int) float64 {
		if n == 1 {
			return p.X + p.W/2
		}
		return p.X + p.W*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return p.Bottom() - p.H*v/top }
	c.YTicks, c.XTicks = linearTicks(top, step, y), dayTicks(c, days, x)
	below := make([]float64, n)
	for _, s := range ss {
		above := make([]float64, n)
		var d strings.Builder
		for i := range n {
			above[i] = below[i] + s.Values[i]
			fmt.Fprintf(&d, "%s%s %s ", map[bool]string{true: "M", false: "L"}[i == 0], f(x(i)), f(y(above[i])))
		}
		for i := n - 1; i >= 0; i-- {
			fmt.Fprintf(&d, "L%s %s ", f(x(i)), f(y(below[i])))
		}
		d.WriteString("Z")
		c.Areas = append(c.Areas, shape{D: d.String(), Class: s.Class})
		c.Legend = append(c.Legend, legendItem{Class: s.Class, Label: s.Label})
		below = above
	}
	for i := range n {
		c.Points = append(c.Points, point{X: x(i), Y: y(totals[i]), Class: "pt-total",
			Title: fmt.Sprintf("%s: %s open in total", days[i].Format("Mon 2 Jan"), strconv.FormatFloat(totals[i], 'f', -1, 64))})
	}
	c.Empty = peak == 0
	return c
}

// groupedBarChart draws the series side by side for each day.
func groupedBarChart(c chart, days []time.Time, ss []series, unit string) chart {
	n := len(days)
	peak := 0.0
	for _, s := range ss {
		for _, v := range s.Values {
			peak = max(peak, v)
		}
	}
	top, step := niceMax(peak)
	p := c.Plot
	slot := p.W / float64(n)
	bw := math.Max(1, slot*0.8/float64(len(ss)))
	x := func(i int) float64 { return p.X + slot*(float64(i)+0.5) }
	y := func(v float64) float64 { return p.Bottom() - p.H*v/top }
	c.YTicks, c.XTicks = linearTicks(top, step, y), dayTicks(c, days, x)
	for k, s := range ss {
		for i, v := range s.Values {
			bx := x(i) - bw*float64(len(ss))/2 + bw*float64(k)
			c.Bars = append(c.Bars, bar{X: bx, Y: y(v), W: bw, H: p.Bottom() - y(v), Class: s.Class,
				Title: fmt.Sprintf("%s: %s %s", days[i].Format("Mon 2 Jan"), strconv.FormatFloat(v, 'f', -1, 64), strings.ToLower(s.Label)+unit)})
		}
		c.Legend = append(c.Legend, legendItem{Class: s.Class, Label: s.Label})
	}
	c.Empty = peak == 0
	return c
}

// logTicks are the durations marked on a logarithmic time axis.
var logTicks = []struct {
	d     time.Duration
	label string
}{
	{time.Minute, "1 min"}, {10 * time.Minute, "10 min"}, {time.Hour, "1 h"}, {4 * time.Hour, "4 h"},
	{24 * time.Hour, "1 d"}, {7 * 24 * time.Hour, "1 wk"}, {30 * 24 * time.Hour, "30 d"},
}

// durationChart draws durations per day as lines on a logarithmic axis,
// so that minutes and days fit one chart; days without a value leave a
// gap (NaN).
func durationChart(c chart, days []time.Time, ss []series) chart {
	n := len(days)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = time.Minute.Seconds(), (24 * time.Hour).Seconds()
		c.Empty = true
	}
	lo = math.Max(1, math.Min(lo, time.Minute.Seconds()))
	lo, hi = math.Log10(lo), math.Log10(math.Max(hi*1.3, lo*10))
	p := c.Plot
	slot := p.W / float64(n)
	x := func(i int) float64 { return p.X + slot*(float64(i)+0.5) }
	y := func(sec float64) float64 { return p.Bottom() - p.H*(math.Log10(math.Max(sec, 1))-lo)/(hi-lo) }
	for _, t := range logTicks {
		if l := math.Log10(t.d.Seconds()); l >= lo && l <= hi {
			c.YTicks = append(c.YTicks, tick{Pos: y(t.d.Seconds()), Label: t.label})
		}
	}
	c.XTicks = dayTicks(c, days, x)
	for _, s := range ss {
		var d strings.Builder
		pen := false
		for i, v := range s.Values {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s %s ", cmd, f(x(i)), f(y(v)))
			pen = true
			c.Points = append(c.Points, point{X: x(i), Y: y(v), Class: s.Class,
				Title: fmt.Sprintf("%s: %s %s", days[i].Format("Mon 2 Jan"), strings.ToLower(s.Label), humanDuration(time.Duration(v*float64(time.Second))))})
		}
		if d.Len() > 0 {
			c.Lines = append(c.Lines, shape{D: strings.TrimSpace(d.String()), Class: s.Class})
		}
		c.Legend = append(c.Legend, legendItem{Class: s.Class, Label: s.Label})
	}
	return c
}

// toneChart draws the average sentiment score of each day as a line on a
// fixed scale from -1 to +1 (left), over bars of the texts scored strongly
// negative that day on a count scale (right) whose steps meet the same
// grid lines. Days without a score leave a gap in the line.
func toneChart(c chart, days []time.Time, avg, scored, negative []float64) chart {
	n := len(days)
	c.Plot.W -= 40 // room for the right scale
	p := c.Plot
	slot := p.W / float64(n)
	x := func(i int) float64 { return p.X + slot*(float64(i)+0.5) }
	yScore := func(v float64) float64 { return p.Bottom() - p.H*(v+1)/2 }
	for _, v := range []float64{-1, -0.5, 0, 0.5, 1} {
		c.YTicks = append(c.YTicks, tick{Pos: yScore(v), Label: signed(v, 1)})
	}
	peak := 0.0
	for _, v := range negative {
		peak = max(peak, v)
	}
	step := countStep(peak / 4)
	top := 4 * step
	yCount := func(v float64) float64 { return p.Bottom() - p.H*v/top }
	for k := range 5 {
		v := step * float64(k)
		c.Y2Ticks = append(c.Y2Ticks, tick{Pos: yCount(v), Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	c.XTicks = dayTicks(c, days, x)
	bw := math.Max(1, slot*0.6)
	var line strings.Builder
	pen := false
	for i := range n {
		label := days[i].Format("Mon 2 Jan")
		if negative[i] > 0 {
			c.Bars = append(c.Bars, bar{X: x(i) - bw/2, Y: yCount(negative[i]), W: bw, H: p.Bottom() - yCount(negative[i]), Class: "s-neg",
				Title: fmt.Sprintf("%s: %d of %s strongly negative", label, int(negative[i]), plural(int(scored[i]), "text", "texts"))})
		}
		if math.IsNaN(avg[i]) {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&line, "%s%s %s ", cmd, f(x(i)), f(yScore(avg[i])))
		pen = true
		c.Points = append(c.Points, point{X: x(i), Y: yScore(avg[i]), Class: "s-tone",
			Title: fmt.Sprintf("%s: average score %s over %s", label, signed(avg[i], 2), plural(int(scored[i]), "text", "texts"))})
	}
	if line.Len() > 0 {
		c.Lines = append(c.Lines, shape{D: strings.TrimSpace(line.String()), Class: "s-tone"})
	}
	c.Legend = []legendItem{{Class: "s-tone", Label: "Average score (left scale)"}, {Class: "s-neg", Label: "Strongly negative texts (right scale)"}}
	c.Empty = line.Len() == 0
	return c
}

// countStep returns the smallest step of 1, 2, 3 or 5 × 10ⁿ (at least 1)
// that is at least v.
func countStep(v float64) float64 {
	for mag := 1.0; ; mag *= 10 {
		for _, m := range []float64{1, 2, 3, 5} {
			if m*mag >= v {
				return m * mag
			}
		}
	}
}

// signed formats a score with its sign, as the ticket page does
// ("+0.40"); a score that rounds to zero has none.
func signed(v float64, decimals int) string {
	abs := strconv.FormatFloat(math.Abs(v), 'f', decimals, 64)
	if strings.Trim(abs, "0.") == "" {
		return abs
	}
	if v < 0 {
		return "-" + abs
	}
	return "+" + abs
}
