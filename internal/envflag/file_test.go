package envflag

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file in a directory of the test's and
// returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testFlags are the flags of the file tests, with a config flag.
type testFlags struct {
	fs                     *flag.FlagSet
	out                    bytes.Buffer
	fromFile, fromEnv, cmd string
	wait                   time.Duration
	n                      int
	on                     bool
	list                   List
	keys                   Secrets
	key                    Secret
	addr                   string
}

func newTestFlags() *testFlags {
	f := &testFlags{fs: flag.NewFlagSet("t", flag.ContinueOnError)}
	f.fs.SetOutput(&f.out)
	DefineConfig(f.fs)
	f.fs.StringVar(&f.fromFile, "from-file", "default", "")
	f.fs.StringVar(&f.fromEnv, "from-env", "default", "")
	f.fs.StringVar(&f.cmd, "cmd", "default", "")
	f.fs.DurationVar(&f.wait, "wait", time.Second, "")
	f.fs.IntVar(&f.n, "n", 1, "")
	f.fs.BoolVar(&f.on, "on", false, "")
	f.fs.Var(&f.list, "list", "")
	f.fs.Var(&f.keys, "keys", "")
	f.fs.Var(&f.key, "key", "")
	f.fs.StringVar(&f.addr, "addr", "127.0.0.1:1", "")
	return f
}

func (f *testFlags) parse(args ...string) error {
	return Parse(f.fs, "SB_TEST_", args, Checks{
		"wait": func() error { return Positive(f.wait) },
		"addr": func() error { return HostPort(f.addr) },
		"keys": func() error {
			if len(f.keys) > 1 {
				return errors.New("bad key")
			}
			return nil
		},
	})
}

// TestConfigFile: the file's values reach the flags, as the flags' own
// Set takes them (a duration, an integer in any form Go reads, a boolean,
// a list as a sequence, a secret byte for byte from a block scalar); the
// environment wins over the file and the command line over both; a flag in
// none keeps its default.
func TestConfigFile(t *testing.T) {
	path := writeConfig(t, `# a comment
from-file: file
from-env: file
cmd: file
wait: 5s
n: 0x10
on: true
list:
  - a
  - "b c"
  - d
key: |
  s3 cret
`)
	t.Setenv("SB_TEST_FROM_ENV", "env")
	t.Setenv("SB_TEST_CMD", "env")
	f := newTestFlags()
	if err := f.parse("--config", path, "--cmd", "flag"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"from-file", f.fromFile, "file"},
		{"from-env", f.fromEnv, "env"},
		{"cmd", f.cmd, "flag"},
		{"addr (default)", f.addr, "127.0.0.1:1"},
		{"list", strings.Join(f.list, "|"), "a|b c|d"},
		{"key", string(f.key), "s3 cret\n"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if f.wait != 5*time.Second || f.n != 16 || !f.on {
		t.Errorf("wait %v n %d on %v, want 5s 16 true", f.wait, f.n, f.on)
	}
}

// TestConfigFileFromEnv: the config flag has a variable like any flag,
// and a list may also be given in the flag's comma form.
func TestConfigFileFromEnv(t *testing.T) {
	t.Setenv("SB_TEST_CONFIG", writeConfig(t, "list: a, b,c\n"))
	f := newTestFlags()
	if err := f.parse(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.list, "|"); got != "a|b|c" {
		t.Errorf("list %q", got)
	}
}

// TestConfigFileEmpty: an empty file, comments only, or a null document
// set nothing; so does an empty --config.
func TestConfigFileEmpty(t *testing.T) {
	for _, content := range []string{"", "# nothing yet\n", "~\n", "---\n"} {
		f := newTestFlags()
		if err := f.parse("--config", writeConfig(t, content)); err != nil {
			t.Errorf("%q: %v", content, err)
		}
		if f.fromFile != "default" {
			t.Errorf("%q: from-file %q", content, f.fromFile)
		}
	}
	if err := newTestFlags().parse("--config", ""); err != nil {
		t.Errorf(`--config "": %v`, err)
	}
}

// TestConfigFileOverridden: a value the command line or the environment
// overrides is not read, so not refused either: it is not used.
func TestConfigFileOverridden(t *testing.T) {
	t.Setenv("SB_TEST_N", "3")
	f := newTestFlags()
	if err := f.parse("--config", writeConfig(t, "wait: never\nn: lots\n"), "--wait", "2s"); err != nil {
		t.Fatal(err)
	}
	if f.wait != 2*time.Second || f.n != 3 {
		t.Errorf("wait %v n %d, want 2s 3", f.wait, f.n)
	}
}

// TestConfigFileErrors: every refusal is one line naming the file, and the
// key with its value, or what else is wrong; a secret's value is never in
// it.
func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          string // after "<path>: "
	}{
		{"parse", "wait: nonsense\n", `wait: "nonsense": invalid duration`},
		{"check", "wait: -5s\n", `wait: "-5s": must be greater than 0`},
		{"integer", "n: 1e6\n", `n: "1e6": invalid integer`},
		{"yaml boolean", "on: yes\n", `on: "yes": invalid boolean: want true or false`},
		{"null", "on:\n", `on: "": invalid boolean: want true or false`},
		{"address", "addr: 127.0.0.1:70000\n", `addr: "127.0.0.1:70000": port 70000: want a number from 0 to 65535`},
		{"password", "addr: nats://u:secret@h:1\n", `addr: "nats://u:xxxxx@h:1": want host:port, e.g. 127.0.0.1:3000`},
		{"secrets", "keys: [k1, s3cret]\n", `keys: <hidden>: bad key`},
		{"list of commas", "list: ' , '\n", `list: " , ": no items, only commas`},
		{"unknown key", "wait: 1s\ncarrier-pigeon: 1\n", `carrier-pigeon: unknown key: no flag has that name`},
		{"dashes", "--wait: 1s\n", `--wait: unknown key: no flag has that name`},
		{"config", "config: other.yaml\n", `config: a config file cannot name a config file`},
		{"twice", "n: 1\nwait: 1s\nn: 2\n", `n: given twice (lines 1 and 3)`},
		{"mapping value", "wait:\n  seconds: 5\n", `wait: line 2: want a value or a list of values, not a mapping`},
		{"nested list", "list: [[a]]\n", `list: line 1: a list's items must be values, not lists or mappings`},
		{"not a mapping", "- wait: 1s\n", `want a mapping of flag names to values (max-payload: 1000000)`},
		{"not yaml", "wait: 1s\n  n: 2\n", `line 2: mapping values are not allowed in this context`},
		{"two documents", "wait: 1s\n---\nn: 2\n", `line 2: a second YAML document; want one mapping of flag names to values`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.content)
			f := newTestFlags()
			err := f.parse("--config", path)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			want := path + ": " + tc.want
			if err.Error() != want {
				t.Errorf("error %v\nwant %s", err, want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q holds more than one line", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a secret", err)
			}
			if f.out.Len() != 0 {
				t.Errorf("the flag package printed %q", f.out.String())
			}
		})
	}
}

// TestConfigFileUnreadable: a file that cannot be read is one line naming
// the flag, or the variable, that gave its path.
func TestConfigFileUnreadable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	big := writeConfig(t, strings.Repeat("#", MaxFileSize+1))
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		env  string // SB_TEST_CONFIG; empty: the path is on the command line
		args []string
		want string
	}{
		{"missing", "", []string{"--config", missing}, "--config " + missing + ": no such file or directory"},
		{"missing, env", missing, nil, "$SB_TEST_CONFIG=" + missing + ": no such file or directory"},
		{"directory", "", []string{"--config", dir}, "--config " + dir + ": is a directory"},
		{"too large", "", []string{"--config", big}, "--config " + big + ": larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SB_TEST_CONFIG", tc.env)
			}
			err := newTestFlags().parse(tc.args...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
}

// TestConfigFileAlias: a YAML alias gives the value it names.
func TestConfigFileAlias(t *testing.T) {
	f := newTestFlags()
	if err := f.parse("--config", writeConfig(t, "from-file: &v shared\ncmd: *v\n")); err != nil {
		t.Fatal(err)
	}
	if f.fromFile != "shared" || f.cmd != "shared" {
		t.Errorf("from-file %q cmd %q", f.fromFile, f.cmd)
	}
}

// TestConfigHelp: --help shows the config flag with its variable.
func TestConfigHelp(t *testing.T) {
	f := newTestFlags()
	if err := f.parse("--help"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	if got := f.out.String(); !strings.Contains(got, "-config file") || !strings.Contains(got, "$SB_TEST_CONFIG") {
		t.Errorf("usage %q", got)
	}
}

// FuzzParseConfig: no content makes parseConfig panic, and its errors
// are one line.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"", "a: 1\n", "a: [x, y]\n", "a: &x 1\nb: *x\n", "- 1\n", "a:\n  b: c\n", "a: 1\n---\nb: 2\n", "a: |\n  x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseConfig(data)
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q holds more than one line", err)
		}
	})
}
