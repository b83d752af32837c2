package faults

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

// received is one text message a client received, and when.
type received struct {
	at   time.Time
	text string
}

// wsClient is a Socket.IO client over a raw Engine.IO v4 WebSocket,
// connected to the main namespace. Its reader goroutine answers pings and
// feeds every other text message to msgs until the connection ends.
type wsClient struct {
	sid    string
	ws     *websocket.Conn
	wmu    sync.Mutex // one writer at a time: the test, a producer or the reader's pongs
	msgs   *testfeed.Feed[received]
	closed chan struct{} // the reader ended: the connection is gone
	byTest atomic.Bool   // the test closed it
}

// dialClient opens a WebSocket to the edge at addr, joins "/" and returns
// the client once the edge gave it a sid. It is closed when the test ends.
func dialClient(t *testing.T, addr string) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	ws, res, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		t.Fatalf("WebSocket to %s: %v", addr, err)
	}
	c := &wsClient{ws: ws, msgs: testfeed.New[received](waitTimeout), closed: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	if m := c.msgs.Wait(t, "the open packet", func(received) bool { return true }); !strings.HasPrefix(m.text, "0{") {
		t.Fatalf("open packet %q", clip(m.text))
	}
	c.send(t, "40")
	m := c.msgs.Wait(t, "the answer to CONNECT", func(m received) bool {
		return strings.HasPrefix(m.text, "40") || strings.HasPrefix(m.text, "44")
	})
	var ok struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(m.text, "40{") || json.Unmarshal([]byte(m.text[2:]), &ok) != nil || ok.SID == "" {
		t.Fatalf("CONNECT answered %q", clip(m.text))
	}
	c.sid = ok.SID
	return c
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			c.msgs.End(fmt.Errorf("connection closed: %w", err))
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		if string(b) == "2" {
			_ = c.write("3")
			continue
		}
		c.msgs.Add(received{at: time.Now(), text: string(b)})
	}
}

// write sends a text message.
func (c *wsClient) write(m string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(m))
}

// send writes a text message and fails the test if it cannot.
func (c *wsClient) send(t *testing.T, m string) {
	t.Helper()
	if err := c.write(m); err != nil {
		t.Fatalf("send %q: %v", clip(m), err)
	}
}

// lost reports whether the connection ended before the test closed it.
func (c *wsClient) lost() bool {
	select {
	case <-c.closed:
		return !c.byTest.Load()
	default:
		return false
	}
}

func (c *wsClient) close() {
	c.byTest.Store(true)
	_ = c.ws.Close()
	<-c.closed
}

// receipt is one event carrying a sequence number, as a client received
// it.
type receipt struct {
	seq int
	at  time.Time
}

// parseSeqEvent reads an EVENT packet of the main namespace without an
// ack id, `42["<event>",<n>,...]`, and returns n.
func parseSeqEvent(text, event string) (int, bool) {
	if !strings.HasPrefix(text, "42[") {
		return 0, false
	}
	var args []json.RawMessage
	if json.Unmarshal([]byte(text[2:]), &args) != nil || len(args) < 2 {
		return 0, false
	}
	var name string
	var n float64
	if json.Unmarshal(args[0], &name) != nil || name != event || json.Unmarshal(args[1], &n) != nil {
		return 0, false
	}
	return int(n), true
}

// receipts returns the events named event the client received so far, in
// the order it received them.
func (c *wsClient) receipts(event string) []receipt {
	var out []receipt
	for _, m := range c.msgs.All() {
		if n, ok := parseSeqEvent(m.text, event); ok {
			out = append(out, receipt{seq: n, at: m.at})
		}
	}
	return out
}

// waitAsk waits for the nth (from 1) EVENT packet with an ack id,
// `42<id>["<event>",<arg>]`, whose JSON text contains match, and returns
// its ack id.
func (c *wsClient) waitAsk(t *testing.T, event, match string, nth int) int {
	t.Helper()
	prefix := `["` + event + `"`
	ms := c.msgs.WaitN(t, fmt.Sprintf("event %q number %d with an ack id, matching %q", event, nth, match), nth, func(m received) bool {
		id, rest, ok := ackID(m.text)
		return ok && id >= 0 && strings.HasPrefix(rest, prefix) && strings.Contains(rest, match)
	})
	id, _, _ := ackID(ms[nth-1].text)
	return id
}

// ackID splits `42<id>[...]` into id and the array.
func ackID(text string) (int, string, bool) {
	if !strings.HasPrefix(text, "42") {
		return 0, "", false
	}
	rest := text[2:]
	i := strings.IndexByte(rest, '[')
	if i <= 0 {
		return 0, "", false
	}
	id, err := strconv.Atoi(rest[:i])
	if err != nil {
		return 0, "", false
	}
	return id, rest[i:], true
}
