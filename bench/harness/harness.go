// Package harness is the benchmark orchestrator behind `make bench`
// (bench/cmd/bench): it builds the servers and the load generator, runs
// Switchboard (control + edges as separate processes), the bare
// gorilla/websocket ceiling (bench/cmd/ceiling, batched, and its
// one-write-per-frame baseline) and Node's socket.io (bench/node/server.mjs)
// through the same scenarios — fan-out, burst, memory per idle connection,
// connect storm, unicast — with load generators (bench/cmd/loadgen) in
// processes of their own, and writes the figures as JSON and markdown, with
// a row for the run in the results index (bench/results/README.md). Everything listens and dials on 127.0.0.1; every phase is
// bounded in time and every process it starts is stopped before Run
// returns.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Scenario names.
const (
	Fanout  = "fanout"
	Burst   = "burst"
	Memory  = "memory"
	Connect = "connect"
	Unicast = "unicast"
)

// AllScenarios and AllSystems are the defaults, in run order.
var (
	AllScenarios = []string{Fanout, Burst, Memory, Connect, Unicast}
	AllSystems   = []string{Switchboard, SwitchboardMetrics, Ceiling, CeilingNaive, Node}
)

// metricsScenarios are the scenarios switchboard-metrics runs in: the
// issue's question is whether serving and scraping metrics costs fan-out
// throughput or idle memory.
var metricsScenarios = []string{Fanout, Memory}

// naiveScenarios are the scenarios ceiling-naive runs in: it differs from
// the batched ceiling in its write path only, which the others barely use.
var naiveScenarios = []string{Fanout, Burst}

// Options configures a run. Zero values mean the full run's defaults (the
// sizes of the full benchmark); Smoke replaces them with tiny ones.
type Options struct {
	// RepoDir is the module root (go build, node_modules, bench/node).
	// Empty means the current directory.
	RepoDir string
	// OutDir receives <UTC stamp>.json and .md, and unless Smoke a row for
	// the run in its README.md (the index of runs, newest first). Empty
	// means RepoDir/bench/results, or bench/results/tmp/smoke with Smoke.
	OutDir string
	// WorkDir holds the binaries and the processes' logs. Empty means a new
	// temporary directory, removed afterwards unless KeepWork.
	WorkDir  string
	KeepWork bool
	// BinDir holds control, edge, loadgen and ceiling already built (make
	// test builds them before the tests start). Empty means the run builds
	// them into WorkDir first.
	BinDir string
	// Smoke runs a tiny version of every scenario (tens of sockets, phases
	// well under a second).
	Smoke bool
	// Scenarios and Systems select what runs. Empty means all.
	Scenarios []string
	Systems   []string

	FanoutSizes []int // sockets in the room; default 1000, 5000, 10000
	FanoutEdges int   // Switchboard edges for fan-out; default 2
	MemWS       []int // idle WebSocket connections on one edge; default 2000, 10000, 18000
	MemCluster  int   // idle WebSockets over MemEdges edges (Switchboard); default 50000
	MemEdges    int   // default 3
	MemPolling  int   // idle polling connections on one edge; default 5000

	BurstSizes    []int         // sockets in the room for the burst; default FanoutSizes
	BurstMessages int           // messages in one burst; default 40
	BurstReps     int           // measured bursts per size; default 3
	BurstTimeout  time.Duration // wait for a burst's every frame at most; default 30s (10s with Smoke)

	StormClients     int // clients connecting, then reconnecting at once; default 10000
	StormGens        int // load processes they are spread over; default 2
	StormConcurrency int // handshakes in flight over all of them; default 1000
	StormObservers   int // clients receiving a steady stream meanwhile; default 1000
	StormPolling     int // polling clients connecting; default 5000

	UnicastClients int     // default 1000
	UnicastLowRate float64 // emits/s of the low-rate phase; default 200
	UnicastCallers int     // concurrent Emit callers of the flat-out phase; default 64
	// ProfileDir, when set, makes control and the edges serve pprof
	// (--debug-addr on 127.0.0.1) and receives a CPU profile and an
	// allocation profile (allocs, the delta over the same window) of each,
	// as <phase>-<process>.{cpu,allocs}.pprof: over the paced reference
	// phase of each fan-out size (fanout-paced-N<n>), over a burst of each
	// size (burst-N<n>: an extra burst before the measured ones, not
	// counted) and over the measured window of each flat-out unicast phase
	// (unicast-{emit,pipeline,noop}). Switchboard only. Empty: no
	// profiling.
	ProfileDir string
	// EdgeArgs are added to every Switchboard edge's command line (say,
	// --ws-writers=-1, to measure the write path without the writer pool).
	// The run's report lists them.
	EdgeArgs []string

	PerLoadgen   int           // clients per load process at most; default 10000
	RefFrameRate float64       // the offered frames/s all systems are compared at; default 20000
	StepDur      time.Duration // one ramp step; default 2s
	MeasureDur   time.Duration // one measured phase; default 4s
	Settle       time.Duration // wait before reading RSS; default 3s
	MaxSteps     int           // ramp steps per size at most; default 12
	MaxP99       time.Duration // a ramp step whose p99 exceeds it is not sustainable; default 1s

	// MaxDuration bounds the whole run once the binaries are built (the
	// build has no deadline of its own but ctx's); every child gets a
	// little more and exits by itself. Default 25 minutes (3 with Smoke).
	MaxDuration time.Duration
	// Command is the command line recorded in the results.
	Command string
	// Log receives progress lines. Nil means io.Discard.
	Log io.Writer
}

func (o *Options) defaults() {
	def := func(p *int, full, smoke int) {
		if *p == 0 {
			*p = full
			if o.Smoke {
				*p = smoke
			}
		}
	}
	defs := func(p *[]int, full, smoke []int) {
		if len(*p) == 0 {
			*p = full
			if o.Smoke {
				*p = smoke
			}
		}
	}
	defd := func(p *time.Duration, full, smoke time.Duration) {
		if *p == 0 {
			*p = full
			if o.Smoke {
				*p = smoke
			}
		}
	}
	if o.RepoDir == "" {
		o.RepoDir = "."
	}
	if abs, err := filepath.Abs(o.RepoDir); err == nil {
		o.RepoDir = abs
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.RepoDir, "bench", "results")
		if o.Smoke {
			o.OutDir = filepath.Join(o.OutDir, "tmp", "smoke")
		}
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = AllScenarios
	}
	if len(o.Systems) == 0 {
		o.Systems = AllSystems
	}
	defs(&o.FanoutSizes, []int{1000, 5000, 10000}, []int{40})
	def(&o.FanoutEdges, 2, 2)
	defs(&o.MemWS, []int{2000, 10000, 18000}, []int{30, 60})
	defs(&o.BurstSizes, o.FanoutSizes, o.FanoutSizes)
	def(&o.BurstMessages, 40, 40)
	def(&o.BurstReps, 3, 2)
	defd(&o.BurstTimeout, 30*time.Second, 10*time.Second)
	def(&o.MemCluster, 50000, 90)
	def(&o.MemEdges, 3, 3)
	def(&o.MemPolling, 5000, 20)
	def(&o.StormClients, 10000, 60)
	def(&o.StormGens, 2, 2)
	def(&o.StormConcurrency, 1000, 20)
	def(&o.StormObservers, 1000, 10)
	def(&o.StormPolling, 5000, 20)
	def(&o.UnicastClients, 1000, 20)
	def(&o.UnicastCallers, 64, 4)
	def(&o.PerLoadgen, 10000, 40)
	def(&o.MaxSteps, 12, 2)
	if o.UnicastLowRate == 0 {
		o.UnicastLowRate = 200
	}
	if o.RefFrameRate == 0 {
		o.RefFrameRate = 20000
		if o.Smoke {
			o.RefFrameRate = 2000
		}
	}
	defd(&o.StepDur, 2*time.Second, 300*time.Millisecond)
	defd(&o.MeasureDur, 4*time.Second, 400*time.Millisecond)
	defd(&o.Settle, 3*time.Second, 200*time.Millisecond)
	defd(&o.MaxP99, time.Second, time.Second)
	defd(&o.MaxDuration, 25*time.Minute, 3*time.Minute)
	if o.Log == nil {
		o.Log = io.Discard
	}
}

type binaries struct{ control, edge, loadgen, ceiling, node string }

type runner struct {
	opt     Options
	procs   *procs
	bins    binaries
	started time.Time
	stage   string // current scenario-system, names processes and pools
	seq     int

	nodeClockOffsetMs float64
	notes             []string
	scrapes           scrapeTotals // switchboard-metrics' scrapes, all its runs
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.opt.Log, "[%6.1fs] %s\n", time.Since(r.started).Seconds(), fmt.Sprintf(format, args...))
}

func (r *runner) procName(base string) string {
	r.seq++
	return fmt.Sprintf("%02d-%s-%s", r.seq, r.stage, base)
}

// childMaxDuration bounds every child: it exits by itself after the run's
// own limit, even if this process were gone without killing it.
func (r *runner) childMaxDuration() time.Duration {
	return r.opt.MaxDuration - time.Since(r.started) + time.Minute
}

// Run executes the selected scenarios and writes the results. It returns
// the results (also when a scenario failed: failures are recorded in them)
// and the paths written.
func Run(ctx context.Context, opt Options) (*Results, []string, error) {
	opt.defaults()
	r := &runner{opt: opt, started: time.Now()}

	limit, err := raiseFileLimit()
	if err != nil {
		return nil, nil, fmt.Errorf("raise open-files limit: %w", err)
	}
	work := opt.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "switchboard-bench-"); err != nil {
			return nil, nil, err
		}
		if !opt.KeepWork {
			defer os.RemoveAll(work)
		}
	}
	logDir := filepath.Join(work, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, nil, err
	}
	r.procs = &procs{logDir: logDir}
	defer r.procs.stopAll()

	// The build comes first and outside the run's clock: on a machine with
	// empty caches it takes minutes, which no scenario's budget includes.
	if opt.BinDir != "" {
		r.useBinaries(opt.BinDir)
	} else {
		r.logf("building into %s", work)
		if err := r.build(ctx, work); err != nil {
			return nil, nil, err
		}
	}
	r.started = time.Now()
	ctx, cancel := context.WithTimeout(ctx, opt.MaxDuration)
	defer cancel()

	res := &Results{
		Started:   r.started.UTC(),
		Command:   opt.Command,
		Smoke:     opt.Smoke,
		Machine:   machineInfo(opt.RepoDir, limit),
		Scenarios: opt.Scenarios,
		Systems:   opt.Systems,
		Sizes:     sizesOf(opt),
	}
	systems := r.systems(res)

	for _, sc := range opt.Scenarios {
		for _, sys := range systems {
			if sys.name() == CeilingNaive && !slices.Contains(naiveScenarios, sc) {
				continue
			}
			if sys.name() == SwitchboardMetrics && !slices.Contains(metricsScenarios, sc) {
				continue
			}
			if ctx.Err() != nil {
				res.Errors = append(res.Errors, fmt.Sprintf("%s/%s: not run: %v", sc, sys.name(), ctx.Err()))
				continue
			}
			r.stage = sc + "-" + sys.name()
			r.logf("== %s: %s", sc, sys.name())
			switch sc {
			case Fanout:
				res.Fanout = append(res.Fanout, r.fanout(ctx, sys)...)
			case Burst:
				res.Burst = append(res.Burst, r.burst(ctx, sys)...)
			case Memory:
				res.Memory = append(res.Memory, r.memory(ctx, sys)...)
			case Connect:
				res.Connect = append(res.Connect, r.connect(ctx, sys))
			case Unicast:
				res.Unicast = append(res.Unicast, r.unicast(ctx, sys))
			default:
				return nil, nil, fmt.Errorf("unknown scenario %q", sc)
			}
			r.procs.stopAll() // nothing of one system survives into the next
		}
	}
	r.procs.stopAll()
	if left := r.procs.leftovers(); len(left) > 0 {
		res.Errors = append(res.Errors, "processes still running after the run: "+strings.Join(left, ", "))
	}
	res.ProcessesStarted = r.procs.started()
	res.NodeClockOffsetMs = r.nodeClockOffsetMs
	res.Notes = append(res.Notes, r.notes...)
	if t := r.scrapes; t.scrapes > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%s: %d scrapes of /metrics (control's and every edge's, every %v), %d failed, %.1f KB each on average",
			SwitchboardMetrics, t.scrapes, metricsScrapeEvery, t.failures, float64(t.bytes)/float64(t.scrapes)/1024))
		if t.failures > 0 {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %d of %d scrapes failed", SwitchboardMetrics, t.failures, t.scrapes))
		}
	}
	res.Finished = time.Now().UTC()
	res.DurationSec = res.Finished.Sub(res.Started).Seconds()
	res.evaluate()
	if opt.KeepWork || opt.WorkDir != "" {
		res.Notes = append(res.Notes, "process logs: "+logDir)
	}
	paths, err := res.write(opt.OutDir, !opt.Smoke)
	if err != nil {
		return res, nil, err
	}
	r.logf("done in %.0fs: %s", res.DurationSec, strings.Join(paths, ", "))
	return res, paths, nil
}

func (r *runner) build(ctx context.Context, work string) error {
	bin := filepath.Join(work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin+string(filepath.Separator),
		"./cmd/control", "./cmd/edge", "./bench/cmd/loadgen", "./bench/cmd/ceiling")
	cmd.Dir = r.opt.RepoDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	r.useBinaries(bin)
	return nil
}

func (r *runner) useBinaries(bin string) {
	r.bins = binaries{
		control: filepath.Join(bin, "control"),
		edge:    filepath.Join(bin, "edge"),
		loadgen: filepath.Join(bin, "loadgen"),
		ceiling: filepath.Join(bin, "ceiling"),
	}
}

// systems returns the selected systems that can run here; Node needs node
// and the socket.io package from package-lock.json (npm ci).
func (r *runner) systems(res *Results) []system {
	var out []system
	for _, name := range r.opt.Systems {
		switch name {
		case Switchboard:
			out = append(out, &switchboardSys{r: r})
		case SwitchboardMetrics:
			out = append(out, &switchboardSys{r: r, metrics: true})
		case Ceiling, CeilingNaive:
			out = append(out, &adminSys{r: r, sys: name})
		case Node:
			node, err := exec.LookPath("node")
			if err == nil {
				_, err = os.Stat(filepath.Join(r.opt.RepoDir, "node_modules", "socket.io", "package.json"))
			}
			if err != nil {
				res.Errors = append(res.Errors, "node: not run: needs node and node_modules/socket.io (npm ci): "+err.Error())
				continue
			}
			r.bins.node = node
			out = append(out, &adminSys{r: r, sys: Node})
		default:
			res.Errors = append(res.Errors, fmt.Sprintf("unknown system %q", name))
		}
	}
	return out
}

func sizesOf(o Options) map[string]any {
	return map[string]any{
		"fanout_sizes": o.FanoutSizes, "fanout_edges": o.FanoutEdges,
		"burst_sizes": o.BurstSizes, "burst_messages": o.BurstMessages, "burst_reps": o.BurstReps, "burst_timeout": o.BurstTimeout.String(),
		"mem_ws": o.MemWS, "mem_cluster": o.MemCluster, "mem_edges": o.MemEdges, "mem_polling": o.MemPolling,
		"storm_clients": o.StormClients, "storm_gens": o.StormGens, "storm_concurrency": o.StormConcurrency, "storm_observers": o.StormObservers, "storm_polling": o.StormPolling,
		"unicast_clients": o.UnicastClients, "unicast_low_rate": o.UnicastLowRate, "unicast_callers": o.UnicastCallers,
		"per_loadgen": o.PerLoadgen, "ref_frame_rate": o.RefFrameRate,
		"step": o.StepDur.String(), "measure": o.MeasureDur.String(), "settle": o.Settle.String(), "max_p99": o.MaxP99.String(),
	}
}

// ParseList splits a comma-separated flag value and checks each item
// against allowed.
func ParseList(s string, allowed []string) ([]string, error) {
	if s == "" || s == "all" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allowed, f) {
			return nil, fmt.Errorf("%q: want one of %s", f, strings.Join(allowed, ", "))
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}
