package envflag

import (
	"flag"
	"strings"
	"testing"
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
	if err := Parse(fs, "SB_TEST_", []string{"--addr", "from-flag"}); err != nil {
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

func TestParseBadEnv(t *testing.T) {
	t.Setenv("SB_TEST_N", "not-a-number")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Int("n", 1, "n")
	err := Parse(fs, "SB_TEST_", nil)
	if err == nil || !strings.Contains(err.Error(), "$SB_TEST_N") {
		t.Fatalf("err %v, want one naming the variable", err)
	}
}
