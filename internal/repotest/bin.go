package repotest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// BinEnv names the directory where `make test` builds every binary the
// tests run, once, before `go test` starts. Without it, Main builds them.
const BinEnv = "SWITCHBOARD_TEST_BIN"

// packages maps a binary's name to what builds it: a main package of this
// module or a tool pinned by go.mod's tool directives.
var packages = map[string]string{
	"edge":    "./cmd/edge",
	"control": "./cmd/control",
	"loadgen": "./bench/cmd/loadgen",
	"ceiling": "./bench/cmd/ceiling",
	"echo":    "./examples/echo/go",
	"login":   "./examples/login/go",
	"emit":    "./examples/login/emit",
	"grpcurl": "github.com/fullstorydev/grpcurl/cmd/grpcurl",
	"buf":     "github.com/bufbuild/buf/cmd/buf",

	"protoc-gen-go":      "google.golang.org/protobuf/cmd/protoc-gen-go",
	"protoc-gen-go-grpc": "google.golang.org/grpc/cmd/protoc-gen-go-grpc",
}

// binDir is where Bin finds the binaries; set by Main before any test runs.
var binDir string

// Main is a test package's TestMain for tests that run binaries: it makes
// sure the named binaries exist before any test's clock starts, runs the
// tests, and checks for leaked goroutines as goleak.VerifyTestMain does.
// The binaries come from $SWITCHBOARD_TEST_BIN when it holds them all (make
// test builds them there); otherwise Main builds them into a temporary
// directory, so a plain `go test` works too, only slower to start.
func Main(m *testing.M, names ...string) {
	code, err := run(m, names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "repotest:", err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M, names []string) (int, error) {
	dir, cleanup, err := binaries(names)
	if err != nil {
		return 1, err
	}
	defer cleanup()
	binDir = dir
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			return 1, fmt.Errorf("goleak: %w", err)
		}
	}
	return code, nil
}

func binaries(names []string) (string, func(), error) {
	if dir := os.Getenv(BinEnv); dir != "" && haveAll(dir, names) {
		return dir, func() {}, nil
	}
	root, err := findRoot()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "switchboard-testbin-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := Build(root, dir, names...); err != nil {
		cleanup()
		return "", nil, err
	}
	return dir, cleanup, nil
}

// Build builds the named binaries into dir, from the repository at root.
// A binary whose package's directory has another name (echo, from
// ./examples/echo/go) is built on its own, named by -o.
func Build(root, dir string, names ...string) error {
	var pkgs []string
	for _, n := range names {
		pkg, ok := packages[n]
		if !ok {
			return fmt.Errorf("no package builds a binary %q", n)
		}
		if filepath.Base(pkg) == n {
			pkgs = append(pkgs, pkg)
		} else if err := goBuild(root, filepath.Join(dir, n), pkg); err != nil {
			return err
		}
	}
	if len(pkgs) == 0 {
		return nil
	}
	return goBuild(root, dir+string(filepath.Separator), pkgs...)
}

// goBuild runs go build -o out pkgs in the repository at root.
func goBuild(root, out string, pkgs ...string) error {
	args := append([]string{"build", "-o", out}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", args, err, b)
	}
	return nil
}

func haveAll(dir string, names []string) bool {
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// Bin returns the path of a binary that the package's TestMain (Main)
// made sure of.
func Bin(t testing.TB, name string) string {
	t.Helper()
	if binDir == "" {
		t.Fatalf("repotest.Bin(%q): the package's TestMain must call repotest.Main with it", name)
	}
	p := filepath.Join(binDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %q was not built: name it in the package's repotest.Main", name)
	}
	return p
}

// findRoot is Root for TestMain, which has no testing.TB.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod) not found above the working directory")
		}
		dir = parent
	}
}
