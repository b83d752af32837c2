package harness

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/switchboard-rt/switchboard/bench/internal/latency"
)

const drain = 250 * time.Millisecond // after a phase, for frames in flight

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// growTo connects clients until the pool holds n, and checks they all are.
func (r *runner) growTo(ctx context.Context, pl *pool, n int) (ConnectSummary, error) {
	add := n - pl.clients()
	if add <= 0 {
		return ConnectSummary{}, nil
	}
	c, err := pl.grow(ctx, add)
	sum := summarizeConnect(c)
	if err != nil {
		return sum, err
	}
	if c.Failed > 0 || c.Open != int64(n) {
		return sum, fmt.Errorf("%d of %d clients connected (%d failed; last error: %s)", c.Open, n, c.Failed, c.Error)
	}
	r.logf("%s: %d clients (+%d in %.0f ms, %.0f/s)", pl.name, n, add, c.Ms, c.PerSecond())
	return sum, nil
}

// quiesce waits until no frame arrives for a while (a backlog drained) and
// reconnects clients that were dropped; ready then re-admits them.
func (r *runner) quiesce(ctx context.Context, sys system, pl *pool, n int) error {
	for i := 0; i < 40; i++ {
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return err
		}
		rep, err := pl.report(ctx)
		if err != nil {
			return err
		}
		if rep.Msgs == 0 {
			break
		}
	}
	rep, err := pl.report(ctx)
	if err != nil {
		return err
	}
	if rep.Open < int64(n) {
		r.logf("%s: %d of %d clients open, reconnecting the others", pl.name, rep.Open, n)
		h, err := pl.heal(ctx)
		if err != nil {
			return err
		}
		if h.Open < int64(n) {
			return fmt.Errorf("only %d of %d clients back (%s)", h.Open, n, h.Error)
		}
		return sys.ready(ctx, n)
	}
	return nil
}

// phase broadcasts at rate messages/s for dur and measures at the clients.
// With split, the clients also report at half time, so that the two
// halves' median latencies show whether a backlog builds up.
func (r *runner) phase(ctx context.Context, sys system, pl *pool, n int, rate float64, dur time.Duration, split bool) (Phase, error) {
	ph := Phase{OfferedMsgsPerSec: rate, OfferedFramesPerSec: rate * float64(n), DurationSec: dur.Seconds()}
	if _, err := pl.report(ctx); err != nil { // reset
		return ph, err
	}
	var first report
	var firstErr error
	firstDone := make(chan struct{})
	if split {
		go func() {
			defer close(firstDone)
			sleep(ctx, dur/2)
			first, firstErr = pl.report(ctx)
		}()
	} else {
		close(firstDone)
	}
	cpu := startCPU(sys, pl)
	sent, err := sys.broadcast(ctx, rate, dur)
	<-firstDone
	sleep(ctx, drain)
	rep, rerr := pl.report(ctx)
	ph.CPUPercent, ph.LoadCPUPercent, ph.DriverCPUPercent = cpu.stop()
	err = errors.Join(err, firstErr, rerr)
	if split {
		ph.P50FirstHalf = first.Lat.Summarize().P50
		ph.P50SecondHalf = rep.Lat.Summarize().P50
		rep = report{
			Msgs:    first.Msgs + rep.Msgs,
			Lat:     latency.Merge(first.Lat, rep.Lat),
			Open:    rep.Open,
			Dropped: first.Dropped + rep.Dropped,
			Error:   cmp.Or(rep.Error, first.Error),
			Spread:  mergeSpread(first.Spread, rep.Spread),
		}
	}
	ph.fill(sent, int64(n), rep, dur)
	if err != nil {
		ph.Error = err.Error()
	}
	return ph, err
}

func (ph *Phase) fill(sent, n int64, rep report, window time.Duration) {
	ph.Sent = sent
	ph.Expected = sent * n
	ph.Delivered = rep.Msgs
	ph.DeliveredFramesPerSec = math.Round(float64(min(rep.Msgs, max(ph.Expected, 0))) / window.Seconds())
	if ph.Expected == 0 { // flat out: the window's deliveries are the measure
		ph.DeliveredFramesPerSec = math.Round(float64(rep.Msgs) / window.Seconds())
	}
	ph.Latency = rep.Lat.Summarize()
	if len(rep.Spread) > 0 {
		var first, last latency.Histogram
		ms := &MessageSpread{Messages: len(rep.Spread)}
		for _, e := range rep.Spread {
			first.Record(e[0])
			if e[2] >= n {
				ms.Complete++
				last.Record(e[1])
			}
		}
		ms.First, ms.Last = first.Snapshot(false).Summarize(), last.Snapshot(false).Summarize()
		ph.PerMessage = ms
	}
	ph.Open = rep.Open
	ph.Dropped = rep.Dropped
	if rep.Error != "" && rep.Dropped > 0 {
		ph.Error = "client error: " + rep.Error
	}
}

// flatOut has the server send as fast as it goes for warm+measure and
// counts what the clients receive during the measured window only.
func (r *runner) flatOut(ctx context.Context, sys system, pl *pool, n int) (Phase, error) {
	warm, measure := r.opt.StepDur/2, r.opt.MeasureDur
	ph := Phase{DurationSec: measure.Seconds()}
	done := make(chan error, 1)
	var sent int64
	go func() {
		var err error
		sent, err = sys.broadcast(ctx, 0, warm+measure+drain)
		done <- err
	}()
	sleep(ctx, warm)
	pl.report(ctx) // discard the ramp-up
	cpu := startCPU(sys, pl)
	t0 := time.Now()
	sleep(ctx, measure)
	rep, err := pl.report(ctx)
	ph.CPUPercent, ph.LoadCPUPercent, ph.DriverCPUPercent = cpu.stop()
	if berr := <-done; err == nil {
		err = berr
	}
	ph.fill(0, int64(n), rep, time.Since(t0))
	ph.Sent = sent
	ph.OfferedMsgsPerSec = math.Round(float64(sent) / (warm + measure + drain).Seconds())
	ph.OfferedFramesPerSec = ph.OfferedMsgsPerSec * float64(n)
	if err != nil {
		ph.Error = err.Error()
	}
	return ph, err
}

// A step whose second half has a median latency above backlogFactor times
// the first half's plus backlogSlackMs is building a backlog: the system
// does not keep up. (A fixed latency bound would not do: one message to
// 10,000 sockets takes ~100 ms to write out on this machine, whatever the
// rate, while 1,000 sockets take a few ms.)
const (
	backlogFactor  = 1.3
	backlogSlackMs = 25.0
)

// sustainable says whether a ramp step kept up: the rate was offered,
// (nearly) every frame arrived within the step plus a short drain, the
// median latency did not grow from the first half of the step to the second
// (a backlog), the tail stayed under MaxP99 and no client was dropped.
func (r *runner) sustainable(ph Phase, rate float64, dur time.Duration) (bool, string) {
	switch {
	case ph.Error != "":
		return false, ph.Error
	case float64(ph.Sent) < 0.95*rate*dur.Seconds():
		return false, fmt.Sprintf("sender offered %d of %.0f messages", ph.Sent, rate*dur.Seconds())
	case float64(ph.Delivered) < 0.97*float64(ph.Expected):
		return false, fmt.Sprintf("delivered %d of %d frames", ph.Delivered, ph.Expected)
	case ph.Latency.P99 > float64(r.opt.MaxP99.Milliseconds()):
		return false, fmt.Sprintf("p99 %.1f ms > %v", ph.Latency.P99, r.opt.MaxP99)
	case ph.P50SecondHalf > backlogFactor*ph.P50FirstHalf+backlogSlackMs:
		return false, fmt.Sprintf("backlog: p50 %.1f ms in the first half, %.1f ms in the second", ph.P50FirstHalf, ph.P50SecondHalf)
	case ph.Dropped > 0:
		return false, fmt.Sprintf("%d clients dropped", ph.Dropped)
	}
	return true, ""
}

// step measures one ramp rate. A clear outcome (far from the limit, or
// plainly over it) takes one trial; a marginal one is repeated until two
// trials agree (three at most), so that on a shared 2-core machine a single
// noisy trial neither ends the ramp early nor lifts the maximum. tried holds
// the trials before the deciding one.
func (r *runner) step(ctx context.Context, sys system, pl *pool, n int, rate float64) (ph Phase, ok bool, why string, tried []Phase, err error) {
	votes := map[bool]int{}
	for trial := 0; trial < 3; trial++ {
		ph, err = r.phase(ctx, sys, pl, n, rate, r.opt.StepDur, true)
		ok, why = r.sustainable(ph, rate, r.opt.StepDur)
		clear := r.clearVerdict(ph, rate, ok)
		if err != nil || ctx.Err() != nil || (trial == 0 && clear) {
			return ph, ok, why, tried, err
		}
		votes[ok]++
		if votes[ok] == 2 {
			return ph, ok, why, tried, nil
		}
		ph.Pass, ph.Why = &ok, why
		tried = append(tried, ph)
		r.logf("  step %.1f msg/s (%.0f frames/s) trial %d: %v %s (p50 %.1f->%.1f ms); measuring again", rate, rate*float64(n), trial+1, ok, why, ph.P50FirstHalf, ph.P50SecondHalf)
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			return ph, false, err.Error(), tried, err
		}
	}
	return ph, ok, why, tried, nil
}

// clearVerdict says whether a trial's outcome is far from the line: a pass
// with a flat median latency, or a failure by a wide margin.
func (r *runner) clearVerdict(ph Phase, rate float64, ok bool) bool {
	if ok {
		return float64(ph.Sent) >= 0.98*rate*r.opt.StepDur.Seconds() && ph.P50SecondHalf <= 1.1*ph.P50FirstHalf+10
	}
	return ph.Error != "" || ph.Dropped > 0 ||
		float64(ph.Sent) < 0.8*rate*r.opt.StepDur.Seconds() ||
		float64(ph.Delivered) < 0.8*float64(ph.Expected) ||
		ph.P50SecondHalf > 2*ph.P50FirstHalf+100
}

// ramp raises the offered rate geometrically from the reference rate until
// a step is not sustainable, then bisects; the best sustainable step is the
// maximum.
func (r *runner) ramp(ctx context.Context, sys system, pl *pool, n int) (best *Phase, steps []Phase, err error) {
	rate := r.opt.RefFrameRate / float64(n)
	const growth = 1.6
	var pass, fail float64 // highest passing, lowest failing rate
	for i := 0; i < r.opt.MaxSteps && ctx.Err() == nil; i++ {
		ph, ok, why, tried, _ := r.step(ctx, sys, pl, n, rate) // a phase error fails the step (ph.Error)
		steps = append(steps, tried...)
		if err := ctx.Err(); err != nil {
			return best, steps, err
		}
		ph.Pass = &ok
		ph.Why = why
		steps = append(steps, ph)
		r.logf("  step %.1f msg/s (%.0f frames/s): delivered %.0f frames/s, p50 %.1f->%.1f p99 %.1f ms, cpu server %.0f%% load %.0f%% driver %.0f%% -> %v %s",
			rate, rate*float64(n), ph.DeliveredFramesPerSec, ph.P50FirstHalf, ph.P50SecondHalf, ph.Latency.P99, ph.CPUPercent, ph.LoadCPUPercent, ph.DriverCPUPercent, ok, why)
		if ok {
			pass = rate
			b := ph
			best = &b
		} else {
			fail = rate
			if err := r.quiesce(ctx, sys, pl, n); err != nil {
				return best, steps, fmt.Errorf("after step at %.1f msg/s: %w", rate, err)
			}
		}
		switch {
		case fail == 0:
			rate *= growth
		case pass == 0:
			rate /= 2
			if rate*float64(n) < 100 {
				return nil, steps, errors.New("not even 100 frames/s sustainable")
			}
		case fail/pass < 1.12:
			return best, steps, nil
		default:
			rate = math.Sqrt(pass * fail)
		}
	}
	if best == nil {
		return nil, steps, errors.New("no sustainable step")
	}
	return best, steps, nil
}

// ---------------------------------------------------------------- 1. fan-out

// roomSizes runs a scenario of rooms (fan-out, burst) on sys: it starts
// sys, with Options.FanoutEdges edges for Switchboard and one process for
// the others, and one pool of WebSocket clients that grows from size to
// size, and calls size for each of sizes in order, for the size's
// results. If sys does not start, or once ctx ends, each size not run
// gets failed's result instead.
func roomSizes[R any](ctx context.Context, r *runner, sys system, sizes []int, size func(pl *pool, n, edges int) []R, failed func(n, edges int, err error) R) []R {
	edges := 1
	if isSwitchboard(sys.name()) {
		edges = r.opt.FanoutEdges
	}
	var out []R
	ran := 0 // sizes run; a size may give more than one result
	fail := func(err error) []R {
		for _, n := range sizes[ran:] {
			out = append(out, failed(n, edges, err))
		}
		return out
	}
	if err := sys.start(ctx, edges); err != nil {
		return fail(err)
	}
	defer sys.stop()
	pl := r.newPool("clients", sys.spec("websocket", false))
	defer pl.close()
	for _, n := range sizes {
		out = append(out, size(pl, n, edges)...)
		ran++
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
	return out
}

func (r *runner) fanout(ctx context.Context, sys system) []FanoutResult {
	return roomSizes(ctx, r, sys, r.opt.FanoutSizes, func(pl *pool, n, edges int) []FanoutResult {
		res := FanoutResult{System: sys.name(), N: n, Edges: edges}
		if err := r.fanoutSize(ctx, sys, pl, n, &res); err != nil {
			res.Error = err.Error()
			r.logf("  %s N=%d: %v", sys.name(), n, err)
		}
		return []FanoutResult{res}
	}, func(n, edges int, err error) FanoutResult {
		return FanoutResult{System: sys.name(), N: n, Edges: edges, Error: err.Error()}
	})
}

// prepareRoom makes the room of n clients that a fan-out or a burst
// measures: it grows the pool to n (how that went in *connect), waits
// until sys has them all in the room, runs warm once, not counted, and
// lets the system quiesce.
func (r *runner) prepareRoom(ctx context.Context, sys system, pl *pool, n int, connect *ConnectSummary, warm func() error) error {
	c, err := r.growTo(ctx, pl, n)
	*connect = c
	if err != nil {
		return err
	}
	if err := sys.ready(ctx, n); err != nil {
		return err
	}
	if err := warm(); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return r.quiesce(ctx, sys, pl, n)
}

func (r *runner) fanoutSize(ctx context.Context, sys system, pl *pool, n int, res *FanoutResult) error {
	// Warm up: subscriptions, connections, JIT.
	if err := r.prepareRoom(ctx, sys, pl, n, &res.Connect, func() error {
		_, err := r.phase(ctx, sys, pl, n, r.opt.RefFrameRate/float64(n), r.opt.StepDur/2, false)
		return err
	}); err != nil {
		return err
	}
	// The reference rate first, on a fresh system for everyone: after a run
	// at the maximum, heaps and queues are large and the runtime is still
	// returning memory, which made this p99 swing by 2x between runs. Twice
	// the measured phase, for a steadier p99. Each message's first and last
	// arrival is tracked too: they split the latency into the path to the
	// server's first write and the fan-out itself.
	if err := pl.trackSpread(ctx, true); err != nil {
		return err
	}
	prof := r.profile(ctx, sys, 0, 2*r.opt.MeasureDur, fmt.Sprintf("fanout-paced-N%d", n))
	ref, err := r.phase(ctx, sys, pl, n, r.opt.RefFrameRate/float64(n), 2*r.opt.MeasureDur, false)
	prof()
	res.Ref = &ref
	r.logf("  ref rate %.0f frames/s: p50 %.2f p99 %.2f p999 %.2f ms", ref.OfferedFramesPerSec, ref.Latency.P50, ref.Latency.P99, ref.Latency.P999)
	if err := errors.Join(err, pl.trackSpread(ctx, false)); err != nil {
		return err
	}
	if err := r.quiesce(ctx, sys, pl, n); err != nil {
		return err
	}
	if isCeiling(sys.name()) {
		res.Method = "flat out, blocking on full per-connection queues"
		ph, err := r.flatOut(ctx, sys, pl, n)
		if err != nil {
			return err
		}
		res.Max = &ph
		res.MaxFramesPerSec = ph.DeliveredFramesPerSec
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			return err
		}
	} else {
		res.Method = fmt.Sprintf("ramp of %v steps from %.0f frames/s (x1.6, then bisection): highest step with >=97%% delivered within %v, median latency of the second half <= %.1fx the first half's + %.0f ms (no backlog), p99 <= %v, no drop", r.opt.StepDur, r.opt.RefFrameRate, drain, backlogFactor, backlogSlackMs, r.opt.MaxP99)
		best, steps, err := r.ramp(ctx, sys, pl, n)
		res.Steps = steps
		if best != nil {
			res.Max = best
			res.MaxFramesPerSec = best.DeliveredFramesPerSec
		}
		if err != nil {
			return err
		}
	}
	res.MaxMsgsPerSec = math.Round(res.MaxFramesPerSec/float64(n)*10) / 10
	r.logf("  %s N=%d: max %.0f frames/s", sys.name(), n, res.MaxFramesPerSec)

	half, err := r.phase(ctx, sys, pl, n, res.MaxFramesPerSec/2/float64(n), r.opt.MeasureDur, false)
	res.Half = &half
	r.logf("  half rate %.0f frames/s: p50 %.2f p99 %.2f p999 %.2f ms", half.OfferedFramesPerSec, half.Latency.P50, half.Latency.P99, half.Latency.P999)
	if err != nil {
		return err
	}
	return r.quiesce(ctx, sys, pl, n)
}

// ---------------------------------------------------------------- 2. burst

func (r *runner) burst(ctx context.Context, sys system) []BurstResult {
	return roomSizes(ctx, r, sys, r.opt.BurstSizes, func(pl *pool, n, edges int) []BurstResult {
		res := BurstResult{System: sys.name(), N: n, Edges: edges, Messages: r.opt.BurstMessages}
		if err := r.burstSize(ctx, sys, pl, n, &res); err != nil {
			res.Error = err.Error()
			r.logf("  %s N=%d: %v", sys.name(), n, err)
		}
		out := []BurstResult{res}
		if a, ok := sys.(*adminSys); ok && a.sys == Ceiling && res.Error == "" {
			in := BurstResult{System: CeilingInHand, N: n, Edges: edges, Messages: r.opt.BurstMessages, Connect: res.Connect}
			a.inHand = true
			err := r.burstReps(ctx, sys, pl, n, &in, true)
			a.inHand = false
			if err != nil {
				in.Error = err.Error()
				r.logf("  %s N=%d: %v", CeilingInHand, n, err)
			}
			out = append(out, in)
		}
		return out
	}, func(n, edges int, err error) BurstResult {
		return BurstResult{System: sys.name(), N: n, Edges: edges, Messages: r.opt.BurstMessages, Error: err.Error()}
	})
}

func (r *runner) burstSize(ctx context.Context, sys system, pl *pool, n int, res *BurstResult) error {
	// Warm-up: one burst, not counted; then, with a profile directory, one
	// more under the profilers (not counted either: profiling costs CPU).
	if err := r.prepareRoom(ctx, sys, pl, n, &res.Connect, func() error {
		_, err := r.burstOnce(ctx, sys, pl, n)
		return err
	}); err != nil {
		return err
	}
	if r.hasProfiler(sys) {
		// The profiles cover the burst and its delivery: it starts a moment
		// after them and has the rest of the window (a burst that takes
		// longer is cut; the window is in the file names' phase).
		window := min(r.opt.BurstTimeout, 5*time.Second)
		prof := r.profile(ctx, sys, 0, window, fmt.Sprintf("burst-N%d", n))
		sleep(ctx, 200*time.Millisecond)
		_, err := r.burstOnce(ctx, sys, pl, n)
		prof()
		if err != nil {
			return fmt.Errorf("profiled burst: %w", err)
		}
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			return err
		}
	}
	return r.burstReps(ctx, sys, pl, n, res, false)
}

// burstReps measures Options.BurstReps bursts into res, after a warm-up
// burst when warm.
func (r *runner) burstReps(ctx context.Context, sys system, pl *pool, n int, res *BurstResult, warm bool) error {
	if warm {
		if _, err := r.burstOnce(ctx, sys, pl, n); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			return err
		}
	}
	var errs []error
	for i := range r.opt.BurstReps {
		rep, err := r.burstOnce(ctx, sys, pl, n)
		res.Reps = append(res.Reps, rep)
		r.logf("  %s N=%d burst %d: %s of %s frames in %.1f ms, %s frames/s, p50 %.1f p99 %.1f ms, cpu server %.0f%% load %.0f%% driver %.0f%%",
			res.System, n, i+1, num(float64(rep.Delivered)), num(float64(rep.Expected)), rep.DurationMs, num(rep.FramesPerSec), rep.Latency.P50, rep.Latency.P99, rep.CPUPercent, rep.LoadCPUPercent, rep.DriverCPUPercent)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			errs = append(errs, err)
			break
		}
	}
	res.summarize()
	return errors.Join(errs...)
}

// burstOnce sends one burst of Options.BurstMessages and waits until every
// frame arrived (sent × n) or Options.BurstTimeout passed, collecting the
// clients' counts meanwhile. The duration runs from the earliest stamp (the
// first send) to the latest arrival; a burst missing frames at the timeout
// is recorded as incomplete, its rate over what arrived.
func (r *runner) burstOnce(ctx context.Context, sys system, pl *pool, n int) (BurstRep, error) {
	var rep BurstRep
	if _, err := pl.report(ctx); err != nil { // reset
		return rep, err
	}
	type sendResult struct {
		sent int64
		err  error
	}
	done := make(chan sendResult, 1)
	cpu := startCPU(sys, pl)
	go func() {
		sent, err := sys.burst(ctx, r.opt.BurstMessages)
		done <- sendResult{sent, err}
	}()
	var (
		acc      report
		sent     = int64(-1) // unknown until the send returns
		sendErr  error
		deadline = time.Now().Add(r.opt.BurstTimeout)
	)
	for {
		select {
		case sr := <-done:
			sent, sendErr = sr.sent, sr.err
			done = nil
		default:
		}
		if sent >= 0 && (acc.Msgs >= sent*int64(n) || sendErr != nil && sent == 0) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			break
		}
		got, err := pl.report(ctx)
		if err != nil {
			sendErr = errors.Join(sendErr, err)
			break
		}
		acc.add(got)
	}
	rep.CPUPercent, rep.LoadCPUPercent, rep.DriverCPUPercent = cpu.stop()
	if done != nil { // timed out before the send returned
		sr := <-done
		sent, sendErr = sr.sent, errors.Join(sendErr, sr.err)
	}
	rep.Sent = sent
	rep.Expected = sent * int64(n)
	rep.Delivered = acc.Msgs
	rep.Complete = rep.Expected > 0 && rep.Delivered >= rep.Expected
	rep.Latency = acc.Lat.Summarize()
	rep.Dropped = acc.Dropped
	if acc.First > 0 && acc.Last > acc.First {
		rep.DurationMs = float64(acc.Last-acc.First) / 1000
		rep.FramesPerSec = math.Round(float64(acc.Msgs) / (rep.DurationMs / 1000))
	}
	var err error
	switch {
	case sendErr != nil:
		err = sendErr
	case !rep.Complete:
		err = fmt.Errorf("%d of %d frames arrived within %v", rep.Delivered, rep.Expected, r.opt.BurstTimeout)
	case rep.Dropped > 0:
		err = fmt.Errorf("%d clients dropped (%s)", rep.Dropped, acc.Error)
	}
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, err
}

// ---------------------------------------------------------------- 3. memory

func (r *runner) memory(ctx context.Context, sys system) []MemoryResult {
	var out []MemoryResult
	// Idle WebSockets on one process, growing through the sizes.
	out = append(out, r.memCase(ctx, sys, "websocket, one process", 1, "websocket", r.opt.MemWS)...)
	if sys.name() == Switchboard && r.opt.MemCluster > 0 {
		out = append(out, r.memCase(ctx, sys, fmt.Sprintf("websocket, %d edges", r.opt.MemEdges), r.opt.MemEdges, "websocket", []int{r.opt.MemCluster})...)
	}
	if sys.polling() && r.opt.MemPolling > 0 {
		out = append(out, r.memCase(ctx, sys, "polling, one process", 1, "polling", []int{r.opt.MemPolling})...)
	}
	return out
}

func (r *runner) memCase(ctx context.Context, sys system, name string, edges int, transport string, sizes []int) []MemoryResult {
	var out []MemoryResult
	fail := func(err error) []MemoryResult {
		for _, n := range sizes[len(out):] {
			out = append(out, MemoryResult{System: sys.name(), Case: name, Processes: edges, Conns: n, Error: err.Error()})
		}
		return out
	}
	if err := sys.start(ctx, edges); err != nil {
		return fail(err)
	}
	defer sys.stop()
	if err := sleep(ctx, r.opt.Settle); err != nil {
		return fail(err)
	}
	pids := sys.memPIDs()
	before, err := rssAll(pids)
	if err != nil {
		return fail(err)
	}
	pl := r.newPool("clients", sys.spec(transport, false))
	defer pl.close()
	for _, n := range sizes {
		res := MemoryResult{System: sys.name(), Case: name, Processes: edges, Conns: n, RSSBeforeKB: before}
		c, err := r.growTo(ctx, pl, n)
		res.Connect = c
		if err == nil {
			err = sleep(ctx, r.opt.Settle)
		}
		if err == nil {
			var rep report
			if rep, err = pl.report(ctx); err == nil && rep.Open != int64(n) {
				err = fmt.Errorf("%d of %d connections open after settling (%s)", rep.Open, n, rep.Error)
			}
		}
		if err == nil {
			res.RSSAfterKB, err = rssAll(pids)
		}
		if err != nil {
			res.Error = err.Error()
			out = append(out, res)
			return fail(err)
		}
		var delta int64
		for i := range pids {
			delta += res.RSSAfterKB[i] - before[i]
		}
		res.PerConnKB = math.Round(float64(delta)/float64(n)*100) / 100
		r.logf("  %s %s: %d conns, %.2f KB each (RSS %v -> %v KB)", sys.name(), name, n, res.PerConnKB, before, res.RSSAfterKB)
		out = append(out, res)
	}
	return out
}

func rssAll(pids []int) ([]int64, error) {
	out := make([]int64, len(pids))
	for i, pid := range pids {
		v, err := rssKB(pid)
		if err != nil {
			return nil, fmt.Errorf("RSS of pid %d: %w", pid, err)
		}
		out[i] = v
	}
	return out, nil
}

// ---------------------------------------------------------------- 4. connect storm

func (r *runner) connect(ctx context.Context, sys system) ConnectResult {
	res := ConnectResult{System: sys.name(), Clients: r.opt.StormClients, Observers: r.opt.StormObservers, Concurrency: r.opt.StormConcurrency}
	if err := r.connectRun(ctx, sys, &res); err != nil {
		res.Error = err.Error()
		r.logf("  %s: %v", sys.name(), err)
	}
	return res
}

func (r *runner) connectRun(ctx context.Context, sys system, res *ConnectResult) error {
	if err := sys.start(ctx, 1); err != nil {
		return err
	}
	defer sys.stop()
	spec := sys.spec("websocket", true)
	spec.perGen = (r.opt.StormClients + r.opt.StormGens - 1) / r.opt.StormGens
	spec.concurrency = max(1, r.opt.StormConcurrency/r.opt.StormGens)
	storm := r.newPool("storm", spec)
	defer storm.close()
	// Spawn the processes first so that the measured connect is only the
	// handshakes, all processes starting together.
	for range r.opt.StormGens {
		if _, err := storm.spawn(ctx); err != nil {
			return err
		}
	}
	cpu := startCPU(sys, storm)
	c, err := storm.grow(ctx, r.opt.StormClients)
	res.WS = summarizeConnect(c)
	res.WS.ServerCPUPercent, res.WS.LoadCPUPercent, _ = cpu.stop()
	r.logf("  %d WebSocket connects: %.0f/s, handshake p50 %.2f p99 %.2f ms, %d failed, cpu server %.0f%% clients %.0f%%", c.Ready, c.PerSecond(), res.WS.Handshake.P50, res.WS.Handshake.P99, c.Failed, res.WS.ServerCPUPercent, res.WS.LoadCPUPercent)
	if err != nil {
		return err
	}
	if c.Open != int64(r.opt.StormClients) {
		return fmt.Errorf("%d of %d storm clients connected (%s)", c.Open, r.opt.StormClients, c.Error)
	}

	obs := r.newPool("observers", sys.spec("websocket", false))
	defer obs.close()
	if _, err := r.growTo(ctx, obs, r.opt.StormObservers); err != nil {
		return err
	}
	if err := sys.ready(ctx, r.opt.StormObservers); err != nil {
		return err
	}
	// A steady stream to the observers, in short chunks until told to stop.
	rate := r.opt.RefFrameRate / float64(r.opt.StormObservers)
	res.StreamFramesPerSec = r.opt.RefFrameRate
	stop := make(chan struct{})
	streamDone := make(chan error, 1)
	go func(stop <-chan struct{}) {
		for {
			select {
			case <-stop:
				streamDone <- nil
				return
			default:
			}
			if _, err := sys.broadcast(ctx, rate, 250*time.Millisecond); err != nil || ctx.Err() != nil {
				streamDone <- errors.Join(err, ctx.Err())
				return
			}
		}
	}(stop)
	var streamErr error
	stopStream := func() error {
		if stop != nil {
			close(stop)
			stop = nil
			streamErr = <-streamDone
		}
		return streamErr
	}
	defer stopStream()
	sleep(ctx, r.opt.StepDur/2)
	obs.report(ctx)
	sleep(ctx, r.opt.MeasureDur)
	base, err := obs.report(ctx)
	if err != nil {
		return err
	}
	res.Baseline = base.Lat.Summarize()

	t0 := time.Now()
	cpu = startCPU(sys, storm)
	rc, err := storm.reconnect(ctx)
	res.ReconnectMs = math.Round(float64(time.Since(t0).Microseconds())/100) / 10
	res.Reconnect = summarizeConnect(rc)
	res.Reconnect.ServerCPUPercent, res.Reconnect.LoadCPUPercent, _ = cpu.stop()
	during, rerr := obs.report(ctx)
	res.DuringStorm = during.Lat.Summarize()
	res.ObserverDrops = during.Dropped
	r.logf("  reconnect of %d: %.0f ms; observers p99 %.2f ms before, %.2f ms during (max %.2f)", rc.Ready, res.ReconnectMs, res.Baseline.P99, res.DuringStorm.P99, res.DuringStorm.Max)
	if err := errors.Join(err, rerr, stopStream()); err != nil {
		return err
	}
	if rc.Open != int64(r.opt.StormClients) {
		return fmt.Errorf("%d of %d clients back after the storm (%s)", rc.Open, r.opt.StormClients, rc.Error)
	}
	storm.close()
	obs.close()

	if sys.polling() && r.opt.StormPolling > 0 {
		pspec := sys.spec("polling", true)
		pspec.perGen = (r.opt.StormPolling + r.opt.StormGens - 1) / r.opt.StormGens
		pspec.concurrency = spec.concurrency
		pp := r.newPool("polling", pspec)
		defer pp.close()
		for range r.opt.StormGens {
			if _, err := pp.spawn(ctx); err != nil {
				return err
			}
		}
		cpu := startCPU(sys, pp)
		pc, err := pp.grow(ctx, r.opt.StormPolling)
		s := summarizeConnect(pc)
		s.ServerCPUPercent, s.LoadCPUPercent, _ = cpu.stop()
		res.Polling = &s
		r.logf("  %d polling connects: %.0f/s, handshake p50 %.2f p99 %.2f ms, %d failed", pc.Ready, pc.PerSecond(), s.Handshake.P50, s.Handshake.P99, pc.Failed)
		if err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- 5. unicast

func (r *runner) unicast(ctx context.Context, sys system) UnicastResult {
	res := UnicastResult{System: sys.name(), Clients: r.opt.UnicastClients, LowRate: r.opt.UnicastLowRate}
	if sys.name() == Switchboard {
		res.Callers = r.opt.UnicastCallers
	}
	if err := r.unicastRun(ctx, sys, &res); err != nil {
		res.Error = err.Error()
		r.logf("  %s: %v", sys.name(), err)
	}
	return res
}

func (r *runner) unicastRun(ctx context.Context, sys system, res *UnicastResult) error {
	if err := sys.start(ctx, 1); err != nil {
		return err
	}
	defer sys.stop()
	n := r.opt.UnicastClients
	pl := r.newPool("clients", sys.spec("websocket", false))
	defer pl.close()
	if _, err := r.growTo(ctx, pl, n); err != nil {
		return err
	}
	var sids []string
	if sys.name() == Switchboard {
		var err error
		if sids, err = pl.sids(ctx); err != nil {
			return err
		}
		if len(sids) != n {
			return fmt.Errorf("%d sids for %d clients", len(sids), n)
		}
	}
	// Warm-up.
	if _, err := sys.unicast(ctx, r.opt.UnicastLowRate, r.opt.StepDur/2, sids, 4); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := r.quiesce(ctx, sys, pl, n); err != nil {
		return err
	}

	// Low rate: latency, and for Switchboard when each emit reached NATS's
	// subscribers (the breakdown of its path).
	pl.report(ctx)
	var stopTap func() (latency.Snapshot, error)
	if sb, ok := sys.(*switchboardSys); ok {
		var err error
		if stopTap, err = sb.busTap(); err != nil {
			return fmt.Errorf("bus tap: %w", err)
		}
	}
	u, err := sys.unicast(ctx, r.opt.UnicastLowRate, r.opt.MeasureDur, sids, 4)
	if stopTap != nil {
		sleep(ctx, drain)
		atBus, terr := stopTap()
		if terr == nil {
			sum := atBus.Summarize()
			res.LowAtBus = &sum
		}
		err = errors.Join(err, terr)
	}
	if err != nil {
		return err
	}
	sleep(ctx, drain)
	rep, err := pl.report(ctx)
	if err != nil {
		return err
	}
	res.Low = UnicastPhase{Sent: u.Sent, Errors: u.Errors, Delivered: rep.Msgs, RPC: u.RPC.Summarize(), E2E: rep.Lat.Summarize(), Error: u.Err,
		PerSec: math.Round(float64(u.Sent) / r.opt.MeasureDur.Seconds())}
	r.logf("  low rate %.0f/s: sent %d delivered %d, rpc p50 %.3f p99 %.3f ms, e2e p50 %.3f p99 %.3f ms", r.opt.UnicastLowRate, u.Sent, rep.Msgs, res.Low.RPC.P50, res.Low.RPC.P99, res.Low.E2E.P50, res.Low.E2E.P99)
	if res.LowAtBus != nil {
		r.logf("  low rate: at NATS's subscribers p50 %.3f p99 %.3f ms after the caller's stamp", res.LowAtBus.P50, res.LowAtBus.P99)
	}
	if err := r.quiesce(ctx, sys, pl, n); err != nil {
		return err
	}

	// Flat out: throughput, counted at the clients in a steady window.
	flat, err := r.unicastFlatOut(ctx, sys, pl, "unicast-emit", func(ctx context.Context, dur time.Duration) (unicastRun, error) {
		return sys.unicast(ctx, 0, dur, sids, r.opt.UnicastCallers)
	})
	res.Max = flat
	r.logf("  flat out: %.0f sent/s, %.0f delivered/s (%d of %d), rpc p99 %.3f ms, e2e p99 %.2f ms, %d errors, cpu server %.0f%% load %.0f%% driver %.0f%%", res.Max.PerSec, res.Max.DeliveredPerSec, res.Max.Delivered, res.Max.Sent, res.Max.RPC.P99, res.Max.E2E.P99, res.Max.Errors, res.Max.CPUPercent, res.Max.LoadCPUPercent, res.Max.DriverCPUPercent)
	if err != nil {
		return err
	}

	// One Pipeline stream flat out: the same sids, the same durations.
	if pp, ok := sys.(pipeliner); ok {
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			return err
		}
		pu, err := r.unicastFlatOut(ctx, sys, pl, "unicast-pipeline", func(ctx context.Context, dur time.Duration) (unicastRun, error) {
			return pp.pipeline(ctx, dur, sids)
		})
		res.Pipeline = &pu
		r.logf("  one Pipeline stream: %.0f emits/s answered, %.0f delivered/s (%d of %d), answer p99 %.3f ms, e2e p99 %.2f ms, %d errors, cpu server %.0f%% load %.0f%% driver %.0f%%",
			pu.PerSec, pu.DeliveredPerSec, pu.Delivered, pu.Sent, pu.RPC.P99, pu.E2E.P99, pu.Errors, pu.CPUPercent, pu.LoadCPUPercent, pu.DriverCPUPercent)
		if err != nil {
			return err
		}
		// Its backlog drains before the no-op is measured.
		if err := r.quiesce(ctx, sys, pl, n); err != nil {
			return err
		}
	}

	// The gRPC floor: the same callers on a call that does nothing, at the
	// low rate and flat out (as long as the flat-out phases).
	warm, measure := r.opt.StepDur/2, r.opt.MeasureDur
	if nf, ok := sys.(noopCaller); ok {
		lu, lerr := nf.noop(ctx, r.opt.UnicastLowRate, r.opt.MeasureDur, 4)
		if lerr != nil {
			return fmt.Errorf("no-op gRPC: %w", lerr)
		}
		res.NoopLow = &UnicastPhase{Sent: lu.Sent, Errors: lu.Errors, RPC: lu.RPC.Summarize(), Error: lu.Err,
			PerSec: math.Round(float64(lu.Sent) / r.opt.MeasureDur.Seconds())}
		r.logf("  no-op gRPC at %.0f/s: rpc p50 %.3f p99 %.3f ms", r.opt.UnicastLowRate, res.NoopLow.RPC.P50, res.NoopLow.RPC.P99)
		cpu := startCPU(sys, pl)
		prof := r.profile(ctx, sys, warm, measure, "unicast-noop")
		nu, nerr := nf.noop(ctx, 0, warm+measure, r.opt.UnicastCallers)
		srvCPU, _, drvCPU := cpu.stop()
		prof()
		if nerr != nil {
			return fmt.Errorf("no-op gRPC: %w", nerr)
		}
		res.Noop = &UnicastPhase{Sent: nu.Sent, Errors: nu.Errors, RPC: nu.RPC.Summarize(), Error: nu.Err,
			PerSec: math.Round(float64(nu.Sent) / (warm + measure).Seconds()), CPUPercent: srvCPU, DriverCPUPercent: drvCPU}
		r.logf("  no-op gRPC flat out: %.0f RPC/s, rpc p99 %.3f ms, cpu control %.0f%% driver %.0f%%", res.Noop.PerSec, res.Noop.RPC.P99, srvCPU, drvCPU)
	}
	return nil
}

// unicastFlatOut runs send flat out for the warm-up and the measured window (the
// unary emits, or one Pipeline stream), counting at the clients: what the
// warm-up delivered, the steady window's rate and latency with the CPU of
// every process (and a CPU profile, as name, when asked), and what still
// arrives after it, so that Delivered counts every emit of the phase.
func (r *runner) unicastFlatOut(ctx context.Context, sys system, pl *pool, name string, send func(context.Context, time.Duration) (unicastRun, error)) (UnicastPhase, error) {
	warm, measure := r.opt.StepDur/2, r.opt.MeasureDur
	done := make(chan struct{})
	var u unicastRun
	var serr error
	go func() {
		defer close(done)
		u, serr = send(ctx, warm+measure)
	}()
	sleep(ctx, warm)
	wrep, _ := pl.report(ctx) // what the warm-up delivered
	cpu := startCPU(sys, pl)
	prof := r.profile(ctx, sys, 0, measure, name)
	t0 := time.Now()
	sleep(ctx, measure)
	rep, err := pl.report(ctx)
	srvCPU, loadCPU, drvCPU := cpu.stop()
	window := time.Since(t0)
	<-done
	prof()
	tail, terr := r.tail(ctx, pl)
	if err == nil {
		err = cmp.Or(serr, terr)
	}
	return UnicastPhase{Sent: u.Sent, Errors: u.Errors, Delivered: wrep.Msgs + rep.Msgs + tail, RPC: u.RPC.Summarize(), E2E: rep.Lat.Summarize(), Error: u.Err,
		PerSec: math.Round(float64(u.Sent) / (warm + measure).Seconds()), CPUPercent: srvCPU, LoadCPUPercent: loadCPU, DriverCPUPercent: drvCPU,
		DeliveredPerSec: math.Round(float64(rep.Msgs) / window.Seconds())}, err
}

// profiler is a system whose processes serve pprof (Switchboard with
// Options.ProfileDir): profiles writes a CPU and an allocation profile of
// each over the next dur.
type profiler interface {
	profiles(ctx context.Context, dur time.Duration, name string) error
}

// hasProfiler says whether profile would profile sys.
func (r *runner) hasProfiler(sys system) bool {
	_, ok := sys.(profiler)
	return ok && r.opt.ProfileDir != ""
}

// profile starts, with Options.ProfileDir, CPU and allocation profiles of
// the system's processes over dur after delay (a system with a profiler
// only); the function returned waits for them to be written.
func (r *runner) profile(ctx context.Context, sys system, delay, dur time.Duration, name string) func() {
	if !r.hasProfiler(sys) {
		return func() {}
	}
	pf := sys.(profiler)
	errc := make(chan error, 1)
	go func() {
		if err := sleep(ctx, delay); err != nil {
			errc <- err
			return
		}
		errc <- pf.profiles(ctx, dur, name)
	}()
	return func() {
		if err := <-errc; err != nil {
			r.logf("  profile %s: %v", name, err)
			return
		}
		r.logf("  profiles: %s", filepath.Join(r.opt.ProfileDir, name+"-*.{cpu,allocs}.pprof"))
	}
}

// tail counts the deliveries still arriving after a phase: it reads the
// clients' counts until one read finds none (at most about 6 s).
func (r *runner) tail(ctx context.Context, pl *pool) (int64, error) {
	var n int64
	for range 20 {
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return n, err
		}
		rep, err := pl.report(ctx)
		if err != nil {
			return n, err
		}
		n += rep.Msgs
		if rep.Msgs == 0 {
			break
		}
	}
	return n, nil
}

// pipeliner is a system that takes emits on one stream (Switchboard's
// Pipeline): it sends to the sids round robin, flat out, for dur.
type pipeliner interface {
	pipeline(ctx context.Context, dur time.Duration, sids []string) (unicastRun, error)
}

// noopCaller is a system with an RPC API whose bare cost can be measured.
type noopCaller interface {
	noop(ctx context.Context, rate float64, dur time.Duration, callers int) (unicastRun, error)
}

func summarizeConnect(c connectResult) ConnectSummary {
	return ConnectSummary{Ready: c.Ready, Failed: c.Failed, Ms: c.Ms, PerSec: math.Round(c.PerSecond()), Handshake: c.HS.Summarize(), Error: c.Error}
}

// cpuMeter measures the CPU used by the server's processes, the load
// generators and this process (the driver: gRPC client or HTTP admin calls)
// over a phase, in percent of one core.
type cpuMeter struct {
	groups [3][]int
	start  [3]float64
	t0     time.Time
}

func startCPU(sys system, pl *pool) *cpuMeter {
	m := &cpuMeter{t0: time.Now()}
	m.groups[0] = sys.cpuPIDs()
	for _, g := range pl.gens {
		m.groups[1] = append(m.groups[1], g.p.pid())
	}
	m.groups[2] = []int{os.Getpid()}
	for i, g := range m.groups {
		m.start[i] = cpuSeconds(g)
	}
	return m
}

func (m *cpuMeter) stop() (server, load, driver float64) {
	el := time.Since(m.t0).Seconds()
	var out [3]float64
	for i, g := range m.groups {
		out[i] = round1(100 * (cpuSeconds(g) - m.start[i]) / el)
	}
	return out[0], out[1], out[2]
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
