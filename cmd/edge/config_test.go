package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeConfig writes a config file in a directory of the test's and
// returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFile: the edge runs on what its --config file says (address,
// standalone, max payload, a list of origins as a YAML sequence); the
// environment wins over the file (ping interval) and the command line over
// both (ping timeout). The handshake shows the values the edge uses.
func TestConfigFile(t *testing.T) {
	path := writeConfig(t, `addr: 127.0.0.1:0
nats-url: ""
max-payload: 4321
ping-interval: 7s
ping-timeout: 11s
cors-origins:
  - http://a.example
  - http://b.example
`)
	e := start(t, 0, []string{prefix + "PING_INTERVAL=8s", prefix + "PING_TIMEOUT=12s"}, "edge", "--config", path, "--ping-timeout", "13s")
	addr := e.waitLine(t, regexp.MustCompile(`msg="edge listening".* addr=(127\.0\.0\.1:\d+)`))[1]

	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/socket.io/?EIO=4&transport=polling", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "http://b.example")
	client := &http.Client{Timeout: exitWithin}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://b.example" {
		t.Errorf("Access-Control-Allow-Origin %q: the sequence's second origin is not allowed", got)
	}
	open, ok := strings.CutPrefix(string(body), "0")
	if !ok {
		t.Fatalf("handshake %q", body)
	}
	var h struct{ PingInterval, PingTimeout, MaxPayload int }
	if err := json.Unmarshal([]byte(open), &h); err != nil {
		t.Fatalf("handshake %q: %v", body, err)
	}
	if h.MaxPayload != 4321 {
		t.Errorf("maxPayload %d, want the file's 4321", h.MaxPayload)
	}
	if h.PingInterval != 8000 {
		t.Errorf("pingInterval %d, want the environment's 8000", h.PingInterval)
	}
	if h.PingTimeout != 13000 {
		t.Errorf("pingTimeout %d, want the command line's 13000", h.PingTimeout)
	}
}

// TestConfigFileErrors: a config file the edge cannot use stops it before
// it starts: exit status 2, one line naming the file and the key with its
// value, or what else is wrong; a secret's value is not shown.
func TestConfigFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, tc := range []struct {
		name, content string
		want          string // the line after "edge: <path>: "
	}{
		{"unknown key", "max-payload: 1000\ncarrier-pigeon: yes\n", "carrier-pigeon: unknown key: no flag has that name"},
		{"parse", "max-payload: x\n", `max-payload: "x": invalid integer`},
		{"check", "admin-addr: 127.0.0.1:70000\n", `admin-addr: "127.0.0.1:70000": port 70000: want a number from 0 to 65535`},
		{"list item", "transports: [polling, carrier-pigeon]\n", `transports: "polling,carrier-pigeon": carrier-pigeon: `},
		{"hidden", "jwt-key: -----BEGIN-s3cr3t\n", "jwt-key: <hidden>: "},
		{"not yaml", "addr: [\n", "line 1: did not find expected node content"},
		{"missing", "", "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, want := missing, "edge: --config "+missing+": "+tc.want
			if tc.name != "missing" {
				path = writeConfig(t, tc.content)
				want = "edge: " + path + ": " + tc.want
			}
			r := run(t, baseEnv, "--config", path)
			if r.Code != 2 {
				t.Errorf("exit status %d, want 2", r.Code)
			}
			line := oneLine(t, r)
			if !strings.HasPrefix(line, want) {
				t.Errorf("%q: want it to start %q", line, want)
			}
			if strings.Contains(line, "s3cr3t") {
				t.Errorf("%q shows a secret", line)
			}
		})
	}
}

// TestConfigFileFromEnv: $SWITCHBOARD_EDGE_CONFIG names the file as
// --config does; a value the environment gives is not read from the file,
// so a bad one there is not refused.
func TestConfigFileFromEnv(t *testing.T) {
	path := writeConfig(t, "addr: not-an-address\nmax-payload: 0\n")
	r := run(t, []string{prefix + "CONFIG=" + path, prefix + "ADDR=127.0.0.1:0", prefix + "NATS_URL="})
	if r.Code != 2 {
		t.Errorf("exit status %d, want 2", r.Code)
	}
	if line, want := oneLine(t, r), "edge: "+path+`: max-payload: "0": must be greater than 0`; line != want {
		t.Errorf("%q, want %q", line, want)
	}
}

// TestConfigHelp: --help names the config flag, its variable, and says
// that a flag may come from the file.
func TestConfigHelp(t *testing.T) {
	r := run(t, baseEnv, "--help")
	for _, want := range []string{"-config file", "$SWITCHBOARD_EDGE_CONFIG", "YAML file of --config", "both over the file"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("usage lacks %q:\n%s", want, r.Stdout)
		}
	}
}
