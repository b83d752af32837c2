// Command ceiling is the benchmark's physical ceiling: a bare
// gorilla/websocket server with no protocol on top. Every connection to /ws
// gets a reader goroutine (discarding what it reads) and a writer goroutine
// fed by a channel; a broadcast prepares one websocket.PreparedMessage per
// message and hands it to every connection's channel, blocking when a
// channel is full, so that "as fast as possible" is what the sockets
// actually take.
//
// Loopback admin endpoints on the same port (answers are JSON):
//
//	POST /admin/broadcast?rate=R&dur=D   R messages/s (0: as fast as possible) for D ms
//	POST /admin/unicast?rate=R&dur=D     one connection at a time, round-robin
//	GET  /admin/stats                    {"conns":N}
//
// Connections made with /ws?quiet=1 are kept but never sent to (the
// connect-storm clients). The payload is the Socket.IO EVENT text a
// Socket.IO client would receive, 42["m",{"t":..,"p":..}], 100-byte object.
// It prints {"addr":"127.0.0.1:port"} once listening, and exits when stdin
// closes or after --max-duration.
package main

import (
	"context"
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

type conn struct {
	ws   *websocket.Conn
	ch   chan *websocket.PreparedMessage
	dead chan struct{} // closed when the connection is gone
}

type server struct {
	upgrader websocket.Upgrader
	queue    int

	mu    sync.Mutex
	conns map[*conn]bool // guarded by mu; value: receives broadcasts
	busy  sync.Mutex     // one broadcast or unicast at a time
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	queue := flag.Int("queue", 16, "messages queued per connection before a broadcast blocks")
	maxDur := flag.Duration("max-duration", 10*time.Minute, "exit by itself after this long")
	flag.Parse()
	raiseFileLimit()

	s := &server{
		queue: *queue,
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
		json.NewEncoder(w).Encode(map[string]int{"conns": n})
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
	c := &conn{ws: ws, ch: make(chan *websocket.PreparedMessage, s.queue), dead: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = r.URL.Query().Get("quiet") == ""
	s.mu.Unlock()
	go func() { // writer
		for {
			select {
			case pm := <-c.ch:
				if err := ws.WritePreparedMessage(pm); err != nil {
					ws.Close()
					return
				}
			case <-c.dead:
				return
			}
		}
	}()
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
	rate, _ := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
	ms, err := strconv.ParseFloat(r.URL.Query().Get("dur"), 64)
	dur := time.Duration(ms * float64(time.Millisecond))
	if err != nil || dur <= 0 || dur > time.Hour {
		http.Error(w, "want dur=<milliseconds>", http.StatusBadRequest)
		return
	}
	s.busy.Lock()
	defer s.busy.Unlock()
	conns := s.targets()
	var sent int64
	if len(conns) > 0 {
		sent = s.send(r.Context(), conns, rate, dur, unicast)
	}
	json.NewEncoder(w).Encode(map[string]any{"sent": sent, "conns": len(conns)})
}

// send emits messages at rate per second (0: as fast as the connections
// take them) for dur: each to every connection, or with unicast to one
// connection at a time. It returns how many messages it sent.
func (s *server) send(ctx context.Context, conns []*conn, rate float64, dur time.Duration, unicast bool) int64 {
	start := time.Now()
	end := start.Add(dur)
	var sent int64
	for {
		now := time.Now()
		if now.After(end) || ctx.Err() != nil {
			return sent
		}
		if rate > 0 {
			due := int64(now.Sub(start).Seconds() * rate)
			if sent >= due+1 {
				time.Sleep(time.Millisecond)
				continue
			}
		}
		// A PreparedMessage keeps its data: a fresh buffer per message.
		pm, err := websocket.NewPreparedMessage(websocket.TextMessage, stamp.AppendFrame(make([]byte, 0, 128), stamp.Now()))
		if err != nil {
			return sent
		}
		if unicast {
			c := conns[sent%int64(len(conns))]
			select {
			case c.ch <- pm:
			case <-c.dead:
			}
		} else {
			for _, c := range conns {
				select {
				case c.ch <- pm:
				case <-c.dead:
				}
			}
		}
		sent++
	}
}
