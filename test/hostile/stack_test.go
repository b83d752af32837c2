package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

const (
	// startTimeout bounds the start of a binary or of the canary, and each
	// wait for a log line. Generous: under `make test` other packages run
	// beside this one on the machine's 2 cores.
	startTimeout = 15 * time.Second
	// stopTimeout bounds a binary's exit after SIGTERM; it is killed then.
	stopTimeout = 10 * time.Second
	// waitTimeout bounds every other wait: a reply, a message, a close.
	waitTimeout = 10 * time.Second

	// emitPeriod is how often control emits to the canary.
	emitPeriod = 100 * time.Millisecond
	// emitsAfter is how many emits the check waits for after an attack,
	// before it looks at what the canary received.
	emitsAfter = 5
	// maxGap bounds, during and after an attack, the time between two
	// receipts of the canary and between an emit and its receipt. At one
	// emit every 100 ms that is 20 emits' worth, on a 2-core machine that
	// runs other test packages under -race beside this one; the broken
	// edge received 0 of 30 emits for ever, or had a p99 of 11 s.
	maxGap = 2 * time.Second

	// defaultPeak bounds how far an attack may raise a process's RSS above
	// what it was when the attack began (its VmHWM over its VmRSS then).
	// The unbounded attacks this suite makes took 0.9 to 1 GB of an
	// edge's memory; a bounded one costs what one or two packets of the
	// 1 MB max payload cost, plus Go's garbage collector's slack (the heap
	// may reach twice what is live), a few tens of MB.
	defaultPeak = 100 << 20
	// heapSlack and goroutineSlack are how near its baseline a process's
	// heap (after a forced GC) and its goroutines must come back once the
	// attacker is gone: a connection, a socket, a namespace or a stream
	// that stayed behind shows there; the unbounded attacks held hundreds
	// of MB.
	heapSlack      = 16 << 20
	goroutineSlack = 10
	// settleTimeout bounds the wait for the heap and goroutines to settle.
	settleTimeout = 5 * time.Second
)

// ---- the binaries ----

// proc is a running binary (repotest.Proc), stopped by its PID when the
// test ends.
type proc struct {
	*repotest.Proc
	debugAddr string // its pprof server
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return &proc{Proc: repotest.StartProc(t, startTimeout, stopTimeout, name, args...)}
}

func clip(s string) string { return repotest.Clip(s) }

// ---- what a process uses ----

// usage is what a process holds at one moment.
type usage struct {
	rss, hwm   uint64 // VmRSS, VmHWM (peak since the last reset), bytes
	heapAlloc  uint64 // after a forced GC
	heapInuse  uint64
	goroutines int
}

func (u usage) String() string {
	return fmt.Sprintf("rss %.1f MB, heap %.1f MB (in use %.1f MB), %d goroutines",
		mb(u.rss), mb(u.heapAlloc), mb(u.heapInuse), u.goroutines)
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// memory reads VmRSS and VmHWM from /proc/<pid>/status.
func (p *proc) memory(t *testing.T) (rss, hwm uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	for l := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s: /proc status %q: %v", p.Name, l, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("%s: no VmRSS or VmHWM in /proc/%d/status", p.Name, p.PID())
	}
	return rss, hwm
}

// resetPeak makes VmHWM the current RSS (clear_refs 5).
func (p *proc) resetPeak(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.PID()), []byte("5"), 0); err != nil {
		t.Fatalf("%s: reset the peak RSS: %v", p.Name, err)
	}
}

// debugClient asks the binaries' pprof servers; no keep-alive, so no
// connection (and no goroutine) outlives a request.
var debugClient = &http.Client{Timeout: waitTimeout, Transport: &http.Transport{DisableKeepAlives: true}}

func (p *proc) debugGet(t *testing.T, path string) string {
	t.Helper()
	res, err := debugClient.Get("http://" + p.debugAddr + path)
	if err != nil {
		t.Fatalf("%s %s: %v", p.Name, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %v", p.Name, path, res.StatusCode, err)
	}
	return string(b)
}

var (
	heapLine      = regexp.MustCompile(`(?m)^# (HeapAlloc|HeapInuse) = (\d+)$`)
	goroutineLine = regexp.MustCompile(`^goroutine profile: total (\d+)\n`)
)

// usage measures the process: RSS from /proc, heap after a forced GC and
// goroutines from its pprof server.
func (p *proc) usage(t *testing.T) usage {
	t.Helper()
	var u usage
	u.rss, u.hwm = p.memory(t)
	heap := p.debugGet(t, "/debug/pprof/heap?debug=1&gc=1")
	for _, m := range heapLine.FindAllStringSubmatch(heap, -1) {
		n, _ := strconv.ParseUint(m[2], 10, 64)
		if m[1] == "HeapAlloc" {
			u.heapAlloc = n
		} else {
			u.heapInuse = n
		}
	}
	if u.heapAlloc == 0 || u.heapInuse == 0 {
		t.Fatalf("%s: no HeapAlloc or HeapInuse in the heap profile", p.Name)
	}
	m := goroutineLine.FindStringSubmatch(p.debugGet(t, "/debug/pprof/goroutine?debug=1"))
	if m == nil {
		t.Fatalf("%s: no goroutine count in the goroutine profile", p.Name)
	}
	u.goroutines, _ = strconv.Atoi(m[1])
	return u
}

// ---- the stack ----

// stack is control (with its embedded NATS), one edge and the canary.
type stack struct {
	control, edge *proc
	edgeID        string
	edgeAddr      string // host:port of the edge's Socket.IO listener
	grpcAddr      string
	api           sbv1.ControlClient // the canary's emitter and the checks
	canary        *canary
}

var (
	controlListening = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+) nats=(nats://127\.0\.0\.1:\d+)`)
	edgeListening    = regexp.MustCompile(`msg="edge listening" edge=([a-z0-9]{8}) .*\baddr=(127\.0\.0\.1:\d+)`)
	debugListening   = regexp.MustCompile(`msg="debug server \(pprof\) listening" addr=(127\.0\.0\.1:\d+)`)
)

// startStack starts control and an edge (with edgeArgs added to its
// flags), every listener on a port of 127.0.0.1 that the kernel picks (each
// binary logs where it listens), waits until ClusterInfo lists the edge,
// and attaches the canary.
func startStack(t *testing.T, edgeArgs ...string) *stack {
	t.Helper()
	root := repotest.Root(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("node_modules/socket.io-client is missing: run `make test-deps` (npm ci)")
	}
	s := &stack{}
	s.control = startProc(t, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0")
	s.control.debugAddr = s.control.WaitLog(t, debugListening)[1]
	m := s.control.WaitLog(t, controlListening)
	s.grpcAddr = m[1]
	args := append([]string{"--addr", "127.0.0.1:0", "--nats-url", m[2], "--debug-addr", "127.0.0.1:0", "--heartbeat", "500ms"}, edgeArgs...)
	s.edge = startProc(t, "edge", args...)
	s.edge.debugAddr = s.edge.WaitLog(t, debugListening)[1]
	m = s.edge.WaitLog(t, edgeListening)
	s.edgeID, s.edgeAddr = m[1], m[2]

	s.api = s.dial(t)
	s.waitEdge(t)
	s.canary = startCanary(t, root, s)
	return s
}

// dial opens a gRPC connection to control, closed when the test ends. An
// attacker dials its own, as a separate caller would.
func (s *stack) dial(t *testing.T) sbv1.ControlClient {
	t.Helper()
	return sbv1.NewControlClient(s.dialConn(t))
}

func (s *stack) dialConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// clientEvent is what a service's Subscribe stream received of a client
// event: not its arguments, only their size.
type clientEvent struct {
	event, sid, ackToken string
	argsBytes            int
}

// subscribe opens a Subscribe stream for client events (JSON text) of
// namespace "/", waits until it is live and feeds what it receives until
// the test ends. The service never answers an ack.
func (s *stack) subscribe(t *testing.T, events ...string) *testfeed.Feed[clientEvent] {
	t.Helper()
	api := s.dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{
		Namespaces: []string{"/"},
		Events:     events,
		Kinds:      []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT},
	})
	if err == nil {
		_, err = st.Header() // the stream is live
	}
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	feed := testfeed.New[clientEvent](waitTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				feed.End(err)
				return
			}
			if e := r.GetClientEvent(); e != nil {
				feed.Add(clientEvent{event: e.Event, sid: e.Sid, ackToken: e.AckToken, argsBytes: len(e.ArgsJson)})
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return feed
}

// waitEdge polls ClusterInfo until it lists the edge.
func (s *stack) waitEdge(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.edgeListed()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClusterInfo did not list edge %s within %v: %v", s.edgeID, startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// edgeListed asks ClusterInfo, within waitTimeout, whether the edge is live.
func (s *stack) edgeListed() error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ci, err := s.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
	if err != nil {
		return fmt.Errorf("ClusterInfo: %w", err)
	}
	if !slices.ContainsFunc(ci.Edges, func(e *sbv1.Edge) bool { return e.Id == s.edgeID }) {
		return fmt.Errorf("ClusterInfo lists %d edges, not %s", len(ci.Edges), s.edgeID)
	}
	return nil
}

// ---- the canary ----

// canaryLine is one line of testdata/canary.mjs.
type canaryLine struct {
	Ev      string `json:"ev"`
	SID     string `json:"sid"`
	Seq     int    `json:"seq"`
	T       int64  `json:"t"` // receipt, Unix milliseconds
	Message string `json:"message"`
	Reason  string `json:"reason"`
	raw     string
}

// emitted is one emit to the canary.
type emitted struct {
	at  time.Time
	err error
}

// canary is the official socket.io-client, connected to the edge before
// any attack, and the goroutine that has control emit ("seq", {seq: N})
// to it every emitPeriod.
type canary struct {
	sid   string
	lines *testfeed.Feed[canaryLine]

	mu    sync.Mutex
	emits []emitted // guarded by mu; index: seq
}

func startCanary(t *testing.T, root string, s *stack) *canary {
	t.Helper()
	cmd := exec.Command("node", filepath.Join("test", "hostile", "testdata", "canary.mjs"), "http://"+s.edgeAddr)
	cmd.Dir = root
	proc := jsonproc.Start(t, "canary", cmd, waitTimeout, func(text []byte) canaryLine {
		var l canaryLine
		if err := json.Unmarshal(text, &l); err != nil {
			l = canaryLine{Ev: "bad line", Message: err.Error()}
		}
		l.raw = string(text)
		return l
	})
	c := &canary{lines: proc.Lines}
	t.Cleanup(func() {
		// The canary disconnects and exits once its stdin closes.
		if proc.Stop(waitTimeout) {
			t.Errorf("the canary (pid %d) did not exit within %v after its stdin closed: killed", proc.PID(), waitTimeout)
		} else if err := proc.Err(); err != nil {
			t.Errorf("canary: %v", err)
		}
		if t.Failed() {
			t.Logf("canary stderr:\n%s", proc.Stderr())
		}
	})
	l := c.lines.Wait(t, "the canary to connect", func(l canaryLine) bool { return l.Ev != "seq" })
	if l.Ev != "connect" {
		t.Fatalf("the canary did not connect: %s", l.raw)
	}
	c.sid = l.SID
	c.startEmitting(t, s.api)
	// The first emit arriving means the path control → NATS → edge →
	// canary is in place before any attack.
	c.lines.Wait(t, "the canary's first event", func(l canaryLine) bool { return l.Ev == "seq" })
	return c
}

// startEmitting starts the emitter goroutine, stopped when the test ends.
func (c *canary) startEmitting(t *testing.T, api sbv1.ControlClient) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(emitPeriod)
		defer tick.Stop()
		for {
			c.mu.Lock()
			seq := len(c.emits)
			c.mu.Unlock()
			arg, _ := structpb.NewValue(map[string]any{"seq": seq})
			cctx, ccancel := context.WithTimeout(ctx, waitTimeout)
			at := time.Now()
			res, err := api.Emit(cctx, &sbv1.EmitRequest{
				Target: &sbv1.Target{Sids: []string{c.sid}},
				Event:  "seq",
				Args:   []*structpb.Value{arg},
				Report: true,
			})
			ccancel()
			if ctx.Err() != nil {
				return // stopped: this emit does not count
			}
			if err == nil && res.GetSockets() != 1 {
				err = fmt.Errorf("Emit reached %d sockets, want 1", res.GetSockets())
			}
			c.mu.Lock()
			c.emits = append(c.emits, emitted{at: at, err: err})
			c.mu.Unlock()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// next is the seq of the next emit.
func (c *canary) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.emits)
}

// check waits until emitsAfter more emits have happened and the canary has
// received everything up to them, then checks what it received since seq
// from (the first emit of the attack, emitted no earlier than start): every
// seq exactly once, in order, no emit failed, no receipt later than maxGap
// after its emit, no gap between two receipts (and between start and the
// first) longer than maxGap.
func (c *canary) check(t *testing.T, from int, start time.Time) {
	t.Helper()
	last := c.next() + emitsAfter - 1
	deadline := time.Now().Add(time.Duration(emitsAfter)*emitPeriod + waitTimeout)
	for c.next() <= last && time.Now().Before(deadline) {
		time.Sleep(emitPeriod / 2)
	}
	if c.next() <= last {
		t.Fatalf("canary: control made %d emits in %v, want %d: the emitter is stuck", c.next()-from, time.Since(start), last+1-from)
	}
	c.lines.Wait(t, fmt.Sprintf("the canary to receive seq %d", last), func(l canaryLine) bool {
		switch l.Ev {
		case "seq":
			return l.Seq >= last
		case "connect":
			return false
		}
		return true // a disconnect or an error: reported below
	})
	c.mu.Lock()
	emits := slices.Clone(c.emits[:last+1])
	c.mu.Unlock()
	for seq := from; seq <= last; seq++ {
		if err := emits[seq].err; err != nil {
			t.Errorf("canary: emit of seq %d: %v", seq, err)
		}
	}

	prev := start
	want := from
	var gap, latency time.Duration
	for _, l := range c.lines.All() {
		if l.Ev == "connect" && l.SID == c.sid {
			continue
		}
		if l.Ev != "seq" {
			t.Errorf("canary: %s", l.raw)
			continue
		}
		if l.Seq < from || l.Seq > last {
			continue
		}
		if l.Seq != want {
			t.Errorf("canary: received seq %d, want %d (every seq from %d to %d in order)", l.Seq, want, from, last)
		}
		want = l.Seq + 1
		at := time.UnixMilli(l.T)
		gap = max(gap, at.Sub(prev))
		latency = max(latency, at.Sub(emits[l.Seq].at))
		prev = at
	}
	if want != last+1 {
		t.Errorf("canary: the last seq received is %d, want %d", want-1, last)
	}
	t.Logf("canary: seq %d to %d received, longest gap %v, slowest %v after its emit", from, last, gap.Round(time.Millisecond), latency.Round(time.Millisecond))
	if gap > maxGap {
		t.Errorf("canary: %v between two receipts, want at most %v", gap.Round(time.Millisecond), maxGap)
	}
	if latency > maxGap {
		t.Errorf("canary: an event arrived %v after its emit, want at most %v", latency.Round(time.Millisecond), maxGap)
	}
}

// ---- an attack ----

// attack is what begin measured before an attack.
type attack struct {
	s                *stack
	start            time.Time
	from             int // the canary's first seq of the attack
	edge, control    usage
	peakEdge, peakCt uint64 // the bounds on their peaks above baseline
}

// begin measures the edge and control, resets their peak RSS and marks
// where the canary stands, before an attack. The attack may raise either's
// RSS by at most defaultPeak unless it says otherwise (bound).
func (s *stack) begin(t *testing.T) *attack {
	t.Helper()
	a := &attack{s: s, peakEdge: defaultPeak, peakCt: defaultPeak}
	a.edge = s.edge.usage(t)
	a.control = s.control.usage(t)
	s.edge.resetPeak(t)
	s.control.resetPeak(t)
	a.start = time.Now()
	a.from = s.canary.next()
	t.Logf("before: edge %v; control %v", a.edge, a.control)
	return a
}

// bound sets the bounds on the peaks above baseline, in bytes.
func (a *attack) bound(edge, control uint64) *attack {
	a.peakEdge, a.peakCt = edge, control
	return a
}

// check is what must hold after every attack, once the attacker is gone
// (or holds only what the attack is allowed to hold): both processes run
// and answer, the peak RSS of each stayed within its bound, the canary
// received everything (canary.check), and the edge's heap and goroutines
// come back near their baseline within settleTimeout.
func (a *attack) check(t *testing.T) {
	t.Helper()
	s := a.s
	for _, p := range []*proc{s.edge, s.control} {
		if !p.Running() {
			t.Fatalf("%s exited during the attack: %v\n%s", p.Name, p.WaitErr(), p.Tail(40))
		}
	}
	if err := s.edgeListed(); err != nil {
		t.Errorf("after the attack: %v", err)
	}
	_, edgePeak := s.edge.memory(t)
	_, ctlPeak := s.control.memory(t)
	s.canary.check(t, a.from, a.start)
	for _, c := range []struct {
		p          *proc
		base, peak uint64
		bound      uint64
	}{
		{s.edge, a.edge.rss, edgePeak, a.peakEdge},
		{s.control, a.control.rss, ctlPeak, a.peakCt},
	} {
		over := int64(c.peak) - int64(c.base)
		t.Logf("%s: peak RSS %.1f MB, %+.1f MB over the %.1f MB it had before (bound %.0f MB)", c.p.Name, mb(c.peak), float64(over)/(1<<20), mb(c.base), mb(c.bound))
		if over > int64(c.bound) {
			t.Errorf("%s: peak RSS %.1f MB is %.1f MB over its %.1f MB before the attack, want at most %.0f MB over", c.p.Name, mb(c.peak), float64(over)/(1<<20), mb(c.base), mb(c.bound))
		}
	}
	a.settled(t)
}

// settled waits until the heap and goroutines of the edge and of control
// are back near what they were before the attack.
func (a *attack) settled(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for _, c := range []struct {
		p    *proc
		base usage
	}{{a.s.edge, a.edge}, {a.s.control, a.control}} {
		for {
			u := c.p.usage(t)
			heapOK := u.heapAlloc <= c.base.heapAlloc+heapSlack
			goOK := u.goroutines <= c.base.goroutines+goroutineSlack
			if heapOK && goOK {
				t.Logf("after: %s %v", c.p.Name, u)
				break
			}
			if time.Now().After(deadline) {
				if !heapOK {
					t.Errorf("%s: heap %.1f MB %v after the attack, want at most %.0f MB over the %.1f MB before it", c.p.Name, mb(u.heapAlloc), settleTimeout, mb(heapSlack), mb(c.base.heapAlloc))
				}
				if !goOK {
					t.Errorf("%s: %d goroutines %v after the attack, want at most %d more than the %d before it", c.p.Name, u.goroutines, settleTimeout, goroutineSlack, c.base.goroutines)
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
