package envflag

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestSecret: a Secret keeps its value byte for byte (commas, spaces, a
// trailing newline), and an Error about it shows "<hidden>" instead.
func TestSecret(t *testing.T) {
	const value = " a,b c\n"
	t.Setenv("SB_TEST_KEY", value)
	var key Secret
	flags := func() *flag.FlagSet {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Var(&key, "key", "")
		return fs
	}
	if err := Parse(flags(), "SB_TEST_", nil, nil); err != nil {
		t.Fatal(err)
	}
	if key != value {
		t.Errorf("value %q, want %q", key, value)
	}

	err := Parse(flags(), "SB_TEST_", []string{"--key", "s3cret"}, Checks{"key": func() error { return errors.New("bad key") }})
	if err == nil || err.Error() != "--key <hidden>: bad key" {
		t.Errorf("error %v, want --key <hidden>: bad key", err)
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("%q shows the secret", err)
	}
}
