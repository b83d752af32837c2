package main_test

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The control binary is built before any test's clock starts. Control
// with an edge is TestInterrupt, in cmd/edge.
func TestMain(m *testing.M) { repotest.Main(m, "control") }

const (
	prefix = "SWITCHBOARD_CONTROL_"
	// exitWithin bounds every wait for the binary; generous, the machine
	// may be busy. A binary still running then is killed and the test fails.
	exitWithin = 15 * time.Second
	// promptly bounds how long a start failure may take to be reported.
	promptly = 5 * time.Second
)

// baseEnv keeps a binary that wrongly starts off fixed ports. It goes in
// the environment so that a case's flag or variable overrides it.
var baseEnv = []string{prefix + "GRPC_ADDR=127.0.0.1:0", prefix + "EMBEDDED_NATS_ADDR=127.0.0.1:0"}

// run runs control to its end.
func run(t *testing.T, env []string, args ...string) repotest.Result {
	t.Helper()
	return repotest.Run(t, exitWithin, "control", env, args...)
}

func oneLine(t *testing.T, r repotest.Result) string {
	t.Helper()
	return r.OneLine(t, "control")
}

// TestBadValues: every flag refuses a bad value before control starts,
// given on the command line or in the environment: exit status 2 and one
// line naming the flag or the variable and the value (API keys excepted:
// the line does not show them).
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		flag, value string
		shown       string // how the line shows the value; empty: as given
	}{
		{flag: "grpc-addr", value: ""},
		{flag: "grpc-addr", value: "50051"},
		{flag: "grpc-addr", value: "127.0.0.1:70000"},
		{flag: "grpc-addr", value: "999.0.0.1:1"},
		{flag: "nats-url", value: "http://127.0.0.1:4222"},
		{flag: "nats-url", value: "nats://:4222"},
		{flag: "nats-url", value: "nats://127.0.0.1:4222,wss://127.0.0.1:443"},
		{flag: "nats-url", value: ","},
		{flag: "nats-url", value: "nats://user:secret@127.0.0.1:0", shown: "nats://user:xxxxx@127.0.0.1:0"},
		{flag: "embedded-nats-addr", value: ""},
		{flag: "embedded-nats-addr", value: "127.0.0.1"},
		{flag: "embedded-nats-addr", value: "127.0.0.1:-1"},
		{flag: "subject-prefix", value: ""},
		{flag: "subject-prefix", value: "sb..x"},
		{flag: "subject-prefix", value: "sb>"},
		{flag: "max-payload", value: "-1"},
		{flag: "max-payload", value: "0"},
		{flag: "max-payload", value: "lots"},
		{flag: "gather-timeout", value: "0"},
		{flag: "gather-timeout", value: "-2s"},
		{flag: "gather-timeout", value: "2"},
		{flag: "log-format", value: "yaml"},
		{flag: "ready-check-interval", value: "-5s"},
		{flag: "tls-client-ca", value: "ca.pem"},
		{flag: "shutdown-timeout", value: "0"},
		{flag: "shutdown-timeout", value: "-1s"},
		{flag: "api-keys", value: ",", shown: "<hidden>"},
		{flag: "api-keys", value: "good,b\u00e4d", shown: "<hidden>"},
		{flag: "tls-cert", value: "cert.pem"},
		{flag: "tls-key", value: "key.pem"},
		{flag: "debug-addr", value: "6060"},
		{flag: "admin-addr", value: "localhost"},
		{flag: "admin-addr", value: "127.0.0.1:99999"},
		{flag: "log-level", value: "verbose"},
	} {
		shown := tc.shown
		if shown == "" {
			shown = tc.value
		}
		if tc.value == "" {
			shown = `""`
		}
		variable := envflag.Name(prefix, tc.flag)
		for _, form := range []struct {
			name string
			env  []string
			args []string
			want string // the line's start
		}{
			{"flag", baseEnv, []string{"--" + tc.flag, tc.value}, "control: --" + tc.flag + " " + shown + ": "},
			{"env", slices.Concat(baseEnv, []string{variable + "=" + tc.value}), nil, "control: $" + variable + "=" + shown + ": "},
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
				if tc.shown != "" && (strings.Contains(line, "secret") || strings.Contains(line, "b\u00e4d")) {
					t.Errorf("%q shows a secret", line)
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
		{"parse error", []string{"--gather-timeout", "soon"}, "control: --gather-timeout soon: invalid duration"},
		{"unknown flag", []string{"--grpc-adr", "127.0.0.1:0"}, "control: --grpc-adr: unknown flag"},
		{"no value", []string{"--max-payload"}, "control: --max-payload: needs a value"},
		{"argument", []string{"serve"}, "control: serve: unexpected argument (flags start with --)"},
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
	for _, want := range []string{"Usage: control", "-gather-timeout duration", "$SWITCHBOARD_CONTROL_GATHER_TIMEOUT", "(default 2s)", "Exit status"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("usage lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// TestStartFailures: a taken port or an unreachable NATS ends control at
// once, exit status 1, with one line naming what failed and the address.
// The embedded NATS server used to wait 10 s, silent, for a port it
// could not have.
func TestStartFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close() // nobody listens there now

	for _, tc := range []struct {
		name string
		args []string
		want []string // in the line
	}{
		{"gRPC port", []string{"--grpc-addr", taken.Addr().String()}, []string{"gRPC", taken.Addr().String(), "address already in use"}},
		{"embedded NATS port", []string{"--embedded-nats-addr", taken.Addr().String()}, []string{"embedded NATS", taken.Addr().String(), "address already in use"}},
		{"NATS unreachable", []string{"--nats-url", "nats://" + refused}, []string{"NATS", "nats://" + refused}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, baseEnv, tc.args...)
			if r.Code != 1 {
				t.Errorf("exit status %d, want 1", r.Code)
			}
			if r.Took > promptly {
				t.Errorf("took %v to fail, want under %v", r.Took, promptly)
			}
			line := oneLine(t, r)
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q: want %q in it", line, w)
				}
			}
		})
	}
}

// TestLogFormatJSON: --log-format json writes each log line as one JSON
// object (slog's time, level, msg and the attributes).
func TestLogFormatJSON(t *testing.T) {
	p := repotest.StartProc(t, exitWithin, exitWithin, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	line := p.Log.Wait(t, "control listening, in JSON", func(l string) bool { return strings.Contains(l, "listening") })
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		t.Fatalf("%q: not one JSON object: %v", line, err)
	}
	if obj["level"] != "INFO" || obj["msg"] == nil || obj["time"] == nil {
		t.Errorf("%q: want time, level INFO and msg", line)
	}
}
