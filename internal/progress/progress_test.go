package progress_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventdesk/eventdesk/internal/progress"
)

// clock is a manual clock for deterministic output.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestPlainLines(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	no := false
	b := progress.New(&out, "replay", 1000, progress.Options{Unit: "events", Terminal: &no, Now: c.now})

	c.advance(time.Second)
	b.Add(100) // before the 2s interval: no line
	if out.Len() != 0 {
		t.Fatalf("printed before the interval: %q", out.String())
	}
	c.advance(time.Second)
	b.Add(300)
	c.advance(2 * time.Second)
	b.Add(600)
	b.Finish()
	b.Finish() // idempotent

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		"replay: 400/1000 events (40%), 200/s, ETA 3.0s",
		"replay: 1000/1000 events (100%), 250/s", // at 100%: no ETA
		"replay: 1000/1000 events (100%), 250/s, done in 4.0s",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines %q, want %q", len(lines), lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Errorf("plain output contains terminal control characters: %q", out.String())
	}
}

func TestPlainUnknownTotal(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	no := false
	b := progress.New(&out, "export", 0, progress.Options{Unit: "events", Terminal: &no, Now: c.now})
	c.advance(500 * time.Millisecond)
	b.Set(42)
	b.Finish()
	if got, want := out.String(), "export: 42 events, 84/s, done in 500ms\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestTerminalBar(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	yes := true
	b := progress.New(&out, "verify", 200, progress.Options{Unit: "events", Terminal: &yes, Width: 80, Now: c.now})
	c.advance(time.Second)
	b.Add(50)
	c.advance(time.Second)
	b.Add(150)
	b.Finish()

	s := out.String()
	frames := strings.Split(s, "\r")[1:]
	if len(frames) != 3 {
		t.Fatalf("got %d frames, want 3: %q", len(frames), s)
	}
	if !strings.Contains(frames[0], "[=====") || !strings.Contains(frames[0], "50/200 events (25%)") || !strings.Contains(frames[0], "ETA 3.0s") {
		t.Errorf("first frame = %q", frames[0])
	}
	last := frames[2]
	if !strings.HasSuffix(last, "\x1b[K\n") || !strings.Contains(last, "200/200 events (100%)") || !strings.Contains(last, "in 2.0s") {
		t.Errorf("last frame = %q", last)
	}
	for _, f := range frames {
		line := strings.TrimSuffix(strings.TrimSuffix(f, "\n"), "\x1b[K")
		if len(line) >= 80 {
			t.Errorf("frame wider than the terminal: %d columns: %q", len(line), line)
		}
	}
}

func TestAbortEndsTheLine(t *testing.T) {
	c := newClock()
	var out bytes.Buffer
	yes := true
	b := progress.New(&out, "import", 10, progress.Options{Terminal: &yes, Now: c.now})
	c.advance(time.Second)
	b.Add(3)
	b.Abort()
	b.Finish() // after Abort: nothing more
	if !strings.HasSuffix(out.String(), "\n") || strings.Count(out.String(), "\r") != 1 {
		t.Fatalf("got %q", out.String())
	}
}

func TestIsTerminal(t *testing.T) {
	if progress.IsTerminal(&bytes.Buffer{}) {
		t.Fatal("a buffer is not a terminal")
	}
}

func TestConcurrentAdd(t *testing.T) {
	var out bytes.Buffer
	no := false
	b := progress.New(&out, "x", 0, progress.Options{Terminal: &no, Interval: time.Nanosecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Add(1)
			}
		})
	}
	wg.Wait()
	b.Finish()
	if got := b.Current(); got != 800 {
		t.Fatalf("Current = %d, want 800", got)
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{850 * time.Millisecond, "850ms"},
		{4200 * time.Millisecond, "4.2s"},
		{185 * time.Second, "3m05s"},
		{62 * time.Minute, "1h02m"},
	} {
		if got := progress.Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	for _, tc := range []struct {
		r    float64
		want string
	}{
		{950, "950"}, {1234, "1.2k"}, {12345, "12k"}, {1.5e6, "1.5M"},
	} {
		if got := progress.Rate(tc.r); got != tc.want {
			t.Errorf("Rate(%v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}
