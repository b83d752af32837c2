package repotest

import (
	"net"
	"testing"
	"time"
)

// DialFrom opens a TCP connection to addr from the local IP from (empty:
// any), within timeout, and closes it when the test ends.
func DialFrom(t testing.TB, addr, from string, timeout time.Duration) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: timeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
