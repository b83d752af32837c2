// Package examplestack runs what the example services' tests need: control
// and one edge from the binaries repotest.Main made sure of, on a NATS
// server in the test's process or control's embedded one, and the other
// processes of a test (the service, a node client), whose JSON lines on
// stdout a test waits for and whose stdin it closes to end them. It is for
// the tests under examples/ only. Everything listens on 127.0.0.1, on
// ports the kernel picks; every process is stopped by the PID the test
// started, when the test ends.
package examplestack

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

const (
	// StartTimeout bounds the start of a process or of the NATS server
	// and each wait for a log line. Generous: under `make test` other
	// packages run beside the examples.
	StartTimeout = 15 * time.Second
	// StopTimeout bounds a process's exit once asked to stop (SIGTERM,
	// the end of its stdin).
	StopTimeout = 10 * time.Second
)

var (
	controlListening = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+)(?: nats=(nats://127\.0\.0\.1:\d+))?`)
	edgeListening    = regexp.MustCompile(`msg="edge listening" edge=([a-z0-9]+) .*\baddr=(127\.0\.0\.1:\d+)`)
)

// Options chooses how StartStack runs the stack.
type Options struct {
	// InProcessNATS runs a nats-server in the test's process for control
	// and the edge; without it, control runs its embedded one.
	InProcessNATS bool
	// EdgeArgs are flags added to the edge's.
	EdgeArgs []string
	// WaitEdge makes StartStack wait until control's ClusterInfo lists
	// the edge (ListSockets asks only the edges control knows).
	WaitEdge bool
}

// Stack is control and one edge, running; repotest.Proc stops each
// (SIGTERM) when the test ends.
type Stack struct {
	NATSURL  string
	Control  *repotest.Proc
	GRPCAddr string // control's gRPC API
	Edge     *repotest.Proc
	EdgeID   string
	EdgeURL  string // http://127.0.0.1:port, for a socket.io client
}

// StartStack starts control (with --gather-timeout 2s) and one edge; the
// package's TestMain must be repotest.Main(m, "edge", "control").
func StartStack(t *testing.T, o Options) *Stack {
	t.Helper()
	s := &Stack{}
	args := []string{"--grpc-addr", "127.0.0.1:0", "--gather-timeout", "2s"}
	if o.InProcessNATS {
		s.NATSURL = repotest.StartNATS(t, StartTimeout)
		args = append(args, "--nats-url", s.NATSURL)
	} else {
		args = append(args, "--embedded-nats-addr", "127.0.0.1:0")
	}
	s.Control = repotest.StartProc(t, StartTimeout, StopTimeout, "control", args...)
	m := s.Control.WaitLog(t, controlListening)
	s.GRPCAddr = m[1]
	if !o.InProcessNATS {
		if m[2] == "" {
			t.Fatalf("control's listening line names no embedded NATS: %q", m[0])
		}
		s.NATSURL = m[2]
	}
	s.Edge = repotest.StartProc(t, StartTimeout, StopTimeout, "edge",
		append([]string{"--addr", "127.0.0.1:0", "--nats-url", s.NATSURL}, o.EdgeArgs...)...)
	m = s.Edge.WaitLog(t, edgeListening)
	s.EdgeID, s.EdgeURL = m[1], "http://"+m[2]
	if o.WaitEdge {
		waitEdge(t, s.GRPCAddr, s.EdgeID)
	}
	return s
}

// waitEdge polls control's ClusterInfo until it lists edge id, for up to
// StartTimeout.
func waitEdge(t *testing.T, addr, id string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := sbv1.NewControlClient(conn)
	deadline := time.Now().Add(StartTimeout)
	for {
		ci, err := api.ClusterInfo(t.Context(), &sbv1.ClusterInfoRequest{})
		if err == nil && slices.ContainsFunc(ci.GetEdges(), func(e *sbv1.Edge) bool { return e.GetId() == id }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("control does not list edge %s after %v (last ClusterInfo error: %v)", id, StartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Command is a process for StartProcess: a service or a node client.
type Command struct {
	Name    string        // how messages name it; Path's base when empty
	Path    string        // the program: "node", "/usr/bin/python3"
	Args    []string      // its arguments
	Env     []string      // added to repotest.Env()
	Timeout time.Duration // bounds each wait for a line; StartTimeout when 0
}

// Proc is a process StartProcess started, in a process group of its own,
// in the repository's root, its stdout's lines decoded into Lines.
type Proc[L any] struct {
	Name  string
	Cmd   *exec.Cmd
	Lines *testfeed.Feed[L] // ends when it exits

	proc *jsonproc.Proc[L]
}

// StartProcess starts c; parse turns each line of its stdout into an L
// (a line that is not what parse expects is for parse to mark). When the
// test ends the process is stopped as Terminate does, and if the test
// failed its stdout lines and stderr are logged.
func StartProcess[L any](t *testing.T, c Command, parse func([]byte) L) *Proc[L] {
	t.Helper()
	if c.Name == "" {
		c.Name = filepath.Base(c.Path)
	}
	if c.Timeout == 0 {
		c.Timeout = StartTimeout
	}
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = repotest.Root(t)
	cmd.Env = repotest.Env(c.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	jp := jsonproc.Start(t, c.Name, cmd, c.Timeout, parse)
	p := &Proc[L]{Name: c.Name, Cmd: cmd, Lines: jp.Lines, proc: jp}
	t.Cleanup(func() {
		p.Terminate(t)
		if t.Failed() {
			t.Logf("%s stdout:\n%v\nstderr:\n%s", p.Name, p.Lines.All(), p.Stderr())
		}
	})
	return p
}

// Exited is closed once the process has exited.
func (p *Proc[L]) Exited() <-chan struct{} { return p.proc.Exited() }

// Err is how the process exited (cmd.Wait's error); read it once Exited
// is closed.
func (p *Proc[L]) Err() error { return p.proc.Err() }

// Stderr is what the process wrote on stderr so far.
func (p *Proc[L]) Stderr() string { return p.proc.Stderr() }

// Signal sends sig to the process the test started.
func (p *Proc[L]) Signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal %s (pid %d): %v", p.Name, p.Cmd.Process.Pid, err)
	}
}

// CloseStdin closes the process's stdin and waits, up to StopTimeout, for
// its exit; how it exited, or an error saying it still runs (Terminate,
// when the test ends, kills it then).
func (p *Proc[L]) CloseStdin(t *testing.T) error {
	t.Helper()
	p.proc.CloseStdin()
	select {
	case <-p.Exited():
		return p.Err()
	case <-time.After(StopTimeout):
		return fmt.Errorf("%s (pid %d) still runs %v after its stdin closed", p.Name, p.Cmd.Process.Pid, StopTimeout)
	}
}

// Terminate closes stdin and, unless the process exited, sends it SIGTERM
// and waits for its exit, killing it (and failing the test) after
// StopTimeout; how it exited.
func (p *Proc[L]) Terminate(t *testing.T) error {
	t.Helper()
	p.proc.CloseStdin()
	select {
	case <-p.Exited():
		return p.Err()
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited():
	case <-time.After(StopTimeout):
		p.proc.Kill()
		t.Errorf("%s (pid %d) still ran %v after SIGTERM: killed", p.Name, p.Cmd.Process.Pid, StopTimeout)
	}
	return p.Err()
}
