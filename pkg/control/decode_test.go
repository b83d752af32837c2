package control_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// rawCodec sends and receives messages as the bytes they are, so that a
// test can send what no protobuf library would marshal.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// field appends a length-delimited field.
func field(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// deepValue is a google.protobuf.Value of depth nested lists.
func deepValue(depth int) []byte {
	var v []byte // Value{} (null)
	for range depth {
		list := field(nil, 1, v) // ListValue.values
		v = field(nil, 6, list)  // Value.list_value
	}
	return v
}

// TestDecodeErrors: a request protobuf refuses to decode (a string that is
// not UTF-8, Values nested past protobuf's recursion limit) is the
// caller's mistake: InvalidArgument, not the Internal that grpc-go answers
// for every decoding error, in unary RPCs and streams alike.
func TestDecodeErrors(t *testing.T) {
	f := startCluster(t, options{edges: -1})
	ctx := context.Background()
	unary := func(method string, req []byte) error {
		var resp []byte
		return f.conn.Invoke(ctx, method, &req, &resp, grpc.ForceCodecV2(rawCodec{}))
	}
	stream := func(method string, req []byte) error {
		st, err := f.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodecV2(rawCodec{}))
		if err != nil {
			return err
		}
		if err := st.SendMsg(&req); err != nil {
			return err
		}
		if err := st.CloseSend(); err != nil {
			return err
		}
		var resp []byte
		return st.RecvMsg(&resp)
	}
	event := field(nil, 2, []byte("chat"))
	cases := []struct {
		name string
		err  error
		msg  string
	}{
		{"event not UTF-8", unary("/switchboard.v1.Control/Emit", field(nil, 2, []byte("\xff"))), "invalid UTF-8"},
		{"room not UTF-8", unary("/switchboard.v1.Control/Emit", field(event, 1, field(nil, 2, []byte("a\xfe")))), "invalid UTF-8"},
		{"ack token not UTF-8", unary("/switchboard.v1.Control/Ack", field(nil, 1, []byte("\xc0\x80"))), "invalid UTF-8"},
		{"args nested too deep", unary("/switchboard.v1.Control/Emit", field(event, 3, deepValue(6000))), "recursion"},
		{"not protobuf", unary("/switchboard.v1.Control/ListRooms", []byte{0xff, 0xff, 0xff}), "malformed request"},
		{"Subscribe namespace not UTF-8", stream("/switchboard.v1.Control/Subscribe", field(nil, 1, []byte("/\xff"))), "invalid UTF-8"},
		{"health service not UTF-8", unary("/grpc.health.v1.Health/Check", field(nil, 1, []byte("\xff"))), "invalid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, tc.err, codes.InvalidArgument, tc.msg)
		})
	}
	// Values nested below the limit are still arguments like any other.
	var resp []byte
	err := f.conn.Invoke(ctx, "/switchboard.v1.Control/Emit", ptr(field(event, 3, deepValue(100))), &resp, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Errorf("Emit with args nested 100 deep: %v", err)
	}
	if _, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "after"}); err != nil {
		t.Errorf("Emit after the malformed requests: %v", status.Convert(err))
	}
}

func ptr[T any](v T) *T { return &v }
