package main

// The authorization flags (docs/auth.md): which namespace admits whom, and
// how tokens are checked. Each value is checked here, so that a bad one is
// a usage error naming its flag; pkg/edge checks the configuration again
// when the edge starts.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// authList is --auth: NAMESPACE=MODE[:TARGET] items, comma-separated, the
// flag repeatable (each occurrence adds its items).
type authList []string

func (l *authList) String() string { return strings.Join(*l, ",") }

func (l *authList) Set(v string) error {
	var one envflag.List
	if err := one.Set(v); err != nil {
		return err
	}
	*l = append(*l, one...)
	return nil
}

// authFlags holds the authorization flags' values.
type authFlags struct {
	auth        authList
	hookTimeout time.Duration
	keyFile     string
	key         envflag.Secret
	jwksURL     string
	algorithms  envflag.List
	audience    string
	issuer      string
	leeway      time.Duration
	cookie      string
	roomsClaim  string
	dataClaim   string

	// Set by the checks.
	namespaces map[string]edge.NamespaceAuth
	keyBytes   []byte // --jwt-key or the content of --jwt-key-file; see loadKey
	keyErr     error
	keyLoaded  bool
}

// loadKey returns the key: --jwt-key-file's content, else --jwt-key. The
// file is read once, by whichever check needs it first (checks run in the
// flags' order, and --jwt-algorithms comes before the key's flags).
func (a *authFlags) loadKey() ([]byte, error) {
	if a.keyLoaded {
		return a.keyBytes, a.keyErr
	}
	a.keyLoaded = true
	if a.keyFile == "" {
		a.keyBytes = []byte(a.key)
		return a.keyBytes, nil
	}
	a.keyBytes, a.keyErr = os.ReadFile(a.keyFile)
	if a.keyErr != nil {
		a.keyErr = errors.Unwrap(a.keyErr) // the path is in the line already
	}
	return a.keyBytes, a.keyErr
}

func (a *authFlags) define(fs *flag.FlagSet) {
	fs.Var(&a.auth, "auth", "who may connect: `NAMESPACE=MODE[:TARGET]`, comma-separated, the flag repeatable; MODE open, jwt, or hook:grpc://host:port, hook:grpcs://host:port, hook:nats:SUBJECT; NAMESPACE * is every namespace not named; a namespace in neither is open")
	fs.DurationVar(&a.hookTimeout, "hook-timeout", 3*time.Second, "bound on a connect hook's answer; past it the connect is refused")
	fs.StringVar(&a.keyFile, "jwt-key-file", "", "`file` holding the key that verifies tokens: a PEM public key (RSA, ECDSA, Ed25519) or an HMAC secret, used byte for byte (a trailing newline is part of the secret)")
	fs.Var(&a.key, "jwt-key", "the `key` itself, as --jwt-key-file holds it; never printed in errors (prefer the file or the variable to the command line)")
	fs.StringVar(&a.jwksURL, "jwks-url", "", "http(s) `URL` of a JSON Web Key Set that verifies tokens, instead of a key")
	fs.Var(&a.algorithms, "jwt-algorithms", "comma-separated token `algorithms` accepted (HS256, RS256, ES256, EdDSA, …); empty: those the key is for (with --jwks-url: every RS*, PS*, ES* and EdDSA, no HS*)")
	fs.StringVar(&a.audience, "jwt-audience", "", "when set, a token's aud must hold it")
	fs.StringVar(&a.issuer, "jwt-issuer", "", "when set, a token's iss must be it")
	fs.DurationVar(&a.leeway, "jwt-leeway", 30*time.Second, "clock skew allowed on a token's exp, nbf and iat")
	fs.StringVar(&a.cookie, "jwt-cookie", "", "cookie that may carry the token, after the auth payload's token and the Authorization: Bearer header; empty: none")
	fs.StringVar(&a.roomsClaim, "jwt-rooms-claim", "", "claim holding an array of rooms the socket joins at connect; empty: none")
	fs.StringVar(&a.dataClaim, "jwt-data-claim", "", "claim whose value becomes the socket's data; empty: none")
}

// checks returns the flags' checks; natsURL is the edge's --nats-url, read
// when the checks run.
func (a *authFlags) checks(natsURL *string) envflag.Checks {
	return envflag.Checks{
		"auth": func() error {
			ns, err := parseAuth(a.auth, *natsURL != "")
			if err != nil {
				return err
			}
			a.namespaces = ns
			if a.usesJWT() && len(a.key) == 0 && a.keyFile == "" && a.jwksURL == "" {
				return errors.New("jwt needs --jwt-key-file, --jwt-key or --jwks-url")
			}
			return nil
		},
		"hook-timeout": func() error { return envflag.Positive(a.hookTimeout) },
		"jwt-key-file": func() error {
			if a.keyFile == "" {
				return nil
			}
			if len(a.key) > 0 {
				return errors.New("give --jwt-key-file or --jwt-key, not both")
			}
			b, err := a.loadKey()
			if err != nil {
				return err
			}
			return checkJWTKey(b)
		},
		"jwt-key": func() error {
			if len(a.key) == 0 {
				return nil
			}
			return checkJWTKey([]byte(a.key))
		},
		"jwks-url": func() error {
			if a.jwksURL == "" {
				return nil
			}
			if len(a.key) > 0 || a.keyFile != "" {
				return errors.New("give a key (--jwt-key-file, --jwt-key) or --jwks-url, not both")
			}
			u, err := url.Parse(a.jwksURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return errors.New("want an http:// or https:// URL")
			}
			return nil
		},
		"jwt-algorithms": func() error { return envflag.Each(a.algorithms, a.checkAlgorithm) },
		"jwt-audience":   func() error { return checkBlank(a.audience) },
		"jwt-issuer":     func() error { return checkBlank(a.issuer) },
		"jwt-leeway":     func() error { return envflag.Positive(a.leeway) },
		"jwt-cookie": func() error {
			if a.cookie == "" {
				return nil
			}
			if strings.ContainsFunc(a.cookie, func(r rune) bool { return !isTokenChar(r) }) {
				return errors.New("want a cookie name: letters, digits and !#$%&'*+-.^_`|~")
			}
			return nil
		},
		"jwt-rooms-claim": func() error { return checkClaim(a.roomsClaim) },
		"jwt-data-claim": func() error {
			if a.dataClaim != "" && a.dataClaim == a.roomsClaim {
				return errors.New("is --jwt-rooms-claim too: give each its own claim")
			}
			return checkClaim(a.dataClaim)
		},
	}
}

// usesJWT reports whether a namespace is in jwt mode.
func (a *authFlags) usesJWT() bool {
	for _, n := range a.namespaces {
		if n.Mode == edge.AuthJWT {
			return true
		}
	}
	return false
}

// config is the checked flags as the edge's configuration.
func (a *authFlags) config() edge.AuthConfig {
	key, _ := a.loadKey() // checked
	return edge.AuthConfig{
		Namespaces:  a.namespaces,
		HookTimeout: a.hookTimeout,
		JWT: edge.JWTConfig{
			Key:        key,
			JWKSURL:    a.jwksURL,
			Algorithms: a.algorithms,
			Audience:   a.audience,
			Issuer:     a.issuer,
			Leeway:     a.leeway,
			Cookie:     a.cookie,
			RoomsClaim: a.roomsClaim,
			DataClaim:  a.dataClaim,
		},
	}
}

// warn logs what is set but does nothing.
func (a *authFlags) warn(log *slog.Logger) {
	k, _ := a.loadKey()
	if a.usesJWT() {
		if len(k) > 0 && !bytes.Contains(k, []byte("-----BEGIN")) && (k[len(k)-1] == '\n' || k[len(k)-1] == '\r') {
			log.Warn("edge: the JWT HMAC secret ends with a newline, which is part of the secret", "flag", a.keySource())
		}
		return
	}
	if len(k) > 0 || a.jwksURL != "" {
		log.Warn("edge: a JWT key or --jwks-url is set but no --auth namespace uses jwt")
	}
}

func (a *authFlags) keySource() string {
	if a.keyFile != "" {
		return "jwt-key-file"
	}
	return "jwt-key"
}

// parseAuth reads --auth's items. withNATS tells whether the edge joins
// NATS, which a nats: hook needs.
func parseAuth(items []string, withNATS bool) (map[string]edge.NamespaceAuth, error) {
	out := make(map[string]edge.NamespaceAuth, len(items))
	err := envflag.Each(items, func(item string) error {
		ns, na, err := parseAuthItem(item, withNATS)
		if err != nil {
			return err
		}
		if _, dup := out[ns]; dup {
			return fmt.Errorf("namespace %s given twice", ns)
		}
		out[ns] = na
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func parseAuthItem(item string, withNATS bool) (string, edge.NamespaceAuth, error) {
	const form = "want NAMESPACE=MODE[:TARGET], e.g. /=jwt or /admin=hook:grpc://127.0.0.1:7000"
	ns, mode, ok := strings.Cut(item, "=")
	if !ok {
		return "", edge.NamespaceAuth{}, errors.New(form)
	}
	if err := edge.CheckNamespace(ns); err != nil {
		return "", edge.NamespaceAuth{}, fmt.Errorf("namespace %q: %w", ns, err)
	}
	name, target, hasTarget := strings.Cut(mode, ":")
	switch edge.AuthMode(name) {
	case edge.AuthOpen, edge.AuthJWT:
		if hasTarget {
			return "", edge.NamespaceAuth{}, fmt.Errorf("mode %s takes no target", name)
		}
		return ns, edge.NamespaceAuth{Mode: edge.AuthMode(name)}, nil
	case edge.AuthHook:
		if !hasTarget {
			return "", edge.NamespaceAuth{}, errors.New("hook needs a target: hook:grpc://host:port, hook:grpcs://host:port or hook:nats:SUBJECT")
		}
		if err := checkHookTarget(target, withNATS); err != nil {
			return "", edge.NamespaceAuth{}, fmt.Errorf("hook %q: %w", target, err)
		}
		return ns, edge.NamespaceAuth{Mode: edge.AuthHook, Hook: target}, nil
	}
	return "", edge.NamespaceAuth{}, fmt.Errorf("mode %q: want open, jwt or hook:TARGET", name)
}

// checkHookTarget checks where a connect hook answers (edge.CheckHookTarget)
// and that the edge can reach it: a NATS hook needs the bus.
func checkHookTarget(target string, withNATS bool) error {
	if err := edge.CheckHookTarget(target); err != nil {
		return err
	}
	if strings.HasPrefix(target, "nats:") && !withNATS {
		return errors.New("a NATS hook needs --nats-url (the edge runs standalone)")
	}
	return nil
}

// checkAlgorithm checks one --jwt-algorithms item: a known algorithm that
// the key, when there is one, is for.
func (a *authFlags) checkAlgorithm(alg string) error {
	all := edge.JWTAlgorithms()
	if strings.EqualFold(alg, "none") {
		return errors.New(`"none" is never accepted`)
	}
	if !slices.Contains(all, alg) {
		return fmt.Errorf("want one of %s", strings.Join(all, ", "))
	}
	b, err := a.loadKey()
	if err != nil || len(b) == 0 {
		return nil // no key, or the key's own flag says what is wrong
	}
	fits, err := edge.JWTKeyAlgorithms(b)
	if err != nil {
		return nil // the key's own flag says what is wrong
	}
	if !slices.Contains(fits, alg) {
		return fmt.Errorf("does not fit the key (it fits %s)", strings.Join(fits, ", "))
	}
	return nil
}

// checkJWTKey checks --jwt-key or --jwt-key-file's content as the edge will
// read it (edge.JWTKeyAlgorithms), so that a bad key is a usage error
// naming the flag.
func checkJWTKey(b []byte) error {
	if len(b) == 0 {
		return errors.New("the key is empty")
	}
	_, err := edge.JWTKeyAlgorithms(b)
	return err
}

// checkBlank refuses a value of spaces only, which is surely a mistake.
func checkBlank(v string) error {
	if v != "" && strings.TrimSpace(v) == "" {
		return errors.New("is blank: give a value or leave it empty")
	}
	return nil
}

// checkClaim checks a claim name: not blank, not a registered claim
// (RFC 7519 §4.1), whose values mean something else.
func checkClaim(name string) error {
	if err := checkBlank(name); err != nil {
		return err
	}
	if slices.Contains([]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}, name) {
		return errors.New("is a registered claim: name one of your own")
	}
	return nil
}

// isTokenChar reports whether r may be in an HTTP token (RFC 9110 §5.6.2),
// which a cookie name is.
func isTokenChar(r rune) bool {
	return r < unicode.MaxASCII && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}
