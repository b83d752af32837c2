package engineio

import (
	"bytes"
	"testing"
)

// toMessage turns a decoded packet back into what the server would send.
func toMessage(p packet) *Message {
	return &Message{typ: p.typ, binary: p.binary, data: p.data}
}

func FuzzDecodeText(f *testing.F) {
	for _, s := range []string{
		"4hello", "4", "2probe", "3probe", "1", "5", "6", "0{}", "", "abc",
		"bAQIDBA==", "b", "bAQ", "bAR==", "bAQ\nID", "b====", "4\x00\xff", "4h€llo",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, polling bool) {
		p, err := decodeText(in, polling)
		if err != nil {
			return
		}
		m := toMessage(p)
		if !p.binary {
			// A text packet is its own encoding, in both transports.
			if got := m.pollBytes(); !bytes.Equal(got, in) {
				t.Fatalf("pollBytes(decodeText(%q)) = %q", in, got)
			}
			_, op, payload, _ := parseFrame(t, m.frame())
			if op != opText || !bytes.Equal(payload, in) {
				t.Fatalf("frame(decodeText(%q)) = opcode %d payload %q", in, op, payload)
			}
			return
		}
		if !polling {
			t.Fatalf("decodeText(%q, false) returned a binary packet", in)
		}
		// Base64 has several spellings of the same bytes (padding bits, line
		// breaks): the round trip holds on the decoded data.
		p2, err := decodeText(m.pollBytes(), true)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", m.pollBytes(), err)
		}
		if !packetEqual(p, p2) {
			t.Fatalf("round trip of %q: %s != %s", in, fmtPacket(p), fmtPacket(p2))
		}
		_, op, payload, _ := parseFrame(t, m.frame())
		if op != opBinary || !bytes.Equal(payload, p.data) {
			t.Fatalf("binary frame of %q: opcode %d, payload %x", in, op, payload)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		"4hello", "4test1\x1e4test2\x1e4test3", "4hello\x1ebAQIDBA==", "3\x1e1", "4\x1e4",
		"", "\x1e", "4a\x1e", "\x1e4a", "abc", "4a\x1eb%%", "bAQ\r\nID\x1e6",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := decodePayload(body)
		if err != nil {
			return
		}
		if len(pkts) != bytes.Count(body, []byte{recordSeparator})+1 {
			t.Fatalf("decodePayload(%q): %d packets for %d separators", body, len(pkts), bytes.Count(body, []byte{recordSeparator}))
		}
		msgs := make([]*Message, len(pkts))
		hasBinary := false
		for i, p := range pkts {
			msgs[i] = toMessage(p)
			hasBinary = hasBinary || p.binary
		}
		enc := appendPayload(nil, msgs)
		if !hasBinary && !bytes.Equal(enc, body) {
			t.Fatalf("appendPayload(decodePayload(%q)) = %q", body, enc)
		}
		pkts2, err := decodePayload(enc)
		if err != nil {
			t.Fatalf("re-encoded payload %q does not decode: %v", enc, err)
		}
		if len(pkts2) != len(pkts) {
			t.Fatalf("round trip of %q: %d packets, then %d", body, len(pkts), len(pkts2))
		}
		for i := range pkts {
			if !packetEqual(pkts[i], pkts2[i]) {
				t.Fatalf("round trip of %q, packet %d: %s != %s", body, i, fmtPacket(pkts[i]), fmtPacket(pkts2[i]))
			}
		}
	})
}
