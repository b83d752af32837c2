package main

import (
	"context"
	"log/slog"
	"time"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// refusal is what a client without a valid session sees as
// connect_error's err.message: Flask-SocketIO's
// ConnectionRefusedError("unauthorized!").
const refusal = "unauthorized!"

// hook is the edge's connect hook (docs/auth.md): the session check of the
// original's connect handler.
type hook struct {
	sbv1.UnimplementedConnectHookServer
	sessions *sessions
	logger   *slog.Logger
}

// Authorize admits a handshake whose Cookie header holds a valid session,
// as the session's user, and refuses any other.
func (h *hook) Authorize(_ context.Context, req *sbv1.AuthorizeRequest) (*sbv1.AuthorizeResponse, error) {
	user, ok := h.sessions.fromHeader(req.GetHeaders()["cookie"], time.Now())
	if !ok {
		h.logger.Info("refused", "remote", req.GetRemoteAddress(), "edge", req.GetEdgeId())
		return &sbv1.AuthorizeResponse{Result: &sbv1.AuthorizeResponse_Deny{Deny: &sbv1.ConnectDeny{Message: refusal}}}, nil
	}
	h.logger.Info("admitted", "user", user, "edge", req.GetEdgeId())
	return &sbv1.AuthorizeResponse{Result: &sbv1.AuthorizeResponse_Allow{Allow: &sbv1.ConnectAllow{User: user}}}, nil
}
