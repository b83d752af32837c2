package bus

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// DefaultPrefix is the subject prefix when none is configured.
const DefaultPrefix = "sb"

// Subjects builds the subjects of one deployment. Several deployments share
// a NATS cluster by using different prefixes.
type Subjects struct {
	prefix string // ends with ".v1."
}

// NewSubjects returns the subjects under prefix ("" means DefaultPrefix).
// A prefix is one or more NATS tokens: letters, digits, '-', '_' and dots
// between tokens.
func NewSubjects(prefix string) (Subjects, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" {
			return Subjects{}, errors.New("bus: empty token in subject prefix")
		}
		for _, c := range tok {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return Subjects{}, errors.New("bus: subject prefix may hold only letters, digits, '-', '_' and '.'")
			}
		}
	}
	return Subjects{prefix: prefix + ".v1."}, nil
}

// MaxTokenLen is the longest token Token returns. A subject is a few tokens,
// so every subject stays far below NATS's control-line limit (4 KB by
// default; a longer PUB or SUB line makes the server close the connection)
// whatever names clients and callers choose.
const MaxTokenLen = 48

// Token encodes an arbitrary name (namespace, room, user, event) as one
// subject token: base64url without padding when that is at most
// MaxTokenLen characters (names up to 36 bytes), which reads back as the
// name. A longer name is "=" and the base64url SHA-256 of the name (44
// characters): fixed size, never the token of a short name ("=" is not
// base64url), and two names sharing one would take a SHA-256 collision.
// The empty name is "_", which no non-empty name encodes to (one base64
// character never stands alone).
func Token(name string) string {
	if name == "" {
		return "_"
	}
	if base64.RawURLEncoding.EncodedLen(len(name)) > MaxTokenLen {
		sum := sha256.Sum256([]byte(name))
		return "=" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// Room is the subject of the sockets of a room.
func (s Subjects) Room(ns, room string) string {
	return s.prefix + "room." + Token(ns) + "." + Token(room)
}

// User is the subject of the sockets of a user.
func (s Subjects) User(ns, user string) string {
	return s.prefix + "user." + Token(ns) + "." + Token(user)
}

// Namespace is the subject of every socket of a namespace.
func (s Subjects) Namespace(ns string) string { return s.prefix + "ns." + Token(ns) }

// Edge is the subject of one edge.
func (s Subjects) Edge(edge string) string { return s.prefix + "edge." + edge }

// Cluster is the subject every edge listens on.
func (s Subjects) Cluster() string { return s.prefix + "cluster" }

// Heartbeat is where edges publish their heartbeats.
func (s Subjects) Heartbeat() string { return s.prefix + "heartbeat" }

// EdgeLost is where control instances publish the edges whose heartbeats
// stopped (switchboard.v1.EdgeLost), for every instance's Subscribe
// streams.
func (s Subjects) EdgeLost() string { return s.prefix + "edgelost" }

// Event is where edges publish a client event.
func (s Subjects) Event(ns, event string) string {
	return s.prefix + "event." + Token(ns) + "." + Token(event)
}

// EventFilter is the subscription subject for events of a namespace (all
// namespaces when ns is "") and of an event name (all when event is "").
func (s Subjects) EventFilter(ns, event string) string {
	nsTok, evTok := "*", "*"
	if ns != "" {
		nsTok = Token(ns)
	}
	if event != "" {
		evTok = Token(event)
	}
	return s.prefix + "event." + nsTok + "." + evTok
}

// Lifecycle is where edges publish connects and disconnects.
func (s Subjects) Lifecycle(ns string) string { return s.prefix + "lifecycle." + Token(ns) }

// LifecycleFilter subscribes to lifecycle events of ns, or of all when "".
func (s Subjects) LifecycleFilter(ns string) string {
	if ns == "" {
		return s.prefix + "lifecycle.*"
	}
	return s.Lifecycle(ns)
}

// AckPrefix starts every ack reply subject; AckInbox is one edge's wildcard.
func (s Subjects) AckPrefix() string { return s.prefix + "ack." }

// AckInbox is the wildcard subscription of an edge's ack reply subjects.
func (s Subjects) AckInbox(edge string) string { return s.prefix + "ack." + edge + ".*" }

// Ack is one ack reply subject of an edge.
func (s Subjects) Ack(edge, n string) string { return s.prefix + "ack." + edge + "." + n }

// IsAck reports whether subject is an ack reply subject of this deployment,
// and returns its edge.
func (s Subjects) IsAck(subject string) (edge string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.prefix+"ack.")
	if !ok {
		return "", false
	}
	edge, n, ok := strings.Cut(rest, ".")
	if !ok || edge == "" || n == "" || strings.Contains(n, ".") || strings.ContainsAny(rest, notInToken) {
		return "", false
	}
	return edge, true
}

// notInToken are the characters a subject token to publish on may not hold:
// wildcards and the whitespace that separates NATS protocol fields.
const notInToken = "*> \t\r\n"

// IsEvent reports whether subject is a client event subject, and returns
// its namespace token.
func (s Subjects) IsEvent(subject string) (nsToken string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.prefix+"event.")
	if !ok {
		return "", false
	}
	ns, _, ok := strings.Cut(rest, ".")
	return ns, ok
}
