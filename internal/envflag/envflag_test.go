package envflag

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Setenv("SB_TEST_NATS_URL", "nats://env:4222")
	t.Setenv("SB_TEST_ADDR", "from-env")
	t.Setenv("SB_TEST_ORIGINS", "a, b,,c")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	url := fs.String("nats-url", "default", "NATS")
	addr := fs.String("addr", "default", "address")
	var origins List
	fs.Var(&origins, "origins", "origins")
	if err := Parse(fs, "SB_TEST_", []string{"--addr", "from-flag"}, nil); err != nil {
		t.Fatal(err)
	}
	if *url != "nats://env:4222" {
		t.Errorf("nats-url %q, want the environment's", *url)
	}
	if *addr != "from-flag" {
		t.Errorf("addr %q: the command line must win", *addr)
	}
	if got := strings.Join(origins, "|"); got != "a|b|c" {
		t.Errorf("origins %q", got)
	}
	if u := fs.Lookup("nats-url").Usage; !strings.Contains(u, "$SB_TEST_NATS_URL") {
		t.Errorf("usage %q does not name the variable", u)
	}
}

// TestParseErrors: every refusal is one line naming the flag or the
// variable, and the value, in the form the binaries print.
func TestParseErrors(t *testing.T) {
	positive := func(d *time.Duration) func() error { return func() error { return Positive(*d) } }
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"parse", nil, []string{"--wait", "nonsense"}, "--wait nonsense: invalid duration"},
		{"parse=", nil, []string{"--wait=nonsense"}, "--wait nonsense: invalid duration"},
		{"check", nil, []string{"--wait", "-5s"}, "--wait -5s: must be greater than 0"},
		{"env parse", map[string]string{"SB_TEST_N": "x"}, nil, "$SB_TEST_N=x: invalid integer"},
		{"env check", map[string]string{"SB_TEST_WAIT": "0s"}, nil, "$SB_TEST_WAIT=0s: must be greater than 0"},
		{"flag over env", map[string]string{"SB_TEST_WAIT": "-1s"}, []string{"--wait", "-2s"}, "--wait -2s: must be greater than 0"},
		{"range", nil, []string{"--n", "99999999999999999999"}, "--n 99999999999999999999: out of range"},
		{"bool", nil, []string{"--on=maybe"}, "--on maybe: invalid boolean: want true or false"},
		{"empty value", nil, []string{"--addr", ""}, `--addr "": want host:port, e.g. 127.0.0.1:3000`},
		{"spaces", nil, []string{"--addr", "a b:1"}, `--addr "a b:1": host "a b": want an IP address or a host name`},
		{"unknown flag", nil, []string{"--carrier-pigeon"}, "--carrier-pigeon: unknown flag"},
		{"no value", nil, []string{"--wait"}, "--wait: needs a value"},
		{"syntax", nil, []string{"---wait"}, "---wait: bad flag syntax"},
		{"argument", nil, []string{"--n", "1", "extra"}, "extra: unexpected argument (flags start with --)"},
		{"only commas", nil, []string{"--list", " , "}, `--list " , ": no items, only commas`},
		{"password", nil, []string{"--addr", "nats://u:secret@h:1"}, "--addr nats://u:xxxxx@h:1: want host:port, e.g. 127.0.0.1:3000"},
		{"secret", nil, []string{"--keys", "k1,bad"}, "--keys <hidden>: bad key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			var stderr bytes.Buffer
			fs.SetOutput(&stderr)
			wait := fs.Duration("wait", time.Second, "")
			fs.Int("n", 1, "")
			fs.Bool("on", false, "")
			addr := fs.String("addr", "127.0.0.1:1", "")
			var list List
			fs.Var(&list, "list", "")
			var keys Secrets
			fs.Var(&keys, "keys", "")
			err := Parse(fs, "SB_TEST_", tc.args, Checks{
				"wait": positive(wait),
				"addr": func() error { return HostPort(*addr) },
				"keys": func() error {
					if len(keys) > 1 {
						return errors.New("bad key")
					}
					return nil
				},
			})
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error %v, want %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q holds more than one line", err)
			}
			if stderr.Len() != 0 {
				t.Errorf("the flag package printed %q", stderr.String())
			}
		})
	}
}

func TestParseHelp(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.Duration("wait", time.Second, "how long")
	err := Parse(fs, "SB_TEST_", []string{"--help"}, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	// The flags' own values are back: the usage names the type and default.
	if got := out.String(); !strings.Contains(got, "-wait duration") || !strings.Contains(got, "(default 1s)") || !strings.Contains(got, "$SB_TEST_WAIT") {
		t.Errorf("usage %q", got)
	}
}

func TestUnknown(t *testing.T) {
	t.Setenv("SB_TEST_WAIT", "1s")
	t.Setenv("SB_TEST_WIAT", "1s")
	t.Setenv("SB_TEST_PORT", "tcp://10.0.0.1:3000")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Duration("wait", time.Second, "")
	if err := Parse(fs, "SB_TEST_", nil, nil); err != nil {
		t.Fatalf("Parse: %v; variables that name no flag are not an error", err)
	}
	if got, want := strings.Join(Unknown(fs, "SB_TEST_"), " "), "SB_TEST_PORT SB_TEST_WIAT"; got != want {
		t.Errorf("Unknown = %s, want %s", got, want)
	}
}

func TestHostPort(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:3000", true},
		{":3000", true},
		{"localhost:0", true},
		{"[::1]:65535", true},
		{"edge-1.example.com:80", true},
		{"", false},
		{"127.0.0.1", false},
		{"127.0.0.1:65536", false},
		{"127.0.0.1:-1", false},
		{"127.0.0.1:http", false},
		{"999.0.0.1:1", false},
		{"-bad-:1", false},
		{"a_b:1", false},
	} {
		if err := HostPort(tc.addr); (err == nil) != tc.ok {
			t.Errorf("HostPort(%q) = %v, want ok %v", tc.addr, err, tc.ok)
		}
	}
}
