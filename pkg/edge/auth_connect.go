package edge

// Who may connect: AuthConfig applied to every namespace the edge serves.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// CheckAuthMode checks an authorization mode's name.
func CheckAuthMode(m AuthMode) error {
	switch m {
	case AuthOpen, AuthJWT, AuthHook:
		return nil
	}
	return fmt.Errorf("want %s, %s or %s", AuthOpen, AuthJWT, AuthHook)
}

// check refuses an AuthConfig no edge can serve with; each error names the
// namespace. withBus tells whether the edge has a NATS connection, which
// a "nats:" hook needs. The JWT key itself is checked when the edge is made
// (newJWTAuth).
func (c *AuthConfig) check(withBus bool) error {
	if c.HookTimeout < 0 {
		return fmt.Errorf("hook timeout %v is negative", c.HookTimeout)
	}
	names := make([]string, 0, len(c.Namespaces))
	for n := range c.Namespaces {
		names = append(names, n)
	}
	sort.Strings(names) // the same error each time
	for _, n := range names {
		na := c.Namespaces[n]
		if err := CheckNamespace(n); err != nil {
			return fmt.Errorf("namespace %q: %w", n, err)
		}
		if err := CheckAuthMode(na.Mode); err != nil {
			return fmt.Errorf("namespace %q: mode %q: %w", n, na.Mode, err)
		}
		if na.Mode != AuthHook && na.Hook != "" {
			return fmt.Errorf("namespace %q: a hook target (%q) is for mode %s, not %s", n, na.Hook, AuthHook, na.Mode)
		}
		switch na.Mode {
		case AuthHook:
			if na.Hook == "" {
				return fmt.Errorf("namespace %q: mode %s needs a hook target (grpc://host:port, grpcs://host:port or nats:<subject>)", n, AuthHook)
			}
			scheme, _, err := parseHookTarget(na.Hook)
			if err != nil {
				return fmt.Errorf("namespace %q: hook target %q: %w", n, na.Hook, err)
			}
			if scheme == hookNATS && !withBus {
				return fmt.Errorf("namespace %q: hook target %q needs a NATS URL: the edge is standalone", n, na.Hook)
			}
		case AuthJWT:
			if len(c.JWT.Key) == 0 && c.JWT.JWKSURL == "" {
				return fmt.Errorf("namespace %q: mode %s needs a JWT key or a JWKS URL", n, AuthJWT)
			}
		}
	}
	return nil
}

// edgeAuth applies an edge's AuthConfig: it installs each namespace's
// authorizer (the "*" entry's for a namespace not named, dynamic ones
// included; none for an open namespace), bounds each check by HookTimeout,
// counts the refusals and failures, and owns what the authorizers hold: one
// JWT checker for every AuthJWT namespace, one hook client per distinct
// target.
//
// A check runs on the goroutine that reads the client's connection
// (socketio.Namespace.Authenticate): a slow hook holds up only that
// connection, for HookTimeout at most.
type edgeAuth struct {
	cfg     AuthConfig
	timeout time.Duration
	log     *slog.Logger

	jwt   authorizer             // nil when no namespace uses AuthJWT
	hooks map[string]*hookClient // by target; read-only after newEdgeAuth
	bus   atomic.Pointer[nats.Conn]

	// ctx ends when the edge stops: the checks in flight give up.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once

	refused  atomic.Uint64 // CONNECTs denied (a *socketio.ConnectError)
	failures atomic.Uint64 // CONNECTs refused because no decision came
}

// newEdgeAuth makes the authorizers of a checked configuration.
func newEdgeAuth(cfg Config, log *slog.Logger) (*edgeAuth, error) {
	a := &edgeAuth{cfg: cfg.Auth, timeout: cfg.Auth.HookTimeout, log: log, hooks: make(map[string]*hookClient)}
	a.cfg.Namespaces = maps.Clone(cfg.Auth.Namespaces) // the caller's map may change
	if a.timeout == 0 {
		a.timeout = DefaultHookTimeout
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	maxRooms := cfg.MaxRoomsPerSocket
	switch {
	case maxRooms == 0:
		maxRooms = socketio.DefaultMaxRoomsPerSocket
	case maxRooms < 0:
		maxRooms = 0
	}
	for _, na := range cfg.Auth.Namespaces {
		switch na.Mode {
		case AuthJWT:
			if a.jwt != nil {
				continue
			}
			j, err := newJWTAuth(cfg.Auth.JWT, log)
			if err != nil {
				a.close()
				return nil, fmt.Errorf("auth: %w", err)
			}
			a.jwt = j
		case AuthHook:
			if a.hooks[na.Hook] != nil {
				continue
			}
			h, err := newHookClient(na.Hook, cfg.EdgeID, maxRooms, cfg.Auth.HookTLS, &a.bus)
			if err != nil {
				a.close()
				return nil, fmt.Errorf("auth: %w", err)
			}
			a.hooks[na.Hook] = h
		}
	}
	return a, nil
}

// setBus gives "nats:" hooks the edge's bus connection.
func (a *edgeAuth) setBus(nc *nats.Conn) { a.bus.Store(nc) }

// stop makes the checks in flight, and any that start, give up: the edge
// is stopping.
func (a *edgeAuth) stop() { a.cancel() }

// close stops the checks and releases the authorizers; once.
func (a *edgeAuth) close() {
	a.closeOnce.Do(func() {
		a.cancel()
		if a.jwt != nil {
			a.jwt.close()
		}
		for _, h := range a.hooks {
			h.close()
		}
	})
}

// of returns the authorizer of a namespace, nil for an open one.
func (a *edgeAuth) of(ns string) authorizer {
	na, ok := a.cfg.Namespaces[ns]
	if !ok {
		na = a.cfg.Namespaces["*"]
	}
	switch na.Mode {
	case AuthJWT:
		return a.jwt
	case AuthHook:
		return hookFor{h: a.hooks[na.Hook], ns: ns}
	}
	return nil
}

// hookNamespace is a socketio.OnNamespace hook: it installs the
// namespace's authorizer.
func (a *edgeAuth) hookNamespace(ns *socketio.Namespace) {
	z := a.of(ns.Name())
	if z == nil {
		return
	}
	name := ns.Name()
	ns.Authenticate(func(hs *socketio.Handshake) (*socketio.ConnectResult, error) {
		return a.authenticate(name, z, hs)
	})
}

func (a *edgeAuth) authenticate(ns string, z authorizer, hs *socketio.Handshake) (*socketio.ConnectResult, error) {
	ctx, cancel := context.WithTimeout(a.ctx, a.timeout)
	defer cancel()
	res, err := z.authorize(ctx, hs)
	if err == nil {
		return res, nil
	}
	var ce *socketio.ConnectError
	if errors.As(err, &ce) {
		a.refused.Add(1)
		return nil, ce
	}
	if n := a.failures.Add(1); worthLogging(n) {
		attrs := []any{"ns", ns, "refused_with", err.Error(), "failures", n}
		if cause := errors.Unwrap(err); cause != nil {
			attrs = append(attrs, "err", cause)
		}
		a.log.Warn("edge: connect authorization could not decide; connect refused", attrs...)
	}
	return nil, err
}

// counts returns the refusals and the failures so far.
func (a *edgeAuth) counts() (refused, failures uint64) {
	return a.refused.Load(), a.failures.Load()
}
