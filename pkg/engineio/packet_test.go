package engineio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		polling bool
		want    packet
		wantErr bool
	}{
		{name: "message", in: "4hello", want: packet{typ: typeMessage, data: []byte("hello")}},
		{name: "empty message", in: "4", want: packet{typ: typeMessage, data: []byte{}}},
		{name: "utf-8 message", in: "4h€llo", want: packet{typ: typeMessage, data: []byte("h€llo")}},
		{name: "close", in: "1", want: packet{typ: typeClose, data: []byte{}}},
		{name: "ping", in: "2", want: packet{typ: typePing, data: []byte{}}},
		{name: "ping probe", in: "2probe", want: packet{typ: typePing, data: []byte("probe")}},
		{name: "pong", in: "3", want: packet{typ: typePong, data: []byte{}}},
		{name: "upgrade", in: "5", want: packet{typ: typeUpgrade, data: []byte{}}},
		{name: "noop", in: "6", want: packet{typ: typeNoop, data: []byte{}}},
		{name: "message in polling", in: "4hello", polling: true, want: packet{typ: typeMessage, data: []byte("hello")}},
		{name: "base64 binary", in: "bAQIDBA==", polling: true, want: packet{typ: typeMessage, binary: true, data: []byte{1, 2, 3, 4}}},
		{name: "empty binary", in: "b", polling: true, want: packet{typ: typeMessage, binary: true, data: []byte{}}},
		{name: "empty", in: "", wantErr: true},
		{name: "empty in polling", in: "", polling: true, wantErr: true},
		{name: "open from client", in: "0{}", wantErr: true},
		{name: "unknown type", in: "9", wantErr: true},
		{name: "garbage", in: "abc", wantErr: true},
		{name: "base64 on websocket", in: "bAQIDBA==", wantErr: true},
		{name: "bad base64", in: "b!!!!", polling: true, wantErr: true},
		{name: "truncated base64", in: "bAQI", polling: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeText([]byte(tt.in), tt.polling)
			if tt.wantErr {
				if !errors.Is(err, errParse) {
					t.Fatalf("decodeText(%q) = %+v, %v; want errParse", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeText(%q): %v", tt.in, err)
			}
			if !packetEqual(got, tt.want) {
				t.Errorf("decodeText(%q) = %s, want %s", tt.in, fmtPacket(got), fmtPacket(tt.want))
			}
		})
	}
}

func TestDecodePayload(t *testing.T) {
	msg := func(s string) packet { return packet{typ: typeMessage, data: []byte(s)} }
	tests := []struct {
		name    string
		in      string
		want    []packet
		wantErr bool
	}{
		{name: "one", in: "4hello", want: []packet{msg("hello")}},
		{name: "several", in: "4test1\x1e4test2\x1e4test3", want: []packet{msg("test1"), msg("test2"), msg("test3")}},
		{name: "text and binary", in: "4hello\x1ebAQIDBA==", want: []packet{msg("hello"), {typ: typeMessage, binary: true, data: []byte{1, 2, 3, 4}}}},
		{name: "control", in: "3\x1e1", want: []packet{{typ: typePong, data: []byte{}}, {typ: typeClose, data: []byte{}}}},
		{name: "empty messages", in: "4\x1e4", want: []packet{msg(""), msg("")}},
		{name: "empty body", in: "", wantErr: true},
		{name: "only separator", in: "\x1e", wantErr: true},
		{name: "trailing separator", in: "4a\x1e", wantErr: true},
		{name: "leading separator", in: "\x1e4a", wantErr: true},
		{name: "bad packet after good", in: "4a\x1eabc", wantErr: true},
		{name: "bad base64 after good", in: "4a\x1eb%%", wantErr: true},
		{name: "garbage", in: "abc", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayload([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, errParse) {
					t.Fatalf("decodePayload(%q) = %d packets, %v; want errParse", tt.in, len(got), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodePayload(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("decodePayload(%q) = %d packets, want %d", tt.in, len(got), len(tt.want))
			}
			for i := range got {
				if !packetEqual(got[i], tt.want[i]) {
					t.Errorf("packet %d = %s, want %s", i, fmtPacket(got[i]), fmtPacket(tt.want[i]))
				}
			}
		})
	}
}

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		msgs   []*Message
		want   string
	}{
		{name: "none", msgs: nil, want: ""},
		{name: "one", msgs: []*Message{NewTextMessage([]byte("hello"))}, want: "4hello"},
		{name: "several", msgs: []*Message{
			NewTextMessage([]byte("test1")), NewTextMessage([]byte("test2")), NewTextMessage([]byte("test3")),
		}, want: "4test1\x1e4test2\x1e4test3"},
		{name: "binary as base64", msgs: []*Message{
			NewTextMessage([]byte("hello")), NewBinaryMessage([]byte{1, 2, 3, 4}),
		}, want: "4hello\x1ebAQIDBA=="},
		{name: "empty binary", msgs: []*Message{NewBinaryMessage(nil)}, want: "b"},
		{name: "control packets", msgs: []*Message{msgPing, msgNoop, msgClose, msgPongProbe}, want: "2\x1e6\x1e1\x1e3probe"},
		{name: "appends to prefix", prefix: "xyz", msgs: []*Message{msgNoop}, want: "xyz6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendPayload([]byte(tt.prefix), tt.msgs)
			if string(got) != tt.want {
				t.Errorf("appendPayload = %q, want %q", got, tt.want)
			}
		})
	}
}

// parseFrame decodes one unmasked server frame, independently of
// appendFrameHeader, and checks it is the whole of b.
func parseFrame(t *testing.T, b []byte) (fin bool, opcode byte, payload []byte, headerLen int) {
	t.Helper()
	if len(b) < 2 {
		t.Fatalf("frame too short: %d bytes", len(b))
	}
	fin = b[0]&0x80 != 0
	if rsv := b[0] & 0x70; rsv != 0 {
		t.Fatalf("RSV bits set: %#x", rsv)
	}
	opcode = b[0] & 0x0f
	if b[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := uint64(b[1] & 0x7f)
	headerLen = 2
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(b[2:4]))
		headerLen = 4
		if n < 126 {
			t.Fatalf("16-bit length %d is not minimal", n)
		}
	case 127:
		n = binary.BigEndian.Uint64(b[2:10])
		headerLen = 10
		if n <= 0xffff {
			t.Fatalf("64-bit length %d is not minimal", n)
		}
	}
	if uint64(len(b)-headerLen) != n {
		t.Fatalf("frame is %d bytes, header %d + length %d", len(b), headerLen, n)
	}
	return fin, opcode, b[headerLen:], headerLen
}

func TestMessageFrame(t *testing.T) {
	// Sizes are of the frame payload: for a text message, one type byte and
	// the data.
	tests := []struct {
		size       int
		binary     bool
		wantHeader int
	}{
		{size: 0, binary: true, wantHeader: 2},
		{size: 1, wantHeader: 2},
		{size: 125, wantHeader: 2},
		{size: 125, binary: true, wantHeader: 2},
		{size: 126, wantHeader: 4},
		{size: 126, binary: true, wantHeader: 4},
		{size: 65535, wantHeader: 4},
		{size: 65535, binary: true, wantHeader: 4},
		{size: 65536, wantHeader: 10},
		{size: 65536, binary: true, wantHeader: 10},
		{size: 1 << 20, binary: true, wantHeader: 10},
	}
	for _, tt := range tests {
		kind := "text"
		if tt.binary {
			kind = "binary"
		}
		t.Run(fmt.Sprintf("%s/%d", kind, tt.size), func(t *testing.T) {
			var m *Message
			var want []byte
			if tt.binary {
				data := bytes.Repeat([]byte{0xfe}, tt.size)
				m, want = NewBinaryMessage(data), data
			} else {
				data := bytes.Repeat([]byte{'x'}, tt.size-1)
				m, want = NewTextMessage(data), append([]byte{'4'}, data...)
			}
			fin, op, payload, hl := parseFrame(t, m.frame())
			if !fin {
				t.Error("FIN not set")
			}
			wantOp := byte(opText)
			if tt.binary {
				wantOp = opBinary
			}
			if op != wantOp {
				t.Errorf("opcode = %d, want %d", op, wantOp)
			}
			if hl != tt.wantHeader {
				t.Errorf("header length = %d, want %d", hl, tt.wantHeader)
			}
			if !bytes.Equal(payload, want) {
				t.Errorf("payload differs (%d bytes, want %d)", len(payload), len(want))
			}
		})
	}
}

func TestControlFrames(t *testing.T) {
	tests := []struct {
		m    *Message
		want string
	}{
		{msgPing, "\x81\x012"},
		{msgPong, "\x81\x013"},
		{msgNoop, "\x81\x016"},
		{msgClose, "\x81\x011"},
		{msgPongProbe, "\x81\x063probe"},
	}
	for _, tt := range tests {
		if got := string(tt.m.frame()); got != tt.want {
			t.Errorf("frame = %q, want %q", got, tt.want)
		}
	}
	if _, op, payload, _ := parseFrame(t, closeFrame); op != opClose || binary.BigEndian.Uint16(payload) != 1000 {
		t.Errorf("closeFrame = %x, want a close frame with status 1000", closeFrame)
	}
}

// A Message is shared by many sessions: its encodings are built once, and
// concurrent first uses are safe.
func TestMessageEncodedOnce(t *testing.T) {
	m := NewBinaryMessage([]byte{1, 2, 3})
	var wg sync.WaitGroup
	frames := make([][]byte, 16)
	polls := make([][]byte, 16)
	for i := range frames {
		wg.Go(func() {
			frames[i] = m.frame()
			polls[i] = m.pollBytes()
		})
	}
	wg.Wait()
	for i := range frames {
		if &frames[i][0] != &frames[0][0] || &polls[i][0] != &polls[0][0] {
			t.Fatal("message encoded more than once")
		}
	}
	if string(polls[0]) != "bAQID" {
		t.Errorf("pollBytes = %q, want %q", polls[0], "bAQID")
	}
	if m.Len() != 3 {
		t.Errorf("Len = %d, want 3", m.Len())
	}
}

func packetEqual(a, b packet) bool {
	return a.typ == b.typ && a.binary == b.binary && bytes.Equal(a.data, b.data)
}

func fmtPacket(p packet) string {
	return fmt.Sprintf("{typ %q binary %v data %q}", p.typ, p.binary, p.data)
}
