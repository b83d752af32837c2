package latency

import (
	"math"
	"testing"
)

func TestIndexValueRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 127, 128, 129, 1000, 1234, 99_999, 1_000_000, 123_456_789, 1 << 40} {
		got := value(index(v))
		if math.Abs(got-float64(v)) > float64(v)/sub+1 {
			t.Errorf("value(index(%d)) = %v, off by more than 1/%d", v, got, sub)
		}
	}
	prev := -1
	for v := int64(0); v < 1<<20; v += 7 {
		i := index(v)
		if i < prev {
			t.Fatalf("index not monotonic at %d", v)
		}
		prev = i
	}
	if i := index(math.MaxInt64); i != numBucket-1 {
		t.Errorf("index(max) = %d, want %d", i, numBucket-1)
	}
}

func TestQuantilesAndMerge(t *testing.T) {
	var a, b Histogram
	for v := int64(1); v <= 1000; v++ {
		a.Record(v * 10) // 10 µs .. 10 ms
	}
	b.Record(1_000_000)
	s := Merge(a.Snapshot(false), b.Snapshot(true))
	if s.N != 1001 {
		t.Fatalf("N = %d", s.N)
	}
	if p := s.Quantile(0.5); math.Abs(p-5000) > 100 {
		t.Errorf("p50 = %v, want ~5000", p)
	}
	if p := s.Quantile(0.99); math.Abs(p-9900) > 200 {
		t.Errorf("p99 = %v, want ~9900", p)
	}
	if m := s.Max(); math.Abs(m-1_000_000) > 20_000 {
		t.Errorf("max = %v", m)
	}
	if b.Snapshot(false).N != 0 {
		t.Error("reset snapshot left counts")
	}
	if got := (Snapshot{}).Summarize(); got != (Summary{}) {
		t.Errorf("empty summary = %+v", got)
	}
}
