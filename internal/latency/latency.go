// Package latency records latency distributions in fixed, log-spaced
// buckets: cheap enough to record every request of a load test from many
// goroutines, mergeable, and serializable to JSON so that a report (and its
// plots) can be built from a run's summary file later.
//
// Buckets follow an HDR-style layout: 32 linear sub-buckets per power of
// two, from 1 µs to about 1.2 hours, so any quantile is exact to within
// about 3 %. The package imports only the standard library.
package latency

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

const (
	subBits    = 5 // 32 sub-buckets per power of two
	subBuckets = 1 << subBits
	// unit is the smallest distinguished duration.
	unit = time.Microsecond
	// maxExp bounds the range: 2^(maxExp+subBits) µs ≈ 1.2 h.
	maxExp  = 27
	nBucket = (maxExp + 1) * subBuckets
)

// Histogram counts durations. The zero value is ready; it is safe for
// concurrent use (Record is lock-free).
type Histogram struct {
	counts [nBucket]atomic.Int64
	total  atomic.Int64
	sum    atomic.Int64 // nanoseconds
	max    atomic.Int64 // nanoseconds
}

// index returns the bucket of d.
func index(d time.Duration) int {
	v := uint64(max(d/unit, 0))
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - subBits // ≥ 1
	if exp > maxExp {
		return nBucket - 1
	}
	sub := int(v>>(exp-1)) - subBuckets // in [0, subBuckets)
	return exp*subBuckets + sub
}

// upper returns the largest duration that falls into bucket i (its
// representative value when a quantile lands in it).
func upper(i int) time.Duration {
	exp, sub := i/subBuckets, i%subBuckets
	if exp == 0 {
		return time.Duration(sub) * unit
	}
	lo := uint64(subBuckets+sub) << (exp - 1)
	return time.Duration(lo+(uint64(1)<<(exp-1))-1) * unit
}

// Record counts one duration.
func (h *Histogram) Record(d time.Duration) {
	h.counts[index(d)].Add(1)
	h.total.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			break
		}
	}
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() int64 { return h.total.Load() }

// Max returns the largest duration recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the average duration (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the duration below which a fraction q (0…1) of the
// recorded durations lie, to within the bucket width (about 3 %); the
// largest quantile is the exact maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(upper(i), h.Max())
		}
	}
	return h.Max()
}

// Merge adds every duration of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			break
		}
	}
}

// Bucket is one non-empty bucket: Count durations of at most UpperMicros
// (and more than the previous bucket's bound).
type Bucket struct {
	UpperMicros int64 `json:"le_us"`
	Count       int64 `json:"n"`
}

// Buckets returns the non-empty buckets in increasing order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			out = append(out, Bucket{UpperMicros: int64(upper(i) / unit), Count: c})
		}
	}
	return out
}

// Summary is the JSON form of a histogram: headline figures in
// milliseconds (for people and reports) and the buckets (to redraw the
// distribution).
type Summary struct {
	Count   int64    `json:"count"`
	MeanMs  float64  `json:"mean_ms"`
	P50Ms   float64  `json:"p50_ms"`
	P90Ms   float64  `json:"p90_ms"`
	P99Ms   float64  `json:"p99_ms"`
	P999Ms  float64  `json:"p999_ms"`
	MaxMs   float64  `json:"max_ms"`
	SumMs   float64  `json:"sum_ms"`
	Buckets []Bucket `json:"buckets"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary returns h's JSON form.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.Count(), MeanMs: ms(h.Mean()),
		P50Ms: ms(h.Quantile(0.50)), P90Ms: ms(h.Quantile(0.90)), P99Ms: ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)), MaxMs: ms(h.Max()), SumMs: ms(time.Duration(h.sum.Load())),
		Buckets: h.Buckets(),
	}
}

// MarshalJSON implements json.Marshaler with Summary's form.
func (h *Histogram) MarshalJSON() ([]byte, error) { return json.Marshal(h.Summary()) }

// FromSummary rebuilds a histogram from its JSON form (the buckets, the
// maximum and the sum), e.g. to redraw or merge recorded distributions.
func FromSummary(s Summary) (*Histogram, error) {
	h := &Histogram{}
	var total int64
	for _, b := range s.Buckets {
		if b.Count < 0 || b.UpperMicros < 0 {
			return nil, fmt.Errorf("latency: negative bucket %+v", b)
		}
		h.counts[index(time.Duration(b.UpperMicros)*unit)].Add(b.Count)
		total += b.Count
	}
	if total != s.Count {
		return nil, fmt.Errorf("latency: buckets hold %d durations, summary says %d", total, s.Count)
	}
	h.total.Store(total)
	h.sum.Store(int64(s.SumMs * float64(time.Millisecond)))
	h.max.Store(int64(s.MaxMs * float64(time.Millisecond)))
	return h, nil
}

// CDF returns the cumulative distribution as (duration, fraction ≤ it)
// points, one per non-empty bucket, for plotting.
func (s Summary) CDF() (x []time.Duration, y []float64) {
	if s.Count == 0 {
		return nil, nil
	}
	bs := slices.Clone(s.Buckets)
	slices.SortFunc(bs, func(a, b Bucket) int { return int(a.UpperMicros - b.UpperMicros) })
	var seen int64
	for _, b := range bs {
		seen += b.Count
		x = append(x, time.Duration(b.UpperMicros)*unit)
		y = append(y, float64(seen)/float64(s.Count))
	}
	return x, y
}
