package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestConnectionAttacks: what many connections, or slow ones, can do to an
// edge with small connection limits: --max-conns 200, --max-conns-per-ip
// 50, --post-timeout 2s.
func TestConnectionAttacks(t *testing.T) {
	const maxConns, maxPerIP, postTimeout = 200, 50, 2 * time.Second
	s := startStack(t, "--max-conns", fmt.Sprint(maxConns), "--max-conns-per-ip", fmt.Sprint(maxPerIP), "--post-timeout", postTimeout.String())

	// 300 idle TCP connections, each in the middle of its request's
	// headers, from 10 addresses (30 each, under the per-address cap): the
	// edge holds 200 (with the canary's) and closes the rest at accept.
	// The canary, connected before, goes on receiving; once the attackers
	// leave, a new client connects.
	t.Run("300 idle connections", func(t *testing.T) {
		const attackers = 300
		a := s.begin(t)
		held, refused := idle(t, s, attackers, func(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i%10) })
		t.Logf("%d connections held, %d refused", len(held), refused)
		if len(held) > maxConns || refused < attackers-maxConns {
			t.Errorf("%d of %d connections held and %d refused, want at most %d held (--max-conns)", len(held), attackers, refused, maxConns)
		}
		if len(held) < maxConns-10 {
			t.Errorf("%d connections held, want the edge to hold up to its %d (less the canary's)", len(held), maxConns)
		}
		closeAll(held)
		honest(t, s, "127.0.0.1")
		a.check(t)
	})

	// 80 idle connections from one address: 50 are held, the rest closed
	// at accept; a client from another address connects meanwhile.
	t.Run("80 idle connections from one address", func(t *testing.T) {
		const attackers = 80
		a := s.begin(t)
		held, refused := idle(t, s, attackers, func(int) string { return "127.0.0.50" })
		t.Logf("%d connections held, %d refused", len(held), refused)
		if len(held) != maxPerIP || refused != attackers-maxPerIP {
			t.Errorf("%d of %d connections from one address held and %d refused, want %d held (--max-conns-per-ip)", len(held), attackers, refused, maxPerIP)
		}
		honest(t, s, "127.0.0.51")
		closeAll(held)
		a.check(t)
	})

	// Polling POSTs announcing 100,000 bytes of body and sending one byte
	// every 200 ms (the whole body would take 5.5 hours), ten at once:
	// each is answered 408 once the POST timeout has passed, and its
	// connection closed.
	t.Run("trickling POST bodies", func(t *testing.T) {
		const posts = 10
		a := s.begin(t)
		type result struct {
			got  string
			took time.Duration
		}
		results := make(chan result, posts)
		var wg sync.WaitGroup
		for range posts {
			p := openPolling(t, s.edgeAddr)
			p.close() // the POST goes on a connection of its own
			c := dialFrom(t, s.edgeAddr, "")
			wg.Go(func() {
				start := time.Now()
				target := strings.TrimPrefix(p.base, "http://"+s.edgeAddr)
				_, err := io.WriteString(c, "POST "+target+" HTTP/1.1\r\nHost: edge\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n4")
				stop := make(chan struct{})
				trickled := make(chan struct{})
				go func() { // stops at the first write the edge refuses
					defer close(trickled)
					tick := time.NewTicker(200 * time.Millisecond)
					defer tick.Stop()
					for err == nil {
						select {
						case <-stop:
							return
						case <-tick.C:
							_, err = c.Write([]byte("x"))
						}
					}
				}()
				_, got := closedBy(c, time.Now().Add(postTimeout+waitTimeout))
				close(stop)
				<-trickled
				results <- result{got, time.Since(start)}
			})
		}
		wg.Wait()
		close(results)
		for r := range results {
			status, _, _ := strings.Cut(r.got, "\r\n")
			if !strings.HasPrefix(r.got, "HTTP/1.1 408 ") || !strings.Contains(r.got, `{"code":3,"message":"Request timeout"}`) {
				t.Errorf("a trickling POST read %q after %v, want 408 Request timeout", clip(r.got), r.took.Round(time.Millisecond))
				continue
			}
			// Cut after the POST timeout, within a bound generous for a
			// busy machine.
			if r.took < postTimeout-200*time.Millisecond || r.took > postTimeout+3*time.Second {
				t.Errorf("a trickling POST was cut (%s) after %v, want after the %v POST timeout, within 3 s more", status, r.took.Round(time.Millisecond), postTimeout)
			}
		}
		a.check(t)
	})
}

// idle opens n TCP connections to the edge, connection i from the address
// from(i), each sending the start of a request's headers and idling. It
// returns those the edge still holds a second later, and how many it
// closed at once.
func idle(t *testing.T, s *stack, n int, from func(int) string) (held []net.Conn, refused int) {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dialFrom(t, s.edgeAddr, from(i))
		_, _ = io.WriteString(conns[i], "GET /idle HTTP/1.1\r\nHost: x\r\n") // may meet the close already
	}
	deadline := time.Now().Add(time.Second)
	closed := make([]bool, n)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			closed[i], _ = closedBy(c, deadline)
		})
	}
	wg.Wait()
	for i, c := range conns {
		if closed[i] {
			refused++
			c.Close()
		} else {
			held = append(held, c)
		}
	}
	return held, refused
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// honest connects a Socket.IO client from the address from, as
// socket.io-client would: a refused connection is tried again (for a few
// seconds, as its back-off would) until the edge takes it.
func honest(t *testing.T, s *stack, from string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dialFrom(t, s.edgeAddr, from)
		res, _, err := rawRequest(c, http.MethodGet, "/idle")
		c.Close()
		if err == nil && res.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client from %s was refused for 5 s after the attackers left: %v", from, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c := dialWSWith(t, websocket.Dialer{HandshakeTimeout: waitTimeout, NetDial: nd.Dial}, s.edgeAddr, "", nil)
	c.connect(t, "/")
	c.close()
}
