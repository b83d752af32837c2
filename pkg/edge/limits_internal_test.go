package edge

import (
	"net"
	"net/netip"
	"testing"
)

func TestDefaultMaxConnections(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{
		{1024, 960},             // reserve 64 (the least)
		{20_000, 19_000},        // a twentieth
		{1 << 20, 1<<20 - 1024}, // reserve 1,024 (the most)
		{100, 50},               // never more than half
		{1, 1},
	} {
		if got := defaultMaxConnections(tc.limit); got != tc.want {
			t.Errorf("defaultMaxConnections(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7"},                   // IPv4-mapped: the IPv4 client
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1", "2001:db8:1:2::"}, // a /64
		{"[2001:db8:1:2::1]:1", "2001:db8:1:2::"},
		{"[2001:db8:1:3::1]:1", "2001:db8:1:3::"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := addrKey(a)
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("addrKey(%s) = %v, %v; want %s", tc.addr, got, ok, tc.want)
		}
	}
	if _, ok := addrKey(&net.UnixAddr{Name: "x", Net: "unix"}); ok {
		t.Error("a Unix address has a key")
	}
}

// TestLimiterCounts: the caps refuse, releases free, and an address's
// entry goes with its last connection.
func TestLimiterCounts(t *testing.T) {
	l := newConnLimiter(3, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	steps := []struct {
		key  netip.Addr
		want refusal
	}{{a, refuseNone}, {a, refuseNone}, {a, refusePerIP}, {b, refuseNone}, {b, refuseMax}}
	for i, s := range steps {
		if got := l.admit(s.key, true); got != s.want {
			t.Fatalf("step %d: admit %v = %d, want %d", i, s.key, got, s.want)
		}
	}
	if open, rm, ri := l.stats(); open != 3 || rm != 1 || ri != 1 {
		t.Errorf("stats %d %d %d, want 3 1 1", open, rm, ri)
	}
	l.release(a, true)
	l.release(a, true)
	l.release(b, true)
	if len(l.byAddr) != 0 || l.open != 0 {
		t.Errorf("after every release: %d open, %v", l.open, l.byAddr)
	}
	if got := newConnLimiter(-1, -1).admit(a, true); got != refuseNone {
		t.Errorf("no caps: %d", got)
	}
}
