package harness

import "testing"

// The index's headline gives Switchboard's figures per size, fan-out
// before burst, with Node's in brackets where it was measured; a scenario
// Switchboard did not run is left out.
func TestHeadline(t *testing.T) {
	for _, c := range []struct {
		name string
		res  Results
		want string
	}{
		{"none", Results{}, "–"},
		{"fan-out and burst", Results{
			Fanout: []FanoutResult{
				{System: Switchboard, N: 1000, MaxFramesPerSec: 1200000},
				{System: Node, N: 1000, MaxFramesPerSec: 300000},
				{System: Switchboard, N: 5000, MaxFramesPerSec: 900000},
			},
			Burst: []BurstResult{
				{System: Switchboard, N: 1000, MedianFramesPerSec: 800000},
				{System: Ceiling, N: 1000, MedianFramesPerSec: 2000000},
			},
		}, "fan-out max frames/s at 1,000 / 5,000: 1,200,000 / 900,000 (300,000 / 0); burst frames/s at 1,000: 800,000"},
		{"burst only", Results{
			Burst: []BurstResult{{System: Switchboard, N: 5000, MedianFramesPerSec: 700000}, {System: Node, N: 5000, MedianFramesPerSec: 100000}},
		}, "burst frames/s at 5,000: 700,000 (100,000)"},
		{"Node only", Results{Fanout: []FanoutResult{{System: Node, N: 1000, MaxFramesPerSec: 1}}}, "–"},
	} {
		if got := c.res.headline(); got != c.want {
			t.Errorf("%s: headline %q, want %q", c.name, got, c.want)
		}
	}
}
