package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// msg is one Engine.IO message as the Decoder sees it.
type msg struct {
	binary bool
	data   []byte
}

func text(s string) msg    { return msg{data: []byte(s)} }
func bin(b ...byte) msg    { return msg{binary: true, data: b} }
func binData(b []byte) msg { return msg{binary: true, data: b} }
func ph(num int) string    { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, num) }
func pkt(p Packet) *Packet { return &p }

// decode feeds m to d as the WebSocket frame type it came in.
func (m msg) decode(d *Decoder) (*Packet, error) {
	if m.binary {
		return d.DecodeBinary(m.data)
	}
	return d.DecodeText(m.data)
}

func raw(s string) []byte       { return []byte(s) }
func atts(b ...[]byte) [][]byte { return b }

// decodeAll feeds msgs to a fresh Decoder and returns the packets it
// completed, or the first error.
func decodeAll(msgs []msg) ([]*Packet, error) {
	var d Decoder
	var out []*Packet
	for i, m := range msgs {
		p, err := m.decode(&d)
		if err != nil {
			return out, fmt.Errorf("message %d: %w", i, err)
		}
		if p != nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// encodeMsgs is what NewEncoded would put on the wire for p, as Decoder
// input.
func encodeMsgs(p *Packet) []msg {
	out := []msg{text(string(p.AppendText(nil)))}
	for _, a := range p.Attachments {
		out = append(out, binData(a))
	}
	return out
}

func samePacket(a, b *Packet) error {
	switch {
	case a.Type != b.Type:
		return fmt.Errorf("type %v, want %v", a.Type, b.Type)
	case a.Namespace != b.Namespace:
		return fmt.Errorf("namespace %q, want %q", a.Namespace, b.Namespace)
	case a.HasID != b.HasID || a.ID != b.ID:
		return fmt.Errorf("id %d (%v), want %d (%v)", a.ID, a.HasID, b.ID, b.HasID)
	case !bytes.Equal(a.Data, b.Data):
		return fmt.Errorf("data %.200q, want %.200q", a.Data, b.Data)
	case len(a.Attachments) != len(b.Attachments):
		return fmt.Errorf("%d attachments, want %d", len(a.Attachments), len(b.Attachments))
	}
	for i := range a.Attachments {
		if !bytes.Equal(a.Attachments[i], b.Attachments[i]) {
			return fmt.Errorf("attachment %d = %v, want %v", i, a.Attachments[i], b.Attachments[i])
		}
	}
	return nil
}

func TestDecode(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	bigBin := bytes.Repeat([]byte{0xfe, 0x00, 0x1e}, 1<<20/3)
	tests := []struct {
		name  string
		in    []msg
		want  *Packet
		canon string // AppendText of the result when it differs from the input
	}{
		{"connect", []msg{text("0")},
			pkt(Packet{Type: PacketConnect, Namespace: "/"}), ""},
		{"connect with auth", []msg{text(`0{"token":"123"}`)},
			pkt(Packet{Type: PacketConnect, Namespace: "/", Data: raw(`{"token":"123"}`)}), ""},
		{"connect namespace", []msg{text("0/admin,")},
			pkt(Packet{Type: PacketConnect, Namespace: "/admin"}), ""},
		{"connect namespace without comma", []msg{text("0/admin")},
			pkt(Packet{Type: PacketConnect, Namespace: "/admin"}), "0/admin,"},
		{"connect namespace with auth", []msg{text(`0/admin,{"token":"abc"}`)},
			pkt(Packet{Type: PacketConnect, Namespace: "/admin", Data: raw(`{"token":"abc"}`)}), ""},
		{"connect explicit main namespace", []msg{text(`0/,{"a":1}`)},
			pkt(Packet{Type: PacketConnect, Namespace: "/", Data: raw(`{"a":1}`)}), `0{"a":1}`},
		{"disconnect", []msg{text("1")},
			pkt(Packet{Type: PacketDisconnect, Namespace: "/"}), ""},
		{"disconnect namespace", []msg{text("1/admin,")},
			pkt(Packet{Type: PacketDisconnect, Namespace: "/admin"}), ""},
		{"event", []msg{text(`2["hello",1,"2",{"3":[true]}]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["hello",1,"2",{"3":[true]}]`)}), ""},
		{"event namespace", []msg{text(`2/admin,["hello"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/admin", Data: raw(`["hello"]`)}), ""},
		{"event with ack id", []msg{text(`212["hello"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: raw(`["hello"]`)}), ""},
		{"event namespace and ack id", []msg{text(`2/admin,456["hello",{"a":null}]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/admin", ID: 456, HasID: true, Data: raw(`["hello",{"a":null}]`)}), ""},
		{"event ack id 0", []msg{text(`20["x"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", ID: 0, HasID: true, Data: raw(`["x"]`)}), ""},
		{"event numeric name", []msg{text(`2[1,"x"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", Data: raw(`[1,"x"]`)}), ""},
		{"event emoji", []msg{text(`2["emoji","😀🎉👍🏽"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["emoji","😀🎉👍🏽"]`)}), ""},
		{"event CJK", []msg{text(`2["消息","漢字かなカナ한글"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["消息","漢字かなカナ한글"]`)}), ""},
		{"event escaped unicode", []msg{text(`2["esc","\ud83d\ude00\u6f22\u00e9"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["esc","\ud83d\ude00\u6f22\u00e9"]`)}), ""},
		{"event unicode namespace", []msg{text(`2/聊天,["x"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/聊天", Data: raw(`["x"]`)}), ""},
		{"event 1 MB", []msg{text(`2["big","` + big + `"]`)},
			pkt(Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["big","` + big + `"]`)}), ""},
		{"ack", []msg{text(`3456[1,"2",{"3":[false]}]`)},
			pkt(Packet{Type: PacketAck, Namespace: "/", ID: 456, HasID: true, Data: raw(`[1,"2",{"3":[false]}]`)}), ""},
		{"ack namespace empty args", []msg{text(`3/admin,1[]`)},
			pkt(Packet{Type: PacketAck, Namespace: "/admin", ID: 1, HasID: true, Data: raw(`[]`)}), ""},
		{"connect error object", []msg{text(`4{"message":"Invalid namespace"}`)},
			pkt(Packet{Type: PacketConnectError, Namespace: "/", Data: raw(`{"message":"Invalid namespace"}`)}), ""},
		{"connect error namespace string", []msg{text(`4/admin,"refused"`)},
			pkt(Packet{Type: PacketConnectError, Namespace: "/admin", Data: raw(`"refused"`)}), ""},
		{"binary event", []msg{text(`51-["hello",` + ph(0) + `]`), bin(1, 2, 3)},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["hello",` + ph(0) + `]`), Attachments: atts([]byte{1, 2, 3})}), ""},
		{"binary event two attachments, namespace, ack", []msg{
			text(`52-/admin,7["message",` + ph(0) + `,{"nested":[` + ph(1) + `]}]`), bin(1, 2, 3), bin(4, 5, 6)},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/admin", ID: 7, HasID: true,
				Data: raw(`["message",` + ph(0) + `,{"nested":[` + ph(1) + `]}]`), Attachments: atts([]byte{1, 2, 3}, []byte{4, 5, 6})}), ""},
		{"binary event empty attachment", []msg{text(`51-["e",` + ph(0) + `]`), bin()},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["e",` + ph(0) + `]`), Attachments: atts([]byte{})}), ""},
		{"binary event no attachments", []msg{text(`50-["e"]`)},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["e"]`)}), ""},
		{"binary event 1 MB attachment", []msg{text(`51-["big",` + ph(0) + `]`), binData(bigBin)},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["big",` + ph(0) + `]`), Attachments: atts(bigBin)}), ""},
		{"binary ack", []msg{text(`62-789[` + ph(0) + `,` + ph(1) + `]`), bin(1, 2, 3), bin(4, 5, 6)},
			pkt(Packet{Type: PacketBinaryAck, Namespace: "/", ID: 789, HasID: true,
				Data: raw(`[` + ph(0) + `,` + ph(1) + `]`), Attachments: atts([]byte{1, 2, 3}, []byte{4, 5, 6})}), ""},
		{"binary ack namespace", []msg{text(`61-/admin,3[` + ph(0) + `]`), bin(9)},
			pkt(Packet{Type: PacketBinaryAck, Namespace: "/admin", ID: 3, HasID: true,
				Data: raw(`[` + ph(0) + `]`), Attachments: atts([]byte{9})}), ""},
		{"placeholder reused", []msg{text(`51-["e",` + ph(0) + `,` + ph(0) + `]`), bin(7)},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["e",` + ph(0) + `,` + ph(0) + `]`), Attachments: atts([]byte{7})}), ""},
		{"attachment count with leading zero", []msg{text(`501-["e",` + ph(0) + `]`), bin(7)},
			pkt(Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["e",` + ph(0) + `]`), Attachments: atts([]byte{7})}), `51-["e",` + ph(0) + `]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(tt.in)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("decoded %d packets, want 1", len(got))
			}
			if err := samePacket(got[0], tt.want); err != nil {
				t.Fatal(err)
			}
			enc := string(got[0].AppendText(nil))
			want := tt.canon
			if want == "" {
				want = string(tt.in[0].data)
			}
			if enc != want {
				t.Errorf("AppendText = %.200q, want %.200q", enc, want)
			}
			again, err := decodeAll(encodeMsgs(got[0]))
			if err != nil || len(again) != 1 {
				t.Fatalf("decode of the re-encoding: %d packets, %v", len(again), err)
			}
			if err := samePacket(again[0], tt.want); err != nil {
				t.Errorf("round trip: %v", err)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []msg
	}{
		// What the reference parser (socket.io-parser) rejects.
		{"empty", []msg{text("")}},
		{"unknown type 7", []msg{text("7")}},
		{"unknown type 9 with payload", []msg{text(`9["x"]`)}},
		{"unknown type abc", []msg{text("abc")}},
		{"event payload object", []msg{text("2{}")}},
		{"event payload string", []msg{text(`2"x"`)}},
		{"event without payload", []msg{text("2")}},
		{"event empty array", []msg{text("2[]")}},
		{"event name object", []msg{text(`2[{}]`)}},
		{"event name null", []msg{text(`2[null,1]`)}},
		{"event name bool", []msg{text(`2[true]`)}},
		{"event invalid ack id", []msg{text(`2abc["x"]`)}},
		{"event invalid ack id, conformance", []msg{text(`2abc["message-with-ack",1,"2",{"3":[false]}]`)}},
		{"event truncated JSON", []msg{text(`2["x"`)}},
		{"event trailing garbage", []msg{text(`2["x"]]`)}},
		{"reserved connect", []msg{text(`2["connect"]`)}},
		{"reserved connect_error", []msg{text(`2["connect_error"]`)}},
		{"reserved disconnect", []msg{text(`2/admin,["disconnect"]`)}},
		{"reserved disconnecting", []msg{text(`21["disconnecting"]`)}},
		{"reserved newListener", []msg{text(`2["newListener"]`)}},
		{"reserved removeListener", []msg{text(`2["removeListener",1]`)}},
		{"reserved escaped", []msg{text(`2["\u0063onnect"]`)}},
		{"reserved binary event", []msg{text(`51-["disconnect",` + ph(0) + `]`)}},
		{"connect payload array", []msg{text(`0[]`)}},
		{"connect payload string", []msg{text(`0"x"`)}},
		{"connect payload number", []msg{text(`0/admin,"1"`)}},
		{"disconnect with payload", []msg{text(`1{}`)}},
		{"disconnect namespace with payload", []msg{text(`1/admin,["x"]`)}},
		{"ack without id", []msg{text(`3["x"]`)}},
		{"ack payload object", []msg{text(`31{}`)}},
		{"binary ack without id", []msg{text(`61-[` + ph(0) + `]`)}},
		{"connect error array", []msg{text(`4[1]`)}},
		{"connect error number", []msg{text(`4/admin,12`)}},
		{"attachments count missing", []msg{text(`5-["message",` + ph(0) + `]`)}},
		{"attachments count not a number", []msg{text(`5x-["message"]`)}},
		{"attachments count without dash", []msg{text(`51["message",` + ph(0) + `]`)}},
		{"attachments count only", []msg{text(`5`)}},
		{"binary ack count missing", []msg{text(`6-1[` + ph(0) + `]`)}},
		{"text while attachments are due", []msg{text(`52-["m",` + ph(0) + `,` + ph(1) + `]`), bin(1), text(`2["m"]`)}},
		{"binary without pending packet", []msg{bin(1, 2, 3)}},
		{"binary after complete packet", []msg{text(`51-["m",` + ph(0) + `]`), bin(1), bin(2)}},
		{"placeholder num too large", []msg{text(`51-["m",` + ph(1) + `]`), bin(1)}},
		{"placeholder num negative", []msg{text(`51-["m",` + ph(-1) + `]`), bin(1)}},
		{"placeholder num missing", []msg{text(`51-["m",{"_placeholder":true}]`), bin(1)}},
		{"placeholder num string", []msg{text(`51-["m",{"_placeholder":true,"num":"0"}]`), bin(1)}},
		{"placeholder num huge", []msg{text(`51-["m",{"_placeholder":true,"num":1e300}]`), bin(1)}},
		{"placeholder nested out of range", []msg{text(`52-["m",{"a":[` + ph(2) + `]}]`), bin(1), bin(2)}},
		{"placeholder out of range in binary ack", []msg{text(`61-5[` + ph(3) + `]`), bin(1)}},
		// Switchboard's own limits.
		{"ack id too long", []msg{text(`21234567890123456["x"]`)}},
		{"attachments count too long", []msg{text(`512345-["x"]`)}},
		{"too many attachments", []msg{text(fmt.Sprintf(`5%d-["x"]`, MaxAttachments+1))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(tt.in)
			if err == nil {
				t.Fatalf("decoded %d packets without error", len(got))
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// A placeholder in a packet that has no attachments is plain data, as for
// the reference parser, which only reconstructs packets with attachments.
func TestDecodePlaceholderWithoutAttachments(t *testing.T) {
	for _, in := range []string{`2["m",` + ph(3) + `]`, `50-["m",` + ph(0) + `]`} {
		if _, err := decodeAll([]msg{text(in)}); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
}

// After a complete binary packet, the decoder takes text again.
func TestDecoderSequence(t *testing.T) {
	got, err := decodeAll([]msg{
		text(`0`),
		text(`51-["a",` + ph(0) + `]`), bin(1),
		text(`2["b"]`),
		text(`62-3[` + ph(1) + `,` + ph(0) + `]`), bin(2), bin(3),
		text(`1`),
	})
	if err != nil {
		t.Fatal(err)
	}
	var types []PacketType
	for _, p := range got {
		types = append(types, p.Type)
	}
	want := []PacketType{PacketConnect, PacketBinaryEvent, PacketEvent, PacketBinaryAck, PacketDisconnect}
	if fmt.Sprint(types) != fmt.Sprint(want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	if a := got[3].Attachments; len(a) != 2 || a[0][0] != 2 || a[1][0] != 3 {
		t.Errorf("binary ack attachments %v", a)
	}
}

func TestAppendText(t *testing.T) {
	tests := []struct {
		p    Packet
		want string
	}{
		{Packet{Type: PacketConnect, Namespace: "/", Data: raw(`{"sid":"abc"}`)}, `0{"sid":"abc"}`},
		{Packet{Type: PacketConnect, Namespace: "/custom", Data: raw(`{"sid":"abc"}`)}, `0/custom,{"sid":"abc"}`},
		{Packet{Type: PacketConnect}, `0`}, // "" is the main namespace too
		{Packet{Type: PacketDisconnect, Namespace: "/"}, `1`},
		{Packet{Type: PacketDisconnect, Namespace: "/custom"}, `1/custom,`},
		{Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["auth",{}]`)}, `2["auth",{}]`},
		{Packet{Type: PacketEvent, Namespace: "/", ID: 12, HasID: true, Data: raw(`["q"]`)}, `212["q"]`},
		{Packet{Type: PacketEvent, Namespace: "/", ID: 0, HasID: true, Data: raw(`["q"]`)}, `20["q"]`},
		{Packet{Type: PacketAck, Namespace: "/custom", ID: 456, HasID: true, Data: raw(`[1]`)}, `3/custom,456[1]`},
		{Packet{Type: PacketConnectError, Namespace: "/random", Data: raw(`{"message":"Invalid namespace"}`)}, `4/random,{"message":"Invalid namespace"}`},
		{Packet{Type: PacketBinaryEvent, Namespace: "/", Data: raw(`["m",` + ph(0) + `]`), Attachments: atts([]byte{1})}, `51-["m",` + ph(0) + `]`},
		{Packet{Type: PacketBinaryAck, Namespace: "/x", ID: 789, HasID: true, Data: raw(`[` + ph(0) + `,` + ph(1) + `]`), Attachments: atts(nil, nil)}, `62-/x,789[` + ph(0) + `,` + ph(1) + `]`},
		{Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["😀","漢字"]`)}, `2["😀","漢字"]`},
	}
	for _, tt := range tests {
		if got := string(tt.p.AppendText(nil)); got != tt.want {
			t.Errorf("%v: AppendText = %q, want %q", tt.p.Type, got, tt.want)
		}
		if got := string(tt.p.AppendText([]byte("4"))); got != "4"+tt.want {
			t.Errorf("%v: AppendText after a prefix = %q", tt.p.Type, got)
		}
	}
}

func TestNewEncoded(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		text string
		bins [][]byte
	}{
		{"event", Packet{Type: PacketEvent, Namespace: "/", Data: raw(`["a"]`)}, `2["a"]`, nil},
		{"event with attachments becomes binary",
			Packet{Type: PacketEvent, Namespace: "/c", Data: raw(`["a",` + ph(0) + `]`), Attachments: atts([]byte{1, 2})},
			`51-/c,["a",` + ph(0) + `]`, atts([]byte{1, 2})},
		{"ack with attachments becomes binary",
			Packet{Type: PacketAck, Namespace: "/", ID: 4, HasID: true, Data: raw(`[` + ph(0) + `,` + ph(1) + `]`), Attachments: atts([]byte{1}, []byte{2})},
			`62-4[` + ph(0) + `,` + ph(1) + `]`, atts([]byte{1}, []byte{2})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			e := NewEncoded(&p)
			if got := string(e.Text()); got != tt.text {
				t.Errorf("Text = %q, want %q", got, tt.text)
			}
			if len(e.msgs) != 1+len(tt.bins) {
				t.Fatalf("%d messages, want %d", len(e.msgs), 1+len(tt.bins))
			}
			for i, b := range tt.bins {
				if got := engineio.MessageData(e.msgs[1+i]); !bytes.Equal(got, b) {
					t.Errorf("attachment %d = %v, want %v", i, got, b)
				}
			}
		})
	}
}

func TestEncodeEvent(t *testing.T) {
	e, err := EncodeEvent("/", "file", "name", []byte{1, 2}, map[string]any{"n": []byte{3}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Text()), `52-["file","name",`+ph(0)+`,{"n":`+ph(1)+`}]`; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	e, err = EncodeEventWithID("/chat", 9, "q")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Text()), `2/chat,9["q"]`; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if _, err := EncodeEvent("/", ""); err == nil {
		t.Error("empty event name encoded")
	}
	if _, err := EncodeEvent("/", "x", make(chan int)); err == nil {
		t.Error("unencodable argument encoded")
	}
	e, err = EncodeRawEvent("/", 3, true, "message-back", raw(`[1,`+ph(0)+`]`), atts([]byte{5}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(e.Text()), `51-3["message-back",1,`+ph(0)+`]`; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	if got, want := string(EncodeAck("/", 7, nil, nil).Text()), `37[]`; got != want {
		t.Errorf("empty ack = %q, want %q", got, want)
	}
}

func TestMarshalArgs(t *testing.T) {
	type withBytes struct {
		B []byte `json:"b"`
	}
	tests := []struct {
		name string
		args []any
		want string
		atts [][]byte
	}{
		{"none", nil, `[]`, nil},
		{"plain", []any{1, "2", map[string]any{"3": []any{true}}, nil}, `[1,"2",{"3":[true]},null]`, nil},
		{"top-level bytes", []any{[]byte{1, 2, 3}, "x", []byte{4}},
			`[` + ph(0) + `,"x",` + ph(1) + `]`, atts([]byte{1, 2, 3}, []byte{4})},
		{"nested bytes", []any{[]any{"a", []any{[]byte{1}}}, map[string]any{"k": []byte{2}}},
			`[["a",[` + ph(0) + `]],{"k":` + ph(1) + `}]`, atts([]byte{1}, []byte{2})},
		{"empty bytes", []any{[]byte{}}, `[` + ph(0) + `]`, atts([]byte{})},
		{"raw JSON kept as is", []any{json.RawMessage(`{"token":"123"}`)}, `[{"token":"123"}]`, nil},
		{"unicode", []any{"😀", "漢字"}, `["😀","漢字"]`, nil},
		// Only []any and map[string]any are walked: a struct's []byte
		// field is base64, as encoding/json does.
		{"struct bytes stay base64", []any{withBytes{B: []byte{1}}}, `[{"b":"AQ=="}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, got, err := MarshalArgs(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.want {
				t.Errorf("data = %s, want %s", data, tt.want)
			}
			if len(got) != len(tt.atts) {
				t.Fatalf("%d attachments, want %d", len(got), len(tt.atts))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.atts[i]) {
					t.Errorf("attachment %d = %v, want %v", i, got[i], tt.atts[i])
				}
			}
			if len(got) > 0 {
				if err := checkPlaceholders(data, len(got)); err != nil {
					t.Errorf("placeholders: %v", err)
				}
			}
		})
	}
	if _, _, err := MarshalArgs([]any{func() {}}); err == nil {
		t.Error("a func was marshalled")
	}
}

// Several []byte in one map: the numbering follows no particular order, but
// each placeholder names its own bytes.
func TestMarshalArgsMapPlaceholders(t *testing.T) {
	m := map[string]any{}
	for i := range 10 {
		m[fmt.Sprint("k", i)] = []byte{byte(i)}
	}
	data, att, err := MarshalArgs([]any{m})
	if err != nil {
		t.Fatal(err)
	}
	var decoded []map[string]placeholder
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	for k, p := range decoded[0] {
		var i int
		fmt.Sscanf(k, "k%d", &i)
		if !p.Placeholder || p.Num >= len(att) || att[p.Num][0] != byte(i) {
			t.Errorf("%s -> %+v", k, p)
		}
	}
}

func TestSplitEvent(t *testing.T) {
	tests := []struct {
		in, name, args string
	}{
		{`["a"]`, "a", `[]`},
		{`["a",1,"2",{"3":[true]}]`, "a", `[1,"2",{"3":[true]}]`},
		{`[ "a" , 1 , [2] ]`, "a", `[1,[2]]`},
		{`["message",` + ph(0) + `]`, "message", `[` + ph(0) + `]`},
		{`[42,"x"]`, "42", `["x"]`},
		{`["\u00e9v\ud83d\ude00","漢字"]`, "év😀", `["漢字"]`},
	}
	for _, tt := range tests {
		name, args, err := SplitEvent([]byte(tt.in))
		if err != nil {
			t.Errorf("SplitEvent(%s): %v", tt.in, err)
			continue
		}
		if name != tt.name || string(args) != tt.args {
			t.Errorf("SplitEvent(%s) = %q, %s; want %q, %s", tt.in, name, args, tt.name, tt.args)
		}
	}
	for _, in := range []string{``, `[]`, `{}`, `[{}]`, `[null]`, `["a"`, `"a"`} {
		if name, _, err := SplitEvent([]byte(in)); err == nil {
			t.Errorf("SplitEvent(%s) = %q, want an error", in, name)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("SplitEvent(%s): %v does not wrap ErrMalformed", in, err)
		}
	}
}

func TestJoinEvent(t *testing.T) {
	tests := []struct {
		name, args, want string
	}{
		{"a", ``, `["a"]`},
		{"a", `[]`, `["a"]`},
		{"a", ` [ ] `, `["a"]`},
		{"a", `[1,"2"]`, `["a",1,"2"]`},
		{"a", " [1, 2]\n", `["a",1, 2]`},
		{`q"uote`, `[1]`, `["q\"uote",1]`},
		{"😀", `["漢字"]`, `["😀","漢字"]`},
	}
	for _, tt := range tests {
		got, err := JoinEvent(tt.name, []byte(tt.args))
		if err != nil {
			t.Errorf("JoinEvent(%q, %q): %v", tt.name, tt.args, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("JoinEvent(%q, %q) = %s, want %s", tt.name, tt.args, got, tt.want)
		}
		name, args, err := SplitEvent(got)
		if err != nil || name != tt.name {
			t.Errorf("SplitEvent(JoinEvent(%q)) = %q, %v", tt.name, name, err)
		}
		if !json.Valid(args) {
			t.Errorf("SplitEvent(JoinEvent(%q)) args %s", tt.name, args)
		}
	}
	for _, args := range []string{`{}`, `1`, `"x"`, `[1`} {
		if got, err := JoinEvent("a", []byte(args)); err == nil {
			t.Errorf("JoinEvent(a, %s) = %s, want an error", args, got)
		}
	}
}

func TestPacketTypeString(t *testing.T) {
	for typ, want := range map[PacketType]string{
		PacketConnect: "CONNECT", PacketDisconnect: "DISCONNECT", PacketEvent: "EVENT",
		PacketAck: "ACK", PacketConnectError: "CONNECT_ERROR", PacketBinaryEvent: "BINARY_EVENT",
		PacketBinaryAck: "BINARY_ACK", 9: "PacketType(9)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", byte(typ), got, want)
		}
	}
}

func TestIsReservedEvent(t *testing.T) {
	for _, name := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if !IsReservedEvent(name) {
			t.Errorf("%s not reserved", name)
		}
	}
	for _, name := range []string{"message", "Connect", "", "auth"} {
		if IsReservedEvent(name) {
			t.Errorf("%q reserved", name)
		}
	}
}

// TestDecoderMaxBytes: a packet whose header and attachments together pass
// MaxBytes is refused on the attachment that passes it, however many more
// the header announced, and the decoder is ready for the next packet.
func TestDecoderMaxBytes(t *testing.T) {
	d := Decoder{MaxBytes: 1000}
	header := `5999-["x",` + ph(0) + `]`
	if p, err := d.DecodeText([]byte(header)); p != nil || err != nil || !d.Pending() {
		t.Fatalf("header: %v, %v, pending %v", p, err, d.Pending())
	}
	part := make([]byte, 300)
	for i := range 3 {
		if _, err := d.DecodeBinary(part); err != nil {
			t.Fatalf("attachment %d (%d bytes so far): %v", i, len(header)+(i+1)*len(part), err)
		}
	}
	_, err := d.DecodeBinary(part)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "over 1000 bytes") {
		t.Fatalf("the attachment past 1000 bytes: %v, want ErrMalformed naming the bound", err)
	}
	if d.Pending() {
		t.Fatal("still pending after the refusal")
	}
	// Exactly at the bound is fine.
	d = Decoder{MaxBytes: len(`51-["x",`+ph(0)+`]`) + 10}
	if _, err := d.DecodeText([]byte(`51-["x",` + ph(0) + `]`)); err != nil {
		t.Fatal(err)
	}
	if p, err := d.DecodeBinary(make([]byte, 10)); err != nil || p == nil {
		t.Fatalf("a packet of exactly MaxBytes: %v, %v", p, err)
	}
}
