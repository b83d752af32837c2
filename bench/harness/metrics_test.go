package harness

import (
	"strings"
	"testing"
)

// The metrics-on targets compare switchboard-metrics with Switchboard of
// the same run at the same size, and fail past the noise allowed.
func TestEvaluateMetrics(t *testing.T) {
	res := Results{
		Fanout: []FanoutResult{
			{System: Switchboard, N: 1000, MaxFramesPerSec: 1_000_000},
			{System: SwitchboardMetrics, N: 1000, MaxFramesPerSec: 850_000},
			{System: Switchboard, N: 5000, MaxFramesPerSec: 1_000_000},
			{System: SwitchboardMetrics, N: 5000, MaxFramesPerSec: 700_000},
			{System: SwitchboardMetrics, N: 10000}, // failed
		},
		Memory: []MemoryResult{
			{System: Switchboard, Case: "websocket, one process", Processes: 1, Conns: 2000, PerConnKB: 7.0},
			{System: SwitchboardMetrics, Case: "websocket, one process", Processes: 1, Conns: 2000, PerConnKB: 7.4},
			{System: Switchboard, Case: "websocket, one process", Processes: 1, Conns: 10000, PerConnKB: 7.0},
			{System: SwitchboardMetrics, Case: "websocket, one process", Processes: 1, Conns: 10000, PerConnKB: 7.6},
			{System: SwitchboardMetrics, Case: "polling, one process", Processes: 1, Conns: 5000, PerConnKB: 50},
		},
	}
	res.evaluate()
	want := map[string]bool{
		"fan-out N=1000 with metrics on":                         true,
		"fan-out N=5000 with metrics on":                         false,
		"fan-out N=10000 with metrics on":                        false,
		"RSS per idle WebSocket, 2,000 on one edge, metrics on":  true,
		"RSS per idle WebSocket, 10,000 on one edge, metrics on": false,
	}
	got := map[string]bool{}
	for _, tg := range res.Targets {
		if !strings.Contains(tg.Name, "metrics on") {
			continue
		}
		if tg.Met == nil {
			t.Errorf("%s: not evaluated (%s)", tg.Name, tg.Figure)
			continue
		}
		got[tg.Name] = *tg.Met
	}
	if len(got) != len(want) {
		t.Errorf("metrics targets %v, want %v", got, want)
	}
	for name, met := range want {
		if g, ok := got[name]; !ok || g != met {
			t.Errorf("%s: met %v (present %v), want %v", name, g, ok, met)
		}
	}
}
