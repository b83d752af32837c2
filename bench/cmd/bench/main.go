// Command bench runs Switchboard's benchmark: fan-out, burst, memory per
// idle connection, connect storm and unicast, for Switchboard, a bare
// gorilla/websocket ceiling (batched writes, and the one-write-per-frame
// baseline) and Node's socket.io, all on 127.0.0.1, and writes
// bench/results/<UTC stamp>.json and .md and adds the run's row to
// bench/results/README.md, the index of runs. `make bench` runs the
// defaults; `make bench-smoke` (--smoke) a tiny version (no index row);
// --reindex rebuilds the index from the .json files and runs nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-rt/switchboard/bench/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o harness.Options
	var scenarios, systems, fanout, memws, burst string
	var reindex bool
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.BoolVar(&o.Smoke, "smoke", false, "tiny sizes and phases: checks the harness end to end in well under a minute")
	fs.StringVar(&scenarios, "scenarios", "all", "comma-separated: "+strings.Join(harness.AllScenarios, ","))
	fs.StringVar(&systems, "systems", "all", "comma-separated: "+strings.Join(harness.AllSystems, ",")+" (ceiling-naive runs fanout and burst only)")
	fs.BoolVar(&reindex, "reindex", false, "rebuild the results index (README.md in --out) from its .json files, then exit")
	fs.StringVar(&o.RepoDir, "repo", ".", "module root")
	fs.StringVar(&o.OutDir, "out", "", "results directory (default bench/results, or bench/results/tmp/smoke with --smoke)")
	fs.StringVar(&o.WorkDir, "work", "", "directory for binaries and process logs, kept (default: a temporary one, removed)")
	fs.StringVar(&fanout, "fanout-sizes", "", "sockets in the room, comma-separated (default 1000,5000,10000)")
	fs.IntVar(&o.FanoutEdges, "fanout-edges", 0, "Switchboard edges for fan-out (default 2)")
	fs.StringVar(&burst, "burst-sizes", "", "sockets in the room for the burst, comma-separated (default: --fanout-sizes)")
	fs.IntVar(&o.BurstMessages, "burst-messages", 0, "messages in one burst (default 40)")
	fs.IntVar(&o.BurstReps, "burst-reps", 0, "measured bursts per size (default 3)")
	fs.DurationVar(&o.BurstTimeout, "burst-timeout", 0, "wait for every frame of a burst at most (default 30s)")
	fs.StringVar(&memws, "mem-ws", "", "idle WebSockets on one process, comma-separated (default 2000,10000,18000)")
	fs.IntVar(&o.MemCluster, "mem-cluster", 0, "idle WebSockets over --mem-edges Switchboard edges (default 50000)")
	fs.IntVar(&o.MemEdges, "mem-edges", 0, "edges for --mem-cluster (default 3)")
	fs.IntVar(&o.MemPolling, "mem-polling", 0, "idle polling connections on one process (default 5000)")
	fs.IntVar(&o.StormClients, "storm-clients", 0, "connect-storm clients (default 10000)")
	fs.IntVar(&o.StormConcurrency, "storm-concurrency", 0, "handshakes in flight during the storm (default 1000)")
	fs.IntVar(&o.StormObservers, "storm-observers", 0, "clients receiving a stream during the storm (default 1000)")
	fs.IntVar(&o.StormPolling, "storm-polling", 0, "polling clients connecting (default 5000)")
	fs.IntVar(&o.UnicastClients, "unicast-clients", 0, "sockets for unicast (default 1000)")
	fs.Float64Var(&o.UnicastLowRate, "unicast-low-rate", 0, "emits/s of the low-rate unicast phase (default 200)")
	fs.IntVar(&o.UnicastCallers, "unicast-callers", 0, "concurrent Emit callers, flat out (default 64)")
	fs.Func("edge-arg", "an argument added to every Switchboard edge's command line, e.g. --edge-arg=--ws-writers=-1 (repeatable)", func(v string) error {
		o.EdgeArgs = append(o.EdgeArgs, v)
		return nil
	})
	fs.StringVar(&o.ProfileDir, "profile-dir", "", "write CPU and allocation profiles of control and the edges (served on 127.0.0.1) into this directory: paced fan-out, a burst per size, flat-out unicast")
	fs.IntVar(&o.PerLoadgen, "per-loadgen", 0, "clients per load process at most (default 10000)")
	fs.Float64Var(&o.RefFrameRate, "ref-rate", 0, "offered frames/s at which all systems' latency is compared (default 20000)")
	fs.DurationVar(&o.StepDur, "step", 0, "ramp step (default 2s)")
	fs.DurationVar(&o.MeasureDur, "measure", 0, "measured phase (default 4s)")
	fs.DurationVar(&o.Settle, "settle", 0, "wait before reading RSS (default 3s)")
	fs.DurationVar(&o.MaxDuration, "max-duration", 0, "bound on the whole run (default 25m, 3m with --smoke)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	var err error
	if o.Scenarios, err = harness.ParseList(scenarios, harness.AllScenarios); err != nil {
		return fmt.Errorf("--scenarios: %w", err)
	}
	if o.Systems, err = harness.ParseList(systems, harness.AllSystems); err != nil {
		return fmt.Errorf("--systems: %w", err)
	}
	if o.FanoutSizes, err = ints(fanout); err != nil {
		return fmt.Errorf("--fanout-sizes: %w", err)
	}
	if o.MemWS, err = ints(memws); err != nil {
		return fmt.Errorf("--mem-ws: %w", err)
	}
	if o.BurstSizes, err = ints(burst); err != nil {
		return fmt.Errorf("--burst-sizes: %w", err)
	}
	if o.BurstMessages < 0 || o.BurstReps < 0 || o.BurstTimeout < 0 {
		return errors.New("--burst-messages, --burst-reps and --burst-timeout must not be negative")
	}
	if reindex {
		dir := o.OutDir
		if dir == "" {
			dir = filepath.Join(o.RepoDir, "bench", "results")
		}
		p, err := harness.RebuildIndex(dir)
		if err != nil {
			return err
		}
		fmt.Println("written:", p)
		return nil
	}
	o.KeepWork = o.WorkDir != ""
	o.Command = command()
	o.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, paths, err := harness.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("%s\nwritten in %s: %s\n", res.Markdown(), time.Since(start).Round(time.Second), strings.Join(paths, ", "))
	return nil
}

func ints(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// command reconstructs how the benchmark was invoked; `go run` leaves a
// temporary binary in os.Args[0].
func command() string {
	prog := filepath.Base(os.Args[0])
	if strings.Contains(os.Args[0], "go-build") {
		prog = "go run ./bench/cmd/bench"
	}
	parts := []string{prog}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
