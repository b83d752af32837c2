package repotest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRoot: from this package's directory, two levels up, where go.mod
// names this module.
func TestRoot(t *testing.T) {
	root := repotest.Root(t)
	want, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if root != want {
		t.Errorf("Root = %q, want %q", root, want)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "module github.com/switchboard-rt/switchboard\n"; len(mod) < len(want) || string(mod[:len(want)]) != want {
		t.Errorf("go.mod starts %q, want %q", mod[:min(len(mod), len(want))], want)
	}
}

// TestBuildUnknown: a binary no package builds is an error, not a silent
// skip that would leave a test without its binary.
func TestBuildUnknown(t *testing.T) {
	err := repotest.Build(repotest.Root(t), t.TempDir(), "edge", "no-such-binary")
	if err == nil || !strings.Contains(err.Error(), `"no-such-binary"`) {
		t.Fatalf("Build(no-such-binary) = %v, want an error naming it", err)
	}
}
