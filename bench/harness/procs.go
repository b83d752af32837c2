package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process. Its stdout, when piped, arrives line by line
// on lines; stderr (and stdout otherwise) goes to a log file.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan []byte   // stdout lines; closed at EOF (nil when not piped)
	done  chan struct{} // closed once Wait returned
	err   error         // Wait's result, set before done closes

	writeMu sync.Mutex
}

// procs tracks every process the run started, so that none outlives it.
type procs struct {
	logDir string

	mu  sync.Mutex
	all []*proc // guarded by mu
}

// start runs argv. With pipe, stdout is read as JSON lines; stdin is always
// a pipe the child may watch (closing it asks loadgen, ceiling and the Node
// server to exit). The child is killed if this process dies (Pdeathsig).
func (ps *procs) start(name string, pipe bool, dir string, env []string, argv ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(ps.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	p.stdin, err = cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	var stdout io.ReadCloser
	if pipe {
		stdout, err = cmd.StdoutPipe()
		if err != nil {
			logf.Close()
			return nil, err
		}
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	if pipe {
		p.lines = make(chan []byte, 64)
		go func() {
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 64<<20)
			for sc.Scan() {
				p.lines <- append([]byte(nil), sc.Bytes()...)
			}
			close(p.lines)
		}()
	}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// send writes one command line to the child's stdin.
func (p *proc) send(line string) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	_, err := io.WriteString(p.stdin, line+"\n")
	return err
}

// next returns the next stdout line, or an error at EOF or timeout.
func (p *proc) next(ctx context.Context, timeout time.Duration) ([]byte, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("%s exited (%v); see its log", p.name, p.err)
		}
		return l, nil
	case <-t.C:
		return nil, fmt.Errorf("%s: no answer in %v", p.name, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop asks the process to end (stdin closed, then SIGTERM; control and
// edges get SIGTERM at once) and kills it after grace. It returns once the
// process is gone.
func (p *proc) stop(grace time.Duration) {
	p.stdin.Close()
	if p.lines != nil { // our own tools exit when stdin closes
		go func() {
			for range p.lines { // nobody reads any more: let the reader finish
			}
		}()
		select {
		case <-p.done:
			return
		case <-time.After(grace / 4):
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stopAll stops every process still running, in reverse start order.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(all) - 1; i >= 0; i-- {
		if !all[i].exited() {
			wg.Add(1)
			go func(p *proc) { defer wg.Done(); p.stop(5 * time.Second) }(all[i])
		}
	}
	wg.Wait()
}

// leftovers lists the processes started and not yet exited.
func (ps *procs) leftovers() []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []string
	for _, p := range ps.all {
		if !p.exited() {
			out = append(out, fmt.Sprintf("%s (pid %d)", p.name, p.pid()))
		}
	}
	return out
}

// started is how many processes the run started.
func (ps *procs) started() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.all)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitTCP waits until addr accepts connections.
func waitTCP(ctx context.Context, addr string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited (%v) before listening on %s; see its log", p.name, p.err, addr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rssKB returns VmRSS of pid in KiB, from /proc/<pid>/status.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// cpuSeconds returns the user+system CPU time of pids, from /proc/<pid>/stat.
func cpuSeconds(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		total += (ut + st) / clockTicks
	}
	return total
}

// raiseFileLimit sets the soft open-files limit to the hard one; children
// started afterwards inherit it.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, err
		}
	}
	return l.Cur, nil
}
