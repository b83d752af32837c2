package edge

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Connection caps and their defaults (see Config).
const (
	defaultMaxConnectionsPerIP = 1000
	// minDescriptorReserve and maxDescriptorReserve bound the descriptors
	// kept out of MaxConnections' default for the rest of the process: the
	// NATS connection, the epoll instance, files the demo page serves, a
	// debug listener, log files.
	minDescriptorReserve = 64
	maxDescriptorReserve = 1024
	// fallbackMaxConnections is MaxConnections' default where the
	// descriptor limit cannot be read.
	fallbackMaxConnections = 10_000
	// refusalLogEvery spaces the edge's warnings about refused connections:
	// a flood of them is one line every so often, with the counts.
	refusalLogEvery = 10 * time.Second
)

// defaultMaxConnections is MaxConnections' default for a descriptor limit:
// the limit less a twentieth of it, at least minDescriptorReserve and at
// most maxDescriptorReserve (never more than half the limit).
func defaultMaxConnections(limit int) int {
	reserve := min(max(limit/20, minDescriptorReserve), maxDescriptorReserve)
	reserve = min(reserve, limit/2)
	return max(limit-reserve, 1)
}

// connLimiter counts the edge's TCP connections, overall and per client
// address, from accept to close, and refuses at accept those over a cap.
// Its counts live as long as the edge, across listeners.
type connLimiter struct {
	max   int // <= 0: no cap
	perIP int // <= 0: no cap

	mu     sync.Mutex
	open   int                  // guarded by mu
	byAddr map[netip.Addr]int32 // guarded by mu; only addresses holding connections

	refusedMax atomic.Uint64
	refusedIP  atomic.Uint64
}

func newConnLimiter(maxConns, perIP int) *connLimiter {
	return &connLimiter{max: maxConns, perIP: perIP, byAddr: make(map[netip.Addr]int32)}
}

// addrKey is the address a connection counts against for the per-IP cap:
// its IP, with IPv4-mapped IPv6 as IPv4, and IPv6 by its /64 prefix (one
// host usually holds a whole /64, as many addresses as it likes).
func addrKey(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err != nil {
			return netip.Addr{}, false
		}
		ip = p.Addr()
	}
	return ip, true
}

// refusal says why a connection was refused; refuseNone admits it.
type refusal uint8

const (
	refuseNone refusal = iota
	refuseMax
	refusePerIP
)

// admit counts a new connection from key, unless a cap refuses it.
func (l *connLimiter) admit(key netip.Addr, keyed bool) refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		l.refusedMax.Add(1)
		return refuseMax
	}
	if keyed && l.perIP > 0 {
		if l.byAddr[key] >= int32(l.perIP) {
			l.refusedIP.Add(1)
			return refusePerIP
		}
	}
	l.open++
	if keyed {
		l.byAddr[key]++
	}
	return refuseNone
}

// release forgets a connection admit counted.
func (l *connLimiter) release(key netip.Addr, keyed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if keyed {
		if n := l.byAddr[key] - 1; n > 0 {
			l.byAddr[key] = n
		} else {
			delete(l.byAddr, key)
		}
	}
}

func (l *connLimiter) stats() (open int, refusedMax, refusedIP uint64) {
	l.mu.Lock()
	open = l.open
	l.mu.Unlock()
	return open, l.refusedMax.Load(), l.refusedIP.Load()
}

// limitListener refuses, at accept, the connections over the limiter's
// caps: they are accepted and closed at once, without a response, so that
// the kernel's backlog keeps moving and a client is told right away rather
// than left to time out. Those it admits are counted until they close.
type limitListener struct {
	net.Listener
	l   *connLimiter
	log *slog.Logger

	lastLog time.Time // owned by the accepting goroutine (net/http has one per listener)
}

func (ln *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, keyed := addrKey(c.RemoteAddr())
		if why := ln.l.admit(key, keyed); why != refuseNone {
			_ = c.Close()
			ln.logRefusal(why, c.RemoteAddr())
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			return &countedTCPConn{TCPConn: tc, l: ln.l, key: key, keyed: keyed}, nil
		}
		return &countedConn{Conn: c, l: ln.l, key: key, keyed: keyed}, nil
	}
}

func (ln *limitListener) logRefusal(why refusal, addr net.Addr) {
	now := time.Now()
	if now.Sub(ln.lastLog) < refusalLogEvery {
		return
	}
	ln.lastLog = now
	open, refusedMax, refusedIP := ln.l.stats()
	reason := "the edge holds max connections"
	if why == refusePerIP {
		reason = "the client's address holds max connections per IP"
	}
	ln.log.Warn("edge: refusing connections", "why", reason, "remote", addr.String(),
		"connections", open, "max", ln.l.max, "max_per_ip", ln.l.perIP,
		"refused_max", refusedMax, "refused_per_ip", refusedIP)
}

// countedTCPConn is an admitted TCP connection; closing it releases its
// count, once. It embeds the *net.TCPConn, so net/http still finds
// CloseWrite and ReadFrom (sendfile), and it hands engineio the TCP
// connection itself for the idle poller and vectored writes
// (engineio.TCPWrapper): a WebSocket costs no more than before, and still
// closes through this wrapper.
type countedTCPConn struct {
	*net.TCPConn
	l        *connLimiter
	key      netip.Addr
	keyed    bool
	released atomic.Bool
}

func (c *countedTCPConn) Close() error {
	if c.released.CompareAndSwap(false, true) {
		c.l.release(c.key, c.keyed)
	}
	return c.TCPConn.Close()
}

// WrappedTCPConn implements engineio.TCPWrapper.
func (c *countedTCPConn) WrappedTCPConn() *net.TCPConn { return c.TCPConn }

// countedConn is countedTCPConn for a listener that is not TCP.
type countedConn struct {
	net.Conn
	l        *connLimiter
	key      netip.Addr
	keyed    bool
	released atomic.Bool
}

func (c *countedConn) Close() error {
	if c.released.CompareAndSwap(false, true) {
		c.l.release(c.key, c.keyed)
	}
	return c.Conn.Close()
}
