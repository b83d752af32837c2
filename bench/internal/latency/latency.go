// Package latency is the benchmark's latency histogram: fixed logarithmic
// buckets of microseconds (64 sub-buckets per power of two, about 1.6%
// resolution), recorded with atomics so that every client of a load process
// shares one histogram without allocating per message. Snapshots are sparse,
// travel as JSON between processes, and merge.
package latency

import (
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	subBits   = 6
	sub       = 1 << subBits // sub-buckets per power of two
	linear    = 2 * sub      // values below are their own bucket
	maxShift  = 34           // values up to ~2^41 µs (25 days) have a bucket
	numBucket = linear + maxShift*sub
)

// Histogram counts microsecond values. The zero value is ready; it is safe
// for concurrent use.
type Histogram struct {
	b [numBucket]atomic.Uint64
}

func index(v int64) int {
	if v < 0 {
		v = 0
	}
	if v < linear {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1) // v>>shift in [sub, 2*sub)
	if shift > maxShift {
		return numBucket - 1
	}
	return linear + (shift-1)*sub + int(v>>shift) - sub
}

// value is the midpoint of bucket i.
func value(i int) float64 {
	if i < linear {
		return float64(i)
	}
	shift := (i-linear)/sub + 1
	lo := int64((i-linear)%sub+sub) << shift
	return float64(lo) + float64(int64(1)<<shift)/2
}

// Record adds one value in microseconds; negative values count as 0.
func (h *Histogram) Record(us int64) { h.b[index(us)].Add(1) }

// Snapshot returns the counts so far and, if reset, zeroes them (values
// recorded meanwhile land in either the snapshot or the next one).
func (h *Histogram) Snapshot(reset bool) Snapshot {
	var s Snapshot
	for i := range h.b {
		var c uint64
		if reset {
			c = h.b[i].Swap(0)
		} else {
			c = h.b[i].Load()
		}
		if c != 0 {
			s.Buckets = append(s.Buckets, [2]uint64{uint64(i), c})
			s.N += c
		}
	}
	return s
}

// Snapshot is a sparse copy of a histogram: (bucket index, count) pairs in
// increasing index order.
type Snapshot struct {
	N       uint64      `json:"n"`
	Buckets [][2]uint64 `json:"b,omitempty"`
}

// Merge returns the sum of a and b.
func Merge(a, b Snapshot) Snapshot {
	out := Snapshot{N: a.N + b.N}
	i, j := 0, 0
	for i < len(a.Buckets) || j < len(b.Buckets) {
		switch {
		case j == len(b.Buckets) || (i < len(a.Buckets) && a.Buckets[i][0] < b.Buckets[j][0]):
			out.Buckets = append(out.Buckets, a.Buckets[i])
			i++
		case i == len(a.Buckets) || b.Buckets[j][0] < a.Buckets[i][0]:
			out.Buckets = append(out.Buckets, b.Buckets[j])
			j++
		default:
			out.Buckets = append(out.Buckets, [2]uint64{a.Buckets[i][0], a.Buckets[i][1] + b.Buckets[j][1]})
			i++
			j++
		}
	}
	return out
}

// Quantile returns the value (µs) below which the fraction q of the values
// lie, or NaN when the snapshot is empty.
func (s Snapshot) Quantile(q float64) float64 {
	if s.N == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(s.N)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for _, b := range s.Buckets {
		cum += b[1]
		if cum >= rank {
			return value(int(b[0]))
		}
	}
	return value(int(s.Buckets[len(s.Buckets)-1][0]))
}

// Max returns the largest bucket's value (µs), NaN when empty.
func (s Snapshot) Max() float64 {
	if s.N == 0 {
		return math.NaN()
	}
	return value(int(s.Buckets[len(s.Buckets)-1][0]))
}

// Mean returns the mean (µs), NaN when empty.
func (s Snapshot) Mean() float64 {
	if s.N == 0 {
		return math.NaN()
	}
	var sum float64
	for _, b := range s.Buckets {
		sum += value(int(b[0])) * float64(b[1])
	}
	return sum / float64(s.N)
}

// Summary is the figures a report shows, in milliseconds.
type Summary struct {
	N    uint64  `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// Summarize returns the snapshot's percentiles in milliseconds (zero when
// empty, so that it encodes as JSON).
func (s Snapshot) Summarize() Summary {
	if s.N == 0 {
		return Summary{}
	}
	ms := func(us float64) float64 { return math.Round(us) / 1000 }
	return Summary{
		N:    s.N,
		Mean: ms(s.Mean()),
		P50:  ms(s.Quantile(0.50)),
		P90:  ms(s.Quantile(0.90)),
		P99:  ms(s.Quantile(0.99)),
		P999: ms(s.Quantile(0.999)),
		Max:  ms(s.Max()),
	}
}
