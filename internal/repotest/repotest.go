// Package repotest helps tests that need files from the repository itself:
// node scripts and node_modules, commands to build, the protobuf setup.
package repotest

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the repository's root: the nearest directory at or above
// the working directory (a test's package directory) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}
