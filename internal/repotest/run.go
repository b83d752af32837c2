package repotest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Result is how a binary that Run ran ended.
type Result struct {
	Code           int // exit status
	Stdout, Stderr string
	Took           time.Duration
}

// Lines returns stderr's lines.
func (r Result) Lines() []string {
	return strings.Split(strings.TrimSuffix(r.Stderr, "\n"), "\n")
}

// OneLine fails the test unless stderr is exactly one line that names
// component once, at its start ("edge: ..."), and returns the line.
func (r Result) OneLine(t testing.TB, component string) string {
	t.Helper()
	lines := r.Lines()
	if len(lines) != 1 || lines[0] == "" {
		t.Fatalf("stderr has %d lines, want 1:\n%s", len(lines), r.Stderr)
	}
	if !strings.HasPrefix(lines[0], component+": ") || strings.Count(lines[0], component+":") != 1 {
		t.Errorf("%q: want the component named once, at the start", lines[0])
	}
	return lines[0]
}

// Env is the test's environment without the binaries' own variables
// (SWITCHBOARD_EDGE_*, SWITCHBOARD_CONTROL_*), so that a developer's
// settings do not leak into a test, with env added.
func Env(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_EDGE_") && !strings.HasPrefix(kv, "SWITCHBOARD_CONTROL_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// Run runs the binary name (one that the package's Main built) with args
// in the environment Env(env...) to its end. It fails the test if the
// binary still runs after timeout, and kills it then.
func Run(t testing.TB, timeout time.Duration, name string, env []string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Bin(t, name), args...)
	cmd.Env = Env(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s %q (env %q) still ran after %v; stderr:\n%s", name, args, env, timeout, r.Stderr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}
