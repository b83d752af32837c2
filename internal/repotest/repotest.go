// Package repotest helps tests that need files from the repository itself:
// node scripts and node_modules, commands to build, the protobuf setup.
package repotest

import "testing"

// Root returns the repository's root: the nearest directory at or above
// the working directory (a test's package directory) that holds go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
