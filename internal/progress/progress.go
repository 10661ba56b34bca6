// Package progress reports the progress of long CLI operations (replay,
// verify, import, export): a redrawn bar with rate and ETA when the output is
// a terminal, and plain, occasional lines otherwise (logs, CI, pipes).
//
// It adapts golang.org/x/term (to tell a terminal and its width) and imports
// nothing else outside the standard library. A Bar is safe for concurrent
// use.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal (an *os.File on a tty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Options tune a Bar; the zero value detects everything.
type Options struct {
	// Unit names what is counted, e.g. "events" (default "items").
	Unit string
	// Terminal forces (true) or forbids (false) the redrawn bar; nil
	// detects it from the writer.
	Terminal *bool
	// Interval is the minimum time between two updates: redraws on a
	// terminal (default 100ms), lines otherwise (default 2s).
	Interval time.Duration
	// Width is the terminal width in columns (default: detected, else 80).
	Width int
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Bar shows how far an operation of known (or unknown, total 0) size got.
type Bar struct {
	w        io.Writer
	label    string
	unit     string
	tty      bool
	width    int
	interval time.Duration
	now      func() time.Time

	mu       sync.Mutex
	total    int64
	current  int64
	start    time.Time
	last     time.Time
	drawn    bool // a bar line is on screen without a newline
	finished bool
}

// New returns a Bar writing to w (usually os.Stderr) labelled label, for
// total items (0 if unknown).
func New(w io.Writer, label string, total int64, o Options) *Bar {
	b := &Bar{w: w, label: label, unit: o.Unit, total: total, interval: o.Interval, width: o.Width, now: o.Now}
	if b.unit == "" {
		b.unit = "items"
	}
	if b.now == nil {
		b.now = time.Now
	}
	if o.Terminal != nil {
		b.tty = *o.Terminal
	} else {
		b.tty = IsTerminal(w)
	}
	if b.width <= 0 {
		b.width = 80
		if f, ok := w.(*os.File); ok && b.tty {
			if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
				b.width = cols
			}
		}
	}
	if b.interval <= 0 {
		b.interval = 2 * time.Second
		if b.tty {
			b.interval = 100 * time.Millisecond
		}
	}
	b.start = b.now()
	b.last = b.start
	return b
}

// SetTotal changes the expected total (0: unknown).
func (b *Bar) SetTotal(total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total = total
}

// Add counts n more items done.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.current += n
	b.maybeDraw()
}

// Set sets how many items are done.
func (b *Bar) Set(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.current = n
	b.maybeDraw()
}

// Current returns how many items are done.
func (b *Bar) Current() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.current
}

// Finish draws the final state and ends the line. Further calls do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	b.draw(true)
}

// Abort ends a bar that did not complete (after an error) so that the next
// message starts on a fresh line; it prints nothing in plain mode.
func (b *Bar) Abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

func (b *Bar) maybeDraw() {
	if b.finished {
		return
	}
	now := b.now()
	if now.Sub(b.last) < b.interval {
		return
	}
	b.last = now
	b.draw(false)
}

// draw writes the current state; the caller holds mu.
func (b *Bar) draw(final bool) {
	elapsed := b.now().Sub(b.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(b.current) / elapsed.Seconds()
	}
	if !b.tty {
		b.plainLine(final, elapsed, rate)
		return
	}
	stats := b.counts()
	if rate > 0 {
		stats += " " + Rate(rate) + "/s"
	}
	if final {
		stats += " in " + Duration(elapsed)
	} else if eta, ok := b.eta(rate); ok {
		stats += " ETA " + Duration(eta)
	}
	line := b.label + " "
	if b.total > 0 {
		barWidth := b.width - 1 - len(line) - len(stats) - 3 // "[", "]", " ", and the cursor column
		if barWidth > 50 {
			barWidth = 50
		}
		if barWidth >= 10 {
			line += renderBar(b.current, b.total, barWidth) + " "
		}
	}
	line += stats
	if len(line) > b.width-1 {
		line = line[:b.width-1]
	}
	// \r and clear-to-end-of-line redraw in place.
	fmt.Fprintf(b.w, "\r%s\x1b[K", line)
	b.drawn = true
	if final {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

func (b *Bar) plainLine(final bool, elapsed time.Duration, rate float64) {
	var s strings.Builder
	s.WriteString(b.label + ": " + b.counts())
	if rate > 0 {
		s.WriteString(", " + Rate(rate) + "/s")
	}
	if final {
		s.WriteString(", done in " + Duration(elapsed))
	} else if eta, ok := b.eta(rate); ok {
		s.WriteString(", ETA " + Duration(eta))
	}
	fmt.Fprintln(b.w, s.String())
}

func (b *Bar) counts() string {
	if b.total > 0 {
		pct := float64(b.current) * 100 / float64(b.total)
		if pct > 100 {
			pct = 100
		}
		return fmt.Sprintf("%d/%d %s (%.0f%%)", b.current, b.total, b.unit, pct)
	}
	return fmt.Sprintf("%d %s", b.current, b.unit)
}

func (b *Bar) eta(rate float64) (time.Duration, bool) {
	if b.total <= 0 || rate <= 0 || b.current >= b.total {
		return 0, false
	}
	return time.Duration(float64(b.total-b.current) / rate * float64(time.Second)), true
}

func renderBar(current, total int64, width int) string {
	filled := int(float64(width) * float64(current) / float64(total))
	if filled > width {
		filled = width
	}
	if filled < 0 {
		filled = 0
	}
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]"
}

// Rate formats a per-second rate compactly: 950, 12.3k, 1.2M.
func Rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.0fk", r/1e3)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

// Duration formats a duration for humans, rounded to what matters: 850ms,
// 4.2s, 3m05s, 1h02m.
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
