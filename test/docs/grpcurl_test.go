// Package docs tests the documentation against the code: every grpcurl
// command of README.md and docs/*.md runs, as written, against a real
// control, edge and socket.io-client.
//
// Node.js with node_modules/socket.io-client (npm ci, `make test-deps`) is
// required.
package docs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
	"github.com/switchboard-rt/switchboard/internal/testlog"
	"github.com/switchboard-rt/switchboard/pkg/control"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// grpcurl is built before any test's clock starts.
func TestMain(m *testing.M) { repotest.Main(m, "grpcurl") }

const (
	// docTool and docAddr are how every documented command runs grpcurl and
	// where it finds control (cmd/control's default, as `make run` starts
	// it). The test puts its prebuilt grpcurl and its control's address in
	// their place and changes nothing else.
	docTool = "go tool grpcurl"
	docAddr = "127.0.0.1:50051"

	// minCommands is well under the twelve the docs hold today: finding
	// fewer means the extractor lost some.
	minCommands = 8

	// commandTimeout bounds each command; grpcurl is prebuilt, so it is all
	// the command's own time.
	commandTimeout = 20 * time.Second
	// waitTimeout bounds every wait for the stack or the clients.
	waitTimeout = 10 * time.Second
	// pingInterval is how often the clients emit while a stream waits for its
	// first message.
	pingInterval = 200 * time.Millisecond
)

// docFiles are the files whose commands run, relative to the repository
// root; each of those in withExamples must hold at least one.
var (
	docFiles     = []string{"README.md", "docs/*.md"}
	withExamples = []string{"README.md", "docs/api.md"}
)

// methodRef finds the RPC a command calls.
var methodRef = regexp.MustCompile(`\bswitchboard\.v1\.Control/(\w+)`)

// TestGrpcurlCommands runs every grpcurl command of the docs against a
// started stack whose state is what the docs assume:
//
//   - client 0 is connected to "/", as under `make run` (the edge is
//     configured as cmd/edge configures it: no connect hook, so no user);
//   - client 1 is connected to "/game" and put in room "room1" with JoinRoom,
//     as a service would (api.md: EmitWithAck to rooms room1 and room2 of
//     /game); the clients answer acks.
//
// The commands run in the order of the files (sorted) and of their lines,
// each through `bash -c` from the repository root, so their quoting is the
// doc's own. A command passes when it exits with status 0 within
// commandTimeout; a server-streaming one by the rule of runStream.
func TestGrpcurlCommands(t *testing.T) {
	root := repotest.Root(t)
	cmds := docCommands(t, root)
	if t.Failed() {
		return
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("bash: %v", err)
	}
	bin := repotest.Bin(t, "grpcurl")
	s := startStack(t, root)
	for _, c := range cmds {
		t.Run(c.String(), func(t *testing.T) {
			script, err := forTest(c, bin, s.addr)
			if err != nil {
				t.Fatal(err)
			}
			m := methodRef.FindStringSubmatch(c.text)
			if m != nil && isServerStreaming(t, m[1]) {
				s.runStream(t, c, root, script)
				return
			}
			runUnary(t, c, root, script)
		})
	}
	s.node.check(t)
}

// docCommands extracts the grpcurl commands of docFiles and checks that
// the extraction found what a loose line match finds, in every file.
func docCommands(t *testing.T, root string) []command {
	t.Helper()
	var files []string
	for _, pat := range docFiles {
		m, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	var all []command
	perFile := map[string]int{}
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := extractGrpcurl(rel, string(src))
		if err != nil {
			t.Error(err)
			continue
		}
		if loose := len(looseGrpcurl.FindAllString(string(src), -1)); loose != len(cmds) {
			t.Errorf("%s: %d lines look like grpcurl commands, %d commands extracted from its code blocks %v: is one outside a fenced code block?", rel, loose, len(cmds), cmds)
		}
		perFile[rel] = len(cmds)
		all = append(all, cmds...)
	}
	t.Logf("grpcurl commands per file: %v", perFile)
	for _, f := range withExamples {
		if perFile[f] == 0 {
			t.Errorf("%s: no grpcurl command found", f)
		}
	}
	if len(all) < minCommands {
		t.Errorf("found %d grpcurl commands, want at least %d", len(all), minCommands)
	}
	return all
}

// forTest checks that c is written the one documented way and returns it
// as a script for bash, with the test's grpcurl and control address.
func forTest(c command, bin, addr string) (string, error) {
	if !strings.HasPrefix(c.text, docTool+" ") {
		return "", fmt.Errorf("%s: the command does not start with %q:\n%s", c, docTool, c.text)
	}
	if n := strings.Count(c.text, docAddr); n != 1 {
		return "", fmt.Errorf("%s: the command names control's address %s %d times, want once:\n%s", c, docAddr, n, c.text)
	}
	if strings.Contains(c.text, "localhost") {
		return "", fmt.Errorf("%s: the command uses localhost, not %s:\n%s", c, docAddr, c.text)
	}
	script := shellQuote(bin) + strings.TrimPrefix(c.text, docTool)
	return strings.Replace(script, docAddr, addr, 1), nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func isServerStreaming(t *testing.T, method string) bool {
	t.Helper()
	svc := sbv1.File_switchboard_v1_control_proto.Services().ByName("Control")
	m := svc.Methods().ByName(protoreflect.Name(method))
	if m == nil {
		t.Fatalf("switchboard.v1.Control has no method %q", method)
	}
	return m.IsStreamingServer()
}

// shellCmd is `bash -c script` in its own process group, so that a timeout
// or the end of a stream stops grpcurl too, whether or not bash forked it.
func shellCmd(ctx context.Context, dir, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func runUnary(t *testing.T, c command, dir, script string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := shellCmd(ctx, dir, script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no exit within %v (%v)", commandTimeout, err)
	}
	if err != nil {
		t.Errorf("%s: %v\n%s\nstdout:\n%s\nstderr:\n%s", c, err, c.text, stdout.String(), stderr.String())
		return
	}
	t.Logf("%s: exit 0 in %v:\n%s", c, time.Since(start).Round(time.Millisecond), stdout.String())
}

// runStream runs a server-streaming command, such as Subscribe, which
// never ends by itself. The rule: it passes when it prints one complete
// JSON message within commandTimeout and has written nothing on stderr by
// then. grpcurl shows nothing when the stream opens, so until that first
// message every client emits "docs-ping" every pingInterval: whichever of
// the connected namespaces the command watches, the pings reach it once it
// is open. Then the test stops it with SIGINT (the docs' Ctrl-C) and how
// it exits after that does not count. Ending by itself before its first
// message, with any status, fails; so does any stderr output.
func (s *stack) runStream(t *testing.T, c command, dir, script string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := shellCmd(ctx, dir, script)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", c, err)
	}
	var stdout bytes.Buffer // written by the reader until read is closed
	first := make(chan error, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		tee := io.TeeReader(pipe, &stdout)
		var msg json.RawMessage
		first <- json.NewDecoder(tee).Decode(&msg)
		_, _ = io.Copy(io.Discard, tee)
	}()

	tick := time.NewTicker(pingInterval)
	defer tick.Stop()
	pings := 0
	var failure string
wait:
	for {
		select {
		case err := <-first:
			switch {
			case err != nil:
				failure = fmt.Sprintf("the stream ended before its first message (%v)", err)
			case stderr.Len() > 0:
				failure = "grpcurl wrote on stderr"
			}
			break wait
		case <-tick.C:
			pings++
			s.node.pingAll(t, pings)
		case <-ctx.Done():
			failure = fmt.Sprintf("no message within %v (%d pings)", commandTimeout, pings)
			break wait
		}
	}
	took := time.Since(start).Round(time.Millisecond)
	if failure == "" {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	<-read
	werr := cmd.Wait() // after SIGINT, or the process ended, or ctx killed it
	if failure != "" {
		t.Errorf("%s: %s; exit: %v\n%s\nstdout:\n%s\nstderr:\n%s", c, failure, werr, c.text, stdout.String(), stderr.String())
		return
	}
	t.Logf("%s: first message after %v and %d pings:\n%s", c, took, pings, stdout.String())
}

// syncBuffer is a bytes.Buffer that the process's stderr copier and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ---- the stack ----

// stack is control with its embedded NATS, one edge and the clients.
type stack struct {
	addr string // control's gRPC address
	node *nodeClients
}

func startStack(t *testing.T, root string) *stack {
	t.Helper()
	log := testlog.New(t)

	ctl, err := control.New(control.Config{GRPCAddr: "127.0.0.1:0", EmbeddedNATSAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatalf("control.New: %v", err)
	}
	if err := ctl.Listen(); err != nil {
		t.Fatalf("control Listen: %v", err)
	}
	runUntilCleanup(t, "control", ctl.Run)

	e, err := edge.New(edge.Config{
		Addr:              "127.0.0.1:0",
		NATSURL:           ctl.NATSURL(),
		HeartbeatInterval: 100 * time.Millisecond,
		Logger:            log,
	})
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	if err := e.Listen(); err != nil {
		t.Fatalf("edge Listen: %v", err)
	}
	runUntilCleanup(t, "edge", e.Run)

	conn, err := grpc.NewClient(ctl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	api := sbv1.NewControlClient(conn)
	waitEdge(t, api, e.ID())
	connects := subscribeConnects(t, api)

	n := startNode(t, root)
	url := "http://" + e.Addr().String()
	var sids []string
	for _, c := range []struct {
		ns   string
		auth map[string]any
	}{
		{"/", nil},
		{"/game", nil},
	} {
		sid := n.connect(t, url, c.ns, c.auth)
		// Once control has seen the connect, the edge's subscriptions for
		// the socket are in place.
		connects.Wait(t, "control to see "+sid+" connect", func(got string) bool { return got == sid })
		sids = append(sids, sid)
	}
	jr, err := api.JoinRoom(context.Background(), &sbv1.JoinRoomRequest{
		Target: &sbv1.Target{Namespace: "/game", Sids: sids[1:]},
		Rooms:  []string{"room1"},
	})
	if err != nil || jr.GetSockets() != 1 {
		t.Fatalf("JoinRoom room1 = %v, %v; want 1 socket", jr, err)
	}
	return &stack{addr: ctl.Addr().String(), node: n}
}

// runUntilCleanup runs run until the test ends, then cancels it and waits.
func runUntilCleanup(t *testing.T, what string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s Run: %v", what, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not shut down", what)
		}
	})
}

// waitEdge polls ClusterInfo, which offers nothing to wait on, until it
// lists the edge.
func waitEdge(t *testing.T, api sbv1.ControlClient, id string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ci, err := api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
		if err == nil && slices.ContainsFunc(ci.Edges, func(e *sbv1.Edge) bool { return e.Id == id }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClusterInfo did not list edge %s within %v (last error: %v)", id, waitTimeout, err)
		}
		<-tick.C
	}
}

// subscribeConnects opens a Subscribe stream for connects, waits until it
// is live and feeds the sids it reports until the test ends.
func subscribeConnects(t *testing.T, api sbv1.ControlClient) *feed[string] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CONNECT}})
	if err == nil {
		_, err = st.Header()
	}
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	fd := newFeed[string]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				fd.End(err)
				return
			}
			fd.Add(r.GetConnected().GetSocket().GetSid())
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return fd
}

// ---- feeds: things that arrive over time ----

// feed is testfeed.Feed; newFeed's waits are bounded by waitTimeout.
type feed[T any] = testfeed.Feed[T]

func newFeed[T any]() *feed[T] { return testfeed.New[T](waitTimeout) }

// ---- Node.js clients ----

// line is one JSON line of testdata/clients.mjs.
type line struct {
	Ev      string          `json:"ev"`
	C       int             `json:"c"`
	SID     string          `json:"sid"`
	Message string          `json:"message"`
	Event   string          `json:"event"`
	Args    json.RawMessage `json:"args"`
	raw     string
}

// nodeClients is the Node.js process holding the test's clients. Only the
// test goroutine writes to stdin.
type nodeClients struct {
	proc    *jsonproc.Proc[line]
	lines   *feed[line] // proc.Lines
	clients int         // connected so far, numbered from 0
}

func startNode(t *testing.T, root string) *nodeClients {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("node_modules/socket.io-client missing: run `make test-deps` (npm ci)")
	}
	cmd := exec.Command("node", filepath.Join("test", "docs", "testdata", "clients.mjs"))
	cmd.Dir = root
	proc := jsonproc.Start(t, "node", cmd, waitTimeout, func(text []byte) line {
		var l line
		if err := json.Unmarshal(text, &l); err != nil {
			l = line{Ev: "error", Message: fmt.Sprintf("bad line: %v", err)}
		}
		l.raw = string(text)
		return l
	})
	n := &nodeClients{proc: proc, lines: proc.Lines}
	t.Cleanup(func() {
		proc.Stop(waitTimeout) // the script disconnects its clients and exits
		if t.Failed() {
			var b strings.Builder
			for _, l := range n.lines.All() {
				fmt.Fprintln(&b, l.raw)
			}
			t.Logf("the clients reported:\n%s\nnode stderr:\n%s", b.String(), proc.Stderr())
		}
	})
	n.lines.Wait(t, "the client script to start", func(l line) bool { return l.Ev == "ready" })
	return n
}

func (n *nodeClients) send(t *testing.T, cmd map[string]any) {
	t.Helper()
	n.proc.Send(t, cmd)
}

// connect connects the next client and returns its sid once it is
// connected.
func (n *nodeClients) connect(t *testing.T, url, ns string, auth map[string]any) string {
	t.Helper()
	c := n.clients
	n.clients++
	n.send(t, map[string]any{"op": "connect", "c": c, "url": url, "ns": ns, "auth": auth})
	l := n.lines.Wait(t, fmt.Sprintf("client %d to connect to %s", c, ns), func(l line) bool {
		return l.C == c && (l.Ev == "connect" || l.Ev == "connect_error" || l.Ev == "error")
	})
	if l.Ev != "connect" {
		t.Fatalf("client %d: %s %s", c, l.Ev, l.Message)
	}
	return l.SID
}

// pingAll makes every client emit ("docs-ping", k).
func (n *nodeClients) pingAll(t *testing.T, k int) {
	t.Helper()
	for c := range n.clients {
		n.send(t, map[string]any{"op": "emit", "c": c, "event": "docs-ping", "args": []int{k}})
	}
}

// check fails the test for every error the client script reported.
func (n *nodeClients) check(t *testing.T) {
	t.Helper()
	for _, l := range n.lines.All() {
		if l.Ev == "error" {
			t.Errorf("client %d: %s", l.C, l.Message)
		}
	}
}
