package main_test

// The drain of an edge on SIGTERM, through the binaries: official
// socket.io-client sockets (node, testdata/drain.mjs; node_modules from
// make test-deps) reach edge A through a TCP proxy of the test, which sends
// new connections to edge B once A is signalled, as a balancer that takes a
// draining edge out would.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

var edgeAddr = regexp.MustCompile(`msg="edge listening" edge=(\w+) nats=\S* addr=(127\.0\.0\.1:\d+)`)

// drainLine is one line of testdata/drain.mjs.
type drainLine struct {
	Ev        string          `json:"ev"`
	Client    int             `json:"client"`
	ID        string          `json:"id"`
	Transport string          `json:"transport"`
	Reason    string          `json:"reason"`
	Message   string          `json:"message"`
	Name      string          `json:"name"`
	Args      json.RawMessage `json:"args"`
	T         int64           `json:"t"` // Unix milliseconds
}

// switchProxy forwards each TCP connection it accepts to the address in
// target at accept time; connections already forwarded stay where they
// went.
type switchProxy struct {
	ln     net.Listener
	target atomic.Pointer[string]
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *switchProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchProxy{ln: ln}
	p.target.Store(&target)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *switchProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", *p.target.Load(), 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// Half a connection closed closes the whole: the other copy ends.
		dst.Close()
		src.Close()
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}

func (p *switchProxy) set(target string) { p.target.Store(&target) }

// TestDrainReconnectsElsewhere: SIGTERM on edge A marks it not ready
// (/readyz 503 "draining"), refuses new handshakes (503), and tells its
// official clients, two on WebSocket and two on long-polling, to go one by
// one over --drain-window: each sees "transport close" (never "transport
// error", nor "io server disconnect", after which it would not come back),
// reconnects through the proxy to edge B and receives an emit there. The
// disconnects span at least half the window; A exits 0 within the window
// and a margin.
func TestDrainReconnectsElsewhere(t *testing.T) {
	const window = 3 * time.Second
	ctl := repotest.StartProc(t, exitWithin, exitWithin, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0")
	m := ctl.WaitLog(t, controlUp)
	grpcAddr, natsURL := m[1], m[2]
	a := repotest.StartProc(t, exitWithin, exitWithin, "edge", "--addr", "127.0.0.1:0", "--nats-url", natsURL, "--admin-addr", "127.0.0.1:0",
		"--edge-id", "edgeaaaa", "--drain-window", window.String(), "--drain-timeout", "10s")
	aAdmin := a.WaitLog(t, adminUp)[1]
	aAddr := a.WaitLog(t, edgeAddr)[2]
	b := repotest.StartProc(t, exitWithin, exitWithin, "edge", "--addr", "127.0.0.1:0", "--nats-url", natsURL, "--edge-id", "edgebbbb")
	bAddr := b.WaitLog(t, edgeAddr)[2]
	proxy := startProxy(t, aAddr)

	cmd := exec.Command("node", filepath.Join("cmd", "edge", "testdata", "drain.mjs"), "http://"+proxy.ln.Addr().String(), "2", "2")
	cmd.Dir = repotest.Root(t)
	node := jsonproc.Start(t, "node", cmd, exitWithin, func(text []byte) drainLine {
		var l drainLine
		if err := json.Unmarshal(text, &l); err != nil {
			l = drainLine{Ev: "fail", Message: fmt.Sprintf("bad line %q: %v", text, err)}
		}
		return l
	})
	t.Cleanup(func() { node.Stop(5 * time.Second) })
	const clients = 4
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range node.Lines.All() {
				t.Logf("node: %+v", l)
			}
			t.Logf("edge A stderr:\n%s", a.Tail(40))
		}
	})
	on := func(ev, prefix string) func(drainLine) bool {
		return func(l drainLine) bool {
			if l.Ev == "fail" {
				t.Fatalf("node: %s", l.Message)
			}
			return l.Ev == ev && strings.HasPrefix(l.ID, prefix)
		}
	}
	first := node.Lines.WaitN(t, "4 sockets connected to A", clients, on("connect", "edgeaaaa"))
	for _, l := range first {
		if want := map[bool]string{true: "websocket", false: "polling"}[l.Client < 2]; l.Transport != want {
			t.Errorf("client %d connected on %s, want %s", l.Client, l.Transport, want)
		}
	}
	if code, body := admintest.Get(t, aAdmin, "/readyz"); code != http.StatusOK {
		t.Fatalf("A's /readyz before the drain: %d %q", code, body)
	}

	// A polling client sends its next GET just after the connect event,
	// often on a new TCP connection: let those reach A before the proxy
	// turns to B, as a sticky balancer would keep them on A.
	time.Sleep(500 * time.Millisecond)
	proxy.set(bAddr) // the balancer takes A out
	start := time.Now()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		a.Stop(t) // SIGTERM; fails the test unless A exits 0 within exitWithin
	}()

	// Not ready, and refusing handshakes, while it drains.
	deadline := time.Now().Add(window / 2)
	for {
		code, body := admintest.Get(t, aAdmin, "/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "draining") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A's /readyz %v into the drain: %d %q, want 503 draining", time.Since(start), code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get("http://" + aAddr + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatalf("handshake on A while draining: %v", err)
	}
	hb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(hb), `"code":4`) {
		t.Errorf("handshake on A while draining: %d %s, want 503 code 4", resp.StatusCode, hb)
	}

	gone := node.Lines.WaitN(t, "4 disconnects", clients, on("disconnect", ""))
	lo, hi := gone[0].T, gone[0].T
	for _, l := range gone {
		if l.Reason != "transport close" {
			t.Errorf("client %d disconnected with %q, want \"transport close\"", l.Client, l.Reason)
		}
		lo, hi = min(lo, l.T), max(hi, l.T)
	}
	if span := time.Duration(hi-lo) * time.Millisecond; span < window/2 {
		t.Errorf("disconnects spread over %v, want at least %v (half of --drain-window)", span, window/2)
	}
	again := node.Lines.WaitN(t, "4 sockets reconnected to B", clients, on("connect", "edgebbbb"))
	seen := map[int]bool{}
	for _, l := range again {
		seen[l.Client] = true
		if want := map[bool]string{true: "websocket", false: "polling"}[l.Client < 2]; l.Transport != want {
			t.Errorf("client %d reconnected on %s, want %s", l.Client, l.Transport, want)
		}
	}
	if len(seen) != clients {
		t.Errorf("reconnected clients %v, want all %d", seen, clients)
	}

	select {
	case <-stopped:
	case <-time.After(window + 5*time.Second - time.Since(start)):
		t.Errorf("A still runs %v after SIGTERM (window %v)", time.Since(start), window)
		<-stopped
	}
	if took := time.Since(start); took > window+5*time.Second {
		t.Errorf("A took %v to exit after SIGTERM (window %v)", took, window)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sbv1.NewControlClient(conn).Emit(ctx, &sbv1.EmitRequest{
		Target: &sbv1.Target{All: true}, Event: "hello", ArgsJson: `["after the drain"]`,
	}); err != nil {
		t.Fatalf("Emit: %v", err)
	}
	got := node.Lines.WaitN(t, "the emit on B, 4 sockets", clients, on("event", "edgebbbb"))
	for _, l := range got {
		if l.Name != "hello" || string(l.Args) != `["after the drain"]` {
			t.Errorf("client %d got %s %s", l.Client, l.Name, l.Args)
		}
	}
	if a.Log.Matching(func(s string) bool { return strings.Contains(s, `msg="edge: drained"`) }) == nil {
		t.Errorf("A did not log the end of its drain:\n%s", a.Tail(20))
	}
}

// TestDrainSecondSignal: a second SIGTERM during a drain (here, a long
// --drain-window with two sessions still open) stops the edge at once,
// exit status 3.
func TestDrainSecondSignal(t *testing.T) {
	cmd := exec.Command(repotest.Bin(t, "edge"), "--addr", "127.0.0.1:0", "--nats-url", "", "--drain-window", "20s", "--drain-timeout", "30s")
	cmd.Env = repotest.Env()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // the test reads only the first lines it needs
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	waitLine := func(re *regexp.Regexp) []string {
		t.Helper()
		timeout := time.After(exitWithin)
		for {
			select {
			case l := <-lines:
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-timeout:
				t.Fatalf("no line matching %s", re)
			}
		}
	}
	addr := waitLine(edgeAddr)[2]
	for range 2 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, open, err := c.ReadMessage(); err != nil || open[0] != '0' {
			t.Fatalf("open packet: %q %v", open, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(regexp.MustCompile(`msg="edge: draining" sessions=2`))
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		var ee *exec.ExitError
		if !errors.As(waitErr, &ee) || ee.ExitCode() != 3 {
			t.Errorf("after a second SIGTERM: %v, want exit status 3", waitErr)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("exited %v after the second SIGTERM", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after a second SIGTERM")
	}
}
