package socketio

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// Encoded is a packet encoded once, ready to be queued on any number of
// connections: its Engine.IO messages (the text packet, then one binary
// message per attachment) are shared and framed once per transport.
type Encoded struct {
	msgs []*engineio.Message
}

// NewEncoded encodes p. p's attachments are referenced, not copied.
func NewEncoded(p *Packet) *Encoded {
	if len(p.Attachments) > 0 {
		switch p.Type {
		case PacketEvent:
			p.Type = PacketBinaryEvent
		case PacketAck:
			p.Type = PacketBinaryAck
		}
	}
	msgs := make([]*engineio.Message, 0, 1+len(p.Attachments))
	msgs = append(msgs, engineio.NewTextMessage(p.AppendText(nil)))
	for _, a := range p.Attachments {
		msgs = append(msgs, engineio.NewBinaryMessage(a))
	}
	return &Encoded{msgs: msgs}
}

// NewEncodedText wraps an already encoded Socket.IO text packet (as
// AppendText writes it) and its attachments. Neither is copied.
func NewEncodedText(text []byte, attachments [][]byte) *Encoded {
	msgs := make([]*engineio.Message, 0, 1+len(attachments))
	msgs = append(msgs, engineio.NewTextMessage(text))
	for _, a := range attachments {
		msgs = append(msgs, engineio.NewBinaryMessage(a))
	}
	return &Encoded{msgs: msgs}
}

// ParseText decodes one Socket.IO text packet, validating it as a packet
// received from a client would be. Attachments are not part of it.
func ParseText(text []byte) (*Packet, int, error) {
	p, n, err := decodeHeader(text)
	if err != nil {
		return nil, 0, err
	}
	return &p, n, nil
}

// Text returns the Socket.IO text packet (without Engine.IO's "4").
func (e *Encoded) Text() []byte {
	// The engine message holds exactly the Socket.IO text.
	return engineio.MessageData(e.msgs[0])
}

// EncodeEvent encodes an EVENT for namespace ns without ack id.
func EncodeEvent(ns, event string, args ...any) (*Encoded, error) {
	return encodeEvent(ns, 0, false, event, args)
}

// EncodeEventWithID encodes an EVENT that asks for an ack with that id.
func EncodeEventWithID(ns string, id int64, event string, args ...any) (*Encoded, error) {
	return encodeEvent(ns, id, true, event, args)
}

func encodeEvent(ns string, id int64, hasID bool, event string, args []any) (*Encoded, error) {
	if event == "" {
		return nil, fmt.Errorf("socketio: empty event name")
	}
	data, att, err := MarshalArgs(append([]any{event}, args...))
	if err != nil {
		return nil, fmt.Errorf("socketio: encode event %q: %w", event, err)
	}
	return NewEncoded(&Packet{Type: PacketEvent, Namespace: ns, ID: id, HasID: hasID, Data: data, Attachments: att}), nil
}

// EncodeRawEvent encodes an EVENT from an event name and a JSON array of
// arguments whose binary parts are placeholders for attachments.
func EncodeRawEvent(ns string, id int64, hasID bool, event string, args []byte, attachments [][]byte) (*Encoded, error) {
	data, err := JoinEvent(event, args)
	if err != nil {
		return nil, err
	}
	return NewEncoded(&Packet{Type: PacketEvent, Namespace: ns, ID: id, HasID: hasID, Data: data, Attachments: attachments}), nil
}

// EncodeAck encodes an ACK with a JSON array of arguments.
func EncodeAck(ns string, id int64, args []byte, attachments [][]byte) *Encoded {
	if len(args) == 0 {
		args = []byte("[]")
	}
	return NewEncoded(&Packet{Type: PacketAck, Namespace: ns, ID: id, HasID: true, Data: args, Attachments: attachments})
}

// placeholder is Socket.IO's stand-in for a binary attachment.
type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         int  `json:"num"`
}

// MarshalArgs encodes values as a JSON array. []byte values, at the top
// level or inside []any and map[string]any, become binary attachments
// referenced by placeholders.
func MarshalArgs(args []any) ([]byte, [][]byte, error) {
	var att [][]byte
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case []byte:
			att = append(att, x)
			return placeholder{true, len(att) - 1}
		case json.RawMessage:
			return x
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = walk(e)
			}
			return out
		case map[string]any:
			// Keys in order, so that attachments are numbered the same way
			// every time.
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out := make(map[string]any, len(x))
			for _, k := range keys {
				out[k] = walk(x[k])
			}
			return out
		}
		return v
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = walk(a)
	}
	b, err := json.Marshal(vals)
	return b, att, err
}

// checkPlaceholders verifies that every placeholder in a JSON value names an
// attachment that exists, as the reference parser does.
func checkPlaceholders(data []byte, n int) error {
	_, err := Placeholders(data, n)
	return err
}

// PlaceholderError is a placeholder that names no attachment. It is an
// ErrMalformed error.
type PlaceholderError struct {
	Num         any // the "num" found, a number or anything else
	Attachments int // how many attachments there are
}

func (e *PlaceholderError) Error() string {
	return fmt.Sprintf("%v: placeholder %v does not name one of the %d attachments", ErrMalformed, e.Num, e.Attachments)
}

// Unwrap makes a PlaceholderError an ErrMalformed.
func (e *PlaceholderError) Unwrap() error { return ErrMalformed }

// Placeholders finds Socket.IO's {"_placeholder":true,"num":N} objects in a
// JSON value and reports which of n attachments they reference. A
// placeholder that names no attachment is an ErrMalformed error.
func Placeholders(data []byte, n int) ([]bool, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	used := make([]bool, n)
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			if p, ok := x["_placeholder"].(bool); ok && p {
				num, ok := x["num"].(float64)
				if !ok || num < 0 || num >= float64(n) || num != math.Trunc(num) {
					return &PlaceholderError{Num: x["num"], Attachments: n}
				}
				used[int(num)] = true
				return nil
			}
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return used, walk(v)
}
