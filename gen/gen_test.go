package gen_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	switchboardv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// buf and the protoc plugins it runs are built before any test's clock
// starts (make test builds them all; go.mod's tool directives pin them).
func TestMain(m *testing.M) { repotest.Main(m, "buf", "protoc-gen-go", "protoc-gen-go-grpc") }

// TestBufLint fails when `go tool buf lint` reports anything.
func TestBufLint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs buf; skipped in -short mode")
	}
	root := bufRoot(t)
	if out, err := goTool(t, root, "buf", "lint"); err != nil {
		t.Fatalf("go tool buf lint: %v\n%s", err, out)
	}
}

// TestGeneratedUpToDate regenerates the code into a temporary directory and
// compares it, file by file, with the committed gen/ tree.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs buf generate; skipped in -short mode")
	}
	root := bufRoot(t)
	out := t.TempDir()
	// The same two steps as `make generate` (mk/proto.mk), into out.
	if msg, err := goTool(t, root, "buf", "generate", "--template", prebuiltTemplate(t, root), "-o", out); err != nil {
		t.Fatalf("go tool buf generate: %v\n%s", err, msg)
	}
	set := filepath.Join(out, filepath.FromSlash("gen/"+descriptorSet))
	if msg, err := goTool(t, root, "buf", "build", "--path", "proto/switchboard/v1", "--as-file-descriptor-set", "-o", set); err != nil {
		t.Fatalf("go tool buf build: %v\n%s", err, msg)
	}

	fresh := generatedFiles(t, filepath.Join(out, "gen"))
	committed := generatedFiles(t, filepath.Join(root, "gen"))
	if len(fresh) == 0 {
		t.Fatal("buf generate produced no files")
	}

	var diffs []string
	for name, want := range fresh {
		got, ok := committed[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing: gen/"+name)
		case !bytes.Equal(got, want):
			diffs = append(diffs, "differs: gen/"+name)
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			diffs = append(diffs, "stale (no longer generated): gen/"+name)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("gen/ is out of date with proto/; run `make generate`:\n\t%s", strings.Join(diffs, "\n\t"))
	}
}

// descriptorSet is where `make generate` writes the descriptor set, relative
// to gen/.
const descriptorSet = "switchboard/v1/descriptor.binpb"

// TestDescriptorSet checks that the embedded descriptor set describes the
// same API as the compiled-in descriptors, with the comments that reflection
// serves to `grpcurl describe`.
func TestDescriptorSet(t *testing.T) {
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(switchboardv1.DescriptorSet, &fds); err != nil {
		t.Fatalf("unmarshal DescriptorSet: %v", err)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		t.Fatalf("DescriptorSet: %v", err)
	}
	for _, compiled := range []protoreflect.FileDescriptor{
		switchboardv1.File_switchboard_v1_control_proto,
	} {
		fd, err := files.FindFileByPath(compiled.Path())
		if err != nil {
			t.Fatalf("DescriptorSet lacks %s; run `make generate`", compiled.Path())
		}
		// Equal once comments are dropped: otherwise the set is stale.
		got := protodesc.ToFileDescriptorProto(fd)
		got.SourceCodeInfo = nil
		if want := protodesc.ToFileDescriptorProto(compiled); !proto.Equal(got, want) {
			t.Errorf("DescriptorSet's %s differs from the compiled one; run `make generate`", compiled.Path())
		}
	}
	// The bus messages are not the API's: reflection does not serve them.
	if _, err := files.FindFileByPath(busv1.File_switchboard_bus_v1_bus_proto.Path()); err == nil {
		t.Errorf("DescriptorSet holds %s, the bus messages: the API must not serve them", busv1.File_switchboard_bus_v1_bus_proto.Path())
	}
	d, err := files.FindDescriptorByName("switchboard.v1.Control")
	if err != nil {
		t.Fatal(err)
	}
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	if !strings.Contains(loc.LeadingComments, "Socket.IO server API") {
		t.Errorf("Control has no doc comment in DescriptorSet (got %q)", loc.LeadingComments)
	}
}

// generatedFiles reads every generated file (*.pb.go, *.binpb) under dir,
// keyed by slash-separated path relative to dir. Hand-written files such as
// this test are not buf output and are ignored.
func generatedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".pb.go") || strings.HasSuffix(path, ".binpb")) {
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
		t.Fatalf("read generated files: %v", err)
	}
	return files
}

// goTool runs the prebuilt `go tool <tool> <args>` in dir and returns its
// combined output.
func goTool(t *testing.T, dir, tool string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), repotest.Bin(t, tool), args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// prebuiltTemplate is buf.gen.yaml with the plugins it runs through `go
// tool` replaced by the same tools prebuilt, so that buf generate builds
// nothing while the test runs.
func prebuiltTemplate(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "buf.gen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := string(b)
	for _, plugin := range []string{"protoc-gen-go-grpc", "protoc-gen-go"} {
		old := `["go", "tool", "` + plugin + `"]`
		if !strings.Contains(tmpl, old) {
			t.Fatalf("buf.gen.yaml does not run %s as %s", plugin, old)
		}
		tmpl = strings.ReplaceAll(tmpl, old, "["+strconv.Quote(repotest.Bin(t, plugin))+"]")
	}
	p := filepath.Join(t.TempDir(), "buf.gen.yaml")
	if err := os.WriteFile(p, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// bufRoot returns the repository's root, which holds the buf setup.
func bufRoot(t *testing.T) string {
	t.Helper()
	root := repotest.Root(t)
	if !isFile(filepath.Join(root, "buf.gen.yaml")) {
		t.Fatalf("no buf.gen.yaml beside go.mod in %s", root)
	}
	return root
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
