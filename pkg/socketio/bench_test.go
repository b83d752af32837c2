package socketio_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

func BenchmarkEncodeEvent(b *testing.B) {
	payload := map[string]any{"t": 1.5, "p": strings.Repeat("x", 80)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := socketio.EncodeEvent("/", "m", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	msg := []byte(`2["m",{"t":1.5,"p":"` + strings.Repeat("x", 80) + `"}]`)
	b.ReportAllocs()
	for b.Loop() {
		var d socketio.Decoder
		if _, err := d.DecodeText(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// writerModes are the Engine.IO write paths compared: the pool of
// GOMAXPROCS writers (the default) and a writer goroutine per socket while
// it has frames.
var writerModes = []struct {
	name    string
	writers int
}{{"pool", 0}, {"goroutines", -1}}

// BenchmarkFanout measures one edge's fan-out over loopback WebSockets: each
// operation is one room emit, encoded once, to every socket; the clients
// count frames. It reports delivered frames per second.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		for _, m := range writerModes {
			b.Run(fmt.Sprintf("sockets=%d/writers=%s", n, m.name), func(b *testing.B) {
				f := newFanoutBench(b, n, m.writers)
				f.steady(b)
			})
		}
	}
}

// BenchmarkFanoutBurst: each operation is a burst of 40 room emits at once
// to every socket, waited for until its last frame arrived (the scenario of
// issue 16). It reports delivered frames per second and the mean time to
// the burst's last frame.
func BenchmarkFanoutBurst(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		for _, m := range writerModes {
			b.Run(fmt.Sprintf("sockets=%d/writers=%s", n, m.name), func(b *testing.B) {
				f := newFanoutBench(b, n, m.writers)
				f.burst(b, 40)
			})
		}
	}
}

type fanoutBench struct {
	n      int
	room   *socketio.BroadcastOperator
	frames atomic.Int64
}

func newFanoutBench(b *testing.B, n, writers int) *fanoutBench {
	srv := socketio.NewServer(socketio.Config{
		Logger: slog.New(slog.DiscardHandler),
		Engine: engineio.Config{Writers: writers},
	})
	joined := make(chan struct{}, n)
	srv.Of("/").OnConnect(func(s *socketio.Socket) {
		s.Join("bench")
		joined <- struct{}{}
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	f := &fanoutBench{n: n}
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, n)
	b.Cleanup(func() { // also when the benchmark fails
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
		_, _, _ = c.ReadMessage() // open
		_ = c.WriteMessage(websocket.TextMessage, []byte("40"))
		_, _, _ = c.ReadMessage() // CONNECT
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					return
				}
				if len(m) > 2 && m[0] == '4' && m[1] == '2' {
					f.frames.Add(1)
				}
			}
		}()
	}
	for range n {
		<-joined
	}
	f.room = srv.Of("/").To("bench")
	return f
}

var benchPayload = map[string]any{"p": strings.Repeat("x", 80)}

// waitFrames waits until want frames arrived, at most 30 s.
func (f *fanoutBench) waitFrames(b *testing.B, want int64) {
	deadline := time.Now().Add(30 * time.Second)
	for f.frames.Load() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	if got := f.frames.Load(); got < want {
		b.Fatalf("delivered %d of %d frames", got, want)
	}
}

func (f *fanoutBench) steady(b *testing.B) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var sent int64
	for b.Loop() {
		if _, err := f.room.Emit("m", benchPayload); err != nil {
			b.Fatal(err)
		}
		sent += int64(f.n)
		// Stay well within the per-socket queue (1024 packets): beyond it
		// the server rightly drops the slowest clients, which is not what
		// is measured here. The bound is on the average backlog, and one
		// socket can lag the others by several times it.
		for sent-f.frames.Load() > int64(f.n)*128 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	f.waitFrames(b, int64(b.N)*int64(f.n))
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(f.frames.Load())/elapsed.Seconds(), "frames/s")
}

func (f *fanoutBench) burst(b *testing.B, msgs int) {
	b.ReportAllocs()
	b.ResetTimer()
	var busy time.Duration
	var sent int64
	for b.Loop() {
		start := time.Now()
		for range msgs {
			if _, err := f.room.Emit("m", benchPayload); err != nil {
				b.Fatal(err)
			}
		}
		sent += int64(msgs) * int64(f.n)
		f.waitFrames(b, sent)
		busy += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(sent)/busy.Seconds(), "frames/s")
	b.ReportMetric(float64(busy.Milliseconds())/float64(b.N), "ms/burst")
}
