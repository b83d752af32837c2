package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/bench/internal/latency"
)

// genSpec says how a pool's load generators connect.
type genSpec struct {
	targets     []string // base URLs, round-robin per client
	mode        string   // sio or raw
	transport   string   // websocket or polling
	namespace   string
	concurrency int // handshakes in flight per process
	perGen      int // clients per process at most
}

// loadgen is one load-generator process.
type loadgen struct {
	p       *proc
	clients int // clients asked for so far
}

// pool is a set of load generators used together; clients are added to the
// processes in order, each filled up to perGen.
type pool struct {
	r    *runner
	name string
	spec genSpec
	gens []*loadgen
}

// connectResult aggregates a connect, reconnect or heal over a pool.
type connectResult struct {
	Ready  int64            `json:"ready"`
	Failed int64            `json:"failed"`
	Open   int64            `json:"open"`
	Ms     float64          `json:"ms"` // slowest process, from command to last handshake
	HS     latency.Snapshot `json:"-"`
	Error  string           `json:"error,omitempty"`
}

// PerSecond is handshakes completed per second over the slowest process.
func (c connectResult) PerSecond() float64 {
	if c.Ms <= 0 {
		return 0
	}
	return float64(c.Ready) / (c.Ms / 1000)
}

// report aggregates the counts since the previous report.
type report struct {
	Msgs    int64
	Lat     latency.Snapshot
	Open    int64
	Dropped int64
	Error   string
	Spread  map[int64][3]int64 // while tracked: stamp -> first, last arrival (µs), frames
	// First is the earliest stamp and Last the latest arrival (µs since
	// the epoch) of the messages counted; 0 when none.
	First, Last int64
}

// add merges b, a later report, into r.
func (r *report) add(b report) {
	r.Msgs += b.Msgs
	r.Lat = latency.Merge(r.Lat, b.Lat)
	r.Open = b.Open
	r.Dropped += b.Dropped
	if r.Error == "" {
		r.Error = b.Error
	}
	r.Spread = mergeSpread(r.Spread, b.Spread)
	if b.First != 0 && (r.First == 0 || b.First < r.First) {
		r.First = b.First
	}
	r.Last = max(r.Last, b.Last)
}

// mergeSpread adds b's per-message arrivals to a (earliest first, latest
// last, frames summed) and returns a.
func mergeSpread(a, b map[int64][3]int64) map[int64][3]int64 {
	for t, e := range b {
		a = addSpread(a, t, e)
	}
	return a
}

// addSpread adds one message's arrivals e at one process to m.
func addSpread(m map[int64][3]int64, t int64, e [3]int64) map[int64][3]int64 {
	if m == nil {
		m = map[int64][3]int64{}
	}
	if o, ok := m[t]; ok {
		e = [3]int64{min(o[0], e[0]), max(o[1], e[1]), o[2] + e[2]}
	}
	m[t] = e
	return m
}

type genAnswer struct {
	Ev      string           `json:"ev"`
	Ready   int64            `json:"ready"`
	Failed  int64            `json:"failed"`
	Open    int64            `json:"open"`
	Ms      float64          `json:"ms"`
	HS      latency.Snapshot `json:"hs"`
	Msgs    int64            `json:"msgs"`
	Lat     latency.Snapshot `json:"lat"`
	Dropped int64            `json:"dropped"`
	Sids    []string         `json:"sids"`
	Error   string           `json:"error"`
	Spread  [][4]int64       `json:"spread"`
	First   int64            `json:"first"`
	Last    int64            `json:"last"`
}

func (r *runner) newPool(name string, spec genSpec) *pool {
	if spec.perGen <= 0 {
		spec.perGen = r.opt.PerLoadgen
	}
	if spec.concurrency <= 0 {
		spec.concurrency = 250
	}
	if spec.transport == "" {
		spec.transport = "websocket"
	}
	if spec.namespace == "" {
		spec.namespace = "/"
	}
	return &pool{r: r, name: name, spec: spec}
}

func (pl *pool) spawn(ctx context.Context) (*loadgen, error) {
	name := fmt.Sprintf("loadgen-%s%d", pl.name, len(pl.gens)+1)
	p, err := pl.r.procs.start(pl.r.procName(name), true, "", nil, pl.r.bins.loadgen,
		"--targets", strings.Join(pl.spec.targets, ","),
		"--mode", pl.spec.mode,
		"--transport", pl.spec.transport,
		"--ns", pl.spec.namespace,
		"--concurrency", fmt.Sprint(pl.spec.concurrency),
		"--max-duration", pl.r.childMaxDuration().String(),
	)
	if err != nil {
		return nil, err
	}
	g := &loadgen{p: p}
	if _, err := g.await(ctx, "started", 30*time.Second); err != nil {
		return nil, err
	}
	pl.gens = append(pl.gens, g)
	return g, nil
}

// await reads answers until one of kind ev arrives.
func (g *loadgen) await(ctx context.Context, ev string, timeout time.Duration) (*genAnswer, error) {
	deadline := time.Now().Add(timeout)
	for {
		line, err := g.p.next(ctx, time.Until(deadline))
		if err != nil {
			return nil, err
		}
		var a genAnswer
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("%s: bad answer %q: %w", g.p.name, line, err)
		}
		switch a.Ev {
		case ev:
			return &a, nil
		case "error", "timeout":
			return nil, fmt.Errorf("%s: %s %s", g.p.name, a.Ev, a.Error)
		}
	}
}

// each sends cmd(g) to every process that has one (cmd returns "" to skip)
// and awaits answer ev from each, concurrently.
func (pl *pool) each(ctx context.Context, ev string, timeout time.Duration, cmd func(*loadgen) string) ([]*genAnswer, error) {
	answers := make([]*genAnswer, len(pl.gens))
	errs := make([]error, len(pl.gens))
	var wg sync.WaitGroup
	for i, g := range pl.gens {
		c := cmd(g)
		if c == "" {
			continue
		}
		if err := g.p.send(c); err != nil {
			errs[i] = fmt.Errorf("%s: %w", g.p.name, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = g.await(ctx, ev, timeout)
		}()
	}
	wg.Wait()
	return answers, errors.Join(errs...)
}

func (pl *pool) clients() int {
	n := 0
	for _, g := range pl.gens {
		n += g.clients
	}
	return n
}

// grow adds n clients, spawning processes as needed, and waits until each
// is connected or has failed. All processes start connecting together.
func (pl *pool) grow(ctx context.Context, n int) (connectResult, error) {
	add := make(map[*loadgen]int)
	for n > 0 {
		var g *loadgen
		for _, cand := range pl.gens {
			if cand.clients < pl.spec.perGen {
				g = cand
				break
			}
		}
		if g == nil {
			var err error
			if g, err = pl.spawn(ctx); err != nil {
				return connectResult{}, err
			}
		}
		k := min(n, pl.spec.perGen-g.clients)
		g.clients += k
		add[g] += k
		n -= k
	}
	timeout := 60*time.Second + time.Duration(pl.spec.perGen)*5*time.Millisecond
	answers, err := pl.each(ctx, "ready", timeout, func(g *loadgen) string {
		if add[g] == 0 {
			return ""
		}
		return fmt.Sprintf("connect %d", add[g])
	})
	return aggregateConnect(answers, pl.openAfter(answers)), err
}

// openAfter sums the open counts of the answering processes and assumes
// the others unchanged (they were not asked).
func (pl *pool) openAfter(answers []*genAnswer) int64 {
	var n int64
	for i, a := range answers {
		if a != nil {
			n += a.Open
		} else {
			n += int64(pl.gens[i].clients) // not asked: as last known
		}
	}
	return n
}

func aggregateConnect(answers []*genAnswer, open int64) connectResult {
	var c connectResult
	for _, a := range answers {
		if a == nil {
			continue
		}
		c.Ready += a.Ready
		c.Failed += a.Failed
		c.Ms = max(c.Ms, a.Ms)
		c.HS = latency.Merge(c.HS, a.HS)
		if a.Error != "" && c.Error == "" {
			c.Error = a.Error
		}
	}
	c.Open = open
	return c
}

// report collects and resets every process's counts.
func (pl *pool) report(ctx context.Context) (report, error) {
	answers, err := pl.each(ctx, "report", 20*time.Second, func(*loadgen) string { return "report" })
	var r report
	for _, a := range answers {
		if a == nil {
			continue
		}
		r.Msgs += a.Msgs
		r.Lat = latency.Merge(r.Lat, a.Lat)
		r.Open += a.Open
		r.Dropped += a.Dropped
		for _, row := range a.Spread {
			r.Spread = addSpread(r.Spread, row[0], [3]int64{row[1], row[2], row[3]})
		}
		if a.First != 0 && (r.First == 0 || a.First < r.First) {
			r.First = a.First
		}
		r.Last = max(r.Last, a.Last)
		if a.Error != "" && r.Error == "" {
			r.Error = a.Error
		}
	}
	return r, err
}

// trackSpread turns per-message first and last arrival tracking on or off
// in every process.
func (pl *pool) trackSpread(ctx context.Context, on bool) error {
	arg := "spread off"
	if on {
		arg = "spread on"
	}
	_, err := pl.each(ctx, "spread", 20*time.Second, func(*loadgen) string { return arg })
	return err
}

// sids lists the Socket.IO ids of the open clients.
func (pl *pool) sids(ctx context.Context) ([]string, error) {
	answers, err := pl.each(ctx, "sids", 20*time.Second, func(*loadgen) string { return "sids" })
	var out []string
	for _, a := range answers {
		if a != nil {
			out = append(out, a.Sids...)
		}
	}
	return out, err
}

// reconnect closes every client and reconnects them all at once.
func (pl *pool) reconnect(ctx context.Context) (connectResult, error) {
	answers, err := pl.each(ctx, "reconnected", 120*time.Second, func(*loadgen) string { return "reconnect" })
	return aggregateConnect(answers, pl.openAfter(answers)), err
}

// heal reconnects the clients that were dropped.
func (pl *pool) heal(ctx context.Context) (connectResult, error) {
	answers, err := pl.each(ctx, "healed", 120*time.Second, func(*loadgen) string { return "heal" })
	return aggregateConnect(answers, pl.openAfter(answers)), err
}

// close quits every process of the pool.
func (pl *pool) close() {
	var wg sync.WaitGroup
	for _, g := range pl.gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.p.send("quit") == nil {
				select {
				case <-g.p.done:
				case <-time.After(5 * time.Second):
				}
			}
			g.p.stop(3 * time.Second)
		}()
	}
	wg.Wait()
	pl.gens = nil
}
