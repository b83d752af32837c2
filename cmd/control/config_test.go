package main_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// writeConfig writes a config file in a directory of the test's and
// returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFile: control listens where its --config file says: port 0
// of both listeners gives free ports, not the defaults 50051 and 4222.
func TestConfigFile(t *testing.T) {
	path := writeConfig(t, "grpc-addr: 127.0.0.1:0\nembedded-nats-addr: 127.0.0.1:0\napi-keys: [k1, k2]\n")
	p := repotest.StartProc(t, exitWithin, exitWithin, "control", "--config", path)
	m := p.WaitLog(t, regexp.MustCompile(`msg="control listening" grpc=127\.0\.0\.1:(\d+) nats=nats://127\.0\.0\.1:(\d+)`))
	if m[1] == "50051" || m[2] == "4222" {
		t.Errorf("listening on gRPC port %s and NATS port %s: the file's port 0 is not used", m[1], m[2])
	}
}

// TestConfigFileErrors: exit status 2 and one line naming the file and the
// key; the API keys, a list here, are not shown.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"unknown key", "grpc-adr: 127.0.0.1:0\n", "grpc-adr: unknown key: no flag has that name"},
		{"api keys", "api-keys:\n  - g00d\n  - \"b\u00e4d\"\n", "api-keys: <hidden>: key 2 of 2: want printable ASCII only"},
		{"bad value", "gather-timeout: soon\n", `gather-timeout: "soon": invalid duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeConfig(t, tc.content)
			r := run(t, baseEnv, "--config", path)
			if r.Code != 2 {
				t.Errorf("exit status %d, want 2", r.Code)
			}
			line := oneLine(t, r)
			if want := "control: " + path + ": " + tc.want; line != want {
				t.Errorf("%q, want %q", line, want)
			}
			if strings.Contains(line, "g00d") || strings.Contains(line, "b\u00e4d") {
				t.Errorf("%q shows a key", line)
			}
		})
	}
}
