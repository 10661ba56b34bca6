package latency

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverEveryDuration(t *testing.T) {
	prev := -1
	for _, d := range []time.Duration{0, time.Microsecond, 31 * time.Microsecond, 32 * time.Microsecond, 33 * time.Microsecond,
		63 * time.Microsecond, 64 * time.Microsecond, time.Millisecond, 17 * time.Millisecond, time.Second, time.Minute, time.Hour, 100 * time.Hour} {
		i := index(d)
		if i < prev {
			t.Fatalf("index(%v) = %d goes back from %d", d, i, prev)
		}
		prev = i
		if d < time.Hour && upper(i) < d/unit*unit {
			t.Errorf("upper(index(%v)) = %v is below the duration", d, upper(i))
		}
		if d >= time.Millisecond && d < time.Hour {
			if rel := float64(upper(i)-d) / float64(d); rel > 0.035 {
				t.Errorf("bucket of %v ends at %v: %.1f %% wide", d, upper(i), rel*100)
			}
		}
	}
	for i := 1; i < nBucket; i++ {
		if upper(i) <= upper(i-1) {
			t.Fatalf("upper(%d) = %v ≤ upper(%d) = %v", i, upper(i), i-1, upper(i-1))
		}
		if got := index(upper(i)); got != i {
			t.Fatalf("index(upper(%d)) = %d", i, got)
		}
	}
}

func TestQuantilesMatchSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	samples := make([]time.Duration, 20000)
	for i := range samples {
		// Log-normal-ish: 100 µs to about a second.
		samples[i] = time.Duration(float64(100*time.Microsecond) * (1 + rng.ExpFloat64()*rng.ExpFloat64()*50))
		h.Record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := samples[int(q*float64(len(samples)))-1]
		got := h.Quantile(q)
		if rel := (float64(got) - float64(want)) / float64(want); rel < -0.001 || rel > 0.035 {
			t.Errorf("q%.3f = %v, exact %v (%.2f %%)", q, got, want, rel*100)
		}
	}
	if h.Quantile(1) != samples[len(samples)-1] || h.Max() != samples[len(samples)-1] {
		t.Errorf("max = %v / %v, want %v", h.Quantile(1), h.Max(), samples[len(samples)-1])
	}
	if h.Count() != int64(len(samples)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestConcurrentRecordAndMerge(t *testing.T) {
	var a, b Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				a.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	b.Record(time.Hour)
	b.Merge(&a)
	if b.Count() != 8001 || b.Max() != time.Hour {
		t.Fatalf("count %d max %v", b.Count(), b.Max())
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	var h Histogram
	for i := range 5000 {
		h.Record(time.Duration(i*i) * time.Microsecond / 7)
	}
	raw, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	back, err := FromSummary(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0.5, 0.99} {
		if back.Quantile(q) != h.Quantile(q) {
			t.Errorf("q%v: %v after the round trip, %v before", q, back.Quantile(q), h.Quantile(q))
		}
	}
	x, y := s.CDF()
	if len(x) != len(s.Buckets) || y[len(y)-1] != 1 {
		t.Errorf("CDF ends at %v over %d points", y[len(y)-1], len(x))
	}
	s.Count++
	if _, err := FromSummary(s); err == nil {
		t.Error("a summary whose buckets disagree with its count was accepted")
	}
}
