// Package jsonproc runs, for a test, a process that talks in lines: the
// test writes JSON commands to its stdin, and its stdout's lines, decoded
// as the test says, arrive in a testfeed.Feed the test waits on. It owns
// the process's pipes, the goroutine that reads stdout and the capture of
// stderr. How the process is asked to end is the caller's (closing stdin,
// a signal); Stop and Kill signal only the PID that Start started, and a
// process still running when the test ends is killed then. The node
// scripts of the tests and the example services are run this way.
package jsonproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

// MaxLine is the longest stdout line Start reads. A longer one ends Lines
// with an error saying so; the rest of stdout is read and dropped, so
// that the process is not blocked writing it.
const MaxLine = 16 << 20

// Proc is a process Start started.
type Proc[L any] struct {
	Name  string            // how messages name it
	Cmd   *exec.Cmd         // as the caller set it up, started
	Lines *testfeed.Feed[L] // stdout's lines, decoded; ends when stdout does

	stdin  io.WriteCloser
	stderr lockedBuffer
	exited chan struct{} // closed once it exited and stdout was read to its end
	err    error         // cmd.Wait's; set before exited is closed
}

// Start starts cmd, which the caller has set up but for its stdin, stdout
// and stderr (Proc's: a pipe, a pipe, a buffer). decode turns each stdout
// line into an L (a line that is not what decode expects is for decode to
// mark); each wait on Lines gives up after timeout. Lines ends once the
// process exited, with an error naming it, how it exited and its stderr.
// Start fails the test if cmd does not start.
func Start[L any](t testing.TB, name string, cmd *exec.Cmd, timeout time.Duration, decode func(line []byte) L) *Proc[L] {
	t.Helper()
	p := &Proc[L]{Name: name, Cmd: cmd, Lines: testfeed.New[L](timeout), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go p.read(stdout, decode)
	// Registered first, so it runs after the caller's own cleanups, which
	// normally have ended the process already.
	t.Cleanup(func() { p.Kill() })
	return p
}

// read is the goroutine that owns stdout, until the process exited.
func (p *Proc[L]) read(stdout io.Reader, decode func([]byte) L) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		p.Lines.Add(decode(sc.Bytes()))
	}
	scanErr := sc.Err()
	if scanErr != nil {
		p.Lines.End(fmt.Errorf("%s (pid %d): reading stdout: %v", p.Name, p.PID(), scanErr))
		_, _ = io.Copy(io.Discard, stdout)
	}
	p.err = p.Cmd.Wait()
	if scanErr == nil {
		msg := fmt.Sprintf("%s exited: %v", p.Name, p.err)
		if s := p.stderr.String(); s != "" {
			msg += "; stderr:\n" + s
		}
		p.Lines.End(fmt.Errorf("%s", msg))
	}
	close(p.exited)
}

// Send writes v to the process's stdin as one JSON line; it fails the
// test if v does not marshal or the write fails.
func (p *Proc[L]) Send(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("write to %s: %v", p.Name, err)
	}
}

// CloseStdin closes the process's stdin: the scripts run this way take
// it as the word to end.
func (p *Proc[L]) CloseStdin() { p.stdin.Close() }

// Stop closes stdin and waits up to within for the exit; if the process
// still runs then, it kills it (by its PID) and waits for that. killed
// says whether it had to.
func (p *Proc[L]) Stop(within time.Duration) (killed bool) {
	p.CloseStdin()
	select {
	case <-p.exited:
		return false
	case <-time.After(within):
		p.Kill()
		return true
	}
}

// Kill sends SIGKILL to the process Start started, unless it exited, and
// waits for its exit.
func (p *Proc[L]) Kill() {
	p.CloseStdin()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// PID is the process's id.
func (p *Proc[L]) PID() int { return p.Cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Proc[L]) Exited() <-chan struct{} { return p.exited }

// Err is how the process exited (cmd.Wait's error); read it once Exited
// is closed.
func (p *Proc[L]) Err() error { return p.err }

// Stderr is what the process wrote on stderr so far.
func (p *Proc[L]) Stderr() string { return p.stderr.String() }

// lockedBuffer is a bytes.Buffer that exec's copying goroutine writes
// while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
