package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchboard-rt/switchboard/bench/internal/latency"
	"github.com/switchboard-rt/switchboard/bench/internal/stamp"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
)

// Names of the systems under test. Ceiling is bench/cmd/ceiling in its
// batched mode (every connection's queued frames in one writev), the real
// ceiling; CeilingNaive is the same server writing one frame per write,
// the one-write-per-frame baseline.
const (
	Switchboard  = "switchboard"
	Ceiling      = "ceiling"
	CeilingNaive = "ceiling-naive"
	// SwitchboardMetrics is Switchboard with every process's admin
	// listener on (--admin-addr) and its /metrics scraped every
	// metricsScrapeEvery, to compare with Switchboard in the same run.
	SwitchboardMetrics = "switchboard-metrics"
	Node               = "node"
	// CeilingInHand is not a system of its own: the batched ceiling's
	// bursts with every message of the burst in hand before any is queued
	// (each writer finds all of it queued: the bound of write batching),
	// measured on the same ceiling process after its own bursts.
	CeilingInHand = "ceiling-inhand"
)

// isCeiling says whether sys is one of the two gorilla ceilings.
func isCeiling(sys string) bool { return sys == Ceiling || sys == CeilingNaive }

// isSwitchboard says whether sys is Switchboard, with or without metrics.
func isSwitchboard(sys string) bool { return sys == Switchboard || sys == SwitchboardMetrics }

// metricsScrapeEvery is how often switchboard-metrics scrapes each process:
// more often than Prometheus usually does (15 s to 1 min), so that the
// cost, if any, shows.
const metricsScrapeEvery = 2 * time.Second

// system is one server under test, driven the same way for every scenario.
type system interface {
	name() string
	// start launches the server; edges > 1 only means something for
	// Switchboard.
	start(ctx context.Context, edges int) error
	stop()
	// spec is how load generators reach it: Socket.IO or raw WebSocket, per
	// edge. storm clients join nothing and receive no broadcast.
	spec(transport string, storm bool) genSpec
	// ready makes the n connected main-namespace sockets members of the
	// broadcast group (Switchboard: JoinRoom through the API) and checks
	// the count.
	ready(ctx context.Context, n int) error
	// broadcast sends to the group at rate messages/s (0: as fast as the
	// server goes) for dur; returns the messages sent.
	broadcast(ctx context.Context, rate float64, dur time.Duration) (int64, error)
	// burst sends count messages to the group at once (Switchboard: count
	// concurrent Emit calls; the others: one admin call, as fast as the
	// server goes); returns the messages sent.
	burst(ctx context.Context, count int) (int64, error)
	// unicast sends to one socket at a time (round-robin over sids, or the
	// server's own sockets) at rate (0: flat out) for dur.
	unicast(ctx context.Context, rate float64, dur time.Duration, sids []string, callers int) (unicastRun, error)
	// memPIDs are the processes whose RSS is the system's memory (edges);
	// cpuPIDs those whose CPU time is its cost (edges, control).
	memPIDs() []int
	cpuPIDs() []int
	polling() bool
}

// unicastRun is what one unicast phase did at the sender.
type unicastRun struct {
	Sent   int64            // calls (or emits) that succeeded
	Errors int64            // calls that failed
	RPC    latency.Snapshot // call latency (Switchboard only)
	Err    string
}

// ---------------------------------------------------------------- Switchboard

type switchboardSys struct {
	r        *runner
	control  *proc
	edges    []*proc
	addrs    []string
	grpcAddr string
	natsAddr string      // control's embedded NATS, which the unicast breakdown taps
	pprof    []pprofAddr // debug servers of control and the edges, with Options.ProfileDir
	cc       *grpc.ClientConn
	cli      sbv1.ControlClient

	metrics    bool     // switchboard-metrics: admin listeners on, scraped
	adminAddrs []string // their addresses, control's first
	scraper    *scraper
}

func (s *switchboardSys) name() string {
	if s.metrics {
		return SwitchboardMetrics
	}
	return Switchboard
}
func (s *switchboardSys) polling() bool { return true }

func (s *switchboardSys) start(ctx context.Context, edges int) error {
	gp, err := freePort()
	if err != nil {
		return err
	}
	np, err := freePort()
	if err != nil {
		return err
	}
	s.grpcAddr = fmt.Sprintf("127.0.0.1:%d", gp)
	natsAddr := fmt.Sprintf("127.0.0.1:%d", np)
	s.natsAddr = natsAddr
	args := []string{s.r.bins.control, "--grpc-addr", s.grpcAddr, "--embedded-nats-addr", natsAddr, "--log-level", "warn"}
	s.pprof = nil
	debugAddr := func(proc string) ([]string, error) {
		if s.r.opt.ProfileDir == "" {
			return nil, nil
		}
		dp, err := freePort()
		if err != nil {
			return nil, err
		}
		a := pprofAddr{proc: proc, addr: fmt.Sprintf("127.0.0.1:%d", dp)}
		s.pprof = append(s.pprof, a)
		return []string{"--debug-addr", a.addr}, nil
	}
	s.adminAddrs = nil
	adminAddr := func() ([]string, error) {
		if !s.metrics {
			return nil, nil
		}
		ap, err := freePort()
		if err != nil {
			return nil, err
		}
		a := fmt.Sprintf("127.0.0.1:%d", ap)
		s.adminAddrs = append(s.adminAddrs, a)
		return []string{"--admin-addr", a}, nil
	}
	da, err := debugAddr("control")
	if err != nil {
		return err
	}
	args = append(args, da...)
	aa, err := adminAddr()
	if err != nil {
		return err
	}
	args = append(args, aa...)
	s.control, err = s.r.procs.start(s.r.procName("control"), false, "", nil, args...)
	if err != nil {
		return err
	}
	if err := waitTCP(ctx, s.grpcAddr, s.control, 30*time.Second); err != nil {
		return err
	}
	if err := waitTCP(ctx, natsAddr, s.control, 30*time.Second); err != nil {
		return err
	}
	s.edges, s.addrs = nil, nil
	for i := 0; i < edges; i++ {
		ep, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", ep)
		da, err := debugAddr(fmt.Sprintf("edge%d", i+1))
		if err != nil {
			return err
		}
		aa, err := adminAddr()
		if err != nil {
			return err
		}
		da = append(da, aa...)
		p, err := s.r.procs.start(s.r.procName(fmt.Sprintf("edge%d", i+1)), false, "", nil, append([]string{s.r.bins.edge,
			"--addr", addr, "--nats-url", "nats://" + natsAddr, "--log-level", "warn",
			// Every load client comes from 127.0.0.1: the per-address cap
			// (1,000 by default) is for the internet, not for this run;
			// so are the handshake rate per address and the event rate per
			// socket (the connect storm, the clients' bursts).
			"--max-conns-per-ip", "-1", "--handshake-rate", "-1", "--event-rate", "-1"}, append(da, s.r.opt.EdgeArgs...)...)...)
		if err != nil {
			return err
		}
		s.edges = append(s.edges, p)
		s.addrs = append(s.addrs, addr)
		if err := waitTCP(ctx, addr, p, 30*time.Second); err != nil {
			return err
		}
	}
	s.cc, err = grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	s.cli = sbv1.NewControlClient(s.cc)
	// Scatter-gather calls reach the edges control has heard from.
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ci, err := s.cli.ClusterInfo(cctx, &sbv1.ClusterInfoRequest{})
		cancel()
		if err == nil && len(ci.Edges) == edges {
			if s.metrics {
				s.scraper = startScraper(s.adminAddrs, metricsScrapeEvery, s.r.logf)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("control does not see %d edges after 20s (err %v)", edges, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *switchboardSys) stop() {
	if s.scraper != nil {
		s.r.scrapes.add(s.scraper.stop())
		s.scraper = nil
	}
	if s.cc != nil {
		s.cc.Close()
		s.cc = nil
	}
	for _, e := range s.edges {
		e.stop(10 * time.Second)
	}
	if s.control != nil {
		s.control.stop(10 * time.Second)
	}
	s.edges, s.control = nil, nil
}

func (s *switchboardSys) spec(transport string, storm bool) genSpec {
	scheme := "ws"
	if transport == "polling" {
		scheme = "http"
	}
	var targets []string
	for _, a := range s.addrs {
		targets = append(targets, scheme+"://"+a+"/socket.io/")
	}
	ns := "/"
	if storm {
		ns = "/storm"
	}
	return genSpec{targets: targets, mode: "sio", transport: transport, namespace: ns}
}

func (s *switchboardSys) ready(ctx context.Context, n int) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := s.cli.JoinRoom(cctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Namespace: "/", All: true}, Rooms: []string{"bench"}})
	if err != nil {
		return fmt.Errorf("JoinRoom: %w", err)
	}
	if int(resp.GetSockets()) != n || len(resp.MissingEdges) > 0 {
		return fmt.Errorf("JoinRoom selected %d sockets (want %d), missing edges %v", resp.GetSockets(), n, resp.MissingEdges)
	}
	return nil
}

var benchTarget = &sbv1.Target{Namespace: "/", Rooms: []string{"bench"}}

func (s *switchboardSys) broadcast(ctx context.Context, rate float64, dur time.Duration) (int64, error) {
	if rate <= 0 {
		return 0, errors.New("switchboard: broadcast needs a rate (emits are fire-and-forget)")
	}
	res := pace(ctx, rate, dur, 8, func(ctx context.Context, _ int64) error {
		_, err := s.cli.Emit(ctx, &sbv1.EmitRequest{Target: benchTarget, Event: stamp.Event, ArgsJson: string(stamp.AppendArgs(make([]byte, 0, 2+stamp.Size), stamp.Now()))})
		return err
	})
	return res.Sent, res.err(ctx)
}

func (s *switchboardSys) burst(ctx context.Context, count int) (int64, error) {
	var (
		sent     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		errOnce  sync.Once
		start    = make(chan struct{})
	)
	for range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := s.cli.Emit(cctx, &sbv1.EmitRequest{Target: benchTarget, Event: stamp.Event, ArgsJson: string(stamp.AppendArgs(make([]byte, 0, 2+stamp.Size), stamp.Now()))})
			if err != nil {
				errOnce.Do(func() { firstErr = err })
				return
			}
			sent.Add(1)
		}()
	}
	close(start) // every caller is waiting: the calls go out together
	wg.Wait()
	if sent.Load() == 0 && firstErr != nil {
		return 0, firstErr
	}
	return sent.Load(), ctx.Err()
}

func (s *switchboardSys) unicast(ctx context.Context, rate float64, dur time.Duration, sids []string, callers int) (unicastRun, error) {
	if len(sids) == 0 {
		return unicastRun{}, errors.New("no sids")
	}
	res := pace(ctx, rate, dur, callers, func(ctx context.Context, i int64) error {
		// Fire-and-forget: the call returns once control published the
		// emit; the clients count what arrived.
		_, err := s.cli.Emit(ctx, unicastEmit(sids, i))
		return err
	})
	return unicastRun{Sent: res.Sent, Errors: res.Errors, RPC: res.Lat.Snapshot(false), Err: res.FirstErr}, nil
}

// unicastEmit is the i-th emit of a unicast phase: to one sid, round robin,
// stamped now.
func unicastEmit(sids []string, i int64) *sbv1.EmitRequest {
	return &sbv1.EmitRequest{
		Target:   &sbv1.Target{Namespace: "/", Sids: []string{sids[i%int64(len(sids))]}},
		Event:    stamp.Event,
		ArgsJson: string(stamp.AppendArgs(make([]byte, 0, 2+stamp.Size), stamp.Now())),
	}
}

// pipelineWindow is how many commands of one Pipeline stream control lets
// be unanswered (control.PipelineWindow); the sender keeps to it.
const pipelineWindow = 1024

// pipeline sends emits through one Pipeline stream flat out for dur, to the
// sids round robin, with at most pipelineWindow unanswered: one goroutine
// sends, one counts the answers. Sent counts the emits answered without
// error; RPC is the time from sending a command to its answer.
func (s *switchboardSys) pipeline(ctx context.Context, dur time.Duration, sids []string) (unicastRun, error) {
	if len(sids) == 0 {
		return unicastRun{}, errors.New("no sids")
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := s.cli.Pipeline(sctx)
	if err != nil {
		return unicastRun{}, fmt.Errorf("Pipeline: %w", err)
	}
	var (
		lat      = new(latency.Histogram)
		slots    = make(chan struct{}, pipelineWindow)
		mu       sync.Mutex
		sentAt   = make(map[uint64]time.Time, pipelineWindow)
		answered int64
		errs     int64
		firstErr string
		recvErr  error
		dead     = make(chan struct{}) // closed when the receiver ends
	)
	go func() {
		defer close(dead)
		for {
			a, err := st.Recv()
			if err != nil {
				if err != io.EOF {
					recvErr = err
				}
				return
			}
			mu.Lock()
			t0, ok := sentAt[a.Id]
			delete(sentAt, a.Id)
			mu.Unlock()
			if ok {
				lat.Record(time.Since(t0).Microseconds())
			}
			switch {
			case a.GetEmit() != nil:
				answered++
			case a.GetError() != nil:
				errs++
				if firstErr == "" {
					firstErr = fmt.Sprintf("emit %d: code %d: %s", a.Id, a.GetError().Code, a.GetError().Message)
				}
			default:
				errs++
				if firstErr == "" {
					firstErr = fmt.Sprintf("emit %d: unexpected answer %v", a.Id, a)
				}
			}
			select {
			case <-slots:
			default: // more answers than commands sent: frees nothing
			}
		}
	}()

	end := time.Now().Add(dur)
	var sendErr error
send:
	for id := uint64(0); ; id++ {
		if id%64 == 0 && !time.Now().Before(end) {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-dead:
			break send
		case <-sctx.Done():
			break send
		}
		req := &sbv1.PipelineRequest{Id: id, Command: &sbv1.PipelineRequest_Emit{Emit: unicastEmit(sids, int64(id))}}
		mu.Lock()
		sentAt[id] = time.Now()
		mu.Unlock()
		if err := st.Send(req); err != nil {
			// io.EOF: the stream ended; Recv says why.
			if err != io.EOF {
				sendErr = err
			}
			break
		}
	}
	if err := st.CloseSend(); err != nil && sendErr == nil {
		sendErr = err
	}
	// Every command sent gets its answer, then control ends the stream.
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-dead:
	case <-timer.C:
		cancel()
		<-dead
		mu.Lock()
		sendErr = errors.Join(sendErr, fmt.Errorf("%d commands unanswered 10s after the last was sent", len(sentAt)))
		mu.Unlock()
	}
	run := unicastRun{Sent: answered, Errors: errs, RPC: lat.Snapshot(false), Err: firstErr}
	if err := errors.Join(sendErr, recvErr); err != nil && ctx.Err() == nil {
		return run, fmt.Errorf("Pipeline: %w", err)
	}
	if answered == 0 && errs > 0 {
		return run, errors.New(firstErr)
	}
	return run, ctx.Err()
}

// noop calls grpc.health.v1.Health/Check rate times per second (0: flat
// out): the gRPC floor.
func (s *switchboardSys) noop(ctx context.Context, rate float64, dur time.Duration, callers int) (unicastRun, error) {
	hc := healthpb.NewHealthClient(s.cc)
	res := pace(ctx, rate, dur, callers, func(ctx context.Context, _ int64) error {
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	})
	return unicastRun{Sent: res.Sent, Errors: res.Errors, RPC: res.Lat.Snapshot(false), Err: res.FirstErr}, res.err(ctx)
}

// pprofAddr is where one process serves its profiles.
type pprofAddr struct{ proc, addr string }

// profiles fetches, over the next dur, a CPU profile and an allocation
// profile (allocs?seconds=: the delta over the same window) of control and
// each edge into dir/name-<process>.{cpu,allocs}.pprof; without
// Options.ProfileDir it does nothing.
func (s *switchboardSys) profiles(ctx context.Context, dur time.Duration, name string) error {
	if len(s.pprof) == 0 {
		return nil
	}
	if err := os.MkdirAll(s.r.opt.ProfileDir, 0o755); err != nil {
		return err
	}
	kinds := []struct{ endpoint, suffix string }{{"profile", "cpu"}, {"allocs", "allocs"}}
	errs := make([]error, len(s.pprof)*len(kinds))
	var wg sync.WaitGroup
	for i, a := range s.pprof {
		for j, k := range kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := filepath.Join(s.r.opt.ProfileDir, name+"-"+a.proc+"."+k.suffix+".pprof")
				errs[i*len(kinds)+j] = fetchProfile(ctx, a.addr, k.endpoint, dur, path)
			}()
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fetchProfile writes the profile addr's /debug/pprof/<endpoint> takes
// over dur (whole seconds, at least one) to path.
func fetchProfile(ctx context.Context, addr, endpoint string, dur time.Duration, path string) error {
	sec := max(1, int(dur.Round(time.Second).Seconds()))
	cctx, cancel := context.WithTimeout(ctx, dur+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, endpoint, sec), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s of %s: %s", endpoint, addr, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (s *switchboardSys) memPIDs() []int {
	var out []int
	for _, e := range s.edges {
		out = append(out, e.pid())
	}
	return out
}

func (s *switchboardSys) cpuPIDs() []int {
	out := s.memPIDs()
	if s.control != nil {
		out = append(out, s.control.pid())
	}
	return out
}

// paceResult is what pace did.
type paceResult struct {
	Sent, Errors int64
	FirstErr     string
	Lat          *latency.Histogram // per-call latency, µs
}

func (p paceResult) err(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.Sent == 0 && p.Errors > 0 {
		return errors.New(p.FirstErr)
	}
	return nil
}

// pace calls fn rate times per second (0: as fast as the workers go) for
// dur, from workers goroutines; i numbers the calls.
func pace(ctx context.Context, rate float64, dur time.Duration, workers int, fn func(ctx context.Context, i int64) error) paceResult {
	res := paceResult{Lat: new(latency.Histogram)}
	var sent, errs, seq atomic.Int64
	var firstErr sync.Once
	start := time.Now()
	end := start.Add(dur)
	tokens := make(chan struct{}, workers*4)
	if rate > 0 {
		go func() {
			defer close(tokens)
			var issued int64
			for {
				now := time.Now()
				if now.After(end) || ctx.Err() != nil {
					return
				}
				due := int64(now.Sub(start).Seconds()*rate) + 1
				for ; issued < due; issued++ {
					select {
					case tokens <- struct{}{}:
					case <-ctx.Done():
						return
					}
				}
				time.Sleep(500 * time.Microsecond)
			}
		}()
	}
	call := func() {
		i := seq.Add(1) - 1
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t0 := time.Now()
		err := fn(cctx, i)
		res.Lat.Record(time.Since(t0).Microseconds())
		cancel()
		if err != nil {
			errs.Add(1)
			firstErr.Do(func() { res.FirstErr = err.Error() })
			return
		}
		sent.Add(1)
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rate > 0 {
				for range tokens {
					call()
				}
				return
			}
			for time.Now().Before(end) && ctx.Err() == nil {
				call()
			}
		}()
	}
	wg.Wait()
	res.Sent, res.Errors = sent.Load(), errs.Load()
	return res
}

// ------------------------------------------------- ceiling and Node: HTTP admin

// adminSys is a single-process server with the loopback admin endpoints
// shared by bench/cmd/ceiling (in either mode) and bench/node/server.mjs.
type adminSys struct {
	r      *runner
	sys    string
	p      *proc
	addr   string
	httpc  *http.Client
	inHand bool // bursts are sent with inhand=1 (CeilingInHand)
}

func (a *adminSys) name() string  { return a.sys }
func (a *adminSys) polling() bool { return a.sys == Node }

func (a *adminSys) start(ctx context.Context, _ int) error {
	var err error
	switch a.sys {
	case Ceiling, CeilingNaive:
		mode := "batched"
		if a.sys == CeilingNaive {
			mode = "naive"
		}
		a.p, err = a.r.procs.start(a.r.procName(a.sys), true, "", nil, a.r.bins.ceiling,
			"--mode", mode, "--max-duration", a.r.childMaxDuration().String())
	case Node:
		a.p, err = a.r.procs.start(a.r.procName("node"), true, a.r.opt.RepoDir, nil, a.r.bins.node,
			"bench/node/server.mjs", fmt.Sprintf("--max-duration-ms=%d", a.r.childMaxDuration().Milliseconds()))
	}
	if err != nil {
		return err
	}
	line, err := a.p.next(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	var hello struct{ Addr string }
	if err := json.Unmarshal(line, &hello); err != nil || hello.Addr == "" {
		return fmt.Errorf("%s: bad first line %q", a.sys, line)
	}
	a.addr = hello.Addr
	a.httpc = &http.Client{Transport: &http.Transport{Proxy: nil}}
	if a.sys == Node {
		return a.calibrate(ctx)
	}
	return nil
}

// calibrate measures the Node process's clock (performance.timeOrigin +
// performance.now()) against this process's wall clock and has it subtract
// the difference, so that latencies are not skewed by a clock offset.
func (a *adminSys) calibrate(ctx context.Context) error {
	best, offset := time.Hour, 0.0
	for i := 0; i < 30; i++ {
		t0 := stamp.Now()
		var v struct{ Now float64 }
		if err := a.call(ctx, "GET", "/admin/now", nil, &v); err != nil {
			return err
		}
		t1 := stamp.Now()
		if rtt := time.Duration(t1-t0) * time.Microsecond; rtt < best {
			best = rtt
			offset = v.Now - float64(t0+t1)/2000
		}
	}
	a.r.logf("node clock offset %.3f ms (best round trip %v), corrected", offset, best)
	a.r.nodeClockOffsetMs = offset
	return a.call(ctx, "POST", "/admin/offset", url.Values{"ms": {strconv.FormatFloat(offset, 'f', 4, 64)}}, nil)
}

func (a *adminSys) call(ctx context.Context, method, path string, q url.Values, out any) error {
	u := "http://" + a.addr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := a.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.sys, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s %s", a.sys, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (a *adminSys) stop() {
	if a.p != nil {
		a.p.stop(5 * time.Second)
		a.p = nil
	}
}

func (a *adminSys) spec(transport string, storm bool) genSpec {
	if isCeiling(a.sys) {
		u := "ws://" + a.addr + "/ws"
		if storm {
			u += "?quiet=1"
		}
		return genSpec{targets: []string{u}, mode: "raw", transport: "websocket"}
	}
	scheme := "ws"
	if transport == "polling" {
		scheme = "http"
	}
	ns := "/"
	if storm {
		ns = "/storm"
	}
	return genSpec{targets: []string{scheme + "://" + a.addr + "/socket.io/"}, mode: "sio", transport: transport, namespace: ns}
}

// ready waits until the server counts n sockets. A client sees its
// WebSocket open as soon as the 101 response is written, which the ceiling
// does before it registers the connection, so the count may lag a moment.
func (a *adminSys) ready(ctx context.Context, n int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st struct {
			Conns   int `json:"conns"`
			Sockets int `json:"sockets"`
		}
		if err := a.call(ctx, "GET", "/admin/stats", nil, &st); err != nil {
			return err
		}
		got := st.Sockets
		if isCeiling(a.sys) {
			got = st.Conns
		}
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has %d sockets, want %d", a.sys, got, n)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

func (a *adminSys) send(ctx context.Context, path string, rate float64, dur time.Duration) (int64, error) {
	var v struct{ Sent int64 }
	err := a.call(ctx, "POST", path, url.Values{
		"rate": {strconv.FormatFloat(rate, 'f', 3, 64)},
		"dur":  {strconv.FormatInt(dur.Milliseconds(), 10)},
	}, &v)
	return v.Sent, err
}

func (a *adminSys) broadcast(ctx context.Context, rate float64, dur time.Duration) (int64, error) {
	return a.send(ctx, "/admin/broadcast", rate, dur)
}

// burst asks for count messages as fast as the server goes: the ceiling
// encodes them at once and queues them connection by connection, Node
// emits them in one loop.
func (a *adminSys) burst(ctx context.Context, count int) (int64, error) {
	var v struct{ Sent int64 }
	q := url.Values{"count": {strconv.Itoa(count)}, "rate": {"0"}}
	if a.inHand {
		q.Set("inhand", "1")
	}
	err := a.call(ctx, "POST", "/admin/broadcast", q, &v)
	return v.Sent, err
}

func (a *adminSys) unicast(ctx context.Context, rate float64, dur time.Duration, _ []string, _ int) (unicastRun, error) {
	n, err := a.send(ctx, "/admin/unicast", rate, dur)
	if err != nil {
		return unicastRun{}, err
	}
	return unicastRun{Sent: n}, nil
}

func (a *adminSys) memPIDs() []int {
	if a.p == nil {
		return nil
	}
	return []int{a.p.pid()}
}

func (a *adminSys) cpuPIDs() []int { return a.memPIDs() }

// busTap subscribes to every edge's subject (where control publishes an
// emit to a sid) on control's NATS and records, per message, the time
// since the stamp its payload carries: when an emit reached NATS's
// subscribers, the edge among them. Stop ends it and returns the
// histogram.
func (s *switchboardSys) busTap() (stop func() (latency.Snapshot, error), err error) {
	nc, err := nats.Connect("nats://"+s.natsAddr, nats.Name("bench-bus-tap"))
	if err != nil {
		return nil, err
	}
	lat := new(latency.Histogram)
	subj, err := bus.NewSubjects("") // the default --subject-prefix, as the run uses
	if err != nil {
		nc.Close()
		return nil, err
	}
	sub, err := nc.Subscribe(subj.Edge("*"), func(m *nats.Msg) {
		if us, ok := stamp.Find(m.Data); ok {
			lat.Record(stamp.Now() - us)
		}
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return func() (latency.Snapshot, error) {
		err := sub.Unsubscribe()
		nc.Close()
		return lat.Snapshot(false), err
	}, nil
}
