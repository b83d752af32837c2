package jsonproc_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/jsonproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 10 * time.Second

type msg struct {
	N   int    `json:"n"`
	S   string `json:"s"`
	Bad string `json:"-"` // set by decode for a line that is not JSON
}

func decode(b []byte) msg {
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		return msg{Bad: string(b)}
	}
	return m
}

func sh(script string) *exec.Cmd { return exec.Command("/bin/sh", "-c", script) }

// cat echoes every JSON line sent; closing stdin ends it with status 0.
func TestSendEchoStop(t *testing.T) {
	p := jsonproc.Start(t, "cat", exec.Command("cat"), waitTimeout, decode)
	long := strings.Repeat("x", 200<<10) // beyond bufio's default 64 KiB line
	p.Send(t, msg{N: 1, S: "a"})
	p.Send(t, msg{N: 2, S: long})
	got := p.Lines.WaitN(t, "two echoes", 2, func(msg) bool { return true })
	if got[0].N != 1 || got[0].S != "a" || got[1].N != 2 || got[1].S != long {
		t.Fatalf("echoes %v", got)
	}
	if p.Stop(waitTimeout) {
		t.Fatal("cat was killed; want it to exit when its stdin closed")
	}
	if err := p.Err(); err != nil {
		t.Errorf("cat exited: %v, want status 0", err)
	}
	err := p.Lines.Ended(t, "the feed's end")
	if !strings.Contains(err.Error(), "cat exited: <nil>") {
		t.Errorf("feed ended with %q, want it to say cat exited", err)
	}
}

// A line that is not JSON reaches decode as it is; the end names the exit
// status and the stderr.
func TestBadLineExitStderr(t *testing.T) {
	p := jsonproc.Start(t, "script", sh(`echo 'not json'; echo '{"n":7}'; echo oops >&2; exit 3`), waitTimeout, decode)
	l := p.Lines.Wait(t, "the bad line", func(m msg) bool { return m.Bad != "" })
	if l.Bad != "not json" {
		t.Errorf("bad line %q", l.Bad)
	}
	p.Lines.Wait(t, "n 7", func(m msg) bool { return m.N == 7 })
	<-p.Exited()
	err := p.Lines.Ended(t, "the feed's end")
	if s := err.Error(); !strings.Contains(s, "script exited: exit status 3") || !strings.Contains(s, "stderr:\noops") {
		t.Errorf("feed ended with %q, want the exit status and the stderr", s)
	}
	if p.Stderr() != "oops\n" {
		t.Errorf("Stderr %q", p.Stderr())
	}
}

// A process that ignores the end of its stdin is killed after within.
func TestStopKills(t *testing.T) {
	p := jsonproc.Start(t, "sleep", exec.Command("sleep", "30"), waitTimeout, decode)
	start := time.Now()
	if !p.Stop(200 * time.Millisecond) {
		t.Fatal("Stop did not kill sleep")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Stop took %v", took)
	}
	if p.Err() == nil {
		t.Error("sleep killed, Err nil")
	}
}

// A line longer than MaxLine ends the feed at once with an error, and the
// process is not blocked writing the rest.
func TestLineTooLong(t *testing.T) {
	p := jsonproc.Start(t, "head", sh(`head -c 17000000 /dev/zero | tr '\0' x; echo; echo '{"n":1}'`), waitTimeout, decode)
	err := p.Lines.Ended(t, "the feed's end")
	if !strings.Contains(err.Error(), "reading stdout") {
		t.Errorf("feed ended with %q, want a read error", err)
	}
	select {
	case <-p.Exited():
	case <-time.After(waitTimeout):
		t.Fatal("the process did not exit: blocked on its stdout?")
	}
	if p.Err() != nil {
		t.Errorf("exited: %v, want status 0", p.Err())
	}
}

// A process left running when the test ends is killed by the cleanup
// Start registered: the subtest's end must not wait for sleep 30.
func TestCleanupKills(t *testing.T) {
	var p *jsonproc.Proc[msg]
	start := time.Now()
	t.Run("leave it", func(t *testing.T) {
		p = jsonproc.Start(t, "sleep", exec.Command("sleep", "30"), waitTimeout, decode)
	})
	select {
	case <-p.Exited():
	default:
		t.Fatal("the process still runs after its test ended")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}
