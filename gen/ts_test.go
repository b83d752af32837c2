package gen_test

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tsTemplate is the buf template of the TypeScript stubs, and tsPlugin the
// plugin it runs, both relative to the repository's root; scripts/gen-ts.sh
// (called by `make generate`) runs the same generation into gen/ts.
const (
	tsTemplate = "buf.gen.ts.yaml"
	tsPlugin   = "node_modules/.bin/protoc-gen-es"
	tsOut      = "gen/ts"
)

// TestTypeScriptUpToDate regenerates the TypeScript stubs (buf.gen.ts.yaml,
// the plugin pinned in package.json) into a temporary directory and
// compares them, file by file, with the committed gen/ts tree.
func TestTypeScriptUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs buf generate; skipped in -short mode")
	}
	root := bufRoot(t)
	if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(tsPlugin))); err != nil || fi.IsDir() {
		t.Fatalf("%s is missing (%v): run `make test-deps` (npm ci)", tsPlugin, err)
	}
	out := t.TempDir()
	// buf resolves the template's relative plugin path from root (goTool's
	// working directory) and puts the plugin's out (gen/ts) under -o.
	if msg, err := goTool(t, root, "buf", "generate", "--template", tsTemplate, "-o", out); err != nil {
		t.Fatalf("buf generate --template %s: %v\n%s", tsTemplate, err, msg)
	}

	fresh := allFiles(t, filepath.Join(out, filepath.FromSlash(tsOut)))
	committed := allFiles(t, filepath.Join(root, filepath.FromSlash(tsOut)))
	if len(fresh) == 0 {
		t.Fatal("buf generate produced no TypeScript files")
	}
	if _, ok := fresh["switchboard/v1/control_pb.ts"]; !ok {
		t.Errorf("buf generate did not produce %s/switchboard/v1/control_pb.ts (got %v)", tsOut, slices.Sorted(maps.Keys(fresh)))
	}
	for name := range fresh {
		if strings.Contains(name, "/bus/") {
			t.Errorf("%s/%s: the bus messages are not part of the API", tsOut, name)
		}
	}

	var diffs []string
	for name, want := range fresh {
		got, ok := committed[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing: "+tsOut+"/"+name)
		case !bytes.Equal(got, want):
			diffs = append(diffs, "differs: "+tsOut+"/"+name)
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			diffs = append(diffs, "stale (no longer generated): "+tsOut+"/"+name)
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		t.Fatalf("%s is out of date with proto/; run `make generate` (scripts/gen-ts.sh):\n\t%s", tsOut, strings.Join(diffs, "\n\t"))
	}
}

// allFiles reads every file under dir, keyed by slash-separated path
// relative to dir; none when dir does not exist.
func allFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := make(map[string][]byte)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
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
