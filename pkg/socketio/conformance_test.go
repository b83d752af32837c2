package socketio_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// The behaviours the official socket.io-protocol test suite checks, against
// the same server (see conformance), over raw WebSocket frames.

const (
	ph0 = `{"_placeholder":true,"num":0}`
	ph1 = `{"_placeholder":true,"num":1}`
)

func TestConformanceConnect(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	tests := []struct {
		name, ns, auth, wantAuth string
	}{
		{"main namespace", "/", "", `42["auth",{}]`},
		{"main namespace with a payload", "/", `{"token":"123"}`, `42["auth",{"token":"123"}]`},
		{"custom namespace", "/custom", "", `42/custom,["auth",{}]`},
		{"custom namespace with a payload", "/custom", `{"token":"abc"}`, `42/custom,["auth",{"token":"abc"}]`},
		{"unicode payload", "/", `{"name":"😀 漢字"}`, `42["auth",{"name":"😀 漢字"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			c.connect(tt.ns, tt.auth) // checks 40[/custom,]{"sid":<string>}
			c.expect(tt.wantAuth)
		})
	}
}

func TestConformanceHandshake(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	c := ts.dial(t)
	if got := c.open["pingInterval"]; got != float64(300) {
		t.Errorf("pingInterval %v", got)
	}
	if got := c.open["pingTimeout"]; got != float64(200) {
		t.Errorf("pingTimeout %v", got)
	}
	if got := c.open["maxPayload"]; got != float64(1e6) {
		t.Errorf("maxPayload %v", got)
	}
}

func TestConformanceUnknownNamespace(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	c := ts.dial(t)
	c.send("40/random")
	c.expect(`44/random,{"message":"Invalid namespace"}`)
	// The connection is still usable.
	c.connect("/", "")
	c.expect(`42["auth",{}]`)
}

// Invalid packets close the connection, before or after CONNECT. The client
// answers pings, so only the parse error can close it that fast.
func TestConformanceInvalidFormatCloses(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	tests := []struct {
		name    string
		connect bool
		send    []string // "b:" prefix: a binary frame
	}{
		{"invalid handshake", false, []string{"4abc"}},
		{"event before connect", false, []string{`42{}`}},
		{"unknown packet type", true, []string{"4abc"}},
		{"invalid payload format", true, []string{"42{}"}},
		{"invalid ack id", true, []string{`42abc["message-with-ack",1,"2",{"3":[false]}]`}},
		{"reserved event name", true, []string{`42["disconnect"]`}},
		{"disconnect with payload", true, []string{`41{}`}},
		{"ack without id", true, []string{`43["x"]`}},
		{"bad attachment count", true, []string{`45-["message",` + ph0 + `]`}},
		{"text while attachments are due", true, []string{`452-["message",` + ph0 + `,` + ph1 + `]`, "b:\x01", `42["message"]`}},
		{"binary without packet", true, []string{"b:\x01\x02"}},
		{"placeholder out of range", true, []string{`451-["message",` + ph1 + `]`, "b:\x01"}},
		{"binary ack placeholder out of range", true, []string{`461-5[` + ph1 + `]`, "b:\x01"}},
		{"client sends CONNECT_ERROR", true, []string{`44{"message":"x"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			if tt.connect {
				c.connect("/", "")
				c.expect(`42["auth",{}]`)
			}
			for _, m := range tt.send {
				if b, ok := strings.CutPrefix(m, "b:"); ok {
					c.sendBinary([]byte(b))
				} else {
					c.send(m)
				}
			}
			if d := c.expectClose(); d >= connectTimeout {
				t.Errorf("closed after %v", d)
			}
		})
	}
}

// The suite's client sends "41" and waits for the WebSocket to close. It
// never answers pings: the heartbeat closes the connection, as with the
// reference server (whose connect timeout, like ours, is disarmed once a
// namespace was joined).
func TestConformanceDisconnectMainNamespace(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	c := ts.dialWith(t, false, "")
	c.connect("/", "")
	c.expect(`42["auth",{}]`)
	c.send("41")
	c.expectClose()
}

func TestConformanceDisconnectCustomNamespace(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	c := ts.dial(t)
	c.connect("/", "")
	c.expect(`42["auth",{}]`)
	c.connect("/custom", "")
	c.expect(`42/custom,["auth",{}]`)
	c.send("41/custom")
	c.send(`42["message","message to main namespace"]`)
	c.expect(`42["message-back","message to main namespace"]`)
	// Events to the namespace left are ignored.
	c.send(`42/custom,["message","ignored"]`)
	c.send(`42["message","still here"]`)
	c.expect(`42["message-back","still here"]`)
}

func TestConformanceMessage(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	big := strings.Repeat("é", 200_000) // 400 KB of UTF-8
	tests := []struct {
		name      string
		send      string
		sendBin   [][]byte
		want      string
		wantBin   [][]byte
		namespace string
	}{
		{name: "plain text", send: `42["message",1,"2",{"3":[true]}]`, want: `42["message-back",1,"2",{"3":[true]}]`},
		{name: "binary attachments",
			send:    `452-["message",` + ph0 + `,` + ph1 + `]`,
			sendBin: [][]byte{{1, 2, 3}, {4, 5, 6}},
			want:    `452-["message-back",` + ph0 + `,` + ph1 + `]`,
			wantBin: [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{name: "plain text with an ack", send: `42456["message-with-ack",1,"2",{"3":[false]}]`, want: `43456[1,"2",{"3":[false]}]`},
		{name: "binary attachments with an ack",
			send:    `452-789["message-with-ack",` + ph0 + `,` + ph1 + `]`,
			sendBin: [][]byte{{1, 2, 3}, {4, 5, 6}},
			want:    `462-789[` + ph0 + `,` + ph1 + `]`,
			wantBin: [][]byte{{1, 2, 3}, {4, 5, 6}}},
		{name: "nested placeholder, empty attachment",
			send:    `451-["message",{"file":[` + ph0 + `]}]`,
			sendBin: [][]byte{{}},
			want:    `451-["message-back",{"file":[` + ph0 + `]}]`,
			wantBin: [][]byte{{}}},
		{name: "emoji and CJK", send: `42["message","😀🎉","漢字かな"]`, want: `42["message-back","😀🎉","漢字かな"]`},
		{name: "escaped unicode", send: `42["message","\ud83d\ude00\u6f22"]`, want: `42["message-back","\ud83d\ude00\u6f22"]`},
		{name: "large", send: `42["message","` + big + `"]`, want: `42["message-back","` + big + `"]`},
		{name: "no arguments", send: `42["message"]`, want: `42["message-back"]`},
		{name: "custom namespace", namespace: "/custom", send: `42/custom,["message",{"a":1}]`, want: `42/custom,["message-back",{"a":1}]`},
		{name: "custom namespace ack", namespace: "/custom", send: `42/custom,3["message-with-ack","x"]`, want: `43/custom,3["x"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dial(t)
			ns := tt.namespace
			if ns == "" {
				ns = "/"
			}
			c.connect(ns, "")
			c.expect(`42` + nsPrefix(ns) + `["auth",{}]`)
			c.send(tt.send)
			for _, b := range tt.sendBin {
				c.sendBinary(b)
			}
			c.expect(tt.want)
			for _, b := range tt.wantBin {
				c.expectBinary(b)
			}
		})
	}
}

// A connection that never joins a namespace is closed after ConnectTimeout,
// even though it answers pings.
func TestConformanceConnectTimeout(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	c := ts.dial(t)
	d := c.expectClose()
	if d < connectTimeout-100*time.Millisecond {
		t.Errorf("closed after %v, before the connect timeout %v", d, connectTimeout)
	}
}

// The same exchanges over HTTP long-polling.
func TestConformancePolling(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, conformance)
	p := ts.poll(t)
	p.post(`40{"token":"123"}`)
	got := strings.Split(p.get(), "\x1e")
	if len(got) != 2 || !strings.HasPrefix(got[0], `40{"sid":"`) || got[1] != `42["auth",{"token":"123"}]` {
		t.Fatalf("after CONNECT: %q", got)
	}
	p.post(`452-789["message-with-ack",`+ph0+`,`+ph1+`]`, "bAQID", "bBAUG")
	if got, want := p.get(), `462-789[`+ph0+`,`+ph1+`]`+"\x1ebAQID\x1ebBAUG"; got != want {
		t.Fatalf("binary ack: %q, want %q", got, want)
	}
	p.post(`42["message","😀"]`, `40/custom,`)
	got = strings.Split(p.get(), "\x1e")
	if len(got) != 3 || got[0] != `42["message-back","😀"]` || !strings.HasPrefix(got[1], `40/custom,{"sid":"`) || got[2] != `42/custom,["auth",{}]` {
		t.Fatalf("message then custom namespace: %q", got)
	}
}
