package bus

import (
	"crypto/rand"
	"encoding/base64"
	"strings"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// EdgeIDLen is the length of an edge id; every sid starts with its edge's
// id, which is how control routes a sid to its edge without a lookup.
const EdgeIDLen = 8

// NewEdgeID returns a random edge id: EdgeIDLen lowercase letters and
// digits.
func NewEdgeID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [EdgeIDLen]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// IsEdgeID reports whether id has the form of an edge id: EdgeIDLen
// lowercase letters or digits.
func IsEdgeID(id string) bool {
	if len(id) != EdgeIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// EdgeOfSID returns the edge a sid (or a room that may be a socket's own
// room) names: its first EdgeIDLen characters, if they have an edge id's
// form and something follows them; "" otherwise.
func EdgeOfSID(sid string) string {
	if len(sid) <= EdgeIDLen || !IsEdgeID(sid[:EdgeIDLen]) {
		return ""
	}
	return sid[:EdgeIDLen]
}

// SIDEdges returns the distinct edges t's sids name, in order.
func SIDEdges(t *sbv1.Target) []string {
	var edges []string
	seen := map[string]bool{}
	for _, sid := range t.GetSids() {
		if e := EdgeOfSID(sid); e != "" && !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	return edges
}

// Broadcast plans a broadcast to t: the subjects that can reach every
// socket it selects, each carrying one copy. One per room and per user; the
// edge subject of each edge that holds a named sid, or that a room of the
// form of a sid names (every socket is in the room named by its sid, as
// socket.io's io.to(socket.id), but no edge subscribes to those rooms'
// subjects); the namespace subject when t names none of those.
//
// Control publishes on these subjects (or, past CopiesFit, once on the
// namespace subject), and an edge counts them (Copies) to know whether it
// may receive the same broadcast more than once: both call this one plan.
func (s Subjects) Broadcast(ns string, t *sbv1.Target) []string {
	var subjects []string
	for _, r := range t.GetRooms() {
		subjects = append(subjects, s.Room(ns, r))
	}
	for _, u := range t.GetUsers() {
		subjects = append(subjects, s.User(ns, u))
	}
	for _, e := range broadcastEdges(t) {
		subjects = append(subjects, s.Edge(e))
	}
	if len(subjects) == 0 {
		subjects = append(subjects, s.Namespace(ns))
	}
	return subjects
}

// Copies is how many subjects Broadcast plans for t: more than one, and an
// edge may receive the broadcast more than once.
func Copies(t *sbv1.Target) int {
	n := len(t.GetRooms()) + len(t.GetUsers()) + len(broadcastEdges(t))
	return max(n, 1)
}

// broadcastEdges are the edges Broadcast sends to on their edge subject:
// those of the sids, then those of the rooms of the form of a sid.
func broadcastEdges(t *sbv1.Target) []string {
	edges := SIDEdges(t)
	seen := make(map[string]bool, len(edges))
	for _, e := range edges {
		seen[e] = true
	}
	for _, r := range t.GetRooms() {
		if e := EdgeOfSID(r); e != "" && !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	return edges
}

// NewAckID returns the last token of a new ack reply subject (Subjects.Ack):
// 128 random bits, so that a caller of the API can answer only the acks it
// was given, never guess another's.
func NewAckID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// IsAckID reports whether n has the form NewAckID gives.
func IsAckID(n string) bool {
	if len(n) != base64.RawURLEncoding.EncodedLen(16) {
		return false
	}
	return strings.Trim(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}
