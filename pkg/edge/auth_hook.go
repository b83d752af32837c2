package edge

// The connect hook (AuthHook): the application's switchboard.v1
// ConnectHook, asked over gRPC or as a NATS request.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Messages a client receives in CONNECT_ERROR when the hook could not
// decide; the cause is in the edge's log, never sent to the client.
const (
	msgHookUnavailable = "connect hook unavailable"
	msgHookTimedOut    = "connect hook timed out"
	msgHookInvalid     = "connect hook answer invalid"
	// msgDenied is a deny's message when the hook gives none.
	msgDenied = "Forbidden"
)

// Bounds of the connect hook.
const (
	// DefaultHookTimeout is AuthConfig.HookTimeout's default.
	DefaultHookTimeout = 3 * time.Second
	// maxHookAnswerBytes bounds a gRPC answer: 1,000 rooms of 256 bytes
	// and 64 KiB of data fit with room to spare. A NATS answer is bounded
	// by the server's max payload.
	maxHookAnswerBytes = 1 << 20
	// maxHookSubjectLen bounds a "nats:" target's subject.
	maxHookSubjectLen = 256
)

// Hook target schemes.
const (
	hookGRPC  = "grpc://"
	hookGRPCS = "grpcs://"
	hookNATS  = "nats:"
)

// CheckHookTarget checks a connect hook's target: "grpc://host:port"
// (plaintext gRPC), "grpcs://host:port" (gRPC over TLS) or
// "nats:<subject>" (a NATS request; the subject's tokens are non-empty,
// without spaces or wildcards, at most 256 bytes in all).
func CheckHookTarget(target string) error {
	_, _, err := parseHookTarget(target)
	return err
}

// parseHookTarget splits a target into its scheme (hookGRPC, hookGRPCS or
// hookNATS) and its host:port or subject.
func parseHookTarget(target string) (scheme, addr string, err error) {
	switch {
	case strings.HasPrefix(target, hookNATS):
		subject := strings.TrimPrefix(target, hookNATS)
		if err := checkHookSubject(subject); err != nil {
			return "", "", err
		}
		return hookNATS, subject, nil
	case strings.HasPrefix(target, hookGRPC), strings.HasPrefix(target, hookGRPCS):
		u, err := url.Parse(target)
		if err != nil || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return "", "", errors.New("want grpc://host:port or grpcs://host:port, with nothing after the port")
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			return "", "", errors.New("want host:port after " + u.Scheme + "://")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("port %q: want 1 to 65535", port)
		}
		return u.Scheme + "://", u.Host, nil
	}
	return "", "", errors.New("want grpc://host:port, grpcs://host:port or nats:<subject>")
}

func checkHookSubject(s string) error {
	if s == "" {
		return errors.New("nats: needs a subject, e.g. nats:myapp.connect")
	}
	if len(s) > maxHookSubjectLen {
		return fmt.Errorf("subject of %d bytes: at most %d", len(s), maxHookSubjectLen)
	}
	for tok := range strings.SplitSeq(s, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case tok == "*" || tok == ">":
			return fmt.Errorf("subject %q has a wildcard: the hook's subject is one subject", s)
		case strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f || !utf8.ValidRune(r) }):
			return fmt.Errorf("subject %q holds spaces or control characters", s)
		}
	}
	return nil
}

// hookClient asks one connect hook target; one serves every namespace
// whose hook is that target (hookFor binds it to a namespace). It is safe
// for concurrent use: each CONNECT is one call, bounded by the caller's
// context, and a slow call holds up only the connection that made it.
//
// Over gRPC it keeps one client connection (grpc-go's ClientConn: it
// reconnects by itself, within 2s of a hook that comes back; a call while
// the hook is down fails at once with Unavailable). Its keepalive pings at
// most every 5 minutes, and only during a call, which a hook server's
// default enforcement allows; it also bounds how long a call's bytes may go
// unacknowledged, so a hook host that vanished is noticed in 10s rather than
// at TCP's retransmission timeout.
//
// Over NATS it sends the AuthorizeRequest (protobuf) as a request on the
// edge's bus connection to the subject, as is: no prefix is added. The
// application subscribes to that subject in a queue group, so that one of
// its replicas answers each request, and replies with an AuthorizeResponse.
// No subscriber is NATS's "no responders", answered at once: the connect is
// refused as with a hook that is down.
type hookClient struct {
	target   string
	edgeID   string
	maxRooms int // rooms an allow may grant; 0: no cap

	// gRPC targets.
	conn *grpc.ClientConn
	api  sbv1.ConnectHookClient

	// NATS targets.
	subject string
	bus     *atomic.Pointer[nats.Conn] // the edge's connection, nil until Run connects it
}

// newHookClient makes the client of a checked target. It does not dial:
// a gRPC connection is made at the first call.
func newHookClient(target, edgeID string, maxRooms int, tlsCfg *tls.Config, nc *atomic.Pointer[nats.Conn]) (*hookClient, error) {
	scheme, addr, err := parseHookTarget(target)
	if err != nil {
		return nil, err
	}
	h := &hookClient{target: target, edgeID: edgeID, maxRooms: maxRooms}
	if scheme == hookNATS {
		h.subject, h.bus = addr, nc
		return h, nil
	}
	creds := insecure.NewCredentials()
	if scheme == hookGRPCS {
		c := &tls.Config{MinVersion: tls.VersionTLS12} // system roots
		if tlsCfg != nil {
			c = tlsCfg.Clone()
		}
		creds = credentials.NewTLS(c)
	}
	h.conn, err = grpc.NewClient("dns:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent("switchboard-edge/"+Version),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Minute, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxHookAnswerBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("connect hook %s: %w", target, err)
	}
	h.api = sbv1.NewConnectHookClient(h.conn)
	return h, nil
}

// close releases the gRPC connection; calls in flight end with an error.
func (h *hookClient) close() {
	if h.conn != nil {
		_ = h.conn.Close()
	}
}

// hookError is a failure to decide: Error is what the client is told, the
// cause is logged.
type hookError struct {
	msg   string
	cause error
}

func (e *hookError) Error() string { return e.msg }
func (e *hookError) Unwrap() error { return e.cause }

// callFailed words a failed call: past the deadline (the edge's, or the
// hook server's DEADLINE_EXCEEDED for the deadline the edge sent, which
// may pass there first) it timed out, else the hook is unavailable (down,
// no responders, the edge stopping, an error).
func (h *hookClient) callFailed(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return &hookError{msgHookTimedOut, fmt.Errorf("%s: no answer in time: %w", h.target, err)}
	}
	if errors.Is(err, nats.ErrNoResponders) {
		err = errors.New("no responders: nothing subscribes to the subject")
	}
	return &hookError{msgHookUnavailable, fmt.Errorf("%s: %w", h.target, err)}
}

// ask sends one CONNECT of namespace ns to the hook and turns its answer
// into a grant, a *socketio.ConnectError (deny) or a *hookError.
func (h *hookClient) ask(ctx context.Context, ns string, hs *socketio.Handshake) (*socketio.ConnectResult, error) {
	req := h.request(ns, hs)
	var resp *sbv1.AuthorizeResponse
	if h.api != nil {
		r, err := h.api.Authorize(ctx, req)
		if err != nil {
			return nil, h.callFailed(ctx, err)
		}
		resp = r
	} else {
		nc := h.bus.Load()
		if nc == nil {
			return nil, &hookError{msgHookUnavailable, fmt.Errorf("%s: the edge has no bus connection", h.target)}
		}
		resp = new(sbv1.AuthorizeResponse)
		if err := bus.Request(ctx, nc, h.subject, req, resp); err != nil {
			return nil, h.callFailed(ctx, err)
		}
	}
	switch r := resp.GetResult().(type) {
	case *sbv1.AuthorizeResponse_Allow:
		g, err := h.grant(r.Allow)
		if err != nil {
			return nil, &hookError{msgHookInvalid, fmt.Errorf("%s: allow: %w", h.target, err)}
		}
		return g, nil
	case *sbv1.AuthorizeResponse_Deny:
		d, err := deny(r.Deny)
		if err != nil {
			return nil, &hookError{msgHookInvalid, fmt.Errorf("%s: deny: %w", h.target, err)}
		}
		return nil, d
	}
	return nil, &hookError{msgHookInvalid, fmt.Errorf("%s: the answer is neither allow nor deny", h.target)}
}

// request is what the hook is told of a CONNECT: everything, headers
// hidden from ListSockets included (the hook is trusted). Strings that are
// not UTF-8 (header bytes, percent-decoded query values) have their bad
// bytes replaced by U+FFFD, as protobuf strings must be UTF-8; the auth
// payload goes byte for byte.
func (h *hookClient) request(ns string, hs *socketio.Handshake) *sbv1.AuthorizeRequest {
	return &sbv1.AuthorizeRequest{
		Namespace:     validUTF8(ns),
		Headers:       hookHeaders(hs.Header, hs.Host),
		Query:         hookQuery(hs.Query),
		AuthJson:      hs.Auth,
		RemoteAddress: validUTF8(hs.Address),
		EdgeId:        h.edgeID,
		Transport:     transportEnum(hs.Transport),
	}
}

// hookHeaders is every header of the handshake as describe renders them
// (joinHeader), none hidden. Go's server keeps Host out of the header map;
// it is put back.
func hookHeaders(hd http.Header, host string) map[string]string {
	out := joinHeader(hd, nil)
	if _, ok := out["host"]; !ok && host != "" {
		out["host"] = validUTF8(host)
	}
	return out
}

func hookQuery(q url.Values) map[string]string {
	out := make(map[string]string, len(q))
	for k, vs := range q {
		out[validUTF8(k)] = validUTF8(strings.Join(vs, ","))
	}
	return out
}

// grant checks an allow against what a socket may carry: a user of at
// most 256 bytes, rooms of 1 to 256 bytes and at most the edge's
// MaxRoomsPerSocket, data of at most 64 KiB as JSON. A hook that grants
// more is misbehaving: the connect fails rather than admitting a socket
// with less than the hook meant.
func (h *hookClient) grant(a *sbv1.ConnectAllow) (*socketio.ConnectResult, error) {
	if len(a.GetUser()) > maxSubjectBytes {
		return nil, fmt.Errorf("user of %d bytes: at most %d", len(a.GetUser()), maxSubjectBytes)
	}
	rooms := a.GetRooms()
	if h.maxRooms > 0 && len(rooms) > h.maxRooms {
		return nil, fmt.Errorf("%d rooms: at most %d", len(rooms), h.maxRooms)
	}
	for i, r := range rooms {
		if len(r) == 0 || len(r) > maxRoomBytes {
			return nil, fmt.Errorf("rooms[%d] of %d bytes: want 1 to %d", i, len(r), maxRoomBytes)
		}
	}
	data, err := hookData(a.GetData())
	if err != nil {
		return nil, err
	}
	return &socketio.ConnectResult{User: a.GetUser(), Rooms: rooms, Data: data}, nil
}

// deny turns a deny into the client's CONNECT_ERROR.
func deny(d *sbv1.ConnectDeny) (*socketio.ConnectError, error) {
	data, err := hookData(d.GetData())
	if err != nil {
		return nil, err
	}
	msg := d.GetMessage()
	if msg == "" {
		msg = msgDenied
	}
	return &socketio.ConnectError{Message: msg, Data: data}, nil
}

// hookData is a data value as the socket keeps it (nil for none or JSON
// null), at most 64 KiB as JSON.
func hookData(v *structpb.Value) (any, error) {
	if v == nil {
		return nil, nil
	}
	data := v.AsInterface()
	if data == nil {
		return nil, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if len(b) > maxDataBytes {
		return nil, fmt.Errorf("data of %d bytes as JSON: at most %d", len(b), maxDataBytes)
	}
	return data, nil
}

// hookFor is a hook client bound to one namespace: the authorizer of an
// AuthHook namespace. The client is closed by its owner, edgeAuth.
type hookFor struct {
	h  *hookClient
	ns string
}

var _ authorizer = hookFor{}

func (f hookFor) authorize(ctx context.Context, hs *socketio.Handshake) (*socketio.ConnectResult, error) {
	return f.h.ask(ctx, f.ns, hs)
}

func (hookFor) close() {}
