package soak

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

const (
	// outEnv moves the output directory (default: bin/soak/ of the
	// repository).
	outEnv = "SWITCHBOARD_SOAK_OUT"
	// clients is how many clients the churn holds at once, each
	// connecting again as soon as it left.
	clients = 300
	// sampleEvery is the sampling period during the traffic; drainEvery
	// after it, while the test waits for connections and goroutines to go.
	sampleEvery = 5 * time.Second
	drainEvery  = time.Second
	// settle is how long the stack idles before its baseline is taken.
	settle = 3 * time.Second
	// drainTimeout bounds the wait for every connection to be gone and
	// every process's goroutines to come back to their baseline.
	drainTimeout = time.Minute
	// minDuration is the shortest soak whose windows hold samples.
	minDuration = 30 * time.Second
)

func TestSoak(t *testing.T) {
	v := os.Getenv(soakEnv)
	if v == "" {
		t.Skipf("$%s is not set: `make soak` (or SWITCHBOARD_SOAK=2m) runs the soak", soakEnv)
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur < minDuration {
		t.Fatalf("$%s=%q: want a Go duration of at least %v, such as 10m", soakEnv, v, minDuration)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+drainTimeout+time.Minute {
		t.Fatalf("go test -timeout leaves %v; the soak needs %v and up to %v more", time.Until(dl).Round(time.Second), dur, drainTimeout+time.Minute)
	}
	out := os.Getenv(outEnv)
	if out == "" {
		out = filepath.Join(repotest.Root(t), "bin", "soak")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}

	s := startStack(t)
	tl := &tally{}
	var o outcome
	for _, p := range s.procs {
		o.Procs = append(o.Procs, p.label)
	}
	o.Edges = o.Procs[:len(s.edges)]
	for i, e := range s.edges {
		t.Logf("%s: pid %d, Socket.IO %s, pprof %s", e.label, e.PID(), s.edgeAddr[i], e.debugAddr)
	}
	t.Logf("control: pid %d, gRPC %s, pprof %s; NATS %s", s.control.PID(), s.grpcAddr, s.control.debugAddr, s.natsURL)

	// The baseline: the stack idle, only the sampler's connection open.
	time.Sleep(settle)
	start := time.Now()
	var samples []sample
	var smu sync.Mutex
	take := func(phase string) sample {
		sm := s.measure(phase, time.Since(start), tl)
		smu.Lock()
		samples = append(samples, sm)
		smu.Unlock()
		return sm
	}
	base := take("baseline")
	for i, u := range base.Procs {
		if !u.OK {
			t.Fatalf("%s: baseline: %s", o.Procs[i], u.Err)
		}
	}
	o.Baseline = base.Procs
	t.Logf("baseline: %s", usages(o.Procs, base.Procs))

	// The traffic: subscribers first, live before any client emits.
	subCtx, stopSubs := context.WithCancel(context.Background())
	defer stopSubs()
	fastConn, slowConn, callConn := s.dial(t), s.dial(t), s.dial(t)
	var subs sync.WaitGroup
	bySid := make([]map[string]int, fastStreams)
	for i := range fastStreams {
		ready := make(chan struct{})
		bySid[i] = map[string]int{}
		subs.Go(func() { fastSubscriber(subCtx, sbv1.NewControlClient(fastConn), i, tl, bySid[i], ready) })
		<-ready
	}
	ready := make(chan struct{})
	subs.Go(func() { slowSubscriber(subCtx, sbv1.NewControlClient(slowConn), tl, ready) })
	<-ready

	start = time.Now()
	samples[0].T = -start.Sub(base.Measured).Seconds()
	// Cancelled, not timed out: a call's own deadline, which would then
	// be the same instant, could pass first and count as a failure.
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	stopAt := time.AfterFunc(dur, stopRun)
	defer stopAt.Stop()
	var traffic sync.WaitGroup
	api := sbv1.NewControlClient(callConn)
	ch := &churn{edges: s.edgeAddr, api: api, tally: tl}
	for i := range clients {
		traffic.Go(func() { ch.worker(runCtx, uint64(i)+1) })
	}
	traffic.Go(func() { fanOut(runCtx, api, tl) })
	traffic.Go(func() { asker(runCtx, api, tl) })

	// Sample until the duration is over, or stop early when a process
	// dies: there is nothing left to soak.
	tick := time.NewTicker(sampleEvery)
	watch := time.NewTicker(time.Second)
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
			sm := take("run")
			t.Logf("%5.0fs %s; %d clients, %d delivered", sm.T, usages(o.Procs, sm.Procs), sm.Totals.Open, sm.Totals.Delivered)
		case <-watch.C:
			if slices.ContainsFunc(s.procs, func(p *proc) bool { return !p.Running() }) {
				t.Errorf("a process died: stopping the traffic after %v", time.Since(start).Round(time.Second))
				stopRun()
				break loop
			}
		}
	}
	tick.Stop()
	watch.Stop()
	take("run")
	stopRun()
	traffic.Wait()
	t.Logf("traffic stopped after %v", time.Since(start).Round(time.Second))

	// The fast streams receive the last events, then every stream ends.
	deadline := time.Now().Add(ioTimeout)
	for time.Now().Before(deadline) {
		tt := tl.totals()
		if !slices.ContainsFunc(tt.SubEvents, func(n int64) bool { return n < tt.EventsSent }) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopSubs()
	subs.Wait()
	conns := tl.records()
	for i := range fastStreams {
		o.Streams = append(o.Streams, compareStream(conns, bySid[i]))
	}
	for _, c := range []interface{ Close() error }{fastConn, slowConn, callConn} {
		c.Close()
	}

	// The drain: every connection goes, every process's goroutines come
	// back near their baseline (or the drain times out, and the check
	// says by how much).
	deadline = time.Now().Add(drainTimeout)
	for {
		sm := take("drain")
		done := sm.ClusterErr == "" && !slices.ContainsFunc(sm.Conns, func(n int) bool { return n > 0 }) &&
			!slices.ContainsFunc(sm.Sockets, func(n int) bool { return n > 0 })
		for i, u := range sm.Procs {
			done = done && u.OK && u.Goroutines <= o.Baseline[i].Goroutines+defaultLimits.EndSlack
		}
		if done || time.Now().After(deadline) || slices.ContainsFunc(s.procs, func(p *proc) bool { return !p.Running() }) {
			break
		}
		time.Sleep(drainEvery)
	}
	// One heartbeat more, so that the edges' counters are their last.
	time.Sleep(2 * heartbeat)
	end := take("end")
	o.End = end.Procs
	t.Logf("end (%v after the traffic): %s", time.Since(start.Add(dur)).Round(time.Second), usages(o.Procs, end.Procs))
	for _, p := range s.procs {
		if !p.Running() {
			o.Died = append(o.Died, fmt.Sprintf("%s (pid %d): %v", p.label, p.PID(), p.WaitErr()))
		}
	}
	smu.Lock()
	o.Samples = slices.Clone(samples)
	smu.Unlock()

	// The outputs, whatever the verdict.
	var run []sample
	for _, sm := range o.Samples {
		if sm.Phase == "run" {
			run = append(run, sm)
		}
	}
	early, late, _ := windows(run, defaultLimits)
	csvPath, pngPath := filepath.Join(out, "samples.csv"), filepath.Join(out, "soak.png")
	if err := writeCSV(csvPath, o.Procs, o.Edges, o.Samples); err != nil {
		t.Errorf("write %s: %v", csvPath, err)
	}
	if err := drawPNG(pngPath, o.Procs, o.Edges, o.Samples, early, late); err != nil {
		t.Errorf("draw %s: %v", pngPath, err)
	}
	t.Logf("wrote %s and %s", csvPath, pngPath)

	fails, figures := verdict(o, defaultLimits)
	for _, f := range figures {
		t.Log(f)
	}
	notes := tl.allNotes()
	for _, k := range slices.Sorted(maps.Keys(notes)) {
		t.Logf("noted %d×: %s", notes[k], k)
	}
	for _, p := range s.procs {
		logSummary(t, p)
	}
	for _, f := range fails {
		t.Error(f)
	}
}

// usages is one line of what each process holds.
func usages(names []string, us []procUsage) string {
	var parts []string
	for i, u := range us {
		if !u.OK {
			parts = append(parts, fmt.Sprintf("%s: %s", names[i], u.Err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f MB %d goroutines", names[i], mb(u.RSS), u.Goroutines))
	}
	return strings.Join(parts, ", ")
}

var logLevel = regexp.MustCompile(`\blevel=(WARN|ERROR)\b.*?\bmsg="([^"]*)"`)

// logSummary logs how often each warning or error message appeared in the
// process's log, with the first line of each.
func logSummary(t *testing.T, p *proc) {
	t.Helper()
	count := map[string]int{}
	first := map[string]string{}
	for _, l := range p.Log.All() {
		m := logLevel.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		k := m[1] + " " + m[2]
		if count[k] == 0 {
			first[k] = l
		}
		count[k]++
	}
	for _, k := range slices.Sorted(maps.Keys(count)) {
		t.Logf("%s logged %d× %s; first: %s", p.label, count[k], k, clip(first[k]))
	}
}
