package edge

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// AuthMode is how a namespace decides who may connect (docs/auth.md).
type AuthMode string

// The authorization modes.
const (
	// AuthOpen admits every socket, anonymously: the development default.
	AuthOpen AuthMode = "open"
	// AuthJWT admits a socket that presents a valid JSON Web Token; its
	// subject becomes the socket's user.
	AuthJWT AuthMode = "jwt"
	// AuthHook asks the application's connect hook (switchboard.v1
	// ConnectHook, over gRPC or NATS).
	AuthHook AuthMode = "hook"
)

// NamespaceAuth is one namespace's authorization.
type NamespaceAuth struct {
	// Mode is the namespace's mode.
	Mode AuthMode
	// Hook, for AuthHook, is where the connect hook answers:
	// "grpc://host:port" (plaintext gRPC), "grpcs://host:port" (TLS), or
	// "nats:<subject>" (a NATS request on the edge's bus connection).
	Hook string
}

// AuthConfig chooses who may connect to each namespace.
type AuthConfig struct {
	// Namespaces maps a namespace, or "*" for every namespace not named, to
	// its authorization. A namespace in neither is open.
	Namespaces map[string]NamespaceAuth
	// HookTimeout bounds a connect hook's answer; past it the connect is
	// refused. Zero means 3s.
	HookTimeout time.Duration
	// HookTLS configures TLS for "grpcs://" hooks: its RootCAs to trust a
	// private CA, Certificates to present a client certificate (mTLS).
	// Nil means the system's roots, TLS 1.2 at least; the server name is
	// the target's host.
	HookTLS *tls.Config
	// JWT configures the namespaces in AuthJWT mode.
	JWT JWTConfig
}

// JWTConfig configures token checks (AuthJWT).
type JWTConfig struct {
	// Key verifies tokens: an HMAC secret, or a PEM public key (RSA,
	// ECDSA or Ed25519). Exactly one of Key and JWKSURL is set when a
	// namespace uses AuthJWT.
	Key []byte
	// JWKSURL is a JSON Web Key Set to verify tokens with, by their kid;
	// fetched at start, refreshed in the background, and again (rate
	// limited) for a kid it does not know.
	JWKSURL string
	// Algorithms lists the accepted "alg" values. Empty means those the key
	// is for: HS256/384/512 for a secret, RS* and PS* for RSA, ES* for
	// ECDSA, EdDSA for Ed25519; a JWKS's keys each by their type. "none"
	// is never accepted.
	Algorithms []string
	// Audience, when set, must be in the token's "aud".
	Audience string
	// Issuer, when set, must be the token's "iss".
	Issuer string
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat". Zero
	// means 30s.
	Leeway time.Duration
	// Cookie, when set, names a cookie that may carry the token. A token is
	// taken from the CONNECT auth payload's "token", else the
	// "Authorization: Bearer" header, else this cookie.
	Cookie string
	// RoomsClaim, when set, names a claim holding an array of rooms the
	// socket joins at connect.
	RoomsClaim string
	// DataClaim, when set, names a claim whose value becomes the socket's
	// data.
	DataClaim string
}

// authorizer decides the CONNECTs of one namespace. A nil result with a
// nil error admits the socket anonymously. A *socketio.ConnectError denies
// it (counted in Stats.ConnectsRefused); any other error means it could
// not decide (a hook down or slow, keys that cannot be fetched; counted in
// Stats.AuthFailures): the connect is refused with the error's message.
type authorizer interface {
	authorize(ctx context.Context, hs *socketio.Handshake) (*socketio.ConnectResult, error)
	// close releases what the authorizer holds (connections, goroutines).
	close()
}
