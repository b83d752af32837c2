package edge

// JWT connect authorization (AuthJWT): tokens checked with golang-jwt/jwt
// v5 against a static key or a JSON Web Key Set kept by MicahParks/keyfunc
// (over MicahParks/jwkset), which caches the set, refreshes it in the
// background and again, rate limited, for a kid it does not know.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Bounds on what a token may carry. A token over maxTokenBytes is refused
// before it is parsed.
const (
	maxTokenBytes     = 8 << 10
	maxSubjectBytes   = 256
	maxRoomBytes      = 256
	maxRooms          = 1000
	maxDataBytes      = 64 << 10
	defaultJWTLeeway  = 30 * time.Second
	minRSABits        = 2048
	minHMACSecretSize = 32
	// maxJWKSBytes bounds a JWKS response body.
	maxJWKSBytes = 1 << 20
)

// jwksTiming is how a JWKS is kept; tests shorten it.
type jwksTiming struct {
	// refresh is the background refresh interval.
	refresh time.Duration
	// unknownKID is the least time between two refreshes for a kid not in
	// the set.
	unknownKID time.Duration
	// fetch bounds one fetch, the first one at start included, and the
	// wait for the unknown-kid rate limiter.
	fetch time.Duration
}

var defaultJWKSTiming = jwksTiming{
	refresh:    10 * time.Minute,
	unknownKID: 30 * time.Second,
	fetch:      5 * time.Second,
}

var (
	hmacAlgs  = []string{"HS256", "HS384", "HS512"}
	rsaAlgs   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	ecdsaAlgs = []string{"ES256", "ES384", "ES512"}
	eddsaAlgs = []string{"EdDSA"}
)

// jwtAuth is the authorizer of AuthJWT namespaces; it is safe for
// concurrent use, so one can serve every such namespace.
//
// What it admits:
//   - The token is the CONNECT auth payload's "token" string, else the
//     "Authorization: Bearer" header, else the configured cookie; the first
//     one present is the one checked (an invalid payload token does not fall
//     back to the header). No token is refused: "missing token".
//   - At most 8 KiB, checked before parsing.
//   - Signed with an accepted algorithm (JWTConfig.Algorithms, or those of
//     the key) by the key, or by the JWKS key its kid names (a token without
//     a kid is tried against every key of the set). "none" is never
//     accepted, nor an algorithm of another key type: an HS256 token signed
//     with an RSA public key as the secret is refused. An ECDSA key takes
//     the one ES* of its curve (ES256 for P-256); RSA keys have at least
//     2048 bits. With a JWKS and no Algorithms, HMAC is not accepted (a key
//     set is usually public; list HS* to use its "oct" keys).
//   - "exp" is optional, as in Centrifugo: a token without one never
//     expires. "exp", "nbf" and "iat", when present, are checked with the
//     leeway. "aud" must hold JWTConfig.Audience and "iss" must be
//     JWTConfig.Issuer when those are set.
//   - "sub" is required: a token without a subject is refused ("token has
//     no subject") rather than admitted anonymously. It becomes the socket's
//     user, at most 256 bytes.
//   - The rooms claim, when configured and present, is an array of at most
//     1,000 strings of 1 to 256 bytes; the data claim any JSON value of at
//     most 64 KiB. Otherwise the token is refused, naming the claim.
//
// Refusals are *socketio.ConnectError with a short message ("invalid
// token: token is expired"); they never carry key material. A JWKS that
// cannot be fetched, when the token's key is not among the cached ones, is
// a failure to decide (a plain error, "token keys unavailable"), not a
// refusal.
type jwtAuth struct {
	cfg    JWTConfig
	log    *slog.Logger
	parser *jwt.Parser
	algs   []string // accepted "alg" values

	key any // the static key: []byte, *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey; nil with a JWKS

	// With a JWKS.
	kf     keyfunc.Keyfunc
	cancel context.CancelFunc // ends the refresh goroutine and fetches
	tr     *http.Transport
	health *jwksHealth
}

var _ authorizer = (*jwtAuth)(nil)

// newJWTAuth makes the authorizer of AuthJWT namespaces. It fails when cfg
// cannot work (no key or both Key and JWKSURL, a key that does not parse,
// algorithms that do not fit the key, a JWKS URL that is not http(s)).
//
// With a JWKSURL the set is fetched once before it returns, waiting at most
// 5s: a JWKS that is down or slow does not stop the edge (it is logged, and
// tokens fail with "token keys unavailable" until a fetch succeeds). The
// set is refreshed every 10 minutes, and for a kid it does not hold at most
// once every 30s. close ends the refreshes.
func newJWTAuth(cfg JWTConfig, log *slog.Logger) (authorizer, error) {
	return newJWTAuthTimed(cfg, log, defaultJWKSTiming)
}

func newJWTAuthTimed(cfg JWTConfig, log *slog.Logger, timing jwksTiming) (*jwtAuth, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwt: leeway %v is negative", cfg.Leeway)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = defaultJWTLeeway
	}
	a := &jwtAuth{cfg: cfg, log: log}
	switch {
	case len(cfg.Key) == 0 && cfg.JWKSURL == "":
		return nil, errors.New("jwt: no key: set a key or a JWKS URL")
	case len(cfg.Key) > 0 && cfg.JWKSURL != "":
		return nil, errors.New("jwt: both a key and a JWKS URL: set one")
	case len(cfg.Key) > 0:
		key, err := parseJWTKey(cfg.Key)
		if err != nil {
			return nil, err
		}
		fits := keyAlgs(key)
		algs, err := acceptedAlgs(cfg.Algorithms, fits)
		if err != nil {
			return nil, err
		}
		if s, ok := key.([]byte); ok && len(s) < minHMACSecretSize {
			log.Warn("edge: jwt: HMAC secret is short; use at least 32 random bytes", "bytes", len(s))
		}
		a.key, a.algs = key, algs
	default:
		u, err := url.Parse(cfg.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("jwt: JWKS URL %q: want an http:// or https:// URL", cfg.JWKSURL)
		}
		if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			log.Warn("edge: jwt: JWKS fetched over plain http: anyone on the path can replace the keys", "url", cfg.JWKSURL)
		}
		// HMAC is not among the defaults: a set anyone may fetch must not
		// hold secrets. List HS* in Algorithms to use "oct" keys.
		def := slices.Concat(rsaAlgs, ecdsaAlgs, eddsaAlgs)
		all := slices.Concat(hmacAlgs, def)
		if len(cfg.Algorithms) == 0 {
			a.algs = def
		} else if a.algs, err = acceptedAlgs(cfg.Algorithms, all); err != nil {
			return nil, err
		}
		if err := a.startJWKS(timing); err != nil {
			return nil, err
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(a.algs),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithIssuedAt(),
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// acceptedAlgs checks the configured algorithms against those the key fits;
// none configured means all of those.
func acceptedAlgs(want, fits []string) ([]string, error) {
	if len(want) == 0 {
		return fits, nil
	}
	out := make([]string, 0, len(want))
	for _, alg := range want {
		switch {
		case strings.EqualFold(alg, "none"):
			return nil, errors.New(`jwt: algorithm "none" is never accepted`)
		case !slices.Contains(fits, alg):
			return nil, fmt.Errorf("jwt: algorithm %q does not fit the key (it fits %s)", alg, strings.Join(fits, ", "))
		}
		if !slices.Contains(out, alg) {
			out = append(out, alg)
		}
	}
	return out, nil
}

// parseJWTKey reads a PEM public key (PKIX "PUBLIC KEY", PKCS #1 "RSA
// PUBLIC KEY", or a "CERTIFICATE"'s key); anything that does not look like
// PEM is an HMAC secret, taken byte for byte (a trailing newline included).
func parseJWTKey(b []byte) (any, error) {
	if !bytes.Contains(b, []byte("-----BEGIN")) {
		return bytes.Clone(b), nil
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("jwt: key looks like PEM but has no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("jwt: key is a %s: give the public key", block.Type)
		}
		return nil, fmt.Errorf("jwt: PEM block %q: want a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("jwt: parse %s: %w", block.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("jwt: RSA key of %d bits: want at least %d", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if ecdsaAlg(k) == "" {
			return nil, fmt.Errorf("jwt: ECDSA curve %s: want P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("jwt: %T keys are not supported: want RSA, ECDSA or Ed25519", key)
	}
	return key, nil
}

// keyAlgs is the algorithms a key may verify.
func keyAlgs(key any) []string {
	switch k := key.(type) {
	case []byte:
		return hmacAlgs
	case *rsa.PublicKey:
		return rsaAlgs
	case *ecdsa.PublicKey:
		if alg := ecdsaAlg(k); alg != "" {
			return []string{alg}
		}
	case ed25519.PublicKey:
		return eddsaAlgs
	}
	return nil
}

// ecdsaAlg is the one ES* algorithm of a key's curve (RFC 7518 §3.4).
func ecdsaAlg(k *ecdsa.PublicKey) string {
	switch k.Curve {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// authorize implements authorizer.
func (a *jwtAuth) authorize(ctx context.Context, hs *socketio.Handshake) (*socketio.ConnectResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("token check: %w", err)
	}
	raw, deny := a.token(hs)
	if deny != nil {
		return nil, deny
	}
	if len(raw) > maxTokenBytes {
		return nil, refuse("invalid token: longer than %d bytes", maxTokenBytes)
	}

	// keyErr keeps why no key was found, which the parser's error only
	// wraps: a failure to decide is told apart from a refusal by it.
	var keyErr error
	keyCalled := false
	var kf jwt.Keyfunc
	if a.kf != nil {
		jwksKey := a.kf.KeyfuncCtx(ctx)
		kf = func(t *jwt.Token) (any, error) {
			keyCalled = true
			k, err := jwksKey(t)
			if err == nil {
				k, err = fitKey(t.Method.Alg(), k)
			}
			if err != nil {
				keyErr = err
			}
			return k, err
		}
	} else {
		kf = func(t *jwt.Token) (any, error) {
			keyCalled = true
			return fitKey(t.Method.Alg(), a.key)
		}
	}
	var claims tokenClaims
	_, err := a.parser.ParseWithClaims(raw, &claims, kf)
	if err != nil {
		if keyErr != nil {
			return nil, a.keyFailure(ctx, keyErr)
		}
		return nil, tokenRefusal(err, keyCalled, &claims)
	}
	return a.grant(&claims)
}

// token finds the token: the CONNECT auth payload's "token", else the
// Bearer header, else the cookie. An empty value counts as absent.
func (a *jwtAuth) token(hs *socketio.Handshake) (string, error) {
	var payload map[string]json.RawMessage
	if json.Unmarshal(hs.Auth, &payload) == nil {
		if v, ok := payload["token"]; ok && string(v) != "null" {
			var s string
			if json.Unmarshal(v, &s) != nil {
				return "", refuse(`invalid token: auth "token" is not a string`)
			}
			if s = strings.TrimSpace(s); s != "" {
				return s, nil
			}
		}
	}
	for _, h := range hs.Header.Values("Authorization") {
		scheme, cred, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if cred = strings.TrimSpace(cred); cred != "" {
				return cred, nil
			}
		}
	}
	if a.cfg.Cookie != "" && hs.Header != nil {
		r := http.Request{Header: hs.Header}
		if c, err := r.Cookie(a.cfg.Cookie); err == nil && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", refuse("missing token")
}

// fitKey refuses a key of another type than the algorithm's: jwt would
// too, but algorithm confusion is worth a second lock. Of a key set (a
// JWKS token without a kid) it keeps the keys that fit.
func fitKey(alg string, key any) (any, error) {
	if set, ok := key.(jwt.VerificationKeySet); ok {
		var fit jwt.VerificationKeySet
		for _, k := range set.Keys {
			if slices.Contains(keyAlgs(k), alg) {
				fit.Keys = append(fit.Keys, k)
			}
		}
		if len(fit.Keys) == 0 {
			return nil, errNoKey
		}
		return fit, nil
	}
	if !slices.Contains(keyAlgs(key), alg) {
		return nil, errKeyMismatch
	}
	return key, nil
}

var (
	errKeyMismatch = errors.New("key does not fit the algorithm")
	errNoKey       = errors.New("no key fits the algorithm")
)

// keyFailure decides what a JWKS lookup that found no key means: with a
// set fetched and current, the token names a key the issuer does not have
// (a refusal); with the last fetch failed or none done yet, the edge
// cannot tell (a failure).
func (a *jwtAuth) keyFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("token keys unavailable: %w", ctx.Err())
	}
	if errors.Is(err, errKeyMismatch) {
		return refuse("invalid token: %v", errKeyMismatch)
	}
	if a.health.failure() != nil {
		return errors.New("token keys unavailable: the key set could not be fetched")
	}
	return refuse("invalid token: unknown signing key")
}

// tokenRefusal words a parse or validation error for the client, from the
// jwt sentinels rather than their text.
func tokenRefusal(err error, keyCalled bool, c *tokenClaims) error {
	var msg string
	switch {
	case errors.Is(err, errKeyMismatch):
		msg = errKeyMismatch.Error()
	case errors.Is(err, jwt.ErrTokenMalformed):
		msg = "token is malformed"
	case !keyCalled && (errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable)):
		// The algorithm was refused before any key was looked up: "none",
		// another key type's, or one jwt does not know.
		msg = "signing algorithm not accepted"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		msg = "signature is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		msg = "token is expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		msg = "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		msg = "token used before issued"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		msg = "token has invalid audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		msg = "token has invalid issuer"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(c.Audience) == 0:
		// Only "aud" and "iss" are required, and only when configured.
		msg = "token has no audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		msg = "token has no issuer"
	default:
		msg = "token is unverifiable"
	}
	return refuse("invalid token: %s", msg)
}

// grant turns verified claims into the socket's user, rooms and data.
func (a *jwtAuth) grant(c *tokenClaims) (*socketio.ConnectResult, error) {
	if c.Subject == "" {
		return nil, refuse("invalid token: token has no subject")
	}
	if len(c.Subject) > maxSubjectBytes {
		return nil, refuse("invalid token: subject longer than %d bytes", maxSubjectBytes)
	}
	res := &socketio.ConnectResult{User: c.Subject}
	if name := a.cfg.RoomsClaim; name != "" {
		if v, ok := c.raw[name]; ok && string(v) != "null" {
			var rooms []string
			if json.Unmarshal(v, &rooms) != nil {
				return nil, refuse("invalid token: claim %q is not an array of strings", name)
			}
			if len(rooms) > maxRooms {
				return nil, refuse("invalid token: claim %q holds %d rooms, at most %d", name, len(rooms), maxRooms)
			}
			for _, r := range rooms {
				if len(r) == 0 || len(r) > maxRoomBytes {
					return nil, refuse("invalid token: claim %q holds a room of %d bytes, want 1 to %d", name, len(r), maxRoomBytes)
				}
			}
			res.Rooms = rooms
		}
	}
	if name := a.cfg.DataClaim; name != "" {
		if v, ok := c.raw[name]; ok {
			if len(v) > maxDataBytes {
				return nil, refuse("invalid token: claim %q is over %d bytes", name, maxDataBytes)
			}
			var data any
			if json.Unmarshal(v, &data) != nil {
				return nil, refuse("invalid token: claim %q does not decode", name)
			}
			res.Data = data
		}
	}
	return res, nil
}

func refuse(format string, args ...any) *socketio.ConnectError {
	return &socketio.ConnectError{Message: fmt.Sprintf(format, args...)}
}

// tokenClaims are the registered claims jwt validates, and every claim raw
// for the rooms and data claims.
type tokenClaims struct {
	jwt.RegisteredClaims
	raw map[string]json.RawMessage
}

func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &c.RegisteredClaims); err != nil {
		return err
	}
	return json.Unmarshal(b, &c.raw)
}

// close implements authorizer: it ends the JWKS refreshes.
func (a *jwtAuth) close() {
	if a.cancel != nil {
		a.cancel()
		a.tr.CloseIdleConnections()
	}
}

// startJWKS makes the keyfunc over the JWKS: a client of its own (no
// keep-alive, so close leaves no connection behind; bodies bounded), the
// set cached in memory, refreshed every timing.refresh and for an unknown
// kid at most every timing.unknownKID.
func (a *jwtAuth) startJWKS(timing jwksTiming) error {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.tr = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   timing.fetch,
		ResponseHeaderTimeout: timing.fetch,
	}
	client := &http.Client{Transport: limitedTransport{a.tr}, Timeout: timing.fetch}
	a.health = &jwksHealth{}
	u := a.cfg.JWKSURL
	httpStore, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx,
		HTTPTimeout:               timing.fetch,
		NoErrorReturnFirstHTTPReq: true,
		RefreshInterval:           timing.refresh,
		RefreshErrorHandler: func(_ context.Context, err error) {
			a.health.set(err)
			a.log.Warn("edge: jwt: JWKS fetch failed", "url", u, "err", err)
		},
		Storage: healthStore{Storage: jwkset.NewMemoryStorage(), health: a.health},
	})
	if err != nil {
		cancel()
		return fmt.Errorf("jwt: JWKS %q: %w", u, err)
	}
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{u: httpStore},
		RateLimitWaitMax:  timing.fetch,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(timing.unknownKID), 1),
	})
	if err == nil {
		a.kf, err = keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: storage})
	}
	if err != nil {
		cancel()
		return fmt.Errorf("jwt: JWKS %q: %w", u, err)
	}
	return nil
}

// jwksHealth is the outcome of the last JWKS fetch.
type jwksHealth struct {
	mu      sync.Mutex
	fetched bool  // guarded by mu: a fetch has succeeded
	err     error // guarded by mu: the last fetch's error, nil after a success
}

func (h *jwksHealth) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
	if err == nil {
		h.fetched = true
	}
}

// failure is why the cached set cannot be trusted to be current, or nil.
func (h *jwksHealth) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	if !h.fetched {
		return errors.New("not fetched yet")
	}
	return nil
}

// healthStore marks a fetch a success: jwkset replaces the cached keys
// only with a set it fetched and decoded.
type healthStore struct {
	jwkset.Storage
	health *jwksHealth
}

func (s healthStore) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	err := s.Storage.KeyReplaceAll(ctx, given)
	if err == nil {
		s.health.set(nil)
	}
	return err
}

// limitedTransport bounds JWKS response bodies at maxJWKSBytes.
type limitedTransport struct{ rt http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &limitedBody{rc: resp.Body, r: io.LimitReader(resp.Body, maxJWKSBytes+1)}
	}
	return resp, err
}

// limitedBody reads one byte past the bound, to tell a body at it from one
// over it.
type limitedBody struct {
	rc io.ReadCloser
	r  io.Reader
	n  int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.n += int64(n); b.n > maxJWKSBytes {
		return n, fmt.Errorf("JWKS response over %d bytes", maxJWKSBytes)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// JWTKeyAlgorithms parses a JWTConfig.Key as the edge does (a PEM public
// key, else an HMAC secret) and returns the algorithms it verifies, or why
// the edge would refuse it; for checking configuration before the start.
func JWTKeyAlgorithms(key []byte) ([]string, error) {
	k, err := parseJWTKey(key)
	if err != nil {
		return nil, err
	}
	return slices.Clone(keyAlgs(k)), nil
}

// JWTAlgorithms lists every algorithm JWTConfig.Algorithms may name.
func JWTAlgorithms() []string { return slices.Concat(hmacAlgs, rsaAlgs, ecdsaAlgs, eddsaAlgs) }
