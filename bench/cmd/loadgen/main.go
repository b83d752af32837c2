// Command loadgen is the benchmark's load generator: one process holds up to
// --clients-per-process Socket.IO (or plain WebSocket) clients, one goroutine
// each, and records the end-to-end latency of every message it receives
// (the payload carries its sender's clock, see package stamp).
//
// It is driven over stdin/stdout by the orchestrator (bench/cmd/bench), one
// command per line, one JSON object per answer line:
//
//	connect N   open N more clients        -> {"ev":"ready","ready":..,"failed":..,"ms":..,"hs":{..}}
//	report      counts since last report   -> {"ev":"report","msgs":..,"lat":{..},"open":..,"dropped":..,"spread":[..],"first":..,"last":..}
//	            (first: the earliest stamp, last: the latest arrival, µs
//	            since the epoch, of the messages counted; 0 when none)
//	spread on|off  track each message's first and last arrival (reported as
//	            [stamp µs, first µs, last µs, frames] by report, then reset)
//	sids        Socket.IO ids of open ones  -> {"ev":"sids","sids":[..]}
//	reconnect   close every open client and reconnect them all at once -> {"ev":"reconnected",..}
//	heal        reconnect clients the server closed -> {"ev":"healed",..}
//	quit        close everything and exit  -> {"ev":"bye"}
//
// It exits by itself after --max-duration and when stdin closes, so it never
// outlives its orchestrator. It only dials the --targets it is given.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/bench/internal/latency"
	"github.com/switchboard-rt/switchboard/bench/internal/stamp"
)

type config struct {
	targets     []string // base URLs, clients assigned round-robin
	mode        string   // "sio" or "raw"
	transport   string   // "websocket" or "polling" (sio mode)
	namespace   string
	rate        float64 // connects per second, 0 = unbounded
	concurrency int     // handshakes in flight
	hsTimeout   time.Duration
}

type loadgen struct {
	cfg       config
	ctx       context.Context
	dialer    *websocket.Dialer
	httpc     *http.Client
	connectPk []byte // "40" or "40/ns,"
	sem       chan struct{}

	lat     latency.Histogram
	spread  spread
	msgs    atomic.Int64
	dropped atomic.Int64 // clients the server (or an error) closed, since last report
	lastErr atomic.Pointer[string]

	outMu sync.Mutex
	out   *bufio.Writer

	clients []*client // owned by the command loop
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	var targets string
	var maxDur time.Duration
	flag.StringVar(&targets, "targets", "", "comma-separated base URLs: ws://127.0.0.1:3000/socket.io/ (sio, websocket), http://127.0.0.1:3000/socket.io/ (sio, polling), ws://127.0.0.1:4000/ws (raw)")
	flag.StringVar(&cfg.mode, "mode", "sio", "sio: Engine.IO v4 + Socket.IO v5; raw: plain WebSocket frames")
	flag.StringVar(&cfg.transport, "transport", "websocket", "websocket or polling (sio mode)")
	flag.StringVar(&cfg.namespace, "ns", "/", "Socket.IO namespace")
	flag.Float64Var(&cfg.rate, "rate", 0, "connects per second, 0 for no limit")
	flag.IntVar(&cfg.concurrency, "concurrency", 500, "handshakes in flight at most")
	flag.DurationVar(&cfg.hsTimeout, "handshake-timeout", 15*time.Second, "time allowed for one client's handshake")
	flag.DurationVar(&maxDur, "max-duration", 10*time.Minute, "exit by itself after this long")
	flag.Parse()
	for _, t := range strings.Split(targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.targets = append(cfg.targets, t)
		}
	}
	if len(cfg.targets) == 0 {
		return errors.New("--targets is required")
	}
	if cfg.mode != "sio" && cfg.mode != "raw" {
		return fmt.Errorf("--mode %q: want sio or raw", cfg.mode)
	}
	if cfg.transport != "websocket" && cfg.transport != "polling" {
		return fmt.Errorf("--transport %q: want websocket or polling", cfg.transport)
	}
	if cfg.concurrency < 1 {
		cfg.concurrency = 1
	}
	raiseFileLimit()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lg := &loadgen{
		cfg: cfg,
		ctx: ctx,
		dialer: &websocket.Dialer{
			HandshakeTimeout: cfg.hsTimeout,
			ReadBufferSize:   1024,
			WriteBufferSize:  256,
			WriteBufferPool:  &sync.Pool{},
			NetDialContext:   (&net.Dialer{Timeout: cfg.hsTimeout}).DialContext,
		},
		sem: make(chan struct{}, cfg.concurrency),
		out: bufio.NewWriter(os.Stdout),
	}
	lg.httpc = &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: cfg.hsTimeout}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 1 << 20,
		DisableCompression:  true,
		ReadBufferSize:      1024,
		WriteBufferSize:     1024,
	}}
	if cfg.namespace == "" || cfg.namespace == "/" {
		lg.connectPk = []byte("40")
	} else {
		lg.connectPk = []byte("40" + cfg.namespace + ",")
	}

	// Bounded life: exit after maxDur whatever happens.
	go func() {
		time.Sleep(maxDur)
		lg.emit(map[string]any{"ev": "timeout"})
		fmt.Fprintln(os.Stderr, "loadgen: --max-duration reached, exiting")
		os.Exit(3)
	}()
	lg.emit(map[string]any{"ev": "started", "pid": os.Getpid()})

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "connect":
			n, err := strconv.Atoi(f[1])
			if len(f) != 2 || err != nil || n < 0 {
				lg.emit(map[string]any{"ev": "error", "error": "usage: connect N"})
				continue
			}
			lg.connect(n)
		case "report":
			lg.report()
		case "spread":
			if len(f) != 2 || (f[1] != "on" && f[1] != "off") {
				lg.emit(map[string]any{"ev": "error", "error": "usage: spread on|off"})
				continue
			}
			lg.spread.on.Store(f[1] == "on")
			lg.emit(map[string]any{"ev": "spread"})
		case "sids":
			lg.sids()
		case "reconnect":
			lg.reconnect(false)
		case "heal":
			lg.reconnect(true)
		case "quit":
			lg.closeAll()
			lg.emit(map[string]any{"ev": "bye"})
			return nil
		default:
			lg.emit(map[string]any{"ev": "error", "error": "unknown command " + f[0]})
		}
	}
	// stdin closed: the orchestrator is gone.
	lg.closeAll()
	return nil
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func (lg *loadgen) emit(v map[string]any) {
	b, _ := json.Marshal(v)
	lg.outMu.Lock()
	lg.out.Write(b)
	lg.out.WriteByte('\n')
	lg.out.Flush()
	lg.outMu.Unlock()
}

func (lg *loadgen) noteErr(err error) {
	if err != nil {
		s := err.Error()
		lg.lastErr.Store(&s)
	}
}

func (lg *loadgen) lastError() string {
	if p := lg.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// record counts one event c received and its latency. It does not allocate
// (tracking the spread allocates once per message, and only while on). The
// earliest stamp and latest arrival are kept per client, so that a burst's
// duration costs no shared write per frame.
func (lg *loadgen) record(c *client, frame []byte) {
	lg.msgs.Add(1)
	if t, ok := stamp.Find(frame); ok {
		now := stamp.Now()
		d := now - t
		lg.lat.Record(d)
		c.lastAt.Store(now)
		if m := c.minStamp.Load(); m == 0 || t < m {
			c.minStamp.Store(t)
		}
		if lg.spread.on.Load() {
			lg.spread.note(t, d)
		}
	}
}

// spread tracks, per message (keyed by its stamp), the earliest and the
// latest arrival at this process and how many frames of it arrived: the
// time a message takes to reach its first socket, and all of them. It takes
// a lock per frame, so it is only on for the low-rate phases that ask for it.
type spread struct {
	on atomic.Bool
	mu sync.Mutex
	m  map[int64]*[3]int64 // stamp -> first, last (µs after the stamp), frames
}

// maxSpread bounds the messages tracked between two reports.
const maxSpread = 100000

func (s *spread) note(t, d int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[t]
	if e == nil {
		if len(s.m) >= maxSpread {
			return
		}
		if s.m == nil {
			s.m = map[int64]*[3]int64{}
		}
		e = &[3]int64{d, d, 0}
		s.m[t] = e
	}
	e[0], e[1], e[2] = min(e[0], d), max(e[1], d), e[2]+1
}

// take returns the tracked messages as [stamp, first, last, frames] rows and
// forgets them.
func (s *spread) take() [][4]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][4]int64, 0, len(s.m))
	for t, e := range s.m {
		out = append(out, [4]int64{t, e[0], e[1], e[2]})
	}
	s.m = nil
	return out
}

// batch tracks one group of clients being (re)connected.
type batch struct {
	hs     latency.Histogram // handshake durations, µs
	ok     atomic.Int64
	failed atomic.Int64
	wg     sync.WaitGroup
}

// launch starts cs at the configured rate, at most concurrency handshakes at
// a time, and waits until each is connected or has failed.
func (lg *loadgen) launch(cs []*client) map[string]any {
	b := &batch{}
	start := time.Now()
	for i, c := range cs {
		if lg.cfg.rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / lg.cfg.rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		lg.sem <- struct{}{}
		b.wg.Add(1)
		c.start(b)
	}
	b.wg.Wait()
	ms := float64(time.Since(start).Microseconds()) / 1000
	return map[string]any{"ready": b.ok.Load(), "failed": b.failed.Load(), "ms": ms, "hs": b.hs.Snapshot(false), "error": lg.lastError()}
}

func (lg *loadgen) connect(n int) {
	cs := make([]*client, n)
	for i := range cs {
		k := len(lg.clients) + i
		cs[i] = &client{lg: lg, url: lg.cfg.targets[k%len(lg.cfg.targets)]}
	}
	lg.clients = append(lg.clients, cs...)
	res := lg.launch(cs)
	res["ev"] = "ready"
	res["open"] = lg.open()
	lg.emit(res)
}

func (lg *loadgen) open() int {
	n := 0
	for _, c := range lg.clients {
		if c.isOpen.Load() {
			n++
		}
	}
	return n
}

func (lg *loadgen) report() {
	var first, last int64
	for _, c := range lg.clients {
		if t := c.minStamp.Swap(0); t != 0 && (first == 0 || t < first) {
			first = t
		}
		last = max(last, c.lastAt.Swap(0))
	}
	lg.emit(map[string]any{
		"first":   first,
		"last":    last,
		"ev":      "report",
		"msgs":    lg.msgs.Swap(0),
		"lat":     lg.lat.Snapshot(true),
		"open":    lg.open(),
		"dropped": lg.dropped.Swap(0),
		"error":   lg.lastError(),
		"spread":  lg.spread.take(),
	})
}

func (lg *loadgen) sids() {
	sids := make([]string, 0, len(lg.clients))
	for _, c := range lg.clients {
		if c.isOpen.Load() {
			if s := c.sid.Load(); s != nil {
				sids = append(sids, *s)
			}
		}
	}
	lg.emit(map[string]any{"ev": "sids", "sids": sids})
}

// reconnect closes every open client (unless onlyClosed) and reconnects them
// all at once; with onlyClosed it reconnects the clients that are down.
func (lg *loadgen) reconnect(onlyClosed bool) {
	var cs []*client
	for _, c := range lg.clients {
		if c.done == nil {
			continue
		}
		if onlyClosed && c.isOpen.Load() {
			continue
		}
		c.requestClose()
		cs = append(cs, c)
	}
	for _, c := range cs {
		<-c.done
	}
	res := lg.launch(cs)
	res["ev"] = "reconnected"
	if onlyClosed {
		res["ev"] = "healed"
	}
	res["open"] = lg.open()
	lg.emit(res)
}

func (lg *loadgen) closeAll() {
	for _, c := range lg.clients {
		if c.done != nil {
			c.requestClose()
		}
	}
	deadline := time.After(3 * time.Second)
	for _, c := range lg.clients {
		if c.done == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline:
			return
		}
	}
}
