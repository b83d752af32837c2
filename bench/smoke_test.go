// Package bench_test runs the benchmark harness's smoke mode: every
// scenario against every system with a few dozen sockets, all on
// 127.0.0.1, as part of `make test`. It checks that the harness works, not
// the figures (the targets are read from a full `make bench` run).
package bench_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/bench/harness"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// SmokeEnv switches TestSmoke on. It starts a dozen processes and takes
// about a minute, so it is not part of every `go test ./...`: `make test`
// runs it as a step of its own, after the package tests.
const SmokeEnv = "SWITCHBOARD_BENCH_SMOKE"

// The binaries are built before any test's clock starts (repotest.Main):
// on a machine with empty caches the build alone can take minutes.
func TestMain(m *testing.M) {
	if os.Getenv(SmokeEnv) != "1" {
		os.Exit(m.Run())
	}
	repotest.Main(m, "control", "edge", "loadgen", "ceiling")
}

func TestSmoke(t *testing.T) {
	if os.Getenv(SmokeEnv) != "1" {
		t.Skipf("starts a dozen processes: set %s=1 (make test does)", SmokeEnv)
	}
	if runtime.GOOS != "linux" {
		t.Skip("the harness reads /proc")
	}
	out := t.TempDir()
	// The smoke run takes 30-40 s on a warm 2-core machine; the budget
	// leaves room for a loaded one. The harness bounds every phase within it.
	const budget = 3 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget+30*time.Second)
	defer cancel()
	_, paths, err := harness.Run(ctx, harness.Options{
		RepoDir:     "..",
		OutDir:      out,
		BinDir:      filepath.Dir(repotest.Bin(t, "edge")),
		Smoke:       true,
		MaxDuration: budget,
		Command:     SmokeEnv + "=1 go test ./bench -run TestSmoke",
		Log:         testLog{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("wrote %v, want a .json and a .md", paths)
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", p, err)
		}
	}

	// The JSON file holds every scenario for every system that ran.
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var got harness.Results
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", paths[0], err)
	}
	systems := []string{harness.Switchboard, harness.SwitchboardMetrics, harness.Ceiling, harness.CeilingNaive}
	if _, err := exec.LookPath("node"); err == nil {
		if _, err := os.Stat(filepath.Join("..", "node_modules", "socket.io")); err == nil {
			systems = append(systems, harness.Node)
		}
	}
	if len(systems) < 5 {
		t.Log("node or node_modules/socket.io missing (npm ci): Node not benchmarked")
	}
	for _, sys := range systems {
		checkSystem(t, &got, sys)
	}
	if len(got.Targets) == 0 {
		t.Error("no targets evaluated")
	}
	for _, e := range got.Errors {
		if !strings.HasPrefix(e, "node: not run") {
			t.Errorf("run error: %s", e)
		}
	}
	md, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	// A smoke run adds no row to the results index.
	if _, err := os.Stat(filepath.Join(out, harness.IndexFile)); err == nil {
		t.Errorf("smoke run wrote %s", harness.IndexFile)
	}
	for _, h := range []string{"## Targets", "## 1. Fan-out", "## 2. Burst", "## 3. Memory", "## 4. Connect storm", "## 5. Unicast", "One `Pipeline` stream", "Pipeline emits/s on one stream vs unary Emit",
		"burst N=40 vs ceiling", "burst N=40 p99", "| ceiling-naive |", "fan-out N=40 with metrics on", "on one edge, metrics on", "| switchboard-metrics |", got.Command} {
		if !strings.Contains(string(md), h) {
			t.Errorf("markdown lacks %q", h)
		}
	}
}

func checkSystem(t *testing.T, res *harness.Results, sys string) {
	t.Helper()
	n := 0
	for _, f := range res.Fanout {
		if f.System != sys {
			continue
		}
		n++
		if f.Error != "" || f.MaxFramesPerSec <= 0 || f.Half == nil || f.Half.Latency.N == 0 || f.Ref == nil || f.Ref.Latency.N == 0 {
			t.Errorf("fanout %s N=%d: %+v", sys, f.N, f)
			continue
		}
		// Every message of the reference phase is tracked, and reaching the
		// first socket cannot take longer than reaching the last.
		if m := f.Ref.PerMessage; m == nil || m.Messages == 0 || m.Complete == 0 || int64(m.First.N) != int64(m.Messages) ||
			m.First.P50 > m.Last.P50 || m.First.Max > m.Last.Max || m.Last.Max > f.Ref.Latency.Max*1.02+0.01 {
			t.Errorf("fanout %s N=%d: per-message spread %+v (every frame %+v)", sys, f.N, m, f.Ref.Latency)
		}
	}
	if n == 0 {
		t.Errorf("fanout: no result for %s", sys)
	}
	if sys == harness.SwitchboardMetrics {
		checkMetricsSystem(t, res)
		return
	}
	checkBurst(t, res, sys)
	if sys == harness.Ceiling {
		checkBurst(t, res, harness.CeilingInHand) // measured on the batched ceiling's process
	}
	// The one-write-per-frame baseline runs fan-out and burst only.
	if sys == harness.CeilingNaive {
		for _, m := range res.Memory {
			if m.System == sys {
				t.Errorf("memory ran for %s", sys)
			}
		}
		for _, c := range res.Connect {
			if c.System == sys {
				t.Errorf("connect ran for %s", sys)
			}
		}
		for _, u := range res.Unicast {
			if u.System == sys {
				t.Errorf("unicast ran for %s", sys)
			}
		}
		return
	}
	n = 0
	for _, m := range res.Memory {
		if m.System != sys {
			continue
		}
		n++
		if m.Error != "" || len(m.RSSAfterKB) == 0 || m.RSSAfterKB[0] <= 0 {
			t.Errorf("memory %s %s N=%d: %+v", sys, m.Case, m.Conns, m)
		}
	}
	if n == 0 {
		t.Errorf("memory: no result for %s", sys)
	}
	n = 0
	for _, c := range res.Connect {
		if c.System != sys {
			continue
		}
		n++
		if c.Error != "" || c.WS.Ready != int64(c.Clients) || c.WS.PerSec <= 0 || c.Reconnect.Ready != int64(c.Clients) || c.DuringStorm.N == 0 {
			t.Errorf("connect %s: %+v", sys, c)
		}
	}
	if n == 0 {
		t.Errorf("connect: no result for %s", sys)
	}
	n = 0
	for _, u := range res.Unicast {
		if u.System != sys {
			continue
		}
		n++
		if u.Error != "" || u.Low.Delivered == 0 || u.Low.E2E.N == 0 || u.Max.DeliveredPerSec <= 0 {
			t.Errorf("unicast %s: %+v", sys, u)
		}
		if sys == harness.Switchboard && (u.Low.RPC.N == 0 || u.Max.Errors > 0) {
			t.Errorf("unicast %s: RPCs %+v", sys, u.Max)
		}
		if sys == harness.Switchboard && (u.Noop == nil || u.Noop.RPC.N == 0 || u.NoopLow == nil || u.NoopLow.RPC.N == 0 || u.NoopLow.Errors > 0) {
			t.Errorf("unicast %s: the gRPC floor was not measured: %+v %+v", sys, u.Noop, u.NoopLow)
		}
		if sys == harness.Switchboard && (u.LowAtBus == nil || u.LowAtBus.N == 0 || int64(u.LowAtBus.N) > u.Low.Sent) {
			t.Errorf("unicast %s: the bus tap saw %+v for %d emits", sys, u.LowAtBus, u.Low.Sent)
		}
		// One Pipeline stream: every emit answered without error, and the
		// clients got them (all but the few a loaded machine may lose), some
		// in the measured window.
		if sys == harness.Switchboard && (u.Pipeline == nil || u.Pipeline.Sent == 0 || u.Pipeline.Errors > 0 || u.Pipeline.RPC.N == 0 ||
			float64(u.Pipeline.Delivered) < 0.95*float64(u.Pipeline.Sent) || u.Pipeline.DeliveredPerSec <= 0 || u.Pipeline.E2E.N == 0) {
			t.Errorf("unicast %s: Pipeline phase %+v", sys, u.Pipeline)
		}
	}
	if n == 0 {
		t.Errorf("unicast: no result for %s", sys)
	}
}

// checkBurst checks sys's bursts: every repetition delivered every frame of
// its messages to every socket, timed from the first send to the last
// arrival, with a latency for each frame.
func checkBurst(t *testing.T, res *harness.Results, sys string) {
	t.Helper()
	n := 0
	for _, b := range res.Burst {
		if b.System != sys {
			continue
		}
		n++
		if b.Error != "" || len(b.Reps) != 2 || b.Messages != 40 || b.MedianFramesPerSec <= 0 || b.MedianP99 < b.MedianP50 || b.MedianP50 <= 0 {
			t.Errorf("burst %s N=%d: %+v", sys, b.N, b)
			continue
		}
		for i, r := range b.Reps {
			want := int64(b.Messages * b.N)
			if !r.Complete || r.Sent != int64(b.Messages) || r.Expected != want || r.Delivered != want || int64(r.Latency.N) != want ||
				r.DurationMs <= 0 || r.FramesPerSec <= 0 || r.Latency.Max > r.DurationMs*1.02+1 {
				t.Errorf("burst %s N=%d repetition %d: %+v", sys, b.N, i+1, r)
			}
		}
	}
	if n == 0 {
		t.Errorf("burst: no result for %s", sys)
	}
}

// checkMetricsSystem: switchboard-metrics ran fan-out and memory, nothing
// else, and its scrapes of every admin listener succeeded.
func checkMetricsSystem(t *testing.T, res *harness.Results) {
	t.Helper()
	sys := harness.SwitchboardMetrics
	n := 0
	for _, m := range res.Memory {
		if m.System != sys {
			continue
		}
		n++
		if m.Error != "" || len(m.RSSAfterKB) == 0 || m.RSSAfterKB[0] <= 0 {
			t.Errorf("memory %s %s N=%d: %+v", sys, m.Case, m.Conns, m)
		}
	}
	if n == 0 {
		t.Errorf("memory: no result for %s", sys)
	}
	for _, b := range res.Burst {
		if b.System == sys {
			t.Errorf("burst ran for %s", sys)
		}
	}
	for _, c := range res.Connect {
		if c.System == sys {
			t.Errorf("connect ran for %s", sys)
		}
	}
	for _, u := range res.Unicast {
		if u.System == sys {
			t.Errorf("unicast ran for %s", sys)
		}
	}
	scraped := false
	for _, note := range res.Notes {
		if strings.HasPrefix(note, sys+": ") && strings.Contains(note, " scrapes of /metrics") && strings.Contains(note, ", 0 failed") {
			scraped = true
		}
	}
	if !scraped {
		t.Errorf("no note of %s's scrapes, or some failed: %q", sys, res.Notes)
	}
}
