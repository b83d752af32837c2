// Command ceiling is the benchmark's physical ceiling: a bare
// gorilla/websocket server with no protocol on top. Every connection to /ws
// gets a reader goroutine (discarding what it reads) and a writer goroutine
// fed by a channel of --queue messages; a broadcast encodes each message
// once and hands it to every connection's channel, blocking when a channel
// is full, so that "as fast as possible" is what the sockets actually take.
// Two write paths (--mode):
//
//	batched  (default) the writer takes everything queued in its channel at
//	         once and sends it in one writev (net.Buffers.WriteTo on the
//	         connection's net.Conn); a message is encoded once per
//	         broadcast as a complete unmasked server text frame, shared by
//	         every connection: the real ceiling for a writer that coalesces
//	naive    one websocket.PreparedMessage per message, one
//	         WritePreparedMessage (one write) per frame per connection: the
//	         one-write-per-frame baseline
//
// In batched mode the writer owns the connection's write side: gorilla's
// default ping and close handlers would write control frames beside it, so
// they are replaced by ones that write nothing (the load clients send no
// pings; a client's close is noticed by the reader, which drops the
// connection).
//
// Loopback admin endpoints on the same port (answers are JSON):
//
//	POST /admin/broadcast?rate=R&dur=D   R messages/s (0: as fast as possible) for D ms
//	POST /admin/broadcast?count=C&rate=0 a burst of C messages, as fast as possible,
//	                                     each queued to every connection in turn, as
//	                                     they would come from a bus; with inhand=1
//	                                     all C are encoded first, then queued to
//	                                     each connection in turn (the server has the
//	                                     burst in hand: every writer finds all of it
//	                                     queued); dur (default 60000) bounds it
//	POST /admin/unicast?rate=R&dur=D     one connection at a time, round-robin
//	GET  /admin/stats                    {"conns":N,"mode":M}
//
// Bad parameters get 400. The answer, {"sent":S,"conns":N}, comes once
// every message is queued to every connection (not yet written).
//
// Connections made with /ws?quiet=1 are kept but never sent to (the
// connect-storm clients). The payload is the Socket.IO EVENT text a
// Socket.IO client would receive, 42["m",{"t":..,"p":..}], 100-byte object.
// It prints {"addr":"127.0.0.1:port"} once listening, and exits when stdin
// closes or after --max-duration.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/bench/internal/stamp"
)

// Write paths (--mode).
const (
	batched = "batched"
	naive   = "naive"
)

// message is one broadcast message, encoded once for every connection:
// frame in batched mode, pm in naive mode. Neither is written to after
// it is queued.
type message struct {
	frame []byte                     // a complete server text frame
	pm    *websocket.PreparedMessage // naive mode
}

type conn struct {
	ws   *websocket.Conn
	ch   chan *message
	dead chan struct{} // closed when the connection is gone
}

type server struct {
	upgrader websocket.Upgrader
	queue    int
	mode     string

	mu    sync.Mutex
	conns map[*conn]bool // guarded by mu; value: receives broadcasts
	busy  sync.Mutex     // one broadcast or unicast at a time
}

// bufsPool holds the batched writers' net.Buffers between wake-ups, so
// that an idle connection holds none.
var bufsPool = sync.Pool{New: func() any { return new(net.Buffers) }}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	mode := flag.String("mode", batched, "write path: batched (everything queued in one writev) or naive (one write per frame)")
	queue := flag.Int("queue", 64, "messages queued per connection before a broadcast blocks (a burst of 40 fits)")
	maxDur := flag.Duration("max-duration", 10*time.Minute, "exit by itself after this long")
	flag.Parse()
	if *mode != batched && *mode != naive {
		fmt.Fprintf(os.Stderr, "ceiling: --mode %q: want batched or naive\n", *mode)
		os.Exit(2)
	}
	if *queue < 1 {
		fmt.Fprintln(os.Stderr, "ceiling: --queue must be at least 1")
		os.Exit(2)
	}
	raiseFileLimit()

	s := &server{
		queue: *queue,
		mode:  *mode,
		conns: make(map[*conn]bool),
		upgrader: websocket.Upgrader{
			ReadBufferSize:  256,
			WriteBufferSize: 256,
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.HandleFunc("/admin/broadcast", func(w http.ResponseWriter, r *http.Request) { s.admin(w, r, false) })
	mux.HandleFunc("/admin/unicast", func(w http.ResponseWriter, r *http.Request) { s.admin(w, r, true) })
	mux.HandleFunc("/admin/stats", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"conns": n, "mode": s.mode})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"addr": ln.Addr().String()})
	go func() {
		io.Copy(io.Discard, os.Stdin) // returns when the orchestrator goes away
		os.Exit(0)
	}()
	go func() {
		time.Sleep(*maxDur)
		fmt.Fprintln(os.Stderr, "ceiling: --max-duration reached, exiting")
		os.Exit(3)
	}()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &conn{ws: ws, ch: make(chan *message, s.queue), dead: make(chan struct{})}
	if s.mode == batched {
		// The writer alone writes to the socket (see the package comment).
		ws.SetPingHandler(func(string) error { return nil })
		ws.SetCloseHandler(func(int, string) error { return nil })
	}
	s.mu.Lock()
	s.conns[c] = r.URL.Query().Get("quiet") == ""
	s.mu.Unlock()
	if s.mode == batched {
		go c.writeBatched()
	} else {
		go c.writeNaive()
	}
	go func() { // reader: notices the close
		for {
			if _, _, err := ws.NextReader(); err != nil {
				break
			}
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		close(c.dead)
		ws.Close()
	}()
}

// writeNaive writes one frame per message: one write syscall each.
func (c *conn) writeNaive() {
	for {
		select {
		case m := <-c.ch:
			if err := c.ws.WritePreparedMessage(m.pm); err != nil {
				c.ws.Close()
				return
			}
		case <-c.dead:
			return
		}
	}
}

// writeBatched wakes on the first queued message, takes every other one
// already queued and writes them all with one writev.
func (c *conn) writeBatched() {
	nc := c.ws.NetConn()
	for {
		var m *message
		select {
		case m = <-c.ch:
		case <-c.dead:
			return
		}
		bufs := bufsPool.Get().(*net.Buffers)
		b := append((*bufs)[:0], m.frame)
	drain:
		for len(b) < cap(c.ch) {
			select {
			case m = <-c.ch:
				b = append(b, m.frame)
			default:
				break drain
			}
		}
		// WriteTo consumes its receiver: write from a copy of the slice
		// header, so that b keeps its backing array for the pool.
		wb := b
		_, err := wb.WriteTo(nc)
		clear(b) // drop the frames' references before pooling
		*bufs = b[:0]
		bufsPool.Put(bufs)
		if err != nil {
			c.ws.Close()
			return
		}
	}
}

// appendFrame appends payload as one unmasked, final server text frame:
// 0x81, then the length in 7 bits, or 126 and 16 bits, or 127 and 64 bits
// (RFC 6455 section 5.2).
func appendFrame(dst, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x81)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// newMessage encodes one message stamped at us (µs since the epoch) for
// the server's write path.
func (s *server) newMessage(us int64) (*message, error) {
	payload := stamp.AppendFrame(make([]byte, 0, 128), us)
	if s.mode == batched {
		return &message{frame: appendFrame(make([]byte, 0, len(payload)+10), payload)}, nil
	}
	// A PreparedMessage keeps its data: a fresh buffer per message.
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, payload)
	if err != nil {
		return nil, err
	}
	return &message{pm: pm}, nil
}

func (s *server) targets() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.conns))
	for c, bcast := range s.conns {
		if bcast {
			out = append(out, c)
		}
	}
	return out
}

func (s *server) admin(w http.ResponseWriter, r *http.Request, unicast bool) {
	q := r.URL.Query()
	var rate float64
	var err error
	if v := q.Get("rate"); v != "" {
		if rate, err = strconv.ParseFloat(v, 64); err != nil || rate < 0 {
			http.Error(w, "want rate=<messages/s>, 0 (the default) for as fast as possible", http.StatusBadRequest)
			return
		}
	}
	var count int64
	if v := q.Get("count"); v != "" {
		if count, err = strconv.ParseInt(v, 10, 64); err != nil || count <= 0 || count > 1e6 {
			http.Error(w, "want count=<messages>, 1 to 1000000", http.StatusBadRequest)
			return
		}
	}
	dur := time.Minute
	if v := q.Get("dur"); v != "" || count == 0 {
		ms, err := strconv.ParseFloat(v, 64)
		dur = time.Duration(ms * float64(time.Millisecond))
		if err != nil || dur <= 0 || dur > time.Hour {
			http.Error(w, "want dur=<milliseconds> (or count=<messages>)", http.StatusBadRequest)
			return
		}
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	conns := s.targets()
	var sent int64
	if len(conns) > 0 {
		if count > 0 && rate == 0 && !unicast && q.Get("inhand") == "1" {
			sent, err = s.burst(r.Context(), conns, count, dur)
		} else {
			sent, err = s.send(r.Context(), conns, rate, dur, count, unicast)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"sent": sent, "conns": len(conns)})
}

// send emits messages at rate per second (0: as fast as the connections
// take them) for dur, or until count are sent when count > 0: each to
// every connection, or with unicast to one connection at a time. It
// returns how many messages it sent.
func (s *server) send(ctx context.Context, conns []*conn, rate float64, dur time.Duration, count int64, unicast bool) (int64, error) {
	start := time.Now()
	end := start.Add(dur)
	// A burst's messages all carry its start time, as every system's do:
	// their latency is the time since the burst was asked for.
	var burstAt int64
	if count > 0 && rate == 0 {
		burstAt = stamp.Now()
	}
	var sent int64
	for count == 0 || sent < count {
		now := time.Now()
		if now.After(end) || ctx.Err() != nil {
			return sent, nil
		}
		if rate > 0 {
			due := int64(now.Sub(start).Seconds() * rate)
			if sent >= due+1 {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		at := burstAt
		if at == 0 {
			at = stamp.Now()
		}
		m, err := s.newMessage(at)
		if err != nil {
			return sent, err
		}
		if unicast {
			c := conns[sent%int64(len(conns))]
			select {
			case c.ch <- m:
			case <-c.dead:
			}
		} else {
			for _, c := range conns {
				select {
				case c.ch <- m:
				case <-c.dead:
				}
			}
		}
		sent++
	}
	return sent, nil
}

// burst sends count messages to every connection at once: all of them are
// encoded (and stamped) first, then queued connection by connection, so
// that each writer finds the whole burst queued when it wakes, as a server
// that has every message of a burst in hand would: the bound of write
// batching. (Queued message by message, as send does and as messages come
// from a bus, a writer batches only what queued while it was writing.) It
// stops early, with an error, when ctx ends or dur passes.
func (s *server) burst(ctx context.Context, conns []*conn, count int64, dur time.Duration) (int64, error) {
	msgs := make([]*message, count)
	at := stamp.Now()
	for i := range msgs {
		m, err := s.newMessage(at)
		if err != nil {
			return 0, err
		}
		msgs[i] = m
	}
	end := time.Now().Add(dur)
	for i, c := range conns {
		if ctx.Err() != nil || time.Now().After(end) {
			return count, fmt.Errorf("burst cut after %d of %d connections", i, len(conns))
		}
		for _, m := range msgs {
			select {
			case c.ch <- m:
			case <-c.dead:
			}
		}
	}
	return count, nil
}
