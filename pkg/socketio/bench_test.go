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

// BenchmarkFanout measures one edge's fan-out over loopback WebSockets: each
// operation is one room emit, encoded once, to every socket; the clients
// count frames. It reports delivered frames per second.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	srv := socketio.NewServer(socketio.Config{Logger: slog.New(slog.DiscardHandler)})
	joined := make(chan struct{}, n)
	srv.Of("/").OnConnect(func(s *socketio.Socket) {
		s.Join("bench")
		joined <- struct{}{}
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	var frames atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, n)
	defer func() { // also when the benchmark fails
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		wg.Wait()
	}()
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
					frames.Add(1)
				}
			}
		}()
	}
	for range n {
		<-joined
	}
	room := srv.Of("/").To("bench")
	payload := map[string]any{"p": strings.Repeat("x", 80)}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var sent int64
	for b.Loop() {
		if _, err := room.Emit("m", payload); err != nil {
			b.Fatal(err)
		}
		sent += int64(n)
		// Stay well within the per-socket queue (1024 packets): beyond it
		// the server rightly drops the slowest clients, which is not what
		// is measured here. The bound is on the average backlog, and one
		// socket can lag the others by several times it.
		for sent-frames.Load() > int64(n)*128 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	want := int64(b.N) * int64(n)
	deadline := time.Now().Add(30 * time.Second)
	for frames.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := frames.Load(); got < want {
		b.Fatalf("delivered %d of %d frames", got, want)
	}
	b.ReportMetric(float64(frames.Load())/elapsed.Seconds(), "frames/s")
}
