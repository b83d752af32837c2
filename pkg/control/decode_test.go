package control_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/rawgrpc"
)

// TestDecodeErrors: a request protobuf refuses to decode (a string that is
// not UTF-8, Values nested past protobuf's recursion limit) is the
// caller's mistake: InvalidArgument, not the Internal that grpc-go answers
// for every decoding error, in unary RPCs and streams alike.
func TestDecodeErrors(t *testing.T) {
	f := startCluster(t, options{edges: -1})
	ctx := context.Background()
	unary := func(method string, req []byte) error { return rawgrpc.Unary(ctx, f.conn, method, req) }
	stream := func(method string, req []byte) error { return rawgrpc.Stream(ctx, f.conn, method, req) }
	field, deepValue := rawgrpc.Field, rawgrpc.DeepValue
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
	if err := unary("/switchboard.v1.Control/Emit", field(event, 3, deepValue(100))); err != nil {
		t.Errorf("Emit with args nested 100 deep: %v", err)
	}
	if _, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "after"}); err != nil {
		t.Errorf("Emit after the malformed requests: %v", status.Convert(err))
	}
}
