// Package plot draws the charts of the benchmark report as standalone SVG
// documents: line charts (throughput against concurrency, latency CDFs on
// a logarithmic axis), grouped bar charts (a figure next to its baseline)
// and histograms (latency distributions).
//
// The output is deterministic (same data, same bytes), so a regenerated
// report only changes where the figures do. It uses no fonts or scripts
// beyond generic SVG text and imports only the standard library.
package plot

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Series is one named line, or one set of bars.
type Series struct {
	Name string
	X, Y []float64
}

// Axis describes one axis.
type Axis struct {
	Label string
	// Log makes the axis logarithmic (base 10); values ≤ 0 are left out.
	Log bool
	// Min and Max fix the range when Max > Min; otherwise it fits the data
	// (from 0 on linear axes).
	Min, Max float64
	// Format renders tick values (default: compact numbers, 1.5k, 2M).
	Format func(float64) string
}

// Size of a chart in pixels (default 720×400).
type Size struct{ Width, Height int }

// palette is colour-blind friendly (Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

// Color returns the colour of the i-th series.
func Color(i int) string { return palette[i%len(palette)] }

const (
	marginLeft   = 72
	marginRight  = 24
	marginTop    = 44
	marginBottom = 56
	legendRow    = 18
)

// frame is the plotting area and its scales.
type frame struct {
	w, h                   int
	left, top, right, bot  float64
	x, y                   Axis
	xmin, xmax, ymin, ymax float64
	legendRows             int
}

func (f *frame) px(v float64) float64 {
	return f.left + (f.right-f.left)*scale(v, f.xmin, f.xmax, f.x.Log)
}

func (f *frame) py(v float64) float64 {
	return f.bot - (f.bot-f.top)*scale(v, f.ymin, f.ymax, f.y.Log)
}

func scale(v, lo, hi float64, log bool) float64 {
	if log {
		v, lo, hi = math.Log10(math.Max(v, lo)), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return 0.5
	}
	return (v - lo) / (hi - lo)
}

// dataRange returns the range of vs for an axis.
func dataRange(a Axis, vs []float64, fromZero bool) (lo, hi float64) {
	if a.Max > a.Min {
		return a.Min, a.Max
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) || a.Log && v <= 0 {
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if math.IsInf(lo, 1) {
		if a.Log {
			return 1, 10
		}
		return 0, 1
	}
	if a.Log {
		lo = math.Pow(10, math.Floor(math.Log10(lo)))
		hi = math.Pow(10, math.Ceil(math.Log10(hi)))
		if hi <= lo {
			hi = lo * 10
		}
		return lo, hi
	}
	if fromZero && lo > 0 {
		lo = 0
	}
	if hi == lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 5)
	// Headroom above the highest value, for the labels on bars.
	return math.Floor(lo/step) * step, math.Ceil(hi*1.04/step) * step
}

// niceStep rounds a raw tick step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	}
	return 10 * p
}

// ticks returns tick values for a range.
func ticks(lo, hi float64, log bool) []float64 {
	var out []float64
	if log {
		decades := math.Log10(hi) - math.Log10(lo)
		for p := math.Floor(math.Log10(lo)); p <= math.Ceil(math.Log10(hi)); p++ {
			for _, m := range []float64{1, 2, 5} {
				if decades > 4 && m != 1 {
					continue
				}
				v := m * math.Pow(10, p)
				if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
					out = append(out, v)
				}
			}
		}
		return out
	}
	step := niceStep((hi - lo) / 5)
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step+0) // +0: no "-0"
	}
	return out
}

// Compact formats a number for a tick label: 950, 1.5k, 12k, 2M, 0.25.
func Compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

// Short formats a value label with about three significant digits:
// 213, 16.9, 2.43, 12.3k.
func Short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trim(math.Round(v/1e4)/100) + "M"
	case a >= 1e4:
		return trim(math.Round(v/100)/10) + "k"
	case a >= 100:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case a >= 10:
		return trim(math.Round(v*10) / 10)
	}
	return trim(math.Round(v*100) / 100)
}

func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// svg accumulates a document.
type svg struct{ bytes.Buffer }

func (s *svg) f(format string, a ...any) { fmt.Fprintf(&s.Buffer, format, a...) }

func esc(t string) string { return html.EscapeString(t) }

func (f *frame) begin(title string) *svg {
	s := &svg{}
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", f.w, f.h, f.w, f.h)
	s.f(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	if title != "" {
		s.f(`<text x="%d" y="22" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", f.w/2, esc(title))
	}
	return s
}

// axes draws grid lines, ticks and labels. xTicks may be nil (categories).
func (f *frame) axes(s *svg, xTicks []float64) {
	fy := f.y.Format
	if fy == nil {
		fy = Compact
	}
	for _, t := range ticks(f.ymin, f.ymax, f.y.Log) {
		y := f.py(t)
		s.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/>`+"\n", num(f.left), num(y), num(f.right), num(y))
		s.f(`<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(f.left-6), num(y+4), esc(fy(t)))
	}
	fx := f.x.Format
	if fx == nil {
		fx = Compact
	}
	for _, t := range xTicks {
		x := f.px(t)
		s.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/>`+"\n", num(x), num(f.top), num(x), num(f.bot))
		s.f(`<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(x), num(f.bot+16), esc(fx(t)))
	}
	s.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#888888"/>`+"\n", num(f.left), num(f.top), num(f.right-f.left), num(f.bot-f.top))
	if f.x.Label != "" {
		s.f(`<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num((f.left+f.right)/2), f.h-10-f.legendRows*legendRow, esc(f.x.Label))
	}
	if f.y.Label != "" {
		cy := (f.top + f.bot) / 2
		s.f(`<text x="16" y="%s" text-anchor="middle" transform="rotate(-90 16 %s)">%s</text>`+"\n", num(cy), num(cy), esc(f.y.Label))
	}
}

// legend draws the series names below the x axis label, left to right,
// wrapping rows.
func (f *frame) legend(s *svg, names []string, bars bool) {
	if len(names) < 2 && !bars {
		return
	}
	x, row := float64(marginLeft), 0
	for i, n := range names {
		w := float64(34 + 8*len([]rune(n)))
		if x+w > float64(f.w-marginRight) && x > marginLeft {
			x, row = marginLeft, row+1
		}
		y := float64(f.h-f.legendRows*legendRow+row*legendRow) + 4
		if bars {
			s.f(`<rect x="%s" y="%s" width="14" height="10" fill="%s"/>`+"\n", num(x), num(y-9), Color(i))
		} else {
			s.f(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2.5"/>`+"\n", num(x), num(y-4), num(x+16), num(y-4), Color(i))
		}
		s.f(`<text x="%s" y="%s">%s</text>`+"\n", num(x+20), num(y), esc(n))
		x += w
	}
}

func newFrame(size Size, x, y Axis, legendEntries int, names []string) *frame {
	f := &frame{w: size.Width, h: size.Height, x: x, y: y}
	if f.w <= 0 {
		f.w = 720
	}
	if f.h <= 0 {
		f.h = 400
	}
	if legendEntries > 0 {
		// Estimate the rows the legend wraps to.
		width, rows := 0, 1
		for _, n := range names {
			w := 34 + 8*len([]rune(n))
			if width+w > f.w-marginLeft-marginRight && width > 0 {
				rows, width = rows+1, 0
			}
			width += w
		}
		f.legendRows = rows
	}
	f.left, f.top = marginLeft, marginTop
	f.right = float64(f.w - marginRight)
	f.bot = float64(f.h - marginBottom - f.legendRows*legendRow)
	return f
}

// Line draws series as lines with markers.
func Line(title string, x, y Axis, size Size, series ...Series) []byte {
	var xs, ys []float64
	names := make([]string, len(series))
	for i, s := range series {
		xs, ys, names[i] = append(xs, s.X...), append(ys, s.Y...), s.Name
	}
	legend := 0
	if len(series) > 1 {
		legend = len(series)
	}
	f := newFrame(size, x, y, legend, names)
	f.xmin, f.xmax = dataRange(x, xs, false)
	f.ymin, f.ymax = dataRange(y, ys, true)
	s := f.begin(title)
	f.axes(s, ticks(f.xmin, f.xmax, x.Log))
	for i, se := range series {
		var pts []string
		for k := range min(len(se.X), len(se.Y)) {
			if x.Log && se.X[k] <= 0 || y.Log && se.Y[k] <= 0 {
				continue
			}
			pts = append(pts, num(f.px(se.X[k]))+","+num(f.py(se.Y[k])))
		}
		if len(pts) == 0 {
			continue
		}
		s.f(`<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n", Color(i), strings.Join(pts, " "))
		if len(pts) <= 40 {
			for _, p := range pts {
				xy := strings.SplitN(p, ",", 2)
				s.f(`<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`+"\n", xy[0], xy[1], Color(i))
			}
		}
	}
	f.legend(s, names, false)
	s.f("</svg>\n")
	return s.Bytes()
}

// Bars draws grouped bars: one group per category, one bar per series
// (series[i].Y[j] is series i's value for category j; X is unused). Each
// bar is labelled with its value.
func Bars(title string, categories []string, y Axis, size Size, series ...Series) []byte {
	var ys []float64
	names := make([]string, len(series))
	for i, s := range series {
		ys, names[i] = append(ys, s.Y...), s.Name
	}
	f := newFrame(size, Axis{}, y, len(series), names)
	f.xmin, f.xmax = 0, float64(len(categories))
	f.ymin, f.ymax = dataRange(y, ys, true)
	s := f.begin(title)
	f.axes(s, nil)
	group := (f.right - f.left) / math.Max(float64(len(categories)), 1)
	bw := group * 0.8 / math.Max(float64(len(series)), 1)
	for j, c := range categories {
		gx := f.left + group*float64(j) + group*0.1
		for i, se := range series {
			if j >= len(se.Y) || math.IsNaN(se.Y[j]) || y.Log && se.Y[j] <= 0 {
				continue
			}
			x := gx + bw*float64(i)
			top := f.py(se.Y[j])
			base := f.bot
			if !y.Log && f.ymin < 0 {
				base = f.py(0)
			}
			s.f(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`+"\n", num(x), num(math.Min(top, base)), num(bw*0.92), num(math.Abs(base-top)), Color(i))
			s.f(`<text x="%s" y="%s" text-anchor="middle" font-size="10">%s</text>`+"\n", num(x+bw*0.46), num(math.Min(top, base)-3), esc(Short(se.Y[j])))
		}
		s.f(`<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(gx+group*0.4), num(f.bot+16), esc(c))
	}
	f.legend(s, names, true)
	s.f("</svg>\n")
	return s.Bytes()
}

// Bin is one bar of a histogram: Count values in (Lo, Hi].
type Bin struct {
	Lo, Hi float64
	Count  float64
}

// Histogram draws a distribution over a (usually logarithmic) x axis:
// each series' bins as a step outline, normalized to fractions of that
// series' total so that series of different sizes compare.
func Histogram(title string, x Axis, size Size, names []string, bins ...[]Bin) []byte {
	var xs, ys []float64
	norm := make([][]Bin, len(bins))
	for i, bs := range bins {
		total := 0.0
		for _, b := range bs {
			total += b.Count
		}
		for _, b := range bs {
			nb := b
			if total > 0 {
				nb.Count = b.Count / total
			}
			norm[i] = append(norm[i], nb)
			xs, ys = append(xs, b.Lo, b.Hi), append(ys, nb.Count)
		}
	}
	legend := 0
	if len(bins) > 1 {
		legend = len(bins)
	}
	y := Axis{Label: "share", Format: func(v float64) string { return trim(v*100) + " %" }}
	f := newFrame(size, x, y, legend, names)
	f.xmin, f.xmax = dataRange(x, xs, false)
	f.ymin, f.ymax = dataRange(y, ys, true)
	s := f.begin(title)
	f.axes(s, ticks(f.xmin, f.xmax, x.Log))
	for i, bs := range norm {
		var pts []string
		for _, b := range bs {
			if x.Log && b.Lo <= 0 {
				b.Lo = f.xmin
			}
			x0, x1, yy := num(f.px(b.Lo)), num(f.px(b.Hi)), num(f.py(b.Count))
			pts = append(pts, x0+","+num(f.bot), x0+","+yy, x1+","+yy, x1+","+num(f.bot))
		}
		if len(pts) == 0 {
			continue
		}
		s.f(`<polyline fill="%s" fill-opacity="0.25" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", Color(i), Color(i), strings.Join(pts, " "))
	}
	if len(names) > 1 {
		f.legend(s, names, true)
	}
	s.f("</svg>\n")
	return s.Bytes()
}
