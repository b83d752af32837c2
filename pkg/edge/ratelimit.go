package edge

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// Handshake rate per client address and its defaults (see Config).
const (
	// 100 handshakes a second, in bursts of 1,000: as many as the per-IP
	// connection cap's default, so that a whole office behind one NAT
	// reconnecting at once (an edge drained, a network back) gets in,
	// while a flood from one address is held to 100 a second.
	defaultHandshakeRate  = 100
	defaultHandshakeBurst = 1000
	// maxRateAddrs bounds the addresses the handshake limiter remembers
	// at once (about 100 bytes each). Past it, a new address is admitted
	// without a bucket and counted (Stats.HandshakeRateUntracked): more
	// addresses than that each handshaking within a refill of their
	// burst is beyond what one address's limit is for, and the connection
	// caps still bound them.
	maxRateAddrs = 65_536
	// rateSweepEvery spaces the sweeps of the addresses whose bucket is
	// full again, which a fresh bucket equals.
	rateSweepEvery = 10 * time.Second
)

// handshakeLimiter is a token bucket per client address (the key of the
// per-IP connection cap, addrKey) for Engine.IO handshakes, those of
// polling and of WebSocket alike; a session's later requests (polls,
// upgrades) are not counted.
type handshakeLimiter struct {
	rate  rate.Limit
	burst int
	idle  time.Duration // how long an untouched bucket takes to fill

	mu        sync.Mutex
	buckets   map[netip.Addr]*rateBucket // guarded by mu
	lastSweep time.Time                  // guarded by mu

	refused   atomic.Uint64
	untracked atomic.Uint64
}

type rateBucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newHandshakeLimiter(perSecond, burst int) *handshakeLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = perSecond
	}
	idle := time.Duration(float64(burst) / float64(perSecond) * float64(time.Second))
	return &handshakeLimiter{
		rate: rate.Limit(perSecond), burst: burst, idle: max(idle, time.Second),
		buckets: make(map[netip.Addr]*rateBucket), lastSweep: time.Now(),
	}
}

// requestKey is the address a request counts against: its TCP peer's, as
// for the per-IP cap, never a header.
func requestKey(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err != nil {
			return netip.Addr{}, false
		}
		ip = p.Addr()
	}
	return ip, true
}

// allow is engineio's AllowRequest: a handshake over its address's rate
// gets 429 (engineio.ErrTooManyRequests).
func (l *handshakeLimiter) allow(r *http.Request) error {
	key, ok := requestKey(r)
	if !ok {
		return nil // not TCP: nothing to key on
	}
	now := time.Now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if now.Sub(l.lastSweep) >= rateSweepEvery || len(l.buckets) >= maxRateAddrs && now.Sub(l.lastSweep) >= time.Second {
			l.sweepLocked(now)
		}
		if len(l.buckets) >= maxRateAddrs {
			l.mu.Unlock()
			l.untracked.Add(1)
			return nil
		}
		b = &rateBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	ok = b.lim.AllowN(now, 1)
	l.mu.Unlock()
	if !ok {
		l.refused.Add(1)
		return fmt.Errorf("handshake rate of %v: %w", key, engineio.ErrTooManyRequests)
	}
	return nil
}

// sweepLocked forgets the buckets untouched long enough to be full again.
func (l *handshakeLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.idle {
			delete(l.buckets, k)
		}
	}
}

func (l *handshakeLimiter) stats() (refused, untracked uint64) {
	if l == nil {
		return 0, 0
	}
	return l.refused.Load(), l.untracked.Load()
}
