package soak

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// sample is one measurement of the deployment and of the traffic.
type sample struct {
	T        float64 // seconds since the traffic started (the baseline is before, at <= 0)
	Phase    string  // baseline, run (the traffic goes on), drain (it stopped), end
	Measured time.Time

	Procs      []procUsage       // as stack.procs: the edges, then control
	Conns      []int             // each edge's Engine.IO connections (ClusterInfo), as stack.edges
	Sockets    []int             // each edge's sockets
	Listed     []bool            // whether ClusterInfo listed each edge
	Edge       map[string]uint64 // the edges' counters, summed, by field name
	Control    map[string]uint64 // control_counters by field name
	ClusterErr string            // ClusterInfo failed: Conns, Sockets, Edge, Control are empty

	Totals totals // the traffic's counts so far
}

// totals is a snapshot of a tally.
type totals struct {
	Connects, ConnectErrors, Open, Joins, JoinMisses int64
	LeftGraceful, LeftFIN, LeftRST, Lost, Bad        int64
	EventsSent, Delivered, Asks, AcksSent            int64
	APIErrors, MissingEdges                          int64
	Emits, EmitsWithAck, Acks, TimedOut              int64
	SubEvents                                        []int64 // per fast stream
	FastEnds, SlowEvents, SlowEnds, SlowOtherEnds    int64
}

func (tl *tally) totals() totals {
	t := totals{
		Connects: tl.connects.Load(), ConnectErrors: tl.connectErrors.Load(), Open: tl.open.Load(),
		Joins: tl.joins.Load(), JoinMisses: tl.joinMisses.Load(),
		LeftGraceful: tl.leftGraceful.Load(), LeftFIN: tl.leftFIN.Load(), LeftRST: tl.leftRST.Load(),
		Lost: tl.lost.Load(), Bad: tl.bad.Load(),
		EventsSent: tl.eventsSent.Load(), Delivered: tl.delivered.Load(), Asks: tl.asks.Load(), AcksSent: tl.acksSent.Load(),
		APIErrors: tl.apiErrors.Load(), MissingEdges: tl.missingEdges.Load(),
		Emits: tl.emits.Load(), EmitsWithAck: tl.emitsWithAck.Load(), Acks: tl.acks.Load(), TimedOut: tl.timedOut.Load(),
		FastEnds: tl.fastEnds.Load(), SlowEvents: tl.slowEvents.Load(), SlowEnds: tl.slowEnds.Load(), SlowOtherEnds: tl.slowOtherEnds.Load(),
	}
	for i := range tl.subEvents {
		t.SubEvents = append(t.SubEvents, tl.subEvents[i].Load())
	}
	return t
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// rate is how fast a cumulative count grew from the sample before i to i,
// per second.
func rate(samples []sample, i int, count func(sample) int64) float64 {
	if i == 0 {
		return 0
	}
	dt := samples[i].Measured.Sub(samples[i-1].Measured).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(count(samples[i])-count(samples[i-1])) / dt
}

// writeCSV writes one row per sample.
func writeCSV(path string, procs, edges []string, samples []sample) error {
	edgeNames, controlNames := map[string]bool{}, map[string]bool{}
	for _, s := range samples {
		for k := range s.Edge {
			edgeNames[k] = true
		}
		for k := range s.Control {
			controlNames[k] = true
		}
	}
	en, cn := slices.Sorted(maps.Keys(edgeNames)), slices.Sorted(maps.Keys(controlNames))
	head := []string{"t_s", "phase"}
	for _, p := range procs {
		head = append(head, "rss_mb_"+p, "goroutines_"+p)
	}
	for _, e := range edges {
		head = append(head, "connections_"+e, "sockets_"+e)
	}
	head = append(head, "clients_open", "connects", "delivered", "delivered_per_s", "events_sent",
		"subscribe_events", "slow_events", "slow_ends", "acks", "lost", "api_errors")
	for _, n := range en {
		head = append(head, "edge_"+n)
	}
	for _, n := range cn {
		head = append(head, "control_"+n)
	}
	rows := [][]string{head}
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for i, s := range samples {
		row := []string{strconv.FormatFloat(s.T, 'f', 1, 64), s.Phase}
		for _, u := range s.Procs {
			if !u.OK {
				row = append(row, "", "")
				continue
			}
			row = append(row, strconv.FormatFloat(mb(u.RSS), 'f', 1, 64), strconv.Itoa(u.Goroutines))
		}
		for j := range edges {
			row = append(row, strconv.Itoa(s.Conns[j]), strconv.Itoa(s.Sockets[j]))
		}
		t := s.Totals
		row = append(row, i64(t.Open), i64(t.Connects), i64(t.Delivered),
			strconv.FormatFloat(rate(samples, i, func(s sample) int64 { return s.Totals.Delivered }), 'f', 0, 64),
			i64(t.EventsSent), i64(slices.Min(t.SubEvents)), i64(t.SlowEvents), i64(t.SlowEnds), i64(t.Acks), i64(t.Lost), i64(t.APIErrors))
		for _, n := range en {
			row = append(row, strconv.FormatUint(s.Edge[n], 10))
		}
		for _, n := range cn {
			row = append(row, strconv.FormatUint(s.Control[n], 10))
		}
		rows = append(rows, row)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// drawPNG draws six panels over time: RSS and goroutines per process,
// each edge's connections, fan-out packets delivered per second, client
// events and connects per second, and the drop counters. Dashed vertical
// lines mark the two windows the growth check compares.
func drawPNG(path string, procs, edges []string, samples []sample, early, late [2]float64) error {
	minutes := func(s sample) float64 { return s.T / 60 }
	var panels []*plot.Plot
	newPanel := func(title, y string) *plot.Plot {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "minutes since the traffic started"
		p.Y.Label.Text = y
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
		panels = append(panels, p)
		return p
	}
	series := func(f func(i int, s sample) (float64, bool)) plotter.XYs {
		var xys plotter.XYs
		for i, s := range samples {
			if y, ok := f(i, s); ok {
				xys = append(xys, plotter.XY{X: minutes(s), Y: y})
			}
		}
		return xys
	}
	perSecond := func(count func(sample) int64) plotter.XYs {
		return series(func(i int, _ sample) (float64, bool) { return rate(samples, i, count), i > 0 })
	}
	ok := func(s sample) bool { return s.ClusterErr == "" }

	var rssLines, gorLines, connLines []any
	for j, name := range procs {
		rssLines = append(rssLines, name, series(func(_ int, s sample) (float64, bool) {
			return mb(s.Procs[j].RSS), s.Procs[j].OK
		}))
		gorLines = append(gorLines, name, series(func(_ int, s sample) (float64, bool) {
			return float64(s.Procs[j].Goroutines), s.Procs[j].OK
		}))
	}
	for j, name := range edges {
		connLines = append(connLines, name, series(func(_ int, s sample) (float64, bool) {
			return float64(s.Conns[j]), ok(s)
		}))
	}
	last := samples[len(samples)-1]
	for _, c := range []struct {
		title, y string
		lines    []any
	}{
		{"RSS (VmRSS)", "MB", rssLines},
		{"goroutines", "goroutines", gorLines},
		{"Engine.IO connections (ClusterInfo)", "connections", connLines},
		{"fan-out", "per second", []any{
			"packets delivered to clients", perSecond(func(s sample) int64 { return s.Totals.Delivered }),
		}},
		{"client events and connects", "per second", []any{
			"client events sent", perSecond(func(s sample) int64 { return s.Totals.EventsSent }),
			"client events on a fast Subscribe stream", perSecond(func(s sample) int64 { return slices.Min(s.Totals.SubEvents) }),
			"events on the slow Subscribe stream", perSecond(func(s sample) int64 { return s.Totals.SlowEvents }),
			"connects", perSecond(func(s sample) int64 { return s.Totals.Connects }),
		}},
		{"dropped (cumulative)", "count", []any{
			fmt.Sprintf("the slow stream's events (it fell behind %d times)", last.Control["slow_streams"]),
			series(func(_ int, s sample) (float64, bool) { return float64(s.Control["stream_events_dropped"]), ok(s) }),
			"every other counter of the edges and control, summed",
			series(func(_ int, s sample) (float64, bool) { return float64(unexpectedDrops(s)), ok(s) }),
		}},
	} {
		p := newPanel(c.title, c.y)
		if err := plotutil.AddLines(p, c.lines...); err != nil {
			return err
		}
	}

	// One time axis for all; room above the lines for the legend.
	x0, x1 := minutes(samples[0]), minutes(last)
	for i, p := range panels {
		p.X.Min, p.X.Max = x0, x1
		p.Y.Min = 0
		p.Y.Max = max(p.Y.Max*1.5, 1)
		if i > 1 {
			continue
		}
		for _, w := range [][2]float64{early, late} {
			for _, x := range w {
				l, err := plotter.NewLine(plotter.XYs{{X: x / 60, Y: 0}, {X: x / 60, Y: p.Y.Max}})
				if err != nil {
					return err
				}
				l.Color = color.Gray{Y: 140}
				l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
				p.Add(l)
				if x == early[0] {
					p.Legend.Add("windows the growth check compares", l)
				}
			}
		}
	}

	const width, height = 28 * vg.Centimeter, 48 * vg.Centimeter
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadX: vg.Millimeter, PadY: 6 * vg.Millimeter,
		PadTop: 3 * vg.Millimeter, PadBottom: 3 * vg.Millimeter, PadLeft: 3 * vg.Millimeter, PadRight: 5 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
