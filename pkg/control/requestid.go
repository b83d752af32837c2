package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// RequestIDHeader is the metadata key of a call's request id: taken from
// the caller's request when it sends one (printable ASCII, at most
// maxRequestID bytes), made up otherwise, sent back in the response
// headers and put on the call's log line as request_id.
const RequestIDHeader = "x-request-id"

const maxRequestID = 128

// requestIDs makes ids: this process's random prefix and a counter, unique
// without a random read per call.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (r *requestIDs) next() string { return r.prefix + strconv.FormatUint(r.n.Add(1), 10) }

// of returns the call's request id: the caller's, if usable, else a new one.
func (r *requestIDs) of(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDHeader); len(v) > 0 && usableID(v[0]) {
			return v[0]
		}
	}
	return r.next()
}

func usableID(s string) bool {
	if s == "" || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}

func (r *requestIDs) unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		id := r.of(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
		return handler(logging.InjectFields(ctx, logging.Fields{"request_id", id}), req)
	}
}

func (r *requestIDs) stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		id := r.of(ctx)
		_ = ss.SetHeader(metadata.Pairs(RequestIDHeader, id))
		return handler(srv, &idStream{ServerStream: ss, ctx: logging.InjectFields(ctx, logging.Fields{"request_id", id})})
	}
}

type idStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *idStream) Context() context.Context { return s.ctx }
