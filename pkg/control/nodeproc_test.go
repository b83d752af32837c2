package control_test

// A Node.js script of testdata/ run for a test: JSON commands on its stdin,
// JSON lines on its stdout. clients.mjs (cluster_test.go), api_clients.mjs
// (api_test.go) and handshake.mjs (handshake_test.go) are run this way.

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// nodeProc is a running Node.js script whose stdout lines are decoded
// into L.
type nodeProc[L any] struct {
	t     *testing.T
	proc  *jsonproc.Proc[L]
	lines *feed[L] // proc.Lines
}

// startNode runs node with testdata/script and args from the repository
// root; decode turns each stdout line into an L (a line that is not JSON
// into one that says so). stop runs when the test ends, if not before.
func startNode[L any](t *testing.T, decode func(text []byte) L, script string, args ...string) *nodeProc[L] {
	t.Helper()
	cmd := exec.Command("node", append([]string{filepath.Join("pkg", "control", "testdata", script)}, args...)...)
	cmd.Dir = repotest.Root(t)
	proc := jsonproc.Start(t, "node", cmd, waitTimeout, decode)
	p := &nodeProc[L]{t: t, proc: proc, lines: proc.Lines}
	t.Cleanup(p.stop)
	return p
}

// stop closes stdin (the script disconnects its clients and exits), waits
// 5s for the exit, then kills.
func (p *nodeProc[L]) stop() { p.proc.Stop(5 * time.Second) }

// send writes cmd to the script as one JSON line.
func (p *nodeProc[L]) send(cmd map[string]any) {
	p.t.Helper()
	p.proc.Send(p.t, cmd)
}

// nodeLine is what the lines of clients.mjs and api_clients.mjs share;
// their line types embed it.
type nodeLine struct {
	Ev      string `json:"ev"`
	C       int    `json:"c"`
	SID     string `json:"sid"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	raw     string // the line as printed
}

func (l *nodeLine) head() *nodeLine { return l }

// clientLine is a pointer to a line type that embeds nodeLine.
type clientLine[L any] interface {
	*L
	head() *nodeLine
}

// startClients runs a script of clients (clients.mjs, api_clients.mjs)
// and waits until it is ready. When the test ends it stops the script,
// reports every "error" line as an error and, if the test failed, logs
// everything the script printed.
func startClients[L any, P clientLine[L]](t *testing.T, script string) *nodeProc[L] {
	t.Helper()
	p := startNode(t, func(text []byte) L {
		var l L
		if err := json.Unmarshal(text, P(&l)); err != nil {
			l = *new(L)
			*P(&l).head() = nodeLine{Ev: "error", Message: fmt.Sprintf("bad line %q: %v", text, err)}
		}
		P(&l).head().raw = string(text)
		return l
	}, script)
	t.Cleanup(func() {
		p.stop()
		for _, l := range p.lines.Matching(func(l L) bool { return P(&l).head().Ev == "error" }) {
			h := P(&l).head()
			t.Errorf("client %d error: %s", h.C, h.Message)
		}
		if t.Failed() {
			var b strings.Builder
			for _, l := range p.lines.All() {
				fmt.Fprintln(&b, P(&l).head().raw)
			}
			t.Logf("the clients reported:\n%s\nnode stderr:\n%s", b.String(), p.proc.Stderr())
		}
	})
	p.lines.Wait(t, "the client script to start", func(l L) bool { return P(&l).head().Ev == "ready" })
	return p
}
