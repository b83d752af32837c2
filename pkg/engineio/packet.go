package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
)

// Packet types of the Engine.IO v4 protocol, as they appear on the wire.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// recordSeparator joins packets in a long-polling payload.
const recordSeparator = '\x1e'

var errParse = errors.New("engineio: malformed packet")

// Message is an outbound Engine.IO packet. It is immutable once built and may
// be sent to any number of sessions: the bytes of each transport's framing are
// computed once, on first use, and shared by every session it is sent to.
type Message struct {
	typ    byte   // packet type; typeMessage for application data
	binary bool   // binary message (only with typeMessage)
	data   []byte // payload after the type byte; raw bytes when binary

	wsOnce  sync.Once
	wsFrame []byte // a complete, unmasked server WebSocket frame

	pollOnce sync.Once
	poll     []byte // the packet as it appears in a polling payload
}

// NewTextMessage returns a message packet carrying UTF-8 text. The caller must
// not modify data afterwards.
func NewTextMessage(data []byte) *Message {
	return &Message{typ: typeMessage, data: data}
}

// NewBinaryMessage returns a message packet carrying binary data. The caller
// must not modify data afterwards.
func NewBinaryMessage(data []byte) *Message {
	return &Message{typ: typeMessage, binary: true, data: data}
}

func newControl(typ byte, data string) *Message {
	return &Message{typ: typ, data: []byte(data)}
}

// Shared control packets: built once, framed once.
var (
	msgPing      = newControl(typePing, "")
	msgPong      = newControl(typePong, "")
	msgNoop      = newControl(typeNoop, "")
	msgClose     = newControl(typeClose, "")
	msgPongProbe = newControl(typePong, "probe")
)

// Len is the size of the message payload in bytes.
func (m *Message) Len() int { return len(m.data) }

// frame returns the WebSocket frame for m, building it once.
func (m *Message) frame() []byte {
	m.wsOnce.Do(func() {
		if m.binary {
			m.wsFrame = appendFrameHeader(make([]byte, 0, len(m.data)+10), opBinary, len(m.data))
		} else {
			m.wsFrame = appendFrameHeader(make([]byte, 0, len(m.data)+11), opText, len(m.data)+1)
			m.wsFrame = append(m.wsFrame, m.typ)
		}
		m.wsFrame = append(m.wsFrame, m.data...)
	})
	return m.wsFrame
}

// pollBytes returns m encoded for a long-polling payload, building it once.
func (m *Message) pollBytes() []byte {
	m.pollOnce.Do(func() {
		if m.binary {
			b := make([]byte, 1+base64.StdEncoding.EncodedLen(len(m.data)))
			b[0] = 'b'
			base64.StdEncoding.Encode(b[1:], m.data)
			m.poll = b
			return
		}
		b := make([]byte, 0, 1+len(m.data))
		b = append(b, m.typ)
		m.poll = append(b, m.data...)
	})
	return m.poll
}

// WebSocket opcodes used by the writer.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPong   = 0xa
)

// newRawFrame returns a message whose WebSocket frame is frame as it is: a
// control frame (a pong) that goes through the session's queue like any
// other message. It is never sent over polling.
func newRawFrame(frame []byte) *Message {
	m := &Message{wsFrame: frame}
	m.wsOnce.Do(func() {})
	return m
}

// pongFrame is the pong answering a client's WebSocket ping with data
// (at most 125 bytes: gorilla refuses longer control frames).
func pongFrame(data string) []byte {
	return append(appendFrameHeader(make([]byte, 0, 2+len(data)), opPong, len(data)), data...)
}

// appendFrameHeader appends the header of a final, unmasked (server to client)
// WebSocket frame, RFC 6455 section 5.2. The writer frames messages itself so
// that many queued frames, shared between sessions, go out in one writev.
func appendFrameHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, 0x80|opcode)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return append(b, 127,
			byte(uint64(n)>>56), byte(uint64(n)>>48), byte(uint64(n)>>40), byte(uint64(n)>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// closeFrame is a WebSocket close frame with status 1000 (normal closure).
var closeFrame = []byte{0x80 | opClose, 2, 0x03, 0xe8}

// packet is a decoded inbound Engine.IO packet.
type packet struct {
	typ    byte
	binary bool
	data   []byte
}

// decodeText decodes one text packet, as received in a WebSocket text frame
// or between separators of a polling payload (where "b" marks base64 binary).
func decodeText(b []byte, polling bool) (packet, error) {
	if len(b) == 0 {
		return packet{}, fmt.Errorf("%w: empty packet", errParse)
	}
	if polling && b[0] == 'b' {
		data := make([]byte, base64.StdEncoding.DecodedLen(len(b)-1))
		n, err := base64.StdEncoding.Decode(data, b[1:])
		if err != nil {
			return packet{}, fmt.Errorf("%w: bad base64: %v", errParse, err)
		}
		return packet{typ: typeMessage, binary: true, data: data[:n]}, nil
	}
	switch b[0] {
	case typeClose, typePing, typePong, typeMessage, typeUpgrade, typeNoop:
		return packet{typ: b[0], data: b[1:]}, nil
	default:
		return packet{}, fmt.Errorf("%w: unknown packet type %q", errParse, b[0])
	}
}

// decodePayload splits a long-polling payload into packets.
func decodePayload(body []byte) ([]packet, error) {
	parts := bytes.Split(body, []byte{recordSeparator})
	pkts := make([]packet, 0, len(parts))
	for _, part := range parts {
		p, err := decodeText(part, true)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// appendPayload encodes messages as one long-polling payload.
func appendPayload(b []byte, msgs []*Message) []byte {
	for i, m := range msgs {
		if i > 0 {
			b = append(b, recordSeparator)
		}
		b = append(b, m.pollBytes()...)
	}
	return b
}

// MessageData returns the payload of a message (what NewTextMessage or
// NewBinaryMessage was given). The caller must not modify it.
func MessageData(m *Message) []byte { return m.data }
