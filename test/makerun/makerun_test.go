// Package makerun tests what a newcomer meets first: `make run`
// (scripts/run.sh) and `make help`.
package makerun

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The script runs the prebuilt binaries (BIN_DIR), so no test's clock
// includes a build.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control") }

// wait bounds every wait for the script: starting two prebuilt binaries
// takes well under a second on an idle machine.
const wait = 30 * time.Second

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// script is scripts/run.sh running in a process group of its own, as a
// terminal runs it; its stdout and stderr (and its children's) are read
// line by line.
type script struct {
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{}

	mu  sync.Mutex
	out []string // every line so far
	err error    // the script's exit, once done is closed
}

func runScript(t *testing.T, edge, grpc, nats string) *script {
	t.Helper()
	root := repotest.Root(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &script{lines: make(chan string, 100), done: make(chan struct{})}
	s.cmd = exec.Command("bash", filepath.Join(root, "scripts", "run.sh"))
	s.cmd.Env = append(os.Environ(),
		"BIN_DIR="+filepath.Dir(repotest.Bin(t, "edge")),
		"EDGE_ADDR="+edge, "GRPC_ADDR="+grpc, "NATS_ADDR="+nats)
	s.cmd.Stdout, s.cmd.Stderr = w, w
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.mu.Lock()
			s.out = append(s.out, sc.Text())
			s.mu.Unlock()
			select {
			case s.lines <- sc.Text():
			default:
			}
		}
		r.Close()
	}()
	go func() {
		err := s.cmd.Wait()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
			<-s.done
		}
		for range s.lines {
		}
	})
	return s
}

func (s *script) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.out, "\n")
}

// waitLine waits for a line containing want; it fails if the script ends
// first.
func (s *script) waitLine(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				<-s.done
				t.Fatalf("the script ended (%v) before printing %q:\n%s", s.err, want, s.output())
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q after %v:\n%s", want, wait, s.output())
		}
	}
}

// exited waits for the script to end and returns its exit status.
func (s *script) exited(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(wait):
		t.Fatalf("the script did not end within %v:\n%s", wait, s.output())
	}
	for range s.lines {
	}
	return s.cmd.ProcessState.ExitCode()
}

// TestRun: the banner comes once everything listens, the demo page is
// served, and Ctrl-C (SIGINT to the whole process group, as a terminal
// sends it) stops both processes without a warning.
func TestRun(t *testing.T) {
	edge, grpc, nats := repotest.ClosedAddr(t), repotest.ClosedAddr(t), repotest.ClosedAddr(t)
	s := runScript(t, edge, grpc, nats)
	s.waitLine(t, "Demo page:   http://"+edge+"/")
	for _, addr := range []string{edge, grpc, nats} {
		if !listening(addr) {
			t.Errorf("the banner is out but nothing listens on %s", addr)
		}
	}
	resp, err := http.Get("http://" + edge + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("demo page: %s", resp.Status)
	}

	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := s.exited(t); code != 130 {
		t.Errorf("exit status %d after Ctrl-C, want 130", code)
	}
	out := s.output()
	for _, bad := range []string{"WARN", "ERROR", "level=WARN", "level=ERROR"} {
		if strings.Contains(out, bad) {
			t.Errorf("Ctrl-C printed a %s line:\n%s", bad, out)
			break
		}
	}
	for _, addr := range []string{edge, grpc, nats} {
		if listening(addr) {
			t.Errorf("%s still listens after Ctrl-C", addr)
		}
	}
	if strings.Count(out, "Demo page:") != 1 {
		t.Errorf("the banner shows %d times:\n%s", strings.Count(out, "Demo page:"), out)
	}
}

// TestRunPortTaken: a port that is taken is named, with the process that
// holds it, before anything starts, and no banner is printed.
func TestRunPortTaken(t *testing.T) {
	for _, which := range []string{"edge", "grpc", "nats"} {
		t.Run(which, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			addrs := map[string]string{"edge": repotest.ClosedAddr(t), "grpc": repotest.ClosedAddr(t), "nats": repotest.ClosedAddr(t)}
			addrs[which] = taken.Addr().String()
			s := runScript(t, addrs["edge"], addrs["grpc"], addrs["nats"])
			if code := s.exited(t); code == 0 {
				t.Errorf("exit status 0 with %s taken", addrs[which])
			}
			out := s.output()
			if !strings.Contains(out, addrs[which]+": the port is already in use") {
				t.Errorf("the output does not say %s is taken:\n%s", addrs[which], out)
			}
			if want := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(out, want) {
				t.Errorf("the output does not name the process holding the port (%s):\n%s", want, out)
			}
			if strings.Contains(out, "Demo page") {
				t.Errorf("the banner was printed:\n%s", out)
			}
			for name, addr := range addrs {
				if name != which && listening(addr) {
					t.Errorf("%s (%s) still listens after the script ended", addr, name)
				}
			}
		})
	}
}

// TestRunEdgeFails: when the edge cannot start after control did, the
// script says so and stops control.
func TestRunEdgeFails(t *testing.T) {
	grpc, nats := repotest.ClosedAddr(t), repotest.ClosedAddr(t)
	// No port 99999: the edge refuses the address at once.
	edge := "127.0.0.1:99999"
	s := runScript(t, edge, grpc, nats)
	if code := s.exited(t); code == 0 {
		t.Errorf("exit status 0 though the edge could not listen on %s", edge)
	}
	out := s.output()
	if !strings.Contains(out, "edge exited") || !strings.Contains(out, "stopping what was started") {
		t.Errorf("the output does not say the edge failed and control is stopped:\n%s", out)
	}
	if strings.Contains(out, "Demo page") {
		t.Errorf("the banner was printed:\n%s", out)
	}
	for _, addr := range []string{grpc, nats} {
		if listening(addr) {
			t.Errorf("control still listens on %s after the edge failed", addr)
		}
	}
}

// TestMakeHelp: `make help` speaks of the project, with nothing left
// unexpanded.
func TestMakeHelp(t *testing.T) {
	cmd := exec.Command("make", "--no-print-directory", "help")
	cmd.Dir = repotest.Root(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for _, target := range []string{"run:", "test:", "bench:", "generate:"} {
		if !strings.Contains(string(out), target) {
			t.Errorf("make help does not list %s\n%s", target, out)
		}
	}
	for _, bad := range []string{"$(", "issue"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("make help shows %q:\n%s", bad, out)
		}
	}
}
