package gen_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	switchboardv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// pythonTimeout bounds each run of the generator or of python3.
const pythonTimeout = time.Minute

// TestPythonGeneratedUpToDate runs scripts/gen-python.sh into a temporary
// directory and compares the result, file by file, with the committed
// gen/python tree. The generator is Debian's protoc and grpc_python_plugin
// at the versions the script pins (make test-deps installs them).
func TestPythonGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs protoc; skipped in -short mode")
	}
	root := repotest.Root(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), pythonTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "gen-python.sh"), out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/gen-python.sh: %v\n%s(make test-deps installs the generator)", err, msg)
	}

	fresh := pythonFiles(t, out)
	committed := pythonFiles(t, filepath.Join(root, "gen", "python"))
	if len(fresh) == 0 {
		t.Fatal("scripts/gen-python.sh produced no files")
	}
	var diffs []string
	for name, want := range fresh {
		got, ok := committed[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing: gen/python/"+name)
		case !bytes.Equal(got, want):
			diffs = append(diffs, "differs: gen/python/"+name)
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			diffs = append(diffs, "stale (no longer generated): gen/python/"+name)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("gen/python is out of date with proto/; run `make generate` (scripts/gen-python.sh):\n\t%s", strings.Join(diffs, "\n\t"))
	}
	for name := range fresh {
		if strings.Contains(name, "bus") {
			t.Errorf("gen/python/%s: the bus messages are not the API's and get no Python stubs", name)
		}
	}
}

// TestPythonStubsLoad imports the committed stubs with Debian's
// /usr/bin/python3 and its python3-grpcio and python3-protobuf, and checks
// that their Control service has the methods of the Go one: the stubs run
// on the runtime make test-deps installs.
func TestPythonStubsLoad(t *testing.T) {
	root := repotest.Root(t)
	ctx, cancel := context.WithTimeout(t.Context(), pythonTimeout)
	defer cancel()
	const script = `
from switchboard.v1 import control_pb2, control_pb2_grpc, hook_pb2_grpc
assert hasattr(control_pb2_grpc, "ControlStub") and hasattr(hook_pb2_grpc, "ConnectHookStub")
for m in control_pb2.DESCRIPTOR.services_by_name["Control"].methods:
    print(m.name)
`
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-c", script)
	cmd.Dir = t.TempDir()
	// No __pycache__ in the committed tree.
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "gen", "python"), "PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("/usr/bin/python3 importing gen/python: %v\n%s(make test-deps installs python3-grpcio and python3-protobuf)", err, stderr.Bytes())
	}
	got := strings.Fields(string(stdout))
	var want []string
	methods := switchboardv1.File_switchboard_v1_control_proto.Services().ByName("Control").Methods()
	for i := range methods.Len() {
		want = append(want, string(methods.Get(i).Name()))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Python Control methods %v, Go's %v: run `make generate`", got, want)
	}
}

// pythonFiles reads every file under dir but Python's byte-code caches,
// keyed by slash-separated path relative to dir.
func pythonFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read %s: %v", dir, err)
	}
	return files
}
