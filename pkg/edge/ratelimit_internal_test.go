package edge

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

func TestRequestKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:1", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:1", "fe80::"},
	} {
		got, ok := requestKey(&http.Request{RemoteAddr: tc.addr})
		if !ok || got.String() != tc.want {
			t.Errorf("requestKey(%s) = %v, %v; want %s", tc.addr, got, ok, tc.want)
		}
	}
	if _, ok := requestKey(&http.Request{RemoteAddr: "@"}); ok {
		t.Error("a RemoteAddr that is no IP:port has a key")
	}
}

// The limiter keeps at most maxRateAddrs addresses: past them a new one is
// admitted and counted untracked; addresses idle long enough to have a
// full bucket again are forgotten, which makes room.
func TestHandshakeLimiterBounded(t *testing.T) {
	l := newHandshakeLimiter(1, 1)
	req := func(i int) *http.Request {
		return &http.Request{RemoteAddr: fmt.Sprintf("10.%d.%d.%d:1", i>>16&0xff, i>>8&0xff, i&0xff)}
	}
	for i := range maxRateAddrs {
		if err := l.allow(req(i)); err != nil {
			t.Fatalf("address %d: %v", i, err)
		}
	}
	if err := l.allow(req(0)); !errors.Is(err, engineio.ErrTooManyRequests) {
		t.Fatalf("second handshake of a burst of 1: %v, want ErrTooManyRequests", err)
	}
	if err := l.allow(req(maxRateAddrs)); err != nil {
		t.Fatalf("a new address past the table's size: %v, want admitted", err)
	}
	if refused, untracked := l.stats(); refused != 1 || untracked != 1 {
		t.Errorf("refused %d, untracked %d; want 1 and 1", refused, untracked)
	}
	if n := len(l.buckets); n != maxRateAddrs {
		t.Errorf("%d buckets, want %d (the most kept)", n, maxRateAddrs)
	}
	// Every bucket idle for its fill time, the sweep due: they go.
	l.mu.Lock()
	for _, b := range l.buckets {
		b.last = b.last.Add(-l.idle)
	}
	l.lastSweep = l.lastSweep.Add(-rateSweepEvery)
	l.mu.Unlock()
	if err := l.allow(req(maxRateAddrs + 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after the sweep, want 1 (the new address)", n)
	}
	if _, untracked := l.stats(); untracked != 1 {
		t.Errorf("untracked %d, want still 1", untracked)
	}
}

func TestHandshakeLimiterOff(t *testing.T) {
	if l := newHandshakeLimiter(-1, 50); l != nil {
		t.Error("a negative rate made a limiter")
	}
	var l *handshakeLimiter
	if r, u := l.stats(); r != 0 || u != 0 {
		t.Errorf("a nil limiter's stats %d %d", r, u)
	}
}
