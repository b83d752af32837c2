package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

const (
	// startTimeout bounds the start of a binary or of the NATS server and
	// each wait for a log line.
	startTimeout = 15 * time.Second
	// stopTimeout bounds a binary's exit after SIGTERM; it is killed then.
	stopTimeout = 10 * time.Second
	// ioTimeout bounds one call, one handshake, one write.
	ioTimeout = 10 * time.Second
	// heartbeat is the edges' heartbeat: ClusterInfo's counters are that
	// old at most.
	heartbeat = time.Second
	// pingInterval and pingTimeout are the edges' Engine.IO heartbeat,
	// shorter than the defaults so that clients that stay a few seconds
	// answer pings too.
	pingInterval = 3 * time.Second
	pingTimeout  = 5 * time.Second
)

func clip(s string) string { return repotest.Clip(s) }

// proc is a running binary and its pprof server.
type proc struct {
	*repotest.Proc
	label     string // edge-a, edge-b, control
	debugAddr string
}

// stack is the deployment under soak: a NATS server in this process, one
// control and two edges.
type stack struct {
	natsURL  string
	control  *proc
	grpcAddr string
	edges    []*proc
	edgeIDs  []string
	edgeAddr []string
	procs    []*proc // the edges, then control: the order of every sample's Procs

	// api is the sampler's gRPC connection, open from before the
	// baseline to after the end: the goroutines it costs control are in
	// both.
	api sbv1.ControlClient
}

var (
	controlListening = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+)`)
	edgeListening    = regexp.MustCompile(`msg="edge listening" edge=([a-z0-9]{8}) .*\baddr=(127\.0\.0\.1:\d+)`)
	debugListening   = regexp.MustCompile(`msg="debug server \(pprof\) listening" addr=(127\.0\.0\.1:\d+)`)
)

func startProc(t *testing.T, label, name string, args ...string) *proc {
	t.Helper()
	p := &proc{Proc: repotest.StartProc(t, startTimeout, stopTimeout, name, args...), label: label}
	p.debugAddr = p.WaitLog(t, debugListening)[1]
	return p
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{natsURL: repotest.StartNATS(t, startTimeout)}
	s.control = startProc(t, "control", "control", "--grpc-addr", "127.0.0.1:0", "--nats-url", s.natsURL, "--debug-addr", "127.0.0.1:0")
	s.grpcAddr = s.control.WaitLog(t, controlListening)[1]
	for i, id := range []string{"soakedga", "soakedgb"} {
		e := startProc(t, "edge-"+string(rune('a'+i)), "edge",
			"--addr", "127.0.0.1:0", "--nats-url", s.natsURL, "--edge-id", id, "--debug-addr", "127.0.0.1:0",
			"--heartbeat", heartbeat.String(), "--ping-interval", pingInterval.String(), "--ping-timeout", pingTimeout.String())
		m := e.WaitLog(t, edgeListening)
		if m[1] != id {
			t.Fatalf("edge listening as %q, want %q", m[1], id)
		}
		s.edges = append(s.edges, e)
		s.edgeIDs = append(s.edgeIDs, id)
		s.edgeAddr = append(s.edgeAddr, m[2])
	}
	s.procs = append(slices.Clone(s.edges), s.control)
	s.api = sbv1.NewControlClient(s.dial(t))
	deadline := time.Now().Add(startTimeout)
	for {
		ci, err := s.clusterInfo()
		if err == nil && len(ci.Edges) == len(s.edges) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClusterInfo does not list both edges within %v: %v %v", startTimeout, ci, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// dial opens a gRPC connection to control, closed when the test ends (or
// earlier, by the caller).
func (s *stack) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%s): %v", s.grpcAddr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func (s *stack) clusterInfo() (*sbv1.ClusterInfoResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	return s.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
}

// ---- measuring ----

// procUsage is what one process held when sampled. OK is false when it
// could not be measured (it died).
type procUsage struct {
	RSS        uint64 // VmRSS, bytes
	Goroutines int
	OK         bool
	Err        string
}

// debugClient asks the pprof servers; no keep-alive, so no connection (and
// no goroutine of the process) outlives a request.
var debugClient = &http.Client{Timeout: ioTimeout, Transport: &http.Transport{DisableKeepAlives: true}}

var goroutineLine = regexp.MustCompile(`^goroutine profile: total (\d+)\n`)

// usage reads the process's VmRSS from /proc and its goroutines from its
// pprof server.
func (p *proc) usage() procUsage {
	var u procUsage
	rss, err := vmRSS(p.PID())
	if err == nil {
		u.RSS = rss
		u.Goroutines, err = p.goroutines()
	}
	if err != nil {
		u.Err = err.Error()
		return u
	}
	u.OK = true
	return u
}

func vmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func (p *proc) goroutines() (int, error) {
	res, err := debugClient.Get("http://" + p.debugAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	// The first line is enough; the rest is every goroutine's stack.
	b, err := io.ReadAll(io.LimitReader(res.Body, 256))
	if err != nil || res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("goroutine profile: %d %v", res.StatusCode, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	m := goroutineLine.FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("goroutine profile starts %q", clip(string(b)))
	}
	return strconv.Atoi(string(m[1]))
}

// counters adds every counter (integer field) of a counters message to
// into by its name, so that a counter added to the API is sampled (and
// checked) too.
func counters(m proto.Message, into map[string]uint64) {
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		switch f := fields.Get(i); f.Kind() {
		case protoreflect.Uint64Kind, protoreflect.Uint32Kind:
			into[string(f.Name())] += r.Get(f).Uint()
		case protoreflect.Int64Kind, protoreflect.Int32Kind:
			into[string(f.Name())] += uint64(max(r.Get(f).Int(), 0))
		}
	}
}

// measure takes one sample: every process's usage, ClusterInfo's
// connections, sockets and counters (edges' summed), and the traffic's
// tally.
func (s *stack) measure(phase string, at time.Duration, tl *tally) sample {
	sm := sample{
		T:        at.Seconds(),
		Phase:    phase,
		Conns:    make([]int, len(s.edges)),
		Sockets:  make([]int, len(s.edges)),
		Edge:     map[string]uint64{},
		Control:  map[string]uint64{},
		Listed:   make([]bool, len(s.edges)),
		Totals:   tl.totals(),
		Measured: time.Now(),
	}
	for _, p := range s.procs {
		sm.Procs = append(sm.Procs, p.usage())
	}
	ci, err := s.clusterInfo()
	if err != nil {
		sm.ClusterErr = err.Error()
		return sm
	}
	counters(ci.GetControlCounters(), sm.Control)
	if ci.ControlCounters == nil {
		counters(&sbv1.ControlCounters{}, sm.Control)
	}
	counters(&sbv1.EdgeCounters{}, sm.Edge) // every name, at 0
	for _, e := range ci.Edges {
		i := slices.Index(s.edgeIDs, e.Id)
		if i < 0 {
			continue
		}
		sm.Listed[i] = true
		sm.Conns[i] = int(e.GetConnections())
		sm.Sockets[i] = int(e.GetSockets())
		if e.Counters != nil {
			counters(e.Counters, sm.Edge)
		}
	}
	return sm
}
