package harness

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/bench/internal/latency"
)

// Results is everything a run measured; it is written as JSON as is.
type Results struct {
	Started           time.Time      `json:"started"`
	Finished          time.Time      `json:"finished"`
	DurationSec       float64        `json:"duration_sec"`
	Command           string         `json:"command"`
	Smoke             bool           `json:"smoke"`
	Machine           Machine        `json:"machine"`
	Scenarios         []string       `json:"scenarios"`
	Systems           []string       `json:"systems"`
	Sizes             map[string]any `json:"sizes"`
	NodeClockOffsetMs float64        `json:"node_clock_offset_ms"`
	ProcessesStarted  int            `json:"processes_started"`

	Fanout  []FanoutResult  `json:"fanout,omitempty"`
	Burst   []BurstResult   `json:"burst,omitempty"`
	Memory  []MemoryResult  `json:"memory,omitempty"`
	Connect []ConnectResult `json:"connect,omitempty"`
	Unicast []UnicastResult `json:"unicast,omitempty"`

	Targets []Target `json:"targets"`
	Notes   []string `json:"notes,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// Phase is one measured period of a broadcast.
type Phase struct {
	OfferedMsgsPerSec     float64         `json:"offered_msgs_per_sec"`
	OfferedFramesPerSec   float64         `json:"offered_frames_per_sec"`
	DurationSec           float64         `json:"duration_sec"`
	Sent                  int64           `json:"sent"`
	Expected              int64           `json:"expected_frames"`
	Delivered             int64           `json:"delivered_frames"`
	DeliveredFramesPerSec float64         `json:"delivered_frames_per_sec"`
	Latency               latency.Summary `json:"latency"`
	Open                  int64           `json:"open_clients"`
	Dropped               int64           `json:"dropped_clients"`
	CPUPercent            float64         `json:"server_cpu_percent"`
	LoadCPUPercent        float64         `json:"loadgen_cpu_percent"`
	DriverCPUPercent      float64         `json:"driver_cpu_percent"`
	PerMessage            *MessageSpread  `json:"per_message,omitempty"`
	P50FirstHalf          float64         `json:"p50_first_half_ms,omitempty"`
	P50SecondHalf         float64         `json:"p50_second_half_ms,omitempty"`
	Pass                  *bool           `json:"sustainable,omitempty"`
	Why                   string          `json:"why_not,omitempty"`
	Error                 string          `json:"error,omitempty"`
}

// MessageSpread splits a phase's latency per message: how long each message
// took to reach the first of its sockets (the path from the sender to the
// server's first write) and the last (the whole fan-out), over the messages
// sent in the phase.
type MessageSpread struct {
	Messages int             `json:"messages"`
	Complete int             `json:"complete"` // messages that reached every socket
	First    latency.Summary `json:"first_socket"`
	Last     latency.Summary `json:"last_socket"` // complete messages only
}

// FanoutResult is scenario 1 for one system and room size.
type FanoutResult struct {
	System          string         `json:"system"`
	N               int            `json:"n"`
	Edges           int            `json:"processes"`
	Connect         ConnectSummary `json:"connect"`
	Method          string         `json:"method"`
	MaxFramesPerSec float64        `json:"max_frames_per_sec"`
	MaxMsgsPerSec   float64        `json:"max_msgs_per_sec"`
	Max             *Phase         `json:"max,omitempty"`
	Steps           []Phase        `json:"steps,omitempty"`
	Half            *Phase         `json:"at_half_max,omitempty"`
	Ref             *Phase         `json:"at_reference_rate,omitempty"`
	Error           string         `json:"error,omitempty"`
}

// BurstResult is scenario 2 for one system and room size: Reps bursts of
// Messages messages each to the N sockets, and the median of each figure
// over the repetitions.
type BurstResult struct {
	System   string         `json:"system"`
	N        int            `json:"n"`
	Edges    int            `json:"processes"`
	Messages int            `json:"messages"`
	Connect  ConnectSummary `json:"connect"`
	Reps     []BurstRep     `json:"reps,omitempty"`
	// Medians over the complete repetitions (0 when none was).
	MedianFramesPerSec float64 `json:"median_frames_per_sec"`
	MedianP50          float64 `json:"median_p50_ms"`
	MedianP99          float64 `json:"median_p99_ms"`
	MedianDurationMs   float64 `json:"median_duration_ms"`
	Error              string  `json:"error,omitempty"`
}

// BurstRep is one burst: delivered frames/s is the frames over the time
// from the first send (the earliest stamp) to the last arrival.
type BurstRep struct {
	Sent             int64           `json:"sent"`
	Expected         int64           `json:"expected_frames"`
	Delivered        int64           `json:"delivered_frames"`
	Complete         bool            `json:"complete"`
	DurationMs       float64         `json:"duration_ms"`
	FramesPerSec     float64         `json:"delivered_frames_per_sec"`
	Latency          latency.Summary `json:"latency"`
	Dropped          int64           `json:"dropped_clients"`
	CPUPercent       float64         `json:"server_cpu_percent"`
	LoadCPUPercent   float64         `json:"loadgen_cpu_percent"`
	DriverCPUPercent float64         `json:"driver_cpu_percent"`
	Error            string          `json:"error,omitempty"`
}

// summarize sets the medians over the complete repetitions.
func (b *BurstResult) summarize() {
	var fps, p50, p99, dur []float64
	for _, r := range b.Reps {
		if !r.Complete || r.Error != "" {
			continue
		}
		fps, p50, p99, dur = append(fps, r.FramesPerSec), append(p50, r.Latency.P50), append(p99, r.Latency.P99), append(dur, r.DurationMs)
	}
	b.MedianFramesPerSec, b.MedianP50, b.MedianP99, b.MedianDurationMs = median(fps), median(p50), median(p99), median(dur)
}

// median of v (the mean of the middle two for an even count), 0 if empty.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// MemoryResult is scenario 3 for one system, case and size.
type MemoryResult struct {
	System      string         `json:"system"`
	Case        string         `json:"case"`
	Processes   int            `json:"processes"`
	Conns       int            `json:"conns"`
	Connect     ConnectSummary `json:"connect"`
	RSSBeforeKB []int64        `json:"rss_before_kb"`
	RSSAfterKB  []int64        `json:"rss_after_kb"`
	PerConnKB   float64        `json:"rss_per_conn_kb"`
	Error       string         `json:"error,omitempty"`
}

// ConnectSummary describes a batch of handshakes (to a connected socket).
type ConnectSummary struct {
	Ready     int64           `json:"ready"`
	Failed    int64           `json:"failed"`
	Ms        float64         `json:"ms"`
	PerSec    float64         `json:"per_sec"`
	Handshake latency.Summary `json:"handshake"`
	// CPU over the batch in percent of one core: the server's processes
	// and the load generators (set by the connect scenario only).
	ServerCPUPercent float64 `json:"server_cpu_percent,omitempty"`
	LoadCPUPercent   float64 `json:"loadgen_cpu_percent,omitempty"`
	Error            string  `json:"error,omitempty"`
}

// ConnectResult is scenario 4 for one system.
type ConnectResult struct {
	System             string          `json:"system"`
	Clients            int             `json:"clients"`
	Concurrency        int             `json:"concurrency"`
	WS                 ConnectSummary  `json:"websocket"`
	Polling            *ConnectSummary `json:"polling,omitempty"`
	Observers          int             `json:"observers"`
	StreamFramesPerSec float64         `json:"stream_frames_per_sec"`
	Baseline           latency.Summary `json:"observer_latency_baseline"`
	DuringStorm        latency.Summary `json:"observer_latency_during_reconnect"`
	ObserverDrops      int64           `json:"observer_drops"`
	ReconnectMs        float64         `json:"reconnect_ms"`
	Reconnect          ConnectSummary  `json:"reconnect"`
	Error              string          `json:"error,omitempty"`
}

// UnicastPhase is one unicast measurement. Flat out, Sent and Delivered
// count the whole phase (warm-up, measured window and what arrived after),
// so that they compare; the rates are Sent over the phase and Delivered
// over the measured window.
type UnicastPhase struct {
	Sent             int64           `json:"sent"`
	Errors           int64           `json:"errors"`
	PerSec           float64         `json:"sent_per_sec"`
	Delivered        int64           `json:"delivered"`
	DeliveredPerSec  float64         `json:"delivered_per_sec,omitempty"`
	RPC              latency.Summary `json:"rpc_latency"`
	E2E              latency.Summary `json:"e2e_latency"`
	CPUPercent       float64         `json:"server_cpu_percent,omitempty"`
	LoadCPUPercent   float64         `json:"loadgen_cpu_percent,omitempty"`
	DriverCPUPercent float64         `json:"driver_cpu_percent,omitempty"`
	Error            string          `json:"error,omitempty"`
}

// UnicastResult is scenario 5 for one system.
type UnicastResult struct {
	System  string       `json:"system"`
	Clients int          `json:"clients"`
	LowRate float64      `json:"low_rate"`
	Callers int          `json:"callers,omitempty"`
	Low     UnicastPhase `json:"low_rate_phase"`
	Max     UnicastPhase `json:"flat_out_phase"`
	// Noop is the same callers flat out on grpc.health.v1.Health/Check
	// against the same control: what gRPC alone costs on this machine, an
	// upper bound for any unary RPC (Switchboard only).
	Noop *UnicastPhase `json:"grpc_noop_phase,omitempty"`
	// NoopLow is the same call at the low rate (4 callers, like the low
	// rate phase): the latency any RPC to control has on this machine.
	NoopLow *UnicastPhase `json:"grpc_noop_low_rate_phase,omitempty"`
	// LowAtBus is, in the low-rate phase, the time from the caller's stamp
	// to each emit's arrival at a subscriber of the edges' NATS subjects
	// beside the edge (Switchboard only): gRPC, control and NATS, before
	// the edge and the WebSocket.
	LowAtBus *latency.Summary `json:"low_rate_at_bus,omitempty"`
	// Pipeline is the same emits through one Pipeline stream, flat out
	// with up to 1,024 unanswered, for as long as the flat-out phase
	// (Switchboard only). Sent counts answers, RPC is the time from a
	// command's send to its answer.
	Pipeline *UnicastPhase `json:"pipeline_phase,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// Target is one of the benchmark's targets, checked against this run's figures.
type Target struct {
	Name   string `json:"name"`
	Want   string `json:"want"`
	Figure string `json:"figure"`
	Met    *bool  `json:"met"` // nil: not measured
}

func (res *Results) fanoutOf(sys string, n int) *FanoutResult {
	for i := range res.Fanout {
		if f := &res.Fanout[i]; f.System == sys && f.N == n {
			return f
		}
	}
	return nil
}

func (res *Results) burstOf(sys string, n int) *BurstResult {
	for i := range res.Burst {
		if b := &res.Burst[i]; b.System == sys && b.N == n {
			return b
		}
	}
	return nil
}

func ok(b bool) *bool { return &b }

// burstTargetSizes are the room sizes issue 16's burst targets are set
// at; a smoke run checks its own tiny sizes instead.
var burstTargetSizes = []int{5000, 10000}

// evaluate checks the benchmark's targets against the figures.
func (res *Results) evaluate() {
	res.Targets = nil
	add := func(name, want, figure string, met *bool) {
		res.Targets = append(res.Targets, Target{Name: name, Want: want, Figure: figure, Met: met})
	}
	var sizes []int
	for _, f := range res.Fanout {
		if f.System == Switchboard {
			sizes = append(sizes, f.N)
		}
	}
	for _, n := range sizes {
		sb, node, ceil := res.fanoutOf(Switchboard, n), res.fanoutOf(Node, n), res.fanoutOf(Ceiling, n)
		if sb == nil || sb.MaxFramesPerSec == 0 {
			add(fmt.Sprintf("fan-out N=%d", n), "measured", "switchboard failed", ok(false))
			continue
		}
		if node != nil && node.MaxFramesPerSec > 0 {
			r := sb.MaxFramesPerSec / node.MaxFramesPerSec
			add(fmt.Sprintf("fan-out N=%d vs Node", n), ">= 3x Node", fmt.Sprintf("%.2fx (%s vs %s frames/s)", r, num(sb.MaxFramesPerSec), num(node.MaxFramesPerSec)), ok(r >= 3))
		} else {
			add(fmt.Sprintf("fan-out N=%d vs Node", n), ">= 3x Node", "Node not measured", nil)
		}
		if ceil != nil && ceil.MaxFramesPerSec > 0 {
			r := sb.MaxFramesPerSec / ceil.MaxFramesPerSec
			add(fmt.Sprintf("fan-out N=%d vs ceiling", n), ">= 70% of the batched ceiling", fmt.Sprintf("%.0f%% (%s vs %s frames/s)", 100*r, num(sb.MaxFramesPerSec), num(ceil.MaxFramesPerSec)), ok(r >= 0.7))
		} else {
			add(fmt.Sprintf("fan-out N=%d vs ceiling", n), ">= 70% of the batched ceiling", "ceiling not measured", nil)
		}
		pacedName := fmt.Sprintf("fan-out N=%d p99 at %s frames/s (paced)", n, num(toF(res.Sizes["ref_frame_rate"])))
		const pacedWant = "<= 1.2x the batched ceiling's p99"
		if sb.Ref != nil && ceil != nil && ceil.Ref != nil && ceil.Ref.Latency.N > 0 && sb.Ref.Latency.N > 0 {
			r := sb.Ref.Latency.P99 / ceil.Ref.Latency.P99
			add(pacedName, pacedWant, fmt.Sprintf("%.2fx (%.2f vs %.2f ms)", r, sb.Ref.Latency.P99, ceil.Ref.Latency.P99), ok(r <= 1.2))
		} else {
			add(pacedName, pacedWant, "not measured for both", nil)
		}
	}
	res.evaluateBurst(add)
	res.evaluateMetrics(add)
	for _, m := range res.Memory {
		if m.System != Switchboard || m.Processes != 1 || !strings.HasPrefix(m.Case, "websocket") {
			continue
		}
		name := fmt.Sprintf("RSS per idle WebSocket, %s on one edge", num(float64(m.Conns)))
		if m.Error != "" {
			add(name, "<= 8 KB", "failed: "+m.Error, ok(false))
			continue
		}
		add(name, "<= 8 KB", fmt.Sprintf("%.2f KB", m.PerConnKB), ok(m.PerConnKB <= 8))
	}
	for _, c := range res.Connect {
		if c.System != Switchboard {
			continue
		}
		if c.WS.Ready == 0 {
			add("connects/s", ">= 10k/s", "failed: "+c.Error, ok(false))
			continue
		}
		add("connects/s (WebSocket, to a connected socket)", ">= 10,000/s", fmt.Sprintf("%s/s (%s clients, %d in flight)", num(c.WS.PerSec), num(float64(c.WS.Ready)), c.Concurrency), ok(c.WS.PerSec >= 10000 && c.WS.Failed == 0))
	}
	for _, u := range res.Unicast {
		if u.System != Switchboard {
			continue
		}
		if u.Low.RPC.N == 0 {
			add("unicast Emit p99 at low rate", "<= 2 ms", "failed: "+u.Error, ok(false))
		} else {
			add(fmt.Sprintf("unicast Emit p99 at %s/s", num(u.LowRate)), "<= 2 ms", fmt.Sprintf("%.3f ms RPC (end to end %.3f ms)", u.Low.RPC.P99, u.Low.E2E.P99), ok(u.Low.RPC.P99 <= 2))
		}
		// An emit counts when it arrived: fire-and-forget calls are checked
		// at the clients (>= 95% of the emits sent delivered).
		delivered := func(ph *UnicastPhase) bool {
			return ph.Errors == 0 && ph.Sent > 0 && float64(ph.Delivered) >= 0.95*float64(ph.Sent)
		}
		share := func(ph *UnicastPhase) string {
			return fmt.Sprintf("%s delivered/s, %.1f%% of the emits delivered", num(ph.DeliveredPerSec), 100*float64(ph.Delivered)/max(float64(ph.Sent), 1))
		}
		fig := fmt.Sprintf("%s RPC/s, %d errors, %s", num(u.Max.PerSec), u.Max.Errors, share(&u.Max))
		add(fmt.Sprintf("unicast Emit RPC/s (%d callers)", u.Callers), ">= 20,000/s sustained", fig, ok(u.Max.PerSec >= 20000 && delivered(&u.Max)))

		const noopName, noopWant = "unicast Emit RPC/s vs a no-op gRPC call, same run", ">= 70% of the no-op's RPC/s"
		switch {
		case u.Noop != nil && u.Noop.PerSec > 0:
			r := u.Max.PerSec / u.Noop.PerSec
			add(noopName, noopWant, fmt.Sprintf("%.0f%% (%s vs %s RPC/s, %d callers; %s)", 100*r, num(u.Max.PerSec), num(u.Noop.PerSec), u.Callers, share(&u.Max)),
				ok(r >= 0.7 && delivered(&u.Max)))
		case u.Error != "":
			add(noopName, noopWant, "failed: "+u.Error, ok(false))
		default:
			add(noopName, noopWant, "no-op not measured", nil)
		}

		const pipeName, pipeWant = "Pipeline emits/s on one stream vs unary Emit, same run", ">= 5x unary Emit RPC/s"
		switch {
		case u.Pipeline != nil && u.Max.PerSec > 0:
			r := u.Pipeline.PerSec / u.Max.PerSec
			add(pipeName, pipeWant, fmt.Sprintf("%.2fx (%s vs %s emits/s; %d errors, %s)", r, num(u.Pipeline.PerSec), num(u.Max.PerSec), u.Pipeline.Errors, share(u.Pipeline)),
				ok(r >= 5 && delivered(u.Pipeline)))
		case u.Error != "":
			add(pipeName, pipeWant, "failed: "+u.Error, ok(false))
		default:
			add(pipeName, pipeWant, "not measured", nil)
		}
	}
}

// evaluateBurst checks issue 16's burst targets at 5,000 and 10,000
// sockets (a smoke run: at its own sizes), on the medians of the
// repetitions.
func (res *Results) evaluateBurst(add func(name, want, figure string, met *bool)) {
	for _, b := range res.Burst {
		if b.System != Switchboard || (!res.Smoke && !slices.Contains(burstTargetSizes, b.N)) {
			continue
		}
		name := func(what string) string { return fmt.Sprintf("burst N=%d %s", b.N, what) }
		if b.MedianFramesPerSec == 0 {
			fig := "switchboard: no complete burst"
			if b.Error != "" {
				fig += ": " + b.Error
			}
			add(name("frames/s"), ">= 5x Node and >= 1.5x the batched ceiling", fig, ok(false))
			continue
		}
		vs := func(other string, want string, factor float64) {
			label := other
			if other == Node {
				label = "Node"
			}
			o := res.burstOf(other, b.N)
			if o == nil || o.MedianFramesPerSec == 0 {
				add(name("vs "+label), want, label+" not measured", nil)
				return
			}
			r := b.MedianFramesPerSec / o.MedianFramesPerSec
			add(name("vs "+label), want, fmt.Sprintf("%.2fx (%s vs %s frames/s, medians)", r, num(b.MedianFramesPerSec), num(o.MedianFramesPerSec)), ok(r >= factor))
		}
		vs(Node, ">= 5x Node", 5)
		vs(Ceiling, ">= 1.5x the batched ceiling", 1.5)
		const p99Want = "<= the batched ceiling's p99"
		if c := res.burstOf(Ceiling, b.N); c != nil && c.MedianP99 > 0 {
			add(name("p99"), p99Want, fmt.Sprintf("%.1f vs %.1f ms (medians; p50 %.1f vs %.1f ms)", b.MedianP99, c.MedianP99, b.MedianP50, c.MedianP50), ok(b.MedianP99 <= c.MedianP99))
		} else {
			add(name("p99"), p99Want, "ceiling not measured", nil)
		}
	}
}

// write stores <stamp>.json and <stamp>.md in dir and, with index, adds
// the run's row to dir's index (IndexFile).
func (res *Results) write(dir string, index bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	stamp := res.Started.Format("20060102T150405Z")
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	md := res.Markdown()
	paths := []string{filepath.Join(dir, stamp+".json"), filepath.Join(dir, stamp+".md")}
	if err := os.WriteFile(paths[0], append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(paths[1], []byte(md), 0o644); err != nil {
		return nil, err
	}
	if index {
		p, err := addIndexRow(dir, res.indexRow(stamp+".md"))
		if err != nil {
			return paths, fmt.Errorf("results index: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// num formats a count with thousands separators.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := fmt.Sprintf("%.0f", math.Round(v))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func lat3(s latency.Summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", ms(s.P50), ms(s.P99), ms(s.P999))
}

// latMax is p50 / p99 / max: over a few hundred messages a p999 is the max.
func latMax(s latency.Summary) string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", ms(s.P50), ms(s.P99), ms(s.Max))
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func metMark(m *bool) string {
	switch {
	case m == nil:
		return "not measured"
	case *m:
		return "**met**"
	default:
		return "**not met**"
	}
}

func errCell(e string) string {
	if e == "" {
		return ""
	}
	e = strings.ReplaceAll(e, "|", "/")
	e = strings.ReplaceAll(e, "\n", " ")
	if len(e) > 160 {
		e = e[:160] + "…"
	}
	return "error: " + e
}

// Markdown renders the results as the report committed under bench/results.
func (res *Results) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	title := "Switchboard benchmark"
	if res.Smoke {
		title += " (smoke run: tiny sizes, figures meaningless)"
	}
	p("# %s — %s\n\n", title, res.Started.Format("2006-01-02 15:04 UTC"))
	p("Command: `%s` (%.0f s, %d processes started, all stopped)\n\n", res.Command, res.DurationSec, res.ProcessesStarted)
	m := res.Machine
	p("Machine: %d × %s, %s memory, Linux %s; %s; Node %s, socket.io %s; commit %s. Open files: %d per process. Loopback ports %s, somaxconn %s.\n\n",
		m.CPUs, m.CPUModel, m.Memory, m.Kernel, m.GoVersion, m.NodeVersion, m.SocketIOVersion, m.Commit, m.OpenFilesLimit, m.PortRange, m.Somaxconn)
	p("Everything runs on this one machine over 127.0.0.1: the load generators (`bench/cmd/loadgen`, Go, one goroutine per client) " +
		"share the cores with the servers, so every figure includes the clients' own cost. Latency is end to end: the sender's clock " +
		"travels in the 100-byte payload, the client subtracts it on arrival (Switchboard: stamped by the gRPC caller before `Emit`, " +
		"so it includes gRPC, control, NATS and the edge; ceiling and Node: stamped by the server process itself).\n\n")

	p("## Targets\n\n| target | want | this run | |\n|---|---|---|---|\n")
	for _, t := range res.Targets {
		p("| %s | %s | %s | %s |\n", t.Name, t.Want, t.Figure, metMark(t.Met))
	}
	p("\n")

	if len(res.Fanout) > 0 {
		p("## 1. Fan-out: one room, N sockets\n\n")
		p("Switchboard: control + %v edges (sockets spread evenly), `Emit` to room `bench` through gRPC (8 concurrent callers, paced); `switchboard-metrics`: the same with every process's admin listener on and its `/metrics` scraped every %v. "+
			"Ceiling: bare gorilla/websocket (`bench/cmd/ceiling`), every message encoded once and queued to every connection's writer goroutine, flat out; `ceiling` (batched, the real ceiling) writes everything queued for a connection in one `writev`, `ceiling-naive` (the one-write-per-frame baseline) one `WritePreparedMessage` per frame. "+
			"Node: socket.io 4.8, `io.to(\"bench\").emit` from an in-process timer. "+
			"Max = highest delivered frames/s (frames = messages × sockets) the system sustains. For Switchboard and Node it comes from a ramp of %v steps "+
			"(×1.6 from %s frames/s, then bisection); a step is sustainable when ≥ 97%% of its frames arrive by %v after it, the median latency of its second half "+
			"is at most %.1f× the first half's + %.0f ms (no growing backlog), p99 ≤ %v and no client is dropped; a marginal step is measured again until two trials agree. The ceiling's max is its flat-out rate with "+
			"bounded per-connection queues (the broadcast loop blocks when one is full). The latency at %s frames/s is measured first, after a warm-up and before any "+
			"run at the maximum, for twice the measured phase. Latency p50 / p99 / p999 in ms, end to end.\n\n",
			res.Sizes["fanout_edges"], metricsScrapeEvery, res.Sizes["step"], num(toF(res.Sizes["ref_frame_rate"])), drain, backlogFactor, backlogSlackMs, res.Sizes["max_p99"], num(toF(res.Sizes["ref_frame_rate"])))
		p("| N | system | max frames/s | msgs/s | vs ceiling / ceiling-naive | vs Node | latency at max | CPU at max: server / clients / driver | latency at half max (offered frames/s) | latency at %s frames/s |\n|---|---|---|---|---|---|---|---|---|---|\n", num(toF(res.Sizes["ref_frame_rate"])))
		for _, f := range res.Fanout {
			ceil, naive, node := res.fanoutOf(Ceiling, f.N), res.fanoutOf(CeilingNaive, f.N), res.fanoutOf(Node, f.N)
			vc, vn := "–", "–"
			if f.System != Ceiling {
				vc = "–"
				if ceil != nil {
					vc = pct(f.MaxFramesPerSec, ceil.MaxFramesPerSec)
				}
				if naive != nil && f.System != CeilingNaive {
					vc += " / " + pct(f.MaxFramesPerSec, naive.MaxFramesPerSec)
				}
			}
			if node != nil && f.System != Node {
				vn = ratio(f.MaxFramesPerSec, node.MaxFramesPerSec)
			}
			half, ref, cpu, atMax := "–", "–", "–", "–"
			if f.Half != nil {
				half = fmt.Sprintf("%s (%s)", lat3(f.Half.Latency), num(f.Half.OfferedFramesPerSec))
			}
			if f.Ref != nil {
				ref = lat3(f.Ref.Latency)
			}
			if f.Max != nil {
				atMax = lat3(f.Max.Latency)
				cpu = fmt.Sprintf("%.0f / %.0f / %.0f%%", f.Max.CPUPercent, f.Max.LoadCPUPercent, f.Max.DriverCPUPercent)
			}
			maxs := num(f.MaxFramesPerSec)
			if f.Error != "" {
				maxs += " " + errCell(f.Error)
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", num(float64(f.N)), f.System, maxs, num(f.MaxMsgsPerSec), vc, vn, atMax, cpu, half, ref)
		}
		p("\nCPU in percent of one core (the machine has %d): server = the system's processes (Switchboard: edges + control with its embedded NATS), clients = the load generators, driver = the orchestrator (Switchboard: the gRPC caller; others: an HTTP call). Every ramp step is in the JSON.\n\n", res.Machine.CPUs)
		spreadTable(p, res)
	}

	if len(res.Burst) > 0 {
		burstSection(p, res)
	}

	if len(res.Memory) > 0 {
		p("## 3. Memory per idle connection\n\n")
		p("VmRSS of the server process(es) after N connects and %v settling, minus before, / N. Clients connected (Socket.IO CONNECT acknowledged; ceiling: WebSocket open) and idle.\n\n", res.Sizes["settle"])
		p("| case | system | N | RSS before → after (KB) | KB per connection | vs Node | connects/s |\n|---|---|---|---|---|---|---|\n")
		for _, m := range res.Memory {
			vn := "–"
			if m.System != Node {
				for _, o := range res.Memory {
					if o.System == Node && o.Case == m.Case && o.Conns == m.Conns && o.PerConnKB > 0 {
						vn = ratio(m.PerConnKB, o.PerConnKB)
					}
				}
			}
			per := fmt.Sprintf("%.2f", m.PerConnKB)
			if m.Error != "" {
				per = errCell(m.Error)
			}
			p("| %s | %s | %s | %v → %v | %s | %s | %s |\n", m.Case, m.System, num(float64(m.Conns)), m.RSSBeforeKB, m.RSSAfterKB, per, vn, num(m.Connect.PerSec))
		}
		p("\n")
	}

	if len(res.Connect) > 0 {
		p("## 4. Connect storm\n\n")
		p("Handshakes to a connected socket (WebSocket: upgrade, Engine.IO open, Socket.IO CONNECT acknowledged; polling: GET open, POST CONNECT, GET ack; ceiling: WebSocket upgrade only), with a bounded number in flight over %v load processes. "+
			"Then observers in the room receive a steady stream while every storm client drops its connection and reconnects at once. Latency p50 / p99 / p999 in ms.\n\n", res.Sizes["storm_gens"])
		p("| system | WebSocket connects/s | handshake p50 / p99 / p999 | CPU: server / clients | polling connects/s | polling handshake | reconnect all: time | observers before | observers during reconnect (max) |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range res.Connect {
			pol, polh := "–", "–"
			if c.Polling != nil {
				pol, polh = num(c.Polling.PerSec), lat3(c.Polling.Handshake)
			}
			ws := fmt.Sprintf("%s (%s)", num(c.WS.PerSec), num(float64(c.WS.Ready)))
			if c.Error != "" {
				ws += " " + errCell(c.Error)
			}
			p("| %s | %s | %s | %.0f / %.0f%% | %s | %s | %s ms | %s | %s (%s) |\n", c.System, ws, lat3(c.WS.Handshake), c.WS.ServerCPUPercent, c.WS.LoadCPUPercent, pol, polh, num(c.ReconnectMs), lat3(c.Baseline), lat3(c.DuringStorm), ms(c.DuringStorm.Max))
		}
		if len(res.Connect) > 0 {
			c := res.Connect[0]
			p("\n%s storm clients, %d handshakes in flight at most, %d observers receiving %s frames/s.\n\n", num(float64(c.Clients)), c.Concurrency, c.Observers, num(c.StreamFramesPerSec))
		}
	}

	if len(res.Unicast) > 0 {
		p("## 5. Unicast: one socket at a time\n\n")
		p("Switchboard: `Emit` with `target.sids = [sid]`, round-robin over the sockets, fire-and-forget (no `report`): the call returns once control " +
			"has published the emit to the edge, so RPC latency is gRPC plus control, and end to end (stamped by the caller, read by the client) adds NATS, the edge and the WebSocket. " +
			"Whether the emits arrived is counted at the clients: delivered/s is measured over the steady window, and a rate counts only when ≥ 95%% of the phase's emits arrived. " +
			"Ceiling and Node: the server process sends to one connection / `io.to(id).emit` at a time from its own loop (no RPC: an upper bound, not a like-for-like). Latency p50 / p99 / p999 in ms.\n\n")
		p("| system | sockets | low rate: RPC latency | low rate: end to end | flat out: sent/s | delivered/s | RPC latency | end to end | errors | vs Node | CPU: server / clients / driver |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		var nodeRate float64
		for _, u := range res.Unicast {
			if u.System == Node {
				nodeRate = u.Max.DeliveredPerSec
			}
		}
		for _, u := range res.Unicast {
			sent := num(u.Max.PerSec)
			if u.Callers > 0 {
				sent += fmt.Sprintf(" (%d callers)", u.Callers)
			}
			if u.Error != "" {
				sent += " " + errCell(u.Error)
			}
			vn := "–"
			if u.System != Node {
				vn = ratio(u.Max.DeliveredPerSec, nodeRate)
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %.0f / %.0f / %.0f%% |\n", u.System, num(float64(u.Clients)), lat3(u.Low.RPC), lat3(u.Low.E2E), sent, num(u.Max.DeliveredPerSec), lat3(u.Max.RPC), lat3(u.Max.E2E), u.Max.Errors+u.Low.Errors, vn, u.Max.CPUPercent, u.Max.LoadCPUPercent, u.Max.DriverCPUPercent)
		}
		if len(res.Unicast) > 0 {
			p("\nLow rate: %s emits/s.\n\n", num(res.Unicast[0].LowRate))
		}
		for _, u := range res.Unicast {
			if u.Noop == nil {
				continue
			}
			p("The gRPC floor, same run: the same %d callers calling `grpc.health.v1.Health/Check` (no work, the same interceptors) on the same control flat out made %s RPC/s (RPC latency %s ms; CPU control %.0f%%, driver %.0f%%). "+
				"Every unary RPC pays at least this; `Emit` made %.0f%% of it while also validating the emit, planning its route and publishing it on NATS (the target: ≥ 70%%).\n\n",
				u.Callers, num(u.Noop.PerSec), lat3(u.Noop.RPC), u.Noop.CPUPercent, u.Noop.DriverCPUPercent, 100*u.Max.PerSec/max(u.Noop.PerSec, 1))
			if u.NoopLow != nil {
				p("At the low rate the same no-op call took %s ms (p50 / p99 / p999), against `Emit`'s %s ms: the one gRPC hop, without publishing to NATS.\n\n",
					lat3(u.NoopLow.RPC), lat3(u.Low.RPC))
			}
			if u.LowAtBus != nil && u.NoopLow != nil {
				p("The low-rate path, each figure the time since the caller's stamp (p50 / p99 / p999 ms): a no-op gRPC call returns %s; an emit reaches NATS's subscribers (a tap beside the edge) at %s; "+
					"the `Emit` call returns at %s; the client reads the frame at %s. So gRPC, control and NATS take the first figure, the edge, its WebSocket write and the client's read the rest; "+
					"the ceiling's own send-to-read at the low rate, the WebSocket alone, is in the table above.\n\n",
					lat3(u.NoopLow.RPC), lat3(*u.LowAtBus), lat3(u.Low.RPC), lat3(u.Low.E2E))
			}
		}
		for _, u := range res.Unicast {
			pp := u.Pipeline
			if pp == nil {
				continue
			}
			p("One `Pipeline` stream, same run: the same emits (one sid each, round robin) as `PipelineRequest{id, emit}` commands, one goroutine sending flat out with at most 1,024 unanswered "+
				"(control's window) and one counting the answers, for as long as the flat-out phase. It made %s emits/s answered (%d errors), %s delivered/s at the clients, "+
				"%s× the unary `Emit`'s %s RPC/s. Command to answer %s ms, end to end %s ms; CPU server %.0f%%, clients %.0f%%, driver %.0f%%: %.0f%% of the %d cores' %d%%, "+
				"the whole cost of a delivery (control, NATS, the edge's write, the client's read, the caller) being paid on this one machine.\n\n",
				num(pp.PerSec), pp.Errors, num(pp.DeliveredPerSec), fmt.Sprintf("%.2f", pp.PerSec/max(u.Max.PerSec, 1)), num(u.Max.PerSec),
				lat3(pp.RPC), lat3(pp.E2E), pp.CPUPercent, pp.LoadCPUPercent, pp.DriverCPUPercent,
				pp.CPUPercent+pp.LoadCPUPercent+pp.DriverCPUPercent, res.Machine.CPUs, 100*res.Machine.CPUs)
			if pp.Error != "" {
				p("First Pipeline error: %s.\n\n", pp.Error)
			}
		}
	}

	if len(res.Notes) > 0 || len(res.Errors) > 0 || res.NodeClockOffsetMs != 0 {
		p("## Notes\n\n")
		if res.NodeClockOffsetMs != 0 {
			p("- Node's clock (performance.timeOrigin + now) differed from the wall clock by %.3f ms; corrected before sending.\n", res.NodeClockOffsetMs)
		}
		for _, n := range res.Notes {
			p("- %s\n", n)
		}
		for _, e := range res.Errors {
			p("- error: %s\n", e)
		}
	}
	return b.String()
}

// burstSection renders scenario 2: each repetition and the medians.
func burstSection(p func(string, ...any), res *Results) {
	p("## 2. Burst: %v messages at once to a room of N sockets\n\n", res.Sizes["burst_messages"])
	p("With N sockets in room `bench`, one burst of %v messages at once: Switchboard: %v concurrent `Emit` calls to the room from the driver (control + %v edges); "+
		"ceiling and ceiling-naive: one admin call (`POST /admin/broadcast?count=%v&rate=0`) that encodes, stamps and queues the messages one by one, each to every connection's writer in turn, as fast as it goes (as messages come from a bus: a writer batches what queued while it wrote); "+
		"ceiling-inhand: the batched ceiling with the whole burst in hand (`inhand=1`: all messages encoded first, then all of them queued to each connection in turn, so every writer sends the burst in one `writev`: the bound of write batching, for reference, not a target); "+
		"Node: %v `io.to(\"bench\").emit` in one loop. Every message of a burst carries the burst's start (Switchboard: each caller stamps just before its call, the 40 released together; the others: one stamp for the burst), so a frame's latency is the time since the burst was asked for. The run waits until every frame arrived (or %v). Delivered frames/s = frames / (last arrival − first send, the earliest stamp); "+
		"latency per frame, end to end. After one warm-up burst, %v measured bursts per N; the table gives the median of each figure and every repetition. CPU in percent of one core, over the burst's collection.\n\n",
		res.Sizes["burst_messages"], res.Sizes["burst_messages"], res.Sizes["fanout_edges"], res.Sizes["burst_messages"], res.Sizes["burst_messages"], res.Sizes["burst_timeout"], res.Sizes["burst_reps"])
	p("| N | system | delivered frames/s (median) | p50 / p99 ms (median) | vs ceiling | vs ceiling-naive | vs ceiling-inhand | vs Node | each burst: frames/s, p50 / p99 ms, first send to last arrival | CPU: server / clients / driver (each) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, b := range res.Burst {
		vs := func(other string) string {
			if o := res.burstOf(other, b.N); o != nil && other != b.System {
				return ratio(b.MedianFramesPerSec, o.MedianFramesPerSec)
			}
			return "–"
		}
		var reps, cpus []string
		for _, r := range b.Reps {
			s := fmt.Sprintf("%s, %s / %s, %s ms", num(r.FramesPerSec), ms(r.Latency.P50), ms(r.Latency.P99), ms(r.DurationMs))
			if !r.Complete {
				s += fmt.Sprintf(" (incomplete: %s of %s)", num(float64(r.Delivered)), num(float64(r.Expected)))
			}
			reps = append(reps, s)
			cpus = append(cpus, fmt.Sprintf("%.0f / %.0f / %.0f%%", r.CPUPercent, r.LoadCPUPercent, r.DriverCPUPercent))
		}
		fps := num(b.MedianFramesPerSec)
		if b.Error != "" {
			fps += " " + errCell(b.Error)
		}
		p("| %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s |\n", num(float64(b.N)), b.System, fps, ms(b.MedianP50), ms(b.MedianP99),
			vs(Ceiling), vs(CeilingNaive), vs(CeilingInHand), vs(Node), strings.Join(reps, "; "), strings.Join(cpus, "; "))
	}
	p("\n")
}

func pct(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*a/b)
}

func toF(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// spreadTable splits the reference-rate latency per message: the time to the
// first socket is the path from the sender to the server's first write (for
// Switchboard: gRPC, control, NATS and the edge; the others stamp in the
// writing process), the time to the last socket adds the fan-out.
func spreadTable(p func(string, ...any), res *Results) {
	if !slices.ContainsFunc(res.Fanout, func(f FanoutResult) bool { return f.Ref != nil && f.Ref.PerMessage != nil }) {
		return
	}
	p("Per message at %s frames/s: when each message reached the first and the last of its sockets (p50 / p99 / max over the messages, in ms). "+
		"The first socket measures the path to the server's first write, the last adds writing to every socket.\n\n", num(toF(res.Sizes["ref_frame_rate"])))
	p("| N | system | messages (reaching every socket) | first socket | last socket | every frame |\n|---|---|---|---|---|---|\n")
	for _, f := range res.Fanout {
		if f.Ref == nil || f.Ref.PerMessage == nil {
			continue
		}
		m := f.Ref.PerMessage
		p("| %s | %s | %s (%s) | %s | %s | %s |\n", num(float64(f.N)), f.System, num(float64(m.Messages)), num(float64(m.Complete)),
			latMax(m.First), latMax(m.Last), latMax(f.Ref.Latency))
	}
	p("\n")
}

// evaluateMetrics compares switchboard-metrics with Switchboard, size by
// size: fan-out's sustained maximum, and idle memory per WebSocket on one
// edge. "Within noise" is set from this machine's spread between full runs
// (the fan-out ramp's maximum moves by up to a fifth from run to run).
func (res *Results) evaluateMetrics(add func(name, want, figure string, met *bool)) {
	const fanWant = ">= 0.8x Switchboard without metrics (the run-to-run spread)"
	for _, f := range res.Fanout {
		if f.System != SwitchboardMetrics {
			continue
		}
		name := fmt.Sprintf("fan-out N=%d with metrics on", f.N)
		sb := res.fanoutOf(Switchboard, f.N)
		switch {
		case f.MaxFramesPerSec == 0:
			add(name, fanWant, "switchboard-metrics failed", ok(false))
		case sb == nil || sb.MaxFramesPerSec == 0:
			add(name, fanWant, "Switchboard without metrics not measured", nil)
		default:
			r := f.MaxFramesPerSec / sb.MaxFramesPerSec
			add(name, fanWant, fmt.Sprintf("%.2fx (%s vs %s frames/s)", r, num(f.MaxFramesPerSec), num(sb.MaxFramesPerSec)), ok(r >= 0.8))
		}
	}
	const memWant = "<= Switchboard without metrics + 0.5 KB"
	for _, m := range res.Memory {
		if m.System != SwitchboardMetrics || m.Processes != 1 || !strings.HasPrefix(m.Case, "websocket") {
			continue
		}
		name := fmt.Sprintf("RSS per idle WebSocket, %s on one edge, metrics on", num(float64(m.Conns)))
		var sb *MemoryResult
		for i := range res.Memory {
			o := &res.Memory[i]
			if o.System == Switchboard && o.Case == m.Case && o.Conns == m.Conns {
				sb = o
			}
		}
		switch {
		case m.Error != "":
			add(name, memWant, "failed: "+m.Error, ok(false))
		case sb == nil || sb.Error != "":
			add(name, memWant, "Switchboard without metrics not measured", nil)
		default:
			add(name, memWant, fmt.Sprintf("%.2f vs %.2f KB", m.PerConnKB, sb.PerConnKB), ok(m.PerConnKB <= sb.PerConnKB+0.5))
		}
	}
}
