package bus_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSubjects(t *testing.T) {
	s, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ got, want string }{
		{s.Room("/", "lobby"), "sb.v1.room.Lw.bG9iYnk"},
		{s.User("/chat", "42"), "sb.v1.user.L2NoYXQ.NDI"},
		{s.Namespace("/"), "sb.v1.ns.Lw"},
		{s.Edge("abcd1234"), "sb.v1.edge.abcd1234"},
		{s.Cluster(), "sb.v1.cluster"},
		{s.Heartbeat(), "sb.v1.heartbeat"},
		{s.Event("/", "chat"), "sb.v1.event.Lw.Y2hhdA"},
		{s.EventFilter("", ""), "sb.v1.event.*.*"},
		{s.EventFilter("/", ""), "sb.v1.event.Lw.*"},
		{s.Lifecycle("/"), "sb.v1.lifecycle.Lw"},
		{s.LifecycleFilter(""), "sb.v1.lifecycle.*"},
		{s.Ack("abcd1234", "7"), "sb.v1.ack.abcd1234.7"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	p, _ := bus.NewSubjects("prod.eu-1")
	if got := p.Cluster(); got != "prod.eu-1.v1.cluster" {
		t.Errorf("prefixed cluster subject %q", got)
	}
}

func TestSubjectPrefixValidation(t *testing.T) {
	for _, bad := range []string{"a..b", ".a", "a.", "a b", "a*", "a>", "a/b"} {
		if _, err := bus.NewSubjects(bad); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

// TestTokenIsOneSafeToken: any name, however odd or long, is one short
// subject token, that decodes back to the name when the name is short, and
// distinct names never share a token.
func TestTokenIsOneSafeToken(t *testing.T) {
	names := []string{"", "a", "/", "a.b", "*", ">", "room with spaces", "ünïcödé 🎉", strings.Repeat("x", 36), strings.Repeat("x", 37),
		strings.Repeat("x", 300), strings.Repeat("y", 300), strings.Repeat("x", 1_000_000), "\x00\n\t"}
	seen := map[string]string{}
	for _, n := range names {
		tok := bus.Token(n)
		if tok == "" || strings.ContainsAny(tok, ". *>\t\r\n") {
			t.Errorf("Token(%q) = %q is not one safe token", n, tok)
		}
		if len(tok) > bus.MaxTokenLen {
			t.Errorf("Token(%d bytes) has %d characters, more than %d", len(n), len(tok), bus.MaxTokenLen)
		}
		if n != "" && len(n) <= 36 {
			dec, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil || string(dec) != n {
				t.Errorf("Token(%q) = %q does not decode back", n, tok)
			}
		}
		if other, dup := seen[tok]; dup {
			t.Errorf("%q and %q share token %q", n, other, tok)
		}
		seen[tok] = n
	}
}

func TestIsAckAndIsEvent(t *testing.T) {
	s, _ := bus.NewSubjects("sb")
	for subject, want := range map[string]bool{
		"sb.v1.ack.abcd1234.1":    true,
		"sb.v1.ack.abcd1234":      false,
		"sb.v1.ack.abcd1234.*":    false,
		"sb.v1.ack.abcd1234.1.2":  false,
		"other.v1.ack.abcd1234.1": false,
		"sb.v1.event.Lw.eA":       false,
	} {
		if _, ok := s.IsAck(subject); ok != want {
			t.Errorf("IsAck(%q) = %v, want %v", subject, ok, want)
		}
	}
	if edge, _ := s.IsAck("sb.v1.ack.abcd1234.9"); edge != "abcd1234" {
		t.Errorf("IsAck edge %q", edge)
	}
	if ns, ok := s.IsEvent(s.Event("/", "x")); !ok || ns != "Lw" {
		t.Errorf("IsEvent = %q, %v", ns, ok)
	}
	if _, ok := s.IsEvent(s.Lifecycle("/")); ok {
		t.Error("a lifecycle subject is not an event subject")
	}
}

func runNATS(t *testing.T) *nats.Conn {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestLongNamesKeepTheConnection: subscribing and publishing on the subjects
// of names as long as clients and callers may send (a 3,500-character
// namespace, a 4,000-character room, a 3,200-character event) leaves the
// NATS connection open and the messages delivered. With one base64 token
// per name those lines exceeded NATS's 4 KB control-line limit and the
// server closed the connection for good.
func TestLongNamesKeepTheConnection(t *testing.T) {
	nc := runNATS(t)
	s, _ := bus.NewSubjects("sb")
	ns, room, event := "/"+strings.Repeat("n", 3500), strings.Repeat("r", 4000), strings.Repeat("e", 3200)
	for _, subj := range []string{s.Room(ns, room), s.User(ns, room), s.Namespace(ns), s.Event(ns, event), s.EventFilter(ns, event), s.Lifecycle(ns)} {
		sub, err := nc.SubscribeSync(subj)
		if err != nil {
			t.Fatalf("subscribe %.40s...: %v", subj, err)
		}
		if err := nc.Publish(subj, []byte("x")); err != nil {
			t.Fatalf("publish %.40s...: %v", subj, err)
		}
		if _, err := sub.NextMsg(2 * time.Second); err != nil {
			t.Fatalf("%.40s... (%d characters): %v (connection %v, %v)", subj, len(subj), err, nc.Status(), nc.LastError())
		}
		_ = sub.Unsubscribe()
	}
}

// TestInterestRefCounts: a subject is subscribed from the first Add to the
// last Remove, and only then.
func TestInterestRefCounts(t *testing.T) {
	nc := runNATS(t)
	ch := make(chan *nats.Msg, 16)
	in := bus.NewInterest(func(s string) (*nats.Subscription, error) { return nc.ChanSubscribe(s, ch) }, nil)
	defer in.Close()

	const subj = "t.room"
	publish := func(data string) {
		t.Helper()
		if err := nc.Publish(subj, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(data string) {
		t.Helper()
		select {
		case m := <-ch:
			if string(m.Data) != data {
				t.Fatalf("got %q, want %q", m.Data, data)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no message %q", data)
		}
	}
	for range 2 {
		in.Add(subj)
	}
	in.Sync()
	if in.Len() != 1 || !in.Has(subj) {
		t.Fatalf("Len %d Has %v after two Adds", in.Len(), in.Has(subj))
	}
	publish("one")
	expect("one")
	in.Remove(subj)
	publish("two")
	expect("two") // one reference left
	in.Remove(subj)
	in.Sync()
	if in.Has(subj) {
		t.Fatal("still subscribed after the last Remove")
	}
	publish("three")
	publish("marker-unrelated")
	select {
	case m := <-ch:
		t.Fatalf("got %q after unsubscribing", m.Data)
	default:
	}
	in.Remove(subj) // removing an unknown subject is harmless
}

func TestPublishRequestRespond(t *testing.T) {
	nc := runNATS(t)
	sub, err := nc.Subscribe("t.q", func(m *nats.Msg) {
		var q busv1.Query
		if proto.Unmarshal(m.Data, &q) != nil {
			return
		}
		_ = bus.Respond(m, &busv1.EdgeReply{EdgeId: "e-" + q.Kind.String()})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	var reply busv1.EdgeReply
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := bus.Request(ctx, nc, "t.q", &busv1.Query{Kind: busv1.QueryKind_QUERY_KIND_ROOMS}, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.EdgeId != "e-QUERY_KIND_ROOMS" {
		t.Errorf("reply %q", reply.EdgeId)
	}
}

// TestInterestAddDoesNotWaitForNATS: Add and Remove only count, under the
// namespace's write lock that every emit reads: the subscriptions are made
// by Interest's own goroutine, in batches. Add called NATS itself, so a
// subscription that took long (a connection whose buffer is full) held the
// lock, and every emit of the namespace, for as long.
func TestInterestAddDoesNotWaitForNATS(t *testing.T) {
	nc := runNATS(t)
	ch := make(chan *nats.Msg, 16)
	gate := make(chan struct{})
	entered := make(chan string, 4)
	var mu sync.Mutex
	var made []string
	in := bus.NewInterest(func(s string) (*nats.Subscription, error) {
		entered <- s
		<-gate // NATS is slow
		mu.Lock()
		made = append(made, s)
		mu.Unlock()
		return nc.ChanSubscribe(s, ch)
	}, nil)
	defer in.Close()

	added := make(chan struct{})
	go func() {
		defer close(added)
		in.Add("t.a") // the owner takes it and waits at the gate
		if s := <-entered; s != "t.a" {
			t.Errorf("subscribing %q, want t.a", s)
		}
		in.Add("t.b") // added and removed while the owner waits: never made
		in.Remove("t.b")
	}()
	select {
	case <-added:
	case <-time.After(5 * time.Second):
		close(gate)
		t.Fatal("Add waited for the subscription to be made")
	}
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		in.Sync()
	}()
	select {
	case <-synced:
		t.Fatal("Sync returned before the subscription was made")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	<-synced
	if !in.Has("t.a") || in.Has("t.b") || in.Len() != 1 {
		t.Errorf("after Sync: t.a %v, t.b %v, %d subscriptions; want t.a alone", in.Has("t.a"), in.Has("t.b"), in.Len())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(made) != 1 || made[0] != "t.a" {
		t.Errorf("subscriptions made: %v, want t.a alone (t.b came and went in one batch)", made)
	}
	if err := nc.Publish("t.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Error("no message on the subscribed subject")
	}
}

// TestBroadcastPlan: control publishes a broadcast on the subjects of
// Subjects.Broadcast, and an edge decides from Copies whether it may get
// the broadcast more than once (and so must drop copies by id). The two
// were two implementations kept equal by comments; they are one plan now,
// and Copies is the number of subjects the plan has, for every target.
func TestBroadcastPlan(t *testing.T) {
	s, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	const e1, e2 = "abcd1234", "wxyz9876"
	tests := []struct {
		name string
		t    *sbv1.Target
		want []string
	}{
		{"the namespace", &sbv1.Target{}, []string{s.Namespace("/")}},
		{"a room", &sbv1.Target{Rooms: []string{"lobby"}}, []string{s.Room("/", "lobby")}},
		{"rooms and a user", &sbv1.Target{Rooms: []string{"a", "b"}, Users: []string{"u"}},
			[]string{s.Room("/", "a"), s.Room("/", "b"), s.User("/", "u")}},
		{"sids of two edges", &sbv1.Target{Sids: []string{e1 + "x", e2 + "y", e1 + "z"}},
			[]string{s.Edge(e1), s.Edge(e2)}},
		{"a room that is a socket's own", &sbv1.Target{Rooms: []string{e1 + "sid"}},
			[]string{s.Room("/", e1+"sid"), s.Edge(e1)}},
		{"a sid's own room and the sid", &sbv1.Target{Rooms: []string{e1 + "sid"}, Sids: []string{e1 + "sid"}},
			[]string{s.Room("/", e1+"sid"), s.Edge(e1)}},
		{"a room shaped like no edge", &sbv1.Target{Rooms: []string{"ABCD1234x", "short"}},
			[]string{s.Room("/", "ABCD1234x"), s.Room("/", "short")}},
		{"except rooms alone", &sbv1.Target{ExceptRooms: []string{"x"}}, []string{s.Namespace("/")}},
		// Moved from pkg/control's TestEmitTargets, whose EmitResponse no
		// longer counts subjects: overlapping rooms, one subject each.
		{"rooms and except rooms", &sbv1.Target{Rooms: []string{"a", "b", "c"}, ExceptRooms: []string{"x"}},
			[]string{s.Room("/", "a"), s.Room("/", "b"), s.Room("/", "c")}},
	}
	for _, tt := range tests {
		got := s.Broadcast("/", tt.t)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Broadcast = %v, want %v", tt.name, got, tt.want)
		}
		if n := bus.Copies(tt.t); n != len(got) {
			t.Errorf("%s: Copies = %d, the plan has %d subjects", tt.name, n, len(got))
		}
	}
}

// TestAckIDs: ack reply subjects end with 128 random bits, not a sequence
// number a caller of the API could count on to answer another's ack.
func TestAckIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := bus.NewAckID()
		if !bus.IsAckID(id) || seen[id] {
			t.Fatalf("NewAckID %q: well formed %v, repeated %v", id, bus.IsAckID(id), seen[id])
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "1", "7", strings.Repeat("a", 21), strings.Repeat("a", 23), strings.Repeat("*", 22), strings.Repeat(".", 22)} {
		if bus.IsAckID(bad) {
			t.Errorf("IsAckID(%q) = true", bad)
		}
	}
}
