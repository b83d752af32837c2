package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Keys are made once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ec384     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}) {
	var err error
	must := func() {
		if err != nil {
			panic(err)
		}
	}
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must()
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must()
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must()
	k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must()
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must()
	return k
})

// quietLog drops the warnings of JWKS fetches the tests make fail.
var quietLog = slog.New(slog.DiscardHandler)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// sign makes a token; claims are the registered ones plus extra, and kid,
// when set, goes in the header.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(extra ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
			continue
		}
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

func authHandshake(tok string) *socketio.Handshake {
	auth, _ := json.Marshal(map[string]string{"token": tok})
	return &socketio.Handshake{Header: http.Header{}, Auth: auth}
}

func newTestJWT(t *testing.T, cfg JWTConfig) *jwtAuth {
	t.Helper()
	a, err := newJWTAuthTimed(cfg, quietLog, defaultJWKSTiming)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

func admit(t *testing.T, a authorizer, hs *socketio.Handshake) *socketio.ConnectResult {
	t.Helper()
	res, err := a.authorize(context.Background(), hs)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if res == nil {
		t.Fatal("admitted anonymously")
	}
	return res
}

// denied checks a refusal: a *socketio.ConnectError whose message is want.
func denied(t *testing.T, a authorizer, hs *socketio.Handshake, want string) {
	t.Helper()
	res, err := a.authorize(context.Background(), hs)
	var ce *socketio.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("got %+v, %v; want a ConnectError %q", res, err, want)
	}
	if ce.Message != want {
		t.Fatalf("message %q, want %q", ce.Message, want)
	}
}

func TestJWTValid(t *testing.T) {
	k := testKeys()
	cert := func() []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "issuer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.rsa.PublicKey, k.rsa)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	for _, c := range []struct {
		name string
		key  []byte
		m    jwt.SigningMethod
		sk   any
	}{
		{"HS256", testSecret, jwt.SigningMethodHS256, testSecret},
		{"HS384", testSecret, jwt.SigningMethodHS384, testSecret},
		{"HS512", testSecret, jwt.SigningMethodHS512, testSecret},
		{"RS256", pemPublic(t, &k.rsa.PublicKey), jwt.SigningMethodRS256, k.rsa},
		{"RS512 PKCS1", pkcs1, jwt.SigningMethodRS512, k.rsa},
		{"RS256 certificate", cert(), jwt.SigningMethodRS256, k.rsa},
		{"PS256", pemPublic(t, &k.rsa.PublicKey), jwt.SigningMethodPS256, k.rsa},
		{"ES256", pemPublic(t, &k.ec.PublicKey), jwt.SigningMethodES256, k.ec},
		{"ES384", pemPublic(t, &k.ec384.PublicKey), jwt.SigningMethodES384, k.ec384},
		{"EdDSA", pemPublic(t, k.ed.Public()), jwt.SigningMethodEdDSA, k.ed},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newTestJWT(t, JWTConfig{Key: c.key, Audience: "app", Issuer: "https://issuer"})
			tok := sign(t, c.m, c.sk, claims("aud", []string{"other", "app"}, "iss", "https://issuer"), "")
			res := admit(t, a, authHandshake(tok))
			if res.User != "alice" || res.Rooms != nil || res.Data != nil {
				t.Fatalf("got %+v, want user alice alone", res)
			}
		})
	}
}

func TestJWTRefused(t *testing.T) {
	k := testKeys()
	rsaPEM := pemPublic(t, &k.rsa.PublicKey)
	now := time.Now()
	noneTok := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name string
		key  []byte
		tok  string
		want string
	}{
		{"expired", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("exp", now.Add(-time.Minute).Unix()), ""), "invalid token: token is expired"},
		{"not yet valid", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("nbf", now.Add(time.Minute).Unix()), ""), "invalid token: token is not valid yet"},
		{"issued in the future", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("iat", now.Add(time.Minute).Unix()), ""), "invalid token: token used before issued"},
		{"wrong secret", testSecret, sign(t, jwt.SigningMethodHS256, []byte("another secret of 32 bytes.....!"), claims(), ""), "invalid token: signature is invalid"},
		{"wrong RSA key", rsaPEM, sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), ""), "invalid token: signature is invalid"},
		{"wrong audience", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("aud", "other"), ""), "invalid token: token has invalid audience"},
		{"no audience", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("iss", "https://issuer"), ""), "invalid token: token has no audience"},
		{"no issuer", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("aud", "app"), ""), "invalid token: token has no issuer"},
		{"wrong issuer", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("aud", "app", "iss", "https://evil"), ""), "invalid token: token has invalid issuer"},
		{"alg none", testSecret, noneTok(), "invalid token: signing algorithm not accepted"},
		// The confusion attack: the RSA public key, which is public, used
		// as an HMAC secret.
		{"HS256 against RSA key", rsaPEM, sign(t, jwt.SigningMethodHS256, rsaPEM, claims("aud", "app", "iss", "https://issuer"), ""), "invalid token: signing algorithm not accepted"},
		{"RS256 against secret", testSecret, sign(t, jwt.SigningMethodRS256, k.rsa, claims("aud", "app", "iss", "https://issuer"), ""), "invalid token: signing algorithm not accepted"},
		{"ES256 against RSA key", rsaPEM, sign(t, jwt.SigningMethodES256, k.ec, claims("aud", "app", "iss", "https://issuer"), ""), "invalid token: signing algorithm not accepted"},
		{"no subject", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("aud", "app", "iss", "https://issuer", "sub", nil), ""), "invalid token: token has no subject"},
		{"subject too long", testSecret, sign(t, jwt.SigningMethodHS256, testSecret, claims("aud", "app", "iss", "https://issuer", "sub", strings.Repeat("u", 257)), ""), "invalid token: subject longer than 256 bytes"},
		{"malformed", testSecret, "not.a.token", "invalid token: token is malformed"},
		{"too long", testSecret, strings.Repeat("a", 8<<10+1), "invalid token: longer than 8192 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newTestJWT(t, JWTConfig{Key: c.key, Audience: "app", Issuer: "https://issuer"})
			denied(t, a, authHandshake(c.tok), c.want)
		})
	}

	t.Run("missing token", func(t *testing.T) {
		a := newTestJWT(t, JWTConfig{Key: testSecret, Cookie: "sb"})
		denied(t, a, &socketio.Handshake{Header: http.Header{}, Auth: json.RawMessage("{}")}, "missing token")
		denied(t, a, &socketio.Handshake{Header: http.Header{"Authorization": {"Basic YTpi"}}, Auth: json.RawMessage(`{"token":""}`)}, "missing token")
		denied(t, a, &socketio.Handshake{Auth: json.RawMessage(`{"token":5}`)}, `invalid token: auth "token" is not a string`)
	})

	t.Run("no exp", func(t *testing.T) {
		// exp is optional, as in Centrifugo.
		a := newTestJWT(t, JWTConfig{Key: testSecret})
		admit(t, a, authHandshake(sign(t, jwt.SigningMethodHS256, testSecret, claims("exp", nil), "")))
	})

	t.Run("cancelled", func(t *testing.T) {
		a := newTestJWT(t, JWTConfig{Key: testSecret})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := a.authorize(ctx, authHandshake(sign(t, jwt.SigningMethodHS256, testSecret, claims(), "")))
		var ce *socketio.ConnectError
		if !errors.Is(err, context.Canceled) || errors.As(err, &ce) {
			t.Fatalf("got %v, want a failure wrapping context.Canceled", err)
		}
	})
}

func TestJWTLeeway(t *testing.T) {
	now := time.Now()
	expired := sign(t, jwt.SigningMethodHS256, testSecret, claims("exp", now.Add(-10*time.Second).Unix()), "")
	early := sign(t, jwt.SigningMethodHS256, testSecret, claims("nbf", now.Add(10*time.Second).Unix(), "iat", now.Add(10*time.Second).Unix()), "")

	def := newTestJWT(t, JWTConfig{Key: testSecret}) // 30s
	admit(t, def, authHandshake(expired))
	admit(t, def, authHandshake(early))

	tight := newTestJWT(t, JWTConfig{Key: testSecret, Leeway: time.Second})
	denied(t, tight, authHandshake(expired), "invalid token: token is expired")
	denied(t, tight, authHandshake(early), "invalid token: token is not valid yet")
}

func TestJWTTokenSources(t *testing.T) {
	a := newTestJWT(t, JWTConfig{Key: testSecret, Cookie: "sb_token"})
	good := sign(t, jwt.SigningMethodHS256, testSecret, claims(), "")
	bad := sign(t, jwt.SigningMethodHS256, testSecret, claims("exp", time.Now().Add(-time.Hour).Unix()), "")
	empty := json.RawMessage("{}")

	admit(t, a, authHandshake(good))
	admit(t, a, &socketio.Handshake{Header: http.Header{"Authorization": {"Bearer " + good}}, Auth: empty})
	admit(t, a, &socketio.Handshake{Header: http.Header{"Authorization": {"bearer  " + good}}, Auth: empty})
	admit(t, a, &socketio.Handshake{Header: http.Header{"Cookie": {"other=1; sb_token=" + good}}, Auth: empty})

	// The first token present is the one checked.
	hs := authHandshake(bad)
	hs.Header.Set("Authorization", "Bearer "+good)
	denied(t, a, hs, "invalid token: token is expired")
	hs = &socketio.Handshake{Header: http.Header{"Authorization": {"Bearer " + bad}, "Cookie": {"sb_token=" + good}}, Auth: empty}
	denied(t, a, hs, "invalid token: token is expired")

	// A cookie of another name is no token.
	noCookie := newTestJWT(t, JWTConfig{Key: testSecret})
	denied(t, noCookie, &socketio.Handshake{Header: http.Header{"Cookie": {"sb_token=" + good}}, Auth: empty}, "missing token")
}

func TestJWTRoomsAndData(t *testing.T) {
	a := newTestJWT(t, JWTConfig{Key: testSecret, RoomsClaim: "rooms", DataClaim: "data"})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, claims(
		"rooms", []string{"news", "user:alice"},
		"data", map[string]any{"plan": "pro", "n": 3, "tags": []string{"a"}},
	), "")
	res := admit(t, a, authHandshake(tok))
	if !reflect.DeepEqual(res.Rooms, []string{"news", "user:alice"}) {
		t.Errorf("rooms %v", res.Rooms)
	}
	want := map[string]any{"plan": "pro", "n": float64(3), "tags": []any{"a"}}
	if !reflect.DeepEqual(res.Data, want) {
		t.Errorf("data %#v, want %#v", res.Data, want)
	}

	// Claims absent or null: no rooms, no data.
	res = admit(t, a, authHandshake(sign(t, jwt.SigningMethodHS256, testSecret, claims("rooms", json.RawMessage("null")), "")))
	if res.Rooms != nil || res.Data != nil {
		t.Errorf("got %+v, want no rooms nor data", res)
	}
	// Claims not configured are not read.
	plain := newTestJWT(t, JWTConfig{Key: testSecret})
	res = admit(t, plain, authHandshake(tok))
	if res.Rooms != nil || res.Data != nil {
		t.Errorf("got %+v, want no rooms nor data", res)
	}

	thousand := make([]string, 1000)
	for i := range thousand {
		thousand[i] = fmt.Sprint(i % 10)
	}
	admit(t, a, authHandshake(sign(t, jwt.SigningMethodHS256, testSecret, claims("rooms", thousand, "data", "s"), "")))
	admit(t, a, authHandshake(sign(t, jwt.SigningMethodHS256, testSecret, claims("rooms", []string{strings.Repeat("r", 256)}), "")))

	for _, c := range []struct {
		name  string
		rooms any
		want  string
	}{
		{"too many", append(thousand, "x"), `invalid token: claim "rooms" holds 1001 rooms, at most 1000`},
		{"empty room", []string{"a", ""}, `invalid token: claim "rooms" holds a room of 0 bytes, want 1 to 256`},
		{"long room", []string{strings.Repeat("r", 257)}, `invalid token: claim "rooms" holds a room of 257 bytes, want 1 to 256`},
		{"not strings", []any{"a", 1}, `invalid token: claim "rooms" is not an array of strings`},
		{"not an array", "news", `invalid token: claim "rooms" is not an array of strings`},
	} {
		t.Run(c.name, func(t *testing.T) {
			denied(t, a, authHandshake(sign(t, jwt.SigningMethodHS256, testSecret, claims("rooms", c.rooms), "")), c.want)
		})
	}
}

func TestJWTConfigErrors(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  JWTConfig
		want string
	}{
		{"no key", JWTConfig{}, "no key"},
		{"both", JWTConfig{Key: testSecret, JWKSURL: "https://issuer/jwks"}, "both"},
		{"bad PEM", JWTConfig{Key: []byte("-----BEGIN PUBLIC KEY-----\nnope\n")}, "no PEM block"},
		{"bad DER", JWTConfig{Key: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")})}, "parse PUBLIC KEY"},
		{"private key", JWTConfig{Key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})}, "give the public key"},
		{"small RSA", JWTConfig{Key: pemPublic(t, &small.PublicKey)}, "1024 bits"},
		{"HS256 with RSA", JWTConfig{Key: pemPublic(t, &k.rsa.PublicKey), Algorithms: []string{"RS256", "HS256"}}, `"HS256" does not fit`},
		{"ES384 with P-256", JWTConfig{Key: pemPublic(t, &k.ec.PublicKey), Algorithms: []string{"ES384"}}, `"ES384" does not fit`},
		{"none", JWTConfig{Key: testSecret, Algorithms: []string{"none"}}, `"none" is never accepted`},
		{"unknown alg", JWTConfig{Key: testSecret, Algorithms: []string{"HS1"}}, `"HS1" does not fit`},
		{"JWKS none", JWTConfig{JWKSURL: "https://issuer/jwks", Algorithms: []string{"none"}}, `"none" is never accepted`},
		{"JWKS ftp", JWTConfig{JWKSURL: "ftp://issuer/jwks"}, "want an http:// or https:// URL"},
		{"JWKS not a URL", JWTConfig{JWKSURL: "issuer/jwks"}, "want an http:// or https:// URL"},
		{"negative leeway", JWTConfig{Key: testSecret, Leeway: -time.Second}, "negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := newJWTAuth(c.cfg, quietLog)
			if err == nil {
				a.close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to say %q", err, c.want)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Fatalf("error %q shows the secret", err)
			}
		})
	}

	// Algorithms narrow those of the key.
	a := newTestJWT(t, JWTConfig{Key: pemPublic(t, &k.rsa.PublicKey), Algorithms: []string{"PS256"}})
	admit(t, a, authHandshake(sign(t, jwt.SigningMethodPS256, k.rsa, claims(), "")))
	denied(t, a, authHandshake(sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "")), "invalid token: signing algorithm not accepted")
}

// jwksServer serves a JWK Set that the test changes.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte // guarded by mu
	status  int    // guarded by mu
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	s.serve(t, http.StatusOK, nil)
	return s
}

// serve sets the status and the set: kid to key (public or private; only
// the public part is served).
func (s *jwksServer) serve(t *testing.T, status int, keys map[string]any) {
	t.Helper()
	store := jwkset.NewMemoryStorage()
	for kid, key := range keys {
		j, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	body, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body, s.status = body, status
	s.mu.Unlock()
}

func newJWKSAuth(t *testing.T, cfg JWTConfig, timing jwksTiming) *jwtAuth {
	t.Helper()
	a, err := newJWTAuthTimed(cfg, quietLog, timing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

func TestJWTJWKSRotation(t *testing.T) {
	k := testKeys()
	srv := newJWKSServer(t)
	srv.serve(t, http.StatusOK, map[string]any{"old": &k.rsa.PublicKey})
	oldTok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "old")
	newTok := sign(t, jwt.SigningMethodES256, k.ec, claims(), "new")
	edTok := sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), "ed")

	t.Run("unknown kid", func(t *testing.T) {
		// No background refresh to speak of: every fetch after the first
		// is for an unknown kid.
		a := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL}, jwksTiming{refresh: time.Hour, unknownKID: time.Millisecond, fetch: 2 * time.Second})
		admit(t, a, authHandshake(oldTok))
		denied(t, a, authHandshake(newTok), "invalid token: unknown signing key")

		srv.serve(t, http.StatusOK, map[string]any{"old": &k.rsa.PublicKey, "new": &k.ec.PublicKey})
		before := srv.fetches.Load()
		admit(t, a, authHandshake(newTok))
		if srv.fetches.Load() == before {
			t.Fatal("the new kid was accepted without a fetch")
		}
		admit(t, a, authHandshake(oldTok)) // both served: both accepted

		// The old key leaves the set: cached until the set is fetched
		// again, here for a kid the edge does not know.
		srv.serve(t, http.StatusOK, map[string]any{"new": &k.ec.PublicKey, "ed": k.ed.Public()})
		admit(t, a, authHandshake(oldTok))
		admit(t, a, authHandshake(edTok))
		denied(t, a, authHandshake(oldTok), "invalid token: unknown signing key")
		admit(t, a, authHandshake(newTok))
	})

	t.Run("background refresh", func(t *testing.T) {
		srv.serve(t, http.StatusOK, map[string]any{"old": &k.rsa.PublicKey, "new": &k.ec.PublicKey})
		// Unknown kids refresh at most once an hour: the first one may.
		a := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL}, jwksTiming{refresh: 20 * time.Millisecond, unknownKID: time.Hour, fetch: 2 * time.Second})
		admit(t, a, authHandshake(oldTok))
		srv.serve(t, http.StatusOK, map[string]any{"new": &k.ec.PublicKey})
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := a.authorize(context.Background(), authHandshake(oldTok))
			var ce *socketio.ConnectError
			if errors.As(err, &ce) && ce.Message == "invalid token: unknown signing key" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("old kid still accepted after 5s of 20ms refreshes: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		admit(t, a, authHandshake(newTok))
	})

	t.Run("confusion", func(t *testing.T) {
		// HS256 with the RSA key's PEM (or its JWK modulus) as secret,
		// naming the RSA kid: refused by algorithm, before any key.
		srv.serve(t, http.StatusOK, map[string]any{"old": &k.rsa.PublicKey})
		a := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL}, defaultJWKSTiming)
		pemTok := sign(t, jwt.SigningMethodHS256, pemPublic(t, &k.rsa.PublicKey), claims(), "old")
		nTok := sign(t, jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(k.rsa.N.Bytes())), claims(), "old")
		denied(t, a, authHandshake(pemTok), "invalid token: signing algorithm not accepted")
		denied(t, a, authHandshake(nTok), "invalid token: signing algorithm not accepted")

		// Even with HS256 listed (for "oct" keys), an RSA key does not
		// verify an HMAC token.
		hs := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL, Algorithms: []string{"HS256", "RS256"}}, defaultJWKSTiming)
		denied(t, hs, authHandshake(pemTok), "invalid token: key does not fit the algorithm")
		admit(t, hs, authHandshake(oldTok))
	})

	t.Run("no kid", func(t *testing.T) {
		srv.serve(t, http.StatusOK, map[string]any{"old": &k.rsa.PublicKey, "new": &k.ec.PublicKey})
		a := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL}, defaultJWKSTiming)
		admit(t, a, authHandshake(sign(t, jwt.SigningMethodES256, k.ec, claims(), "")))
		admit(t, a, authHandshake(sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "")))
		denied(t, a, authHandshake(sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "")), "invalid token: signature is invalid")
		denied(t, a, authHandshake(sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), "")), "invalid token: unknown signing key")
	})
}

// failure checks a failure to decide: an error, not a ConnectError.
func failure(t *testing.T, a authorizer, hs *socketio.Handshake, want string) {
	t.Helper()
	res, err := a.authorize(context.Background(), hs)
	var ce *socketio.ConnectError
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("got %+v, %v; want a failure", res, err)
	}
	if err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

func TestJWTJWKSUnavailable(t *testing.T) {
	k := testKeys()
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "k1")
	const unavailable = "token keys unavailable: the key set could not be fetched"
	timing := jwksTiming{refresh: time.Hour, unknownKID: time.Millisecond, fetch: 2 * time.Second}

	t.Run("down at start", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + l.Addr().String() + "/jwks"
		l.Close() // nothing listens: connections are refused
		start := time.Now()
		a := newJWKSAuth(t, JWTConfig{JWKSURL: url}, timing)
		if d := time.Since(start); d > time.Second {
			t.Errorf("start took %v with the JWKS down", d)
		}
		failure(t, a, authHandshake(tok), unavailable)
	})

	t.Run("errors, then recovers", func(t *testing.T) {
		srv := newJWKSServer(t)
		srv.serve(t, http.StatusInternalServerError, nil)
		a := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL}, timing)
		failure(t, a, authHandshake(tok), unavailable)
		srv.serve(t, http.StatusOK, map[string]any{"k1": &k.rsa.PublicKey})
		admit(t, a, authHandshake(tok))

		// Down again: the cached key still verifies; an unknown kid cannot
		// be told from a revoked one, so it is a failure, not a refusal.
		srv.serve(t, http.StatusServiceUnavailable, nil)
		admit(t, a, authHandshake(tok))
		failure(t, a, authHandshake(sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "k2")), unavailable)
	})

	t.Run("oversized set", func(t *testing.T) {
		srv := newJWKSServer(t)
		srv.mu.Lock()
		srv.body = []byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`)
		srv.mu.Unlock()
		a := newJWKSAuth(t, JWTConfig{JWKSURL: srv.URL}, timing)
		failure(t, a, authHandshake(tok), unavailable)
	})
}

// FuzzJWTAuthorize feeds the three token sources: whatever they hold, the
// answer is an admission within the bounds or a ConnectError (a static key
// never fails to decide), and never a panic.
func FuzzJWTAuthorize(f *testing.F) {
	a, err := newJWTAuthTimed(JWTConfig{Key: testSecret, Cookie: "tok", RoomsClaim: "rooms", DataClaim: "data"}, quietLog, defaultJWKSTiming)
	if err != nil {
		f.Fatal(err)
	}
	defer a.close()
	tok := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testSecret)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	good := tok(claims("rooms", []string{"a", "b"}, "data", map[string]any{"x": 1}))
	f.Add(`{"token":"`+good+`"}`, "", "")
	f.Add("{}", "Bearer "+good, "")
	f.Add("{}", "", "tok="+good)
	f.Add(`{"token":"`+tok(claims("rooms", []any{1}))+`"}`, "", "")
	f.Add(`{"token":"`+tok(claims("sub", 7))+`"}`, "", "")
	f.Add(`{"token":"a.b.c"}`, "Bearer", "tok")
	f.Add(`"token"`, "Basic x", "tok=;tok=x")
	f.Fuzz(func(t *testing.T, auth, authorization, cookie string) {
		hs := &socketio.Handshake{Header: http.Header{}, Auth: json.RawMessage(auth)}
		if authorization != "" {
			hs.Header.Set("Authorization", authorization)
		}
		if cookie != "" {
			hs.Header.Set("Cookie", cookie)
		}
		res, err := a.authorize(context.Background(), hs)
		if err != nil {
			var ce *socketio.ConnectError
			if !errors.As(err, &ce) || res != nil {
				t.Fatalf("got %+v, %v; want a ConnectError alone", res, err)
			}
			return
		}
		if res == nil || res.User == "" || len(res.User) > maxSubjectBytes || len(res.Rooms) > maxRooms {
			t.Fatalf("admitted out of bounds: %+v", res)
		}
		for _, r := range res.Rooms {
			if r == "" || len(r) > maxRoomBytes {
				t.Fatalf("room %q out of bounds", r)
			}
		}
	})
}
