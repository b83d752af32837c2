package main_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The edge binary, and control for TestInterrupt, are built before any
// test's clock starts.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control") }

const (
	prefix = "SWITCHBOARD_EDGE_"
	// exitWithin bounds every wait for a binary; generous, the machine may
	// be busy. A binary still running then is killed and the test fails.
	exitWithin = 15 * time.Second
	// promptly bounds how long a start failure may take to be reported.
	promptly = 5 * time.Second
)

// baseEnv keeps a binary that wrongly starts off fixed ports and NATS. It
// goes in the environment so that a case's flag or variable overrides it.
var baseEnv = []string{prefix + "ADDR=127.0.0.1:0", prefix + "NATS_URL="}

// run runs the edge to its end.
func run(t *testing.T, env []string, args ...string) repotest.Result {
	t.Helper()
	return repotest.Run(t, exitWithin, "edge", env, args...)
}

func oneLine(t *testing.T, r repotest.Result) string {
	t.Helper()
	return r.OneLine(t, "edge")
}

// TestBadValues: every flag refuses a bad value before the edge starts,
// given on the command line or in the environment: exit status 2 and one
// line naming the flag or the variable and the value.
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		flag, value string
		args        []string // more flags, on the command line in both forms
		shown       string   // how the line shows the value; empty: as given
	}{
		{flag: "addr", value: ""},
		{flag: "addr", value: "localhost"},
		{flag: "addr", value: "127.0.0.1:99999"},
		{flag: "addr", value: "999.0.0.1:1"},
		{flag: "path", value: "socket.io"},
		{flag: "path", value: "/socket io/"},
		{flag: "path", value: "/", args: []string{"--demo"}},
		{flag: "namespaces", value: "chat"},
		{flag: "namespaces", value: "/,chat"},
		{flag: "ping-interval", value: "-5s"},
		{flag: "ping-interval", value: "0"},
		{flag: "ping-interval", value: "nonsense"},
		{flag: "ping-interval", value: "500us"},
		{flag: "ping-timeout", value: "-1s"},
		{flag: "ping-timeout", value: "0s"},
		{flag: "max-payload", value: "-1"},
		{flag: "max-payload", value: "0"},
		{flag: "max-payload", value: "1e6"},
		{flag: "cors-origins", value: "example.com"},
		{flag: "cors-origins", value: "https://example.com/"},
		{flag: "cors-origins", value: "https://Example.com"},
		{flag: "cors-origins", value: "https://example.com:443"},
		{flag: "transports", value: "carrier-pigeon"},
		{flag: "transports", value: "polling,carrier-pigeon"},
		{flag: "transports", value: ","},
		{flag: "connect-timeout", value: "0"},
		{flag: "write-queue", value: "0"},
		{flag: "write-queue", value: "-3"},
		{flag: "write-queue-bytes", value: "-1"},
		{flag: "write-queue-bytes", value: "1000"},
		{flag: "tls-cert", value: "cert.pem"},
		{flag: "tls-key", value: "key.pem"},
		{flag: "demo", value: "maybe"},
		{flag: "client-js", value: "", args: []string{"--demo"}},
		{flag: "nats-url", value: "http://127.0.0.1:4222"},
		{flag: "nats-url", value: "nats://127.0.0.1:notaport"},
		{flag: "nats-url", value: "nats://127.0.0.1:4222,ws://127.0.0.1:8080"},
		{flag: "nats-url", value: ","},
		{flag: "nats-url", value: "nats://user:secret@:4222", shown: "nats://user:xxxxx@:4222"},
		{flag: "subject-prefix", value: ""},
		{flag: "subject-prefix", value: "a..b"},
		{flag: "subject-prefix", value: "sb.*"},
		{flag: "edge-id", value: "ABCDEFGH"},
		{flag: "edge-id", value: "short"},
		{flag: "heartbeat", value: "0"},
		{flag: "heartbeat", value: "-1s"},
		{flag: "ready-check-interval", value: "-1s"},
		{flag: "log-format", value: "xml"},
		{flag: "max-conns", value: "-2"},
		{flag: "max-conns-per-ip", value: "0"},
		{flag: "read-header-timeout", value: "0"},
		{flag: "idle-timeout", value: "-1s"},
		{flag: "max-header-bytes", value: "0"},
		{flag: "post-timeout", value: "-1s"},
		{flag: "write-timeout", value: "0"},
		{flag: "max-namespaces", value: "0"},
		{flag: "drain-window", value: "-1s"},
		{flag: "drain-window", value: "30s"}, // not shorter than --drain-timeout
		{flag: "drain-timeout", value: "0"},
		{flag: "handshake-rate", value: "0"},
		{flag: "handshake-burst", value: "-1"},
		{flag: "max-event-name", value: "-2"},
		{flag: "event-rate", value: "0"},
		{flag: "event-burst", value: "0"},
		{flag: "max-rooms-per-socket", value: "0"},
		{flag: "max-pending-acks", value: "-5"},
		{flag: "pending-ack-ttl", value: "0"},
		{flag: "expose-headers", value: "x header"},
		{flag: "expose-headers", value: "cookie,x:y"},
		{flag: "auth", value: "/"},
		{flag: "auth", value: "chat=open"},
		{flag: "auth", value: "/=magic"},
		{flag: "auth", value: "/=open:grpc://127.0.0.1:7000"},
		{flag: "auth", value: "/=hook"},
		{flag: "auth", value: "/=hook:http://127.0.0.1:7000"},
		{flag: "auth", value: "/=hook:grpc://127.0.0.1"},
		{flag: "auth", value: "/=hook:grpc://127.0.0.1:0"},
		{flag: "auth", value: "/=hook:grpc://127.0.0.1:7000/path"},
		{flag: "auth", value: "/=hook:nats:auth.connect"}, // standalone
		{flag: "auth", value: "/=hook:nats:auth.*", args: []string{"--nats-url", "nats://127.0.0.1:4222"}},
		{flag: "auth", value: "/=hook:nats:auth..connect", args: []string{"--nats-url", "nats://127.0.0.1:4222"}},
		{flag: "auth", value: "/=open,/=jwt", args: []string{"--jwt-key", "k"}},
		{flag: "auth", value: "/=jwt"}, // no key
		{flag: "hook-timeout", value: "0"},
		{flag: "hook-timeout", value: "-1s"},
		{flag: "jwt-key-file", value: "/nonexistent/jwt.pem"},
		{flag: "jwt-key-file", value: "key.pem", args: []string{"--jwt-key", "k"}},
		{flag: "jwt-key", value: "-----BEGIN-secret", shown: "<hidden>"},
		{flag: "jwks-url", value: "ftp://127.0.0.1/keys"},
		{flag: "jwks-url", value: "https://"},
		{flag: "jwks-url", value: "https://127.0.0.1/keys", args: []string{"--jwt-key", "k"}},
		{flag: "jwt-algorithms", value: "none"},
		{flag: "jwt-algorithms", value: "HS256,HS1"},
		{flag: "jwt-algorithms", value: "RS256", args: []string{"--jwt-key", "k"}},
		{flag: "jwt-audience", value: " "},
		{flag: "jwt-issuer", value: " "},
		{flag: "jwt-leeway", value: "0"},
		{flag: "jwt-leeway", value: "-1s"},
		{flag: "jwt-cookie", value: "tok;en"},
		{flag: "jwt-rooms-claim", value: "sub"},
		{flag: "jwt-data-claim", value: "rooms", args: []string{"--jwt-rooms-claim", "rooms"}},
		{flag: "debug-addr", value: "localhost"},
		{flag: "debug-addr", value: "127.0.0.1:http"},
		{flag: "admin-addr", value: "localhost"},
		{flag: "admin-addr", value: "127.0.0.1:99999"},
		{flag: "log-level", value: "loud"},
	} {
		shown := tc.shown
		if shown == "" {
			shown = tc.value
		}
		if tc.value == "" || strings.Contains(tc.value, " ") {
			shown = fmt.Sprintf("%q", tc.value)
		}
		arg := []string{"--" + tc.flag, tc.value}
		if tc.flag == "demo" {
			arg = []string{"--demo=" + tc.value}
		}
		variable := envflag.Name(prefix, tc.flag)
		for _, form := range []struct {
			name string
			env  []string
			args []string
			want string // the line's start
		}{
			{"flag", baseEnv, slices.Concat(tc.args, arg), "edge: --" + tc.flag + " " + shown + ": "},
			{"env", slices.Concat(baseEnv, []string{variable + "=" + tc.value}), tc.args, "edge: $" + variable + "=" + shown + ": "},
		} {
			t.Run(fmt.Sprintf("%s=%s/%s", tc.flag, tc.value, form.name), func(t *testing.T) {
				t.Parallel()
				r := run(t, form.env, form.args...)
				if r.Code != 2 {
					t.Errorf("exit status %d, want 2", r.Code)
				}
				line := oneLine(t, r)
				if !strings.HasPrefix(line, form.want) {
					t.Errorf("%q: want it to start %q", line, form.want)
				}
				if tc.shown != "" && strings.Contains(line, "secret") {
					t.Errorf("%q shows the password", line)
				}
			})
		}
	}
}

// TestBadCommandLine: what is not a flag with a value is one line too,
// exit status 2.
func TestBadCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole line
	}{
		{"parse error", []string{"--ping-interval", "nonsense"}, "edge: --ping-interval nonsense: invalid duration"},
		{"unknown flag", []string{"--carrier-pigeon"}, "edge: --carrier-pigeon: unknown flag"},
		{"no value", []string{"--ping-interval"}, "edge: --ping-interval: needs a value"},
		{"argument", []string{"--demo", "extra"}, "edge: extra: unexpected argument (flags start with --)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, baseEnv, tc.args...)
			if r.Code != 2 {
				t.Errorf("exit status %d, want 2", r.Code)
			}
			if line := oneLine(t, r); line != tc.want {
				t.Errorf("%q, want %q", line, tc.want)
			}
		})
	}
}

// TestUnknownVariable: a variable with the edge's prefix that names no
// flag is most likely misspelt. It is not an error (Kubernetes sets
// SWITCHBOARD_EDGE_PORT for a Service named switchboard-edge), but the
// edge says that it ignores it.
func TestUnknownVariable(t *testing.T) {
	e := start(t, 0, []string{prefix + "PING_INTERVL=5s"}, "edge", "--addr", "127.0.0.1:0", "--nats-url", "")
	e.waitLine(t, regexp.MustCompile(`msg="edge listening"`))
	if err := e.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := e.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	warned := false
	for _, l := range e.lines() {
		warned = warned || strings.Contains(l, "level=WARN") && strings.Contains(l, "var=SWITCHBOARD_EDGE_PING_INTERVL")
	}
	if !warned {
		t.Errorf("no warning names the variable:\n%s", strings.Join(e.lines(), "\n"))
	}
}

// TestHelp: --help prints the usage on stdout, nothing on stderr, and
// exits 0.
func TestHelp(t *testing.T) {
	r := run(t, baseEnv, "--help")
	if r.Code != 0 {
		t.Errorf("exit status %d, want 0", r.Code)
	}
	if r.Stderr != "" {
		t.Errorf("stderr %q, want nothing", r.Stderr)
	}
	for _, want := range []string{"Usage: edge", "-ping-interval duration", "$SWITCHBOARD_EDGE_PING_INTERVAL", "(default 25s)", "Exit status"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("usage lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// TestPortTaken: an address already listened on ends the edge at once,
// exit status 1, with one line that names it.
func TestPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := ln.Addr().String()
	r := run(t, baseEnv, "--addr", addr)
	if r.Code != 1 {
		t.Errorf("exit status %d, want 1", r.Code)
	}
	if r.Took > promptly {
		t.Errorf("took %v to fail, want under %v", r.Took, promptly)
	}
	if line := oneLine(t, r); !strings.Contains(line, addr) || !strings.Contains(line, "address already in use") {
		t.Errorf("%q: want the address and why", line)
	}
}

// TestNATSUnreachable: a NATS server that refuses connections ends the
// edge at once, exit status 1, with one line naming its URL.
func TestNATSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + ln.Addr().String()
	ln.Close() // nobody listens there now
	r := run(t, baseEnv, "--nats-url", url)
	if r.Code != 1 {
		t.Errorf("exit status %d, want 1", r.Code)
	}
	if r.Took > promptly {
		t.Errorf("took %v to fail, want under %v", r.Took, promptly)
	}
	if line := oneLine(t, r); !strings.Contains(line, url) {
		t.Errorf("%q: want the URL", line)
	}
}

// proc is a running binary whose stderr is read line by line.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the binary exited and its stderr is read
	err  error         // Wait's; set before done is closed

	mu     sync.Mutex
	stderr []string // guarded by mu
	seen   chan struct{}
}

// start starts a binary (killing it at the test's end if it still runs)
// in process group pgid (0: a group of its own), env added to repotest.Env.
func start(t *testing.T, pgid int, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(repotest.Bin(t, name), args...)
	cmd.Env = repotest.Env(env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), seen: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
			select {
			case p.seen <- struct{}{}:
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stderr...)
}

// waitLine waits for a stderr line matching re and returns its submatches.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timer := time.NewTimer(exitWithin)
	defer timer.Stop()
	for {
		for _, l := range p.lines() {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.seen:
		case <-p.done:
			for _, l := range p.lines() {
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			}
			t.Fatalf("%s exited (%v) before logging %v:\n%s", p.name, p.err, re, strings.Join(p.lines(), "\n"))
		case <-timer.C:
			t.Fatalf("%s logged no %v in %v:\n%s", p.name, re, exitWithin, strings.Join(p.lines(), "\n"))
		}
	}
}

// wait waits for the binary to exit and returns its status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(exitWithin):
		t.Fatalf("%s still runs %v after SIGINT:\n%s", p.name, exitWithin, strings.Join(p.lines(), "\n"))
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// TestInterrupt: Ctrl-C on a terminal running control and an edge signals
// both at once (their process group). Each stops cleanly, exit status 0,
// and neither calls its NATS connection going away a warning: it is part
// of stopping. Which of the two goes first is a race, so it runs a few
// times.
func TestInterrupt(t *testing.T) {
	for i := range 3 {
		t.Run(fmt.Sprint("round", i+1), interrupt)
	}
}

func interrupt(t *testing.T) {
	ctl := start(t, 0, nil, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0")
	natsURL := ctl.waitLine(t, regexp.MustCompile(`msg="control listening".* nats=(nats://127\.0\.0\.1:\d+)`))[1]
	// A short drain: control's NATS goes during it, which is part of
	// stopping too.
	e := start(t, ctl.cmd.Process.Pid, nil, "edge", "--addr", "127.0.0.1:0", "--nats-url", natsURL, "--drain-window", "1s")
	addr := e.waitLine(t, regexp.MustCompile(`msg="edge listening".* addr=(127\.0\.0\.1:\d+)`))[1]
	// Clients on the edge, as there would be: the edge disconnects them
	// before it leaves NATS, which gives control's NATS time to go first.
	for range 10 {
		connect(t, addr)
	}

	// The group holds these two processes only.
	if err := syscall.Kill(-ctl.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*proc{e, ctl} {
		if code := p.wait(t); code != 0 {
			t.Errorf("%s: exit status %d, want 0", p.name, code)
		}
		for _, l := range p.lines() {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Errorf("%s: %s", p.name, l)
			}
		}
	}
}

// connect opens a Socket.IO connection (WebSocket) to the edge at addr,
// closed at the test's end.
func connect(t *testing.T, addr string) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if err := ws.SetReadDeadline(time.Now().Add(exitWithin)); err != nil {
		t.Fatal(err)
	}
	for {
		_, m, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("before the namespace connect: %v", err)
		}
		if strings.HasPrefix(string(m), "40") {
			return
		}
	}
}
