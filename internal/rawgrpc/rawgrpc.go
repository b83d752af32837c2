// Package rawgrpc calls gRPC methods with hand-made request bytes, for tests
// that send what no protobuf library would marshal (strings that are not
// UTF-8, nesting past the recursion limit).
package rawgrpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// codec sends and receives messages as the bytes they are.
type codec struct{}

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (codec) Name() string { return "proto" }

// Unary calls method with req as its request's bytes.
func Unary(ctx context.Context, conn *grpc.ClientConn, method string, req []byte) error {
	var resp []byte
	return conn.Invoke(ctx, method, &req, &resp, grpc.ForceCodecV2(codec{}))
}

// Stream opens server-streaming method with req as its request's bytes and
// returns the error of its first message.
func Stream(ctx context.Context, conn *grpc.ClientConn, method string, req []byte) error {
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodecV2(codec{}))
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

// Field appends a length-delimited protobuf field.
func Field(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// DeepValue is a google.protobuf.Value of depth nested lists.
func DeepValue(depth int) []byte {
	var v []byte // Value{} (null)
	for range depth {
		list := Field(nil, 1, v) // ListValue.values
		v = Field(nil, 6, list)  // Value.list_value
	}
	return v
}
