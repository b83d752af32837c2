package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is the type of a Socket.IO v5 packet.
type PacketType byte

// Socket.IO v5 packet types.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

func (t PacketType) String() string {
	switch t {
	case PacketConnect:
		return "CONNECT"
	case PacketDisconnect:
		return "DISCONNECT"
	case PacketEvent:
		return "EVENT"
	case PacketAck:
		return "ACK"
	case PacketConnectError:
		return "CONNECT_ERROR"
	case PacketBinaryEvent:
		return "BINARY_EVENT"
	case PacketBinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// Packet is a decoded Socket.IO packet. Binary attachments stay out of Data:
// Data keeps Socket.IO's {"_placeholder":true,"num":N} objects and
// Attachments holds the parts, in order.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when absent on the wire
	ID          int64  // ack id; meaningful when HasID
	HasID       bool
	Data        []byte // raw JSON payload, nil when absent
	Attachments [][]byte
}

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("socketio: malformed packet")

// MaxAttachments bounds the binary attachments of one packet.
const MaxAttachments = 1000

// reservedEvents are event names a client may not emit: they are the
// library's own.
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// IsReservedEvent reports whether name is reserved by Socket.IO.
func IsReservedEvent(name string) bool { return reservedEvents[name] }

// AppendText appends the text encoding of p (without attachments; their
// count is written when the type is binary).
func (p *Packet) AppendText(b []byte) []byte {
	b = append(b, byte('0'+p.Type))
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		b = strconv.AppendInt(b, int64(len(p.Attachments)), 10)
		b = append(b, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		b = append(b, p.Namespace...)
		b = append(b, ',')
	}
	if p.HasID {
		b = strconv.AppendInt(b, p.ID, 10)
	}
	return append(b, p.Data...)
}

// decodeHeader decodes a text packet; for binary types, the attachments
// count is returned and Attachments is left to fill.
func decodeHeader(b []byte) (Packet, int, error) {
	var p Packet
	if len(b) == 0 {
		return p, 0, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if b[0] < '0' || b[0] > '6' {
		return p, 0, fmt.Errorf("%w: unknown packet type %q", ErrMalformed, b[0])
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	n := 0
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == i || j >= len(b) || b[j] != '-' || j-i > 4 {
			return p, 0, fmt.Errorf("%w: bad attachments count", ErrMalformed)
		}
		n, _ = strconv.Atoi(string(b[i:j]))
		if n > MaxAttachments {
			return p, 0, fmt.Errorf("%w: %d attachments, at most %d", ErrMalformed, n, MaxAttachments)
		}
		i = j + 1
	}
	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.Namespace = string(b[i:])
			i = len(b)
		} else {
			p.Namespace = string(b[i : i+j])
			i += j + 1
		}
	}
	j := i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	if j > i {
		if j-i > 15 {
			return p, 0, fmt.Errorf("%w: ack id too long", ErrMalformed)
		}
		p.ID, _ = strconv.ParseInt(string(b[i:j]), 10, 64)
		p.HasID = true
		i = j
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	if err := validate(&p); err != nil {
		return p, 0, err
	}
	return p, n, nil
}

// validate checks the payload of p against its type, as the reference
// parser does.
func validate(p *Packet) error {
	if p.Data != nil && !json.Valid(p.Data) {
		return fmt.Errorf("%w: invalid JSON payload", ErrMalformed)
	}
	first := firstByte(p.Data)
	switch p.Type {
	case PacketConnect:
		if p.Data != nil && first != '{' && !bytes.Equal(bytes.TrimSpace(p.Data), []byte("null")) {
			return fmt.Errorf("%w: CONNECT payload must be an object", ErrMalformed)
		}
	case PacketDisconnect:
		if p.Data != nil {
			return fmt.Errorf("%w: DISCONNECT has no payload", ErrMalformed)
		}
	case PacketEvent, PacketBinaryEvent:
		if first != '[' {
			return fmt.Errorf("%w: EVENT payload must be an array", ErrMalformed)
		}
		name, ok, err := eventName(p.Data)
		if err != nil || !ok {
			return fmt.Errorf("%w: EVENT needs an event name", ErrMalformed)
		}
		if reservedEvents[name] {
			return fmt.Errorf("%w: reserved event name %q", ErrMalformed, name)
		}
	case PacketAck, PacketBinaryAck:
		if first != '[' {
			return fmt.Errorf("%w: ACK payload must be an array", ErrMalformed)
		}
		if !p.HasID {
			return fmt.Errorf("%w: ACK without id", ErrMalformed)
		}
	case PacketConnectError:
		if first != '{' && first != '"' {
			return fmt.Errorf("%w: CONNECT_ERROR payload must be an object or string", ErrMalformed)
		}
	}
	return nil
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// eventName returns the first element of a JSON array when it is a string
// (or a number, which the reference client allows and stringifies).
func eventName(data []byte) (string, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '['
		return "", false, err
	}
	if !dec.More() {
		return "", false, nil
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false, err
	}
	switch v := tok.(type) {
	case string:
		return v, true, nil
	case json.Number:
		return v.String(), true, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true, nil
	}
	return "", false, nil
}

// SplitEvent splits an EVENT payload `["name", a, b]` into the name and the
// JSON array of the arguments `[a, b]`.
func SplitEvent(data []byte) (string, []byte, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) == 0 {
		return "", nil, fmt.Errorf("%w: EVENT payload", ErrMalformed)
	}
	var name string
	if bytes.Equal(parts[0], []byte("null")) {
		// null would unmarshal into "" without error.
		return "", nil, fmt.Errorf("%w: event name", ErrMalformed)
	}
	if err := json.Unmarshal(parts[0], &name); err != nil {
		var f json.Number
		if err := json.Unmarshal(parts[0], &f); err != nil {
			return "", nil, fmt.Errorf("%w: event name", ErrMalformed)
		}
		name = f.String()
	}
	args := make([]byte, 0, len(data))
	args = append(args, '[')
	for i, a := range parts[1:] {
		if i > 0 {
			args = append(args, ',')
		}
		args = append(args, a...)
	}
	return name, append(args, ']'), nil
}

// JoinEvent builds an EVENT payload from an event name and a JSON array of
// arguments (nil or "[]" for none).
func JoinEvent(name string, args []byte) ([]byte, error) {
	nameJSON, err := json.Marshal(name)
	if err != nil {
		return nil, err
	}
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		args = []byte("[]")
	}
	if args[0] != '[' || args[len(args)-1] != ']' {
		return nil, fmt.Errorf("socketio: arguments must be a JSON array")
	}
	inner := bytes.TrimSpace(args[1 : len(args)-1])
	b := make([]byte, 0, len(nameJSON)+len(inner)+3)
	b = append(b, '[')
	b = append(b, nameJSON...)
	if len(inner) > 0 {
		b = append(b, ',')
		b = append(b, inner...)
	}
	return append(b, ']'), nil
}

// Decoder reassembles packets from the messages of one connection: a
// BINARY_EVENT or BINARY_ACK is followed by its attachments as binary
// messages. It is not safe for concurrent use.
type Decoder struct {
	// MaxBytes bounds one whole packet: its text and all its attachments
	// together. A packet that grows past it is an error before it is
	// complete, so a connection cannot hold more than this in parts of a
	// packet. Zero means no bound.
	MaxBytes int

	pending *Packet
	want    int
	size    int // bytes of the pending packet so far
}

// Pending reports whether a packet waits for attachments.
func (d *Decoder) Pending() bool { return d.pending != nil }

// DecodeText decodes a text message. It returns nil (and no error) when the
// packet waits for binary attachments.
func (d *Decoder) DecodeText(b []byte) (*Packet, error) {
	if d.pending != nil {
		return nil, fmt.Errorf("%w: text message while %d attachments are due", ErrMalformed, d.want-len(d.pending.Attachments))
	}
	p, n, err := decodeHeader(b)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return &p, nil
	}
	// The count is bounded by MaxAttachments; the slice grows with what
	// arrives, not with what the header announces.
	p.Attachments = make([][]byte, 0, min(n, 16))
	d.pending, d.want, d.size = &p, n, len(b)
	return nil, nil
}

// DecodeBinary adds an attachment to the pending packet and returns it once
// complete.
func (d *Decoder) DecodeBinary(b []byte) (*Packet, error) {
	if d.pending == nil {
		return nil, fmt.Errorf("%w: unexpected binary message", ErrMalformed)
	}
	d.size += len(b)
	if d.MaxBytes > 0 && d.size > d.MaxBytes {
		d.pending, d.want, d.size = nil, 0, 0
		return nil, fmt.Errorf("%w: packet with its attachments over %d bytes", ErrMalformed, d.MaxBytes)
	}
	d.pending.Attachments = append(d.pending.Attachments, b)
	if len(d.pending.Attachments) < d.want {
		return nil, nil
	}
	p := d.pending
	d.pending, d.want, d.size = nil, 0, 0
	// Like the reference parser, which reconstructs the packet here: a
	// placeholder must name an attachment that exists, in an EVENT as in an
	// ACK.
	if err := checkPlaceholders(p.Data, len(p.Attachments)); err != nil {
		return nil, err
	}
	return p, nil
}
