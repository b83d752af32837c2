package soak

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// limits are the verdict's thresholds (docs/soak.md says why these).
type limits struct {
	// Warmup is the fraction of the run left out at its start (buffers,
	// pools and the heap grow to their working size); the early window is
	// the Window fraction after it, the late window the last Window.
	Warmup, Window float64
	// A process's RSS fails when its late window's median is over its
	// early window's by more than RSSFrac of it and by more than RSSAbs.
	RSSFrac float64
	RSSAbs  uint64
	// Its goroutines fail when the late median is over the early one by
	// more than GoFrac of it and by more than GoAbs.
	GoFrac float64
	GoAbs  int
	// EndSlack is how many goroutines over its baseline (before any
	// client) a process may hold once the traffic stopped and every
	// connection is gone.
	EndSlack int
}

var defaultLimits = limits{Warmup: 0.2, Window: 0.2, RSSFrac: 0.25, RSSAbs: 20 << 20, GoFrac: 0.25, GoAbs: 50, EndSlack: 20}

// expectedDrops are the counters that may grow: those of the slow
// Subscribe stream, which control ends by design.
var expectedDrops = []string{"slow_streams", "stream_events_dropped"}

// unexpectedDrops sums every other counter of the edges and of control.
func unexpectedDrops(s sample) uint64 {
	var n uint64
	for _, v := range s.Edge {
		n += v
	}
	for k, v := range s.Control {
		if !slices.Contains(expectedDrops, k) {
			n += v
		}
	}
	return n
}

// outcome is what the soak measured.
type outcome struct {
	Procs    []string    // labels, in the order of each sample's Procs
	Edges    []string    // labels of the edges, in the order of Conns
	Samples  []sample    // every phase, in order
	Baseline []procUsage // each process before any traffic
	End      []procUsage // each process after the traffic, every connection gone
	Died     []string    // processes that exited, and how
	Streams  []streamLoss
}

// resetRace is how long before its reset a connection's last event may
// have been written and still be lost: an edge reads what a client sent
// before a TCP close, but a reset discards what its kernel had received
// and the edge had not read yet.
const resetRace = 250 * time.Millisecond

// streamLoss is how what one fast Subscribe stream received, by sid,
// differs from what each connection sent.
type streamLoss struct {
	Missing  [leaveLost + 1]int // events not received, by how their connection ended
	Excused  int                // of Missing[leaveRST], a connection's last event written within resetRace of its reset
	Extra    int                // events beyond what their connection sent, or of no connection
	Examples []string           // the first few losses not excused, for the log
}

// compareStream compares what a stream received by sid with what every
// connection sent.
func compareStream(conns []connRecord, bySid map[string]int) streamLoss {
	var l streamLoss
	seen := make(map[string]bool, len(conns))
	for _, c := range conns {
		seen[c.sid] = true
		got := bySid[c.sid]
		if got > c.sent {
			l.Extra += got - c.sent
			continue
		}
		missing := c.sent - got
		if missing == 0 {
			continue
		}
		l.Missing[c.mode] += missing
		gap := c.leftAt.Sub(c.lastSent)
		if c.mode == leaveRST && gap < resetRace {
			l.Excused++ // the last event only: the others were written a second or more before
			missing--
		}
		if missing > 0 && len(l.Examples) < 5 {
			l.Examples = append(l.Examples, fmt.Sprintf("%s: %d of %d events missing, connection ended (%v) %v after its last event", c.sid, missing, c.sent, c.mode, gap.Round(time.Microsecond)))
		}
	}
	for sid, n := range bySid {
		if !seen[sid] {
			l.Extra += n
		}
	}
	return l
}

// windows returns the early and late windows of the run samples, in
// seconds, and whether both hold a sample.
func windows(run []sample, lim limits) (early, late [2]float64, ok bool) {
	if len(run) == 0 {
		return early, late, false
	}
	t0, t1 := run[0].T, run[len(run)-1].T
	span := t1 - t0
	early = [2]float64{t0 + lim.Warmup*span, t0 + (lim.Warmup+lim.Window)*span}
	late = [2]float64{t1 - lim.Window*span, t1}
	return early, late, early[1] < late[0] && len(in(run, early)) > 0 && len(in(run, late)) > 0
}

func in(run []sample, w [2]float64) []sample {
	var out []sample
	for _, s := range run {
		if s.T >= w[0] && s.T <= w[1] {
			out = append(out, s)
		}
	}
	return out
}

// median of f over the samples where it is known.
func median(ss []sample, f func(sample) (float64, bool)) float64 {
	var vs []float64
	for _, s := range ss {
		if v, ok := f(s); ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

// verdict returns what fails the soak, and the figures worth reporting.
func verdict(o outcome, lim limits) (fails, figures []string) {
	failf := func(format string, a ...any) { fails = append(fails, fmt.Sprintf(format, a...)) }
	figf := func(format string, a ...any) { figures = append(figures, fmt.Sprintf(format, a...)) }

	for _, d := range o.Died {
		failf("%s died", d)
	}
	var run []sample
	for _, s := range o.Samples {
		if s.Phase == "run" {
			run = append(run, s)
		}
	}
	if len(run) == 0 || len(o.Samples) == 0 {
		failf("no sample taken during the traffic")
		return fails, figures
	}
	last := o.Samples[len(o.Samples)-1]
	t := last.Totals

	// Growth between the early and the late window, at the same load.
	early, late, ok := windows(run, lim)
	if !ok {
		failf("the run is too short (%d samples over %.0f s) for an early and a late window", len(run), run[len(run)-1].T-run[0].T)
	}
	for j, name := range o.Procs {
		rss := func(s sample) (float64, bool) { return float64(s.Procs[j].RSS), s.Procs[j].OK }
		gor := func(s sample) (float64, bool) { return float64(s.Procs[j].Goroutines), s.Procs[j].OK }
		var peak uint64
		maxGo := 0
		for _, s := range o.Samples {
			if s.Procs[j].OK {
				peak = max(peak, s.Procs[j].RSS)
				maxGo = max(maxGo, s.Procs[j].Goroutines)
			}
		}
		e, l := median(in(run, early), rss), median(in(run, late), rss)
		eg, lg := median(in(run, early), gor), median(in(run, late), gor)
		figf("%s: RSS baseline %.1f MB, peak %.1f MB, early %.1f MB, late %.1f MB (%+.1f MB); goroutines baseline %d, peak %d, early %.0f, late %.0f, end %d",
			name, mb(o.Baseline[j].RSS), mb(peak), e/(1<<20), l/(1<<20), (l-e)/(1<<20),
			o.Baseline[j].Goroutines, maxGo, eg, lg, o.End[j].Goroutines)
		if ok && l-e > max(lim.RSSFrac*e, float64(lim.RSSAbs)) {
			failf("%s: RSS grew from %.1f MB (median of %.0f-%.0f s) to %.1f MB (median of %.0f-%.0f s): more than %.0f%% and %.0f MB",
				name, e/(1<<20), early[0], early[1], l/(1<<20), late[0], late[1], lim.RSSFrac*100, mb(lim.RSSAbs))
		}
		if ok && lg-eg > max(lim.GoFrac*eg, float64(lim.GoAbs)) {
			failf("%s: goroutines grew from %.0f (median of %.0f-%.0f s) to %.0f (median of %.0f-%.0f s): more than %.0f%% and %d",
				name, eg, early[0], early[1], lg, late[0], late[1], lim.GoFrac*100, lim.GoAbs)
		}
		switch {
		case !o.End[j].OK:
			failf("%s: not measured after the traffic: %s", name, o.End[j].Err)
		case o.End[j].Goroutines > o.Baseline[j].Goroutines+lim.EndSlack:
			failf("%s: %d goroutines once every connection was gone, %d before any client: more than %d over",
				name, o.End[j].Goroutines, o.Baseline[j].Goroutines, lim.EndSlack)
		}
	}

	// Every connection gone at the end, every edge still listed.
	if last.ClusterErr != "" {
		failf("ClusterInfo after the traffic: %s", last.ClusterErr)
	}
	for i, e := range o.Edges {
		if last.ClusterErr == "" && !last.Listed[i] {
			failf("%s: not listed by ClusterInfo after the traffic", e)
		}
		if last.Conns[i] != 0 || last.Sockets[i] != 0 {
			failf("%s: %d connections and %d sockets after every client left", e, last.Conns[i], last.Sockets[i])
		}
	}

	// Something was delivered, to the end.
	figf("clients: %d connects (%d left gracefully, %d by TCP close, %d by TCP reset), %d joined rooms; %d fan-out packets delivered, %d events sent",
		t.Connects, t.LeftGraceful, t.LeftFIN, t.LeftRST, t.Joins, t.Delivered, t.EventsSent)
	figf("API: %d emits, %d EmitWithAck with %d acks and %d sockets timed out", t.Emits, t.EmitsWithAck, t.Acks, t.TimedOut)
	figf("Subscribe: fast streams %v client events of %d sent; slow stream %d events, ended RESOURCE_EXHAUSTED %d times",
		t.SubEvents, t.EventsSent, t.SlowEvents, t.SlowEnds)
	if t.Connects == 0 {
		failf("no client connected")
	}
	if t.Delivered == 0 {
		failf("no packet delivered to any client")
	} else if lw := in(run, late); ok && lw[len(lw)-1].Totals.Delivered == lw[0].Totals.Delivered && len(lw) > 1 {
		failf("no packet delivered to any client in the late window (%.0f-%.0f s)", late[0], late[1])
	}
	if t.Acks == 0 {
		failf("EmitWithAck collected no ack")
	}
	for i, l := range o.Streams {
		missing := 0
		for _, n := range l.Missing {
			missing += n
		}
		if missing > 0 || l.Extra > 0 {
			figf("fast Subscribe stream %d: %d events missing (%v by how their connection ended; %d the last before a reset), %d extra; %q",
				i, missing, l.Missing, l.Excused, l.Extra, l.Examples)
		}
		if missing > l.Excused {
			failf("fast Subscribe stream %d: %d client events missing, %d of them excused (the last before a reset)", i, missing, l.Excused)
		}
		if l.Extra > 0 {
			failf("fast Subscribe stream %d: %d client events more than the clients sent", i, l.Extra)
		}
	}
	if len(o.Streams) == 0 {
		failf("no fast Subscribe stream compared")
	}

	// Nothing dropped or failed but what the slow stream costs.
	for _, c := range []struct {
		n    int64
		what string
	}{
		{t.ConnectErrors, "connects failed"},
		{t.Lost, "connections were closed by an edge before the client left"},
		{t.Bad, "unexpected packets or unanswered close frames"},
		{t.APIErrors, "API calls failed"},
		{t.MissingEdges, "API calls listed a missing edge"},
		{t.JoinMisses, "JoinRooms missed a live socket"},
		{t.FastEnds, "fast Subscribe streams were ended by control"},
		{t.SlowOtherEnds, "slow Subscribe streams ended otherwise than RESOURCE_EXHAUSTED"},
	} {
		if c.n > 0 {
			failf("%d %s", c.n, c.what)
		}
	}
	if last.ClusterErr == "" {
		for _, k := range slices.Sorted(maps.Keys(last.Edge)) {
			if last.Edge[k] > 0 {
				failf("edges' counter %s = %d, want 0", k, last.Edge[k])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(last.Control)) {
			if last.Control[k] > 0 && !slices.Contains(expectedDrops, k) {
				failf("control's counter %s = %d, want 0", k, last.Control[k])
			}
		}
		// Every slow stream control counted is the slow subscriber's
		// (one more if it was ending when the soak stopped it).
		if n := int64(last.Control["slow_streams"]); n < t.SlowEnds || n > t.SlowEnds+1 {
			failf("control counted %d slow streams, the slow subscriber was ended %d times", n, t.SlowEnds)
		}
		figf("drops: slow stream's events dropped %d, slow streams %d; every other counter %d", last.Control["stream_events_dropped"], last.Control["slow_streams"], unexpectedDrops(last))
	}
	return fails, figures
}

// ---- the verdict's own test, on made-up samples ----

// synthetic is a soak of n run samples 5 s apart, every process at 40 MB
// and 300 goroutines with a little noise, with a clean baseline and end.
func synthetic(n int) outcome {
	o := outcome{Procs: []string{"edge-a", "control"}, Edges: []string{"edge-a"}}
	o.Baseline = []procUsage{{RSS: 20 << 20, Goroutines: 30, OK: true}, {RSS: 20 << 20, Goroutines: 40, OK: true}}
	o.End = []procUsage{{RSS: 40 << 20, Goroutines: 32, OK: true}, {RSS: 30 << 20, Goroutines: 45, OK: true}}
	at := time.Unix(0, 0)
	for i := range n {
		noise := uint64(i%3) << 20
		s := sample{
			T: float64(5 * i), Phase: "run", Measured: at.Add(time.Duration(i) * 5 * time.Second),
			Procs: []procUsage{{RSS: 40<<20 + noise, Goroutines: 300 + i%7, OK: true}, {RSS: 30<<20 + noise, Goroutines: 60, OK: true}},
			Conns: []int{150}, Sockets: []int{150}, Listed: []bool{true},
			Edge:    map[string]uint64{"bus_dropped": 0, "slow_consumers": 0},
			Control: map[string]uint64{"slow_streams": uint64(i / 4), "stream_events_dropped": uint64(100 * i), "bus_errors": 0},
			Totals: totals{Connects: int64(100 * i), Delivered: int64(1000 * i), EventsSent: int64(50 * i),
				SubEvents: []int64{int64(50 * i), int64(50 * i)}, Acks: int64(10 * i), SlowEnds: int64(i / 4)},
		}
		o.Samples = append(o.Samples, s)
	}
	o.Streams = make([]streamLoss, fastStreams)
	end := o.Samples[len(o.Samples)-1]
	end.Phase, end.T, end.Conns, end.Sockets = "end", end.T+20, []int{0}, []int{0}
	end.Measured = end.Measured.Add(20 * time.Second)
	end.Procs = slices.Clone(o.End)
	o.Samples = append(o.Samples, end)
	return o
}

func TestVerdict(t *testing.T) {
	const n = 120 // 10 minutes
	for _, c := range []struct {
		name   string
		break_ func(o *outcome)
		want   string // a failure containing this; empty: none
	}{
		{"steady", func(*outcome) {}, ""},
		{"RSS rises a little", func(o *outcome) {
			for i := range o.Samples {
				o.Samples[i].Procs[0].RSS += uint64(i) << 16 // 7.5 MB over the run
			}
		}, ""},
		{"RSS leaks", func(o *outcome) {
			for i := range o.Samples {
				o.Samples[i].Procs[0].RSS += uint64(i) << 19 // 60 MB over the run
			}
		}, "edge-a: RSS grew"},
		{"goroutine per connection leaks", func(o *outcome) {
			for i := range o.Samples {
				o.Samples[i].Procs[0].Goroutines += 5 * i // 5 of 100 connects a sample
			}
			o.End[0].Goroutines = 32 + 5*n
		}, "edge-a: goroutines grew"},
		{"a few goroutines stay", func(o *outcome) { o.End[1].Goroutines = 40 + 21 }, "control: 61 goroutines once every connection was gone, 40 before"},
		{"a process died", func(o *outcome) {
			o.Died = []string{"edge-a: exit status 2"}
			o.End[0] = procUsage{Err: "no such process"}
		}, "edge-a: exit status 2 died"},
		{"nothing delivered", func(o *outcome) {
			for i := range o.Samples {
				o.Samples[i].Totals.Delivered = 0
			}
		}, "no packet delivered"},
		{"delivery stops", func(o *outcome) {
			for i := range o.Samples {
				o.Samples[i].Totals.Delivered = int64(1000 * min(i, n/2))
			}
		}, "no packet delivered to any client in the late window"},
		{"a bus drop", func(o *outcome) { o.Samples[len(o.Samples)-1].Edge["bus_dropped"] = 3 }, "edges' counter bus_dropped = 3"},
		{"a control bus error", func(o *outcome) { o.Samples[len(o.Samples)-1].Control["bus_errors"] = 1 }, "control's counter bus_errors = 1"},
		{"another stream was slow", func(o *outcome) { o.Samples[len(o.Samples)-1].Control["slow_streams"] += 2 }, "slow streams"},
		{"a fast stream lost an event", func(o *outcome) { o.Streams[1].Missing[leaveFIN] = 1 }, "fast Subscribe stream 1: 1 client events missing, 0 of them excused"},
		{"a reset lost its last event", func(o *outcome) { o.Streams[0].Missing[leaveRST], o.Streams[0].Excused = 1, 1 }, ""},
		{"a fast stream got more", func(o *outcome) { o.Streams[0].Extra = 2 }, "fast Subscribe stream 0: 2 client events more"},
		{"a connection is left", func(o *outcome) { o.Samples[len(o.Samples)-1].Conns[0] = 1 }, "1 connections and 0 sockets after"},
		{"too short", func(o *outcome) { o.Samples = o.Samples[len(o.Samples)-2:] }, "too short"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := synthetic(n)
			c.break_(&o)
			fails, figures := verdict(o, defaultLimits)
			if c.want == "" {
				if len(fails) > 0 {
					t.Errorf("fails: %q", fails)
				}
				if len(figures) == 0 {
					t.Errorf("no figures")
				}
				return
			}
			if !slices.ContainsFunc(fails, func(f string) bool { return strings.Contains(f, c.want) }) {
				t.Errorf("fails %q, want one containing %q", fails, c.want)
			}
		})
	}
}

func TestCompareStream(t *testing.T) {
	at := time.Unix(100, 0)
	conns := []connRecord{
		{sid: "a", sent: 3, lastSent: at, leftAt: at.Add(time.Second), mode: leaveGraceful},
		{sid: "b", sent: 2, lastSent: at, leftAt: at.Add(10 * time.Millisecond), mode: leaveRST},
		{sid: "c", sent: 2, lastSent: at, leftAt: at.Add(time.Second), mode: leaveRST},
		{sid: "d", sent: 1, lastSent: at, leftAt: at.Add(time.Second), mode: leaveFIN},
		{sid: "e", sent: 0, leftAt: at, mode: leaveFIN},
	}
	l := compareStream(conns, map[string]int{"a": 3, "b": 1, "c": 1, "d": 2, "x": 4})
	want := streamLoss{Excused: 1, Extra: 1 + 4}
	want.Missing[leaveRST] = 2
	if l.Missing != want.Missing || l.Excused != want.Excused || l.Extra != want.Extra || len(l.Examples) != 1 || !strings.HasPrefix(l.Examples[0], "c: ") {
		t.Errorf("compareStream = %+v, want %+v and an example of c", l, want)
	}
}

// TestReport writes the CSV and draws the PNG of made-up samples.
func TestReport(t *testing.T) {
	o := synthetic(40)
	var run []sample
	for _, s := range o.Samples {
		if s.Phase == "run" {
			run = append(run, s)
		}
	}
	early, late, ok := windows(run, defaultLimits)
	if !ok {
		t.Fatal("no windows")
	}
	dir := t.TempDir()
	if err := writeCSV(dir+"/samples.csv", o.Procs, o.Edges, o.Samples); err != nil {
		t.Fatal(err)
	}
	if err := drawPNG(dir+"/soak.png", o.Procs, o.Edges, o.Samples, early, late); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/samples.csv")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines != len(o.Samples)+1 {
		t.Errorf("samples.csv has %d lines, want %d", lines, len(o.Samples)+1)
	}
	if !strings.HasPrefix(string(b), "t_s,phase,rss_mb_edge-a,goroutines_edge-a,") {
		t.Errorf("samples.csv starts %q", clip(string(b)))
	}
	png, err := os.ReadFile(dir + "/soak.png")
	if err != nil || len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("soak.png: %d bytes, %v", len(png), err)
	}
}
