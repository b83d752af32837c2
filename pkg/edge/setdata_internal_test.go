package edge

import (
	"encoding/json"
	"math"
	"testing"
)

// TestCounter: what a data member counts as before an increment adds to
// it, and the saturating sum.
func TestCounter(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want int64
	}{
		{nil, 0},
		{"7", 0},
		{true, 0},
		{map[string]any{}, 0},
		{[]any{1.0}, 0},
		{json.Number("12"), 12},
		{json.Number("-12"), -12},
		{json.Number("2.0"), 2},
		{json.Number("1e3"), 1000},
		{json.Number("1.5"), 0},
		{json.Number("1e400"), maxSafeInteger},
		{json.Number("-1e400"), -maxSafeInteger},
		{json.Number("99999999999999999999"), maxSafeInteger},
		{json.Number("9007199254740992"), maxSafeInteger},
		{2.0, 2},
		{2.5, 0},
		{math.NaN(), 0},
		{math.Inf(-1), -maxSafeInteger},
		{int64(math.MaxInt64), maxSafeInteger},
		{-3, -3},
	} {
		if got := counter(tc.v); got != tc.want {
			t.Errorf("counter(%#v) = %d, want %d", tc.v, got, tc.want)
		}
	}
	for _, tc := range []struct{ cur, n, want int64 }{
		{0, 1, 1},
		{maxSafeInteger, 1, maxSafeInteger},
		{maxSafeInteger, math.MaxInt64, maxSafeInteger},
		{-maxSafeInteger, math.MinInt64, -maxSafeInteger},
		{maxSafeInteger, math.MinInt64, -maxSafeInteger},
		{-maxSafeInteger, math.MaxInt64, maxSafeInteger},
		{5, -10, -5},
	} {
		if got := addSaturated(tc.cur, tc.n); got != tc.want {
			t.Errorf("addSaturated(%d, %d) = %d, want %d", tc.cur, tc.n, got, tc.want)
		}
	}
}
