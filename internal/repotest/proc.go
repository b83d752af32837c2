package repotest

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

// Proc is a binary that Main built, running in a process group of its own,
// its stderr read line by line into Log. The test stops it by its PID when
// it ends; it never signals a process it did not start.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  *testfeed.Feed[string] // stderr lines; ends when it exits

	stopTimeout time.Duration
	exited      chan struct{} // closed once it exited
	waitErr     error         // cmd.Wait's; set before exited is closed
	killed      bool          // Kill ran: its exit was the test's doing
	stopped     bool          // Stop ran: later calls do nothing
}

// StartProc starts binary name with args. A wait for a log line gives up
// after waitTimeout; Stop (run when the test ends) sends SIGTERM and kills
// the binary if it still runs stopTimeout later.
func StartProc(t *testing.T, waitTimeout, stopTimeout time.Duration, name string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(Bin(t, name), args...)
	cmd.Env = Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Proc{Name: name, Cmd: cmd, Log: testfeed.New[string](waitTimeout), stopTimeout: stopTimeout, exited: make(chan struct{})}
	cmd.Stderr = &lineWriter{feed: p.Log}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		p.Log.End(fmt.Errorf("%s exited: %v", name, p.waitErr))
		close(p.exited)
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// lineWriter splits what a binary writes on stderr into lines for a feed.
// exec's copying goroutine is its only writer.
type lineWriter struct {
	feed    *testfeed.Feed[string]
	partial []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.feed.Add(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

// PID is the process's id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// WaitErr is how it exited; nil while it runs.
func (p *Proc) WaitErr() error {
	if p.Running() {
		return nil
	}
	return p.waitErr
}

// Running reports whether it has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (to the PID the test started) and waits for the exit.
func (p *Proc) Kill(t *testing.T) {
	t.Helper()
	p.killed = true
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s (pid %d): %v", p.Name, p.PID(), err)
	}
	select {
	case <-p.exited:
	case <-time.After(p.stopTimeout):
		t.Fatalf("%s (pid %d) still runs %v after SIGKILL", p.Name, p.PID(), p.stopTimeout)
	}
}

// Stop sends SIGTERM, waits for the exit and kills the binary if it still
// runs. A binary that exited on its own (not killed), or not with status 0
// after SIGTERM, fails the test, as does a panic or a data race in its log.
func (p *Proc) Stop(t *testing.T) {
	if p.stopped {
		return
	}
	p.stopped = true
	switch {
	case p.Running():
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(p.stopTimeout):
			_ = p.Cmd.Process.Kill()
			<-p.exited
			t.Errorf("%s (pid %d) still ran %v after SIGTERM: killed", p.Name, p.PID(), p.stopTimeout)
		}
		if p.waitErr != nil {
			t.Errorf("%s (pid %d) after SIGTERM: %v", p.Name, p.PID(), p.waitErr)
		}
	case !p.killed:
		t.Errorf("%s (pid %d) exited during the test: %v", p.Name, p.PID(), p.waitErr)
	}
	for _, l := range p.Log.All() {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "DATA RACE") {
			t.Errorf("%s: %s", p.Name, Clip(l))
		}
	}
	if t.Failed() {
		t.Logf("%s (pid %d) stderr (last lines):\n%s", p.Name, p.PID(), p.Tail(40))
	}
}

// Tail returns the last n lines of stderr, each clipped.
func (p *Proc) Tail(n int) string {
	lines := p.Log.All()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintln(&b, Clip(l))
	}
	return b.String()
}

// WaitLog waits for a stderr line matching re and returns its submatches.
func (p *Proc) WaitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	l := p.Log.Wait(t, fmt.Sprintf("%s to log %v", p.Name, re), re.MatchString)
	return re.FindStringSubmatch(l)
}

// Clip cuts s to 400 bytes, saying how long it was.
func Clip(s string) string {
	if len(s) > 400 {
		return s[:400] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}
