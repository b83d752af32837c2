package engineio_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// smallBufferDialer dials WebSockets whose receive buffer is 4 KB, so that
// a client that pauses fills the server's socket at once.
func (e *env) smallBufferDialer() *websocket.Dialer {
	d := *e.dialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}
	return &d
}

func (e *env) openWSWith(t *testing.T, d *websocket.Dialer) (*websocket.Conn, *engineio.Session) {
	t.Helper()
	c, res, err := d.Dial(e.wsURL("EIO=4&transport=websocket"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	res.Body.Close()
	t.Cleanup(func() { c.Close() })
	_, data := readWS(t, c)
	sid := parseOpen(t, data).SID
	s := e.srv.Session(sid)
	if s == nil {
		t.Fatalf("no session %s", sid)
	}
	return c, s
}

// readSeq reads n frames "4<prefix><i>" in order, i from 0.
func readSeq(c *websocket.Conn, prefix string, n int) error {
	for i := range n {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		_, data, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		want := "4" + prefix + strconv.Itoa(i)
		if !strings.HasPrefix(string(data), want) || (len(data) > len(want) && data[len(want)] != ' ') {
			return fmt.Errorf("frame %d is %.40q, want %q", i, data, want)
		}
	}
	return nil
}

// TestWriterPoolCoalesces: messages sent to many sessions one after the
// other, as a room's fan-out does, reach every client whole and in order,
// and the writer pool sends each session everything it has queued in one
// write call, not one per frame.
func TestWriterPoolCoalesces(t *testing.T) {
	e := newEnv(t, engineio.Config{Writers: 2, PingInterval: time.Minute, PingTimeout: time.Minute})
	const clients, msgs = 100, 50
	conns := make([]*websocket.Conn, clients)
	sessions := make([]*engineio.Session, clients)
	for i := range conns {
		conns[i], sessions[i] = e.openWSWith(t, e.dialer)
	}
	// The writers wait while the fan-out queues: how much each write
	// carries then depends on the pool, not on how the scheduler
	// interleaves the sender and the writers on a busy machine.
	before := e.srv.Stats()
	release := engineio.HoldWriters(e.srv)
	for m := range msgs {
		msg := engineio.NewTextMessage([]byte("m" + strconv.Itoa(m) + " " + strings.Repeat("x", 100)))
		for _, s := range sessions {
			if err := s.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	release()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range conns {
		wg.Go(func() { errs <- readSeq(c, "m", msgs) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := e.srv.Stats()
	writes, frames := st.Writes-before.Writes, st.FramesWritten-before.FramesWritten
	t.Logf("%d frames in %d writes", frames, writes)
	if frames != clients*msgs {
		t.Errorf("FramesWritten grew by %d, want %d", frames, clients*msgs)
	}
	// Each session's 50 queued frames (5 KB) go in one writev; a second
	// is allowed for a write the kernel took in part.
	if writes > 2*clients {
		t.Errorf("%d writes for %d frames to %d sessions: want at most %d, two per session", writes, frames, clients, 2*clients)
	}
}

// TestWriterPoolSlowReaderDoesNotStall: with a single pool writer, a
// client that does not read (its socket full, a write to it would wait
// for the 30 s write timeout) does not hold up the other sessions: the
// pool hands it to a writer goroutine of its own and goes on.
func TestWriterPoolSlowReaderDoesNotStall(t *testing.T) {
	e := newEnv(t, engineio.Config{
		Writers:         1,
		PingInterval:    time.Minute,
		PingTimeout:     time.Minute,
		WriteTimeout:    30 * time.Second,
		WriteQueueSize:  1 << 14,
		WriteQueueBytes: 64 << 20,
	})
	_, stalled := e.openWSWith(t, e.smallBufferDialer()) // never read
	big := engineio.NewBinaryMessage(make([]byte, 1<<20))
	for range 16 {
		if err := stalled.Send(big); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the stalled session's writes to be handed off", func() bool {
		return e.srv.Stats().BlockingWriters > 0
	})
	const clients, msgs = 10, 20
	conns := make([]*websocket.Conn, clients)
	sessions := make([]*engineio.Session, clients)
	for i := range conns {
		conns[i], sessions[i] = e.openWSWith(t, e.dialer)
	}
	for m := range msgs {
		msg := engineio.NewTextMessage([]byte("h" + strconv.Itoa(m)))
		for _, s := range sessions {
			if err := s.Send(msg); err != nil {
				t.Fatal(err)
			}
			// The stalled session's queue keeps growing meanwhile.
			if err := stalled.Send(engineio.NewTextMessage([]byte("s"))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range conns {
		if err := readSeq(c, "h", msgs); err != nil { // within wait (2 s), not 30
			t.Fatal(err)
		}
	}
}

// TestWriterPoolPartialWrites: a client that pauses reading while 32 MB
// are queued for it (more than loopback's socket buffers hold) makes the
// pool's writes partial or impossible; what the client finally reads is
// every frame, whole and in order, and the session then goes back to the
// pool, for good: the write deadline its blocking writer set does not make
// the pool's writes fail once it has passed.
func TestWriterPoolPartialWrites(t *testing.T) {
	e := newEnv(t, engineio.Config{
		Writers:         2,
		WriteTimeout:    4 * time.Second, // long enough for 32 MB under -race and a loaded machine
		PingInterval:    time.Minute,
		PingTimeout:     time.Minute,
		WriteQueueSize:  1 << 14,
		WriteQueueBytes: 64 << 20,
	})
	c, s := e.openWSWith(t, e.dialer)
	const n = 4000
	pad := strings.Repeat("p", 8000)
	for i := range n {
		if err := s.Send(engineio.NewTextMessage([]byte("f" + strconv.Itoa(i) + " " + pad))); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			time.Sleep(10 * time.Millisecond) // let writers write and find the socket full
		}
	}
	waitUntil(t, "a write the socket did not take at once", func() bool {
		return e.srv.Stats().BlockingWriters > 0
	})
	if err := readSeq(c, "f", n); err != nil {
		t.Fatal(err)
	}
	// Back in the pool: later frames are written by it again, also after
	// the blocking writer's deadline would have passed.
	time.Sleep(4200 * time.Millisecond)
	before := e.srv.Stats()
	for i := range 10 {
		if err := s.Send(engineio.NewTextMessage([]byte("g" + strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
		expectWS(t, c, "4g"+strconv.Itoa(i))
	}
	if st := e.srv.Stats(); st.BlockingWriters != before.BlockingWriters {
		t.Errorf("BlockingWriters went from %d to %d for frames a reading client takes at once", before.BlockingWriters, st.BlockingWriters)
	}
}
