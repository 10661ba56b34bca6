package plot

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// elements parses doc as XML and counts its elements by name.
func elements(tb testing.TB, doc []byte) map[string]int {
	tb.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	n := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			tb.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			n[se.Name.Local]++
		}
	}
}

func save(tb testing.TB, name string, doc []byte) {
	tb.Helper()
	if dir := os.Getenv("PLOT_TEST_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestLine(t *testing.T) {
	doc := Line("Appends/s by writers", Axis{Label: "writers", Log: true}, Axis{Label: "appends/s"}, Size{},
		Series{Name: "group commit", X: []float64{1, 8, 64}, Y: []float64{390, 2500, 10800}},
		Series{Name: "tx per event <baseline>", X: []float64{1, 8, 64}, Y: []float64{510, 510, 510}})
	save(t, "line.svg", doc)
	n := elements(t, doc)
	if n["svg"] != 1 || n["polyline"] != 2 || n["circle"] != 6 {
		t.Errorf("elements %v", n)
	}
	if !strings.Contains(string(doc), "&lt;baseline&gt;") {
		t.Error("series names are not escaped")
	}
	again := Line("Appends/s by writers", Axis{Label: "writers", Log: true}, Axis{Label: "appends/s"}, Size{},
		Series{Name: "group commit", X: []float64{1, 8, 64}, Y: []float64{390, 2500, 10800}},
		Series{Name: "tx per event <baseline>", X: []float64{1, 8, 64}, Y: []float64{510, 510, 510}})
	if !bytes.Equal(doc, again) {
		t.Error("the same chart drawn twice differs")
	}
}

func TestLineKeepsPointsInside(t *testing.T) {
	f := newFrame(Size{}, Axis{Log: true}, Axis{}, 0, nil)
	f.xmin, f.xmax = dataRange(f.x, []float64{0.13, 870}, false)
	f.ymin, f.ymax = dataRange(f.y, []float64{0.2, 1}, true)
	for _, v := range []float64{0.13, 1, 870} {
		if x := f.px(v); x < f.left || x > f.right {
			t.Errorf("x %v drawn at %v, outside [%v, %v]", v, x, f.left, f.right)
		}
	}
	if y := f.py(1); y < f.top || y > f.bot {
		t.Errorf("y 1 drawn at %v", y)
	}
	if f.xmin != 0.1 || f.xmax != 1000 {
		t.Errorf("log range %v–%v, want decades 0.1–1000", f.xmin, f.xmax)
	}
}

func TestTicks(t *testing.T) {
	got := ticks(0, 15000, false)
	if len(got) != 4 || got[0] != 0 || got[len(got)-1] != 15000 || math.Signbit(got[0]) {
		t.Errorf("linear ticks %v", got)
	}
	got = ticks(1, 100, true)
	want := []float64{1, 2, 5, 10, 20, 50, 100}
	if len(got) != len(want) {
		t.Fatalf("log ticks %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("log ticks %v, want %v", got, want)
		}
	}
	for v, s := range map[float64]string{950: "950", 1500: "1.5k", 12000: "12k", 2e6: "2M", 0.25: "0.25", 0: "0"} {
		if Compact(v) != s {
			t.Errorf("Compact(%v) = %q, want %q", v, Compact(v), s)
		}
	}
}

func TestBars(t *testing.T) {
	doc := Bars("Throughput", []string{"appends", "creates"}, Axis{Label: "per second"}, Size{Width: 500},
		Series{Name: "eventdesk", Y: []float64{10000, 1400}},
		Series{Name: "baseline", Y: []float64{500, math.NaN()}})
	save(t, "bars.svg", doc)
	n := elements(t, doc)
	// background + frame + 3 bars + 2 legend boxes
	if n["rect"] != 7 {
		t.Errorf("elements %v", n)
	}
}

func TestHistogram(t *testing.T) {
	doc := Histogram("Latency", Axis{Label: "ms", Log: true}, Size{}, []string{"create", "list"},
		[]Bin{{0.5, 1, 10}, {1, 2, 40}, {2, 5, 30}, {5, 20, 5}},
		[]Bin{{0, 3, 1}, {3, 30, 3}})
	save(t, "hist.svg", doc)
	n := elements(t, doc)
	if n["polyline"] != 2 {
		t.Errorf("elements %v", n)
	}
}

func TestEmpty(t *testing.T) {
	elements(t, Line("nothing", Axis{Log: true}, Axis{Log: true}, Size{}))
	elements(t, Bars("nothing", nil, Axis{}, Size{}))
	elements(t, Histogram("nothing", Axis{}, Size{}, nil))
}
