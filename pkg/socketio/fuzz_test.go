package socketio

import (
	"bytes"
	"testing"
)

// fuzzSeparator splits a fuzz input into Engine.IO messages; a message
// starting with 'b' is binary (the rest of it), any other is text. No text
// packet starts with 'b', as in Engine.IO's own polling payloads.
const fuzzSeparator = '\x1e'

func splitFuzzInput(in []byte) []msg {
	var out []msg
	for _, part := range bytes.Split(in, []byte{fuzzSeparator}) {
		if len(part) > 0 && part[0] == 'b' {
			out = append(out, msg{binary: true, data: part[1:]})
		} else {
			out = append(out, msg{data: part})
		}
	}
	return out
}

// FuzzDecoder feeds a sequence of messages to one Decoder: it must never
// panic, and every packet it returns must re-encode to messages that decode
// to the same packet.
func FuzzDecoder(f *testing.F) {
	for _, seed := range []string{
		"0",
		`0{"token":"123"}`,
		"0/custom,",
		`0/custom,{"token":"abc"}`,
		"1\x1e1/custom,",
		`2["message",1,"2",{"3":[true]}]`,
		`2456["message-with-ack",1,"2",{"3":[false]}]`,
		`3/custom,456[1,"2",{"3":[false]}]`,
		`4{"message":"Invalid namespace"}`,
		`4/admin,"refused"`,
		"52-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\x1eb\x01\x02\x03\x1eb\x04\x05\x06",
		"62-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]\x1eb\x01\x1eb\x02",
		"51-/custom,7[\"e\",{\"a\":[{\"_placeholder\":true,\"num\":0}]}]\x1eb",
		`50-["e"]`,
		`2["😀","漢字","\ud83d\ude00"]`,
		// malformed
		"abc", "7", "2{}", `2abc["x"]`, `2["connect"]`, "1{}", `3["x"]`,
		`5-["x"]`, "5x-", "51-[\"x\",{\"_placeholder\":true,\"num\":1}]\x1eb\x00",
		"51-[\"x\",{\"_placeholder\":true,\"num\":0}]\x1e2[\"y\"]", "b\x01\x02",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		for _, m := range splitFuzzInput(in) {
			p, err := m.decode(&d)
			if err != nil || p == nil {
				continue // the Decoder keeps going; a connection would close
			}
			again, err := decodeAll(encodeMsgs(p))
			if err != nil {
				t.Fatalf("%+v re-encodes to %q, which does not decode: %v", p, p.AppendText(nil), err)
			}
			if len(again) != 1 {
				t.Fatalf("%+v re-encodes to %d packets", p, len(again))
			}
			if err := samePacket(again[0], p); err != nil {
				t.Fatalf("%+v re-encodes to %q: %v", p, p.AppendText(nil), err)
			}
		}
	})
}
