package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// pipeline is a Pipeline stream of a test and the answers it received.
type pipeline struct {
	t       *testing.T
	stream  sbv1.Control_PipelineClient
	answers *feed[*sbv1.PipelineResponse]
}

func openPipeline(t *testing.T, api sbv1.ControlClient) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Pipeline(ctx)
	if err != nil {
		cancel()
		t.Fatalf("Pipeline: %v", err)
	}
	p := &pipeline{t: t, stream: st, answers: newFeed[*sbv1.PipelineResponse]()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				p.answers.End(err)
				return
			}
			p.answers.Add(r)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

func (p *pipeline) send(id uint64, cmd any) {
	p.t.Helper()
	req := &sbv1.PipelineRequest{Id: id}
	switch c := cmd.(type) {
	case *sbv1.EmitRequest:
		req.Command = &sbv1.PipelineRequest_Emit{Emit: c}
	case *sbv1.EmitWithAckRequest:
		req.Command = &sbv1.PipelineRequest_EmitWithAck{EmitWithAck: c}
	case *sbv1.JoinRoomRequest:
		req.Command = &sbv1.PipelineRequest_JoinRoom{JoinRoom: c}
	case *sbv1.LeaveRoomRequest:
		req.Command = &sbv1.PipelineRequest_LeaveRoom{LeaveRoom: c}
	case *sbv1.AckRequest:
		req.Command = &sbv1.PipelineRequest_Ack{Ack: c}
	case *sbv1.SetSocketDataRequest:
		req.Command = &sbv1.PipelineRequest_SetSocketData{SetSocketData: c}
	case nil:
	default:
		p.t.Fatalf("no pipeline command for %T", cmd)
	}
	if err := p.stream.Send(req); err != nil {
		p.t.Fatalf("Pipeline send %d: %v", id, err)
	}
}

// wait waits for n answers and returns them by id; each id must come once.
func (p *pipeline) wait(n int) map[uint64]*sbv1.PipelineResponse {
	p.t.Helper()
	all := p.answers.WaitN(p.t, fmt.Sprintf("%d pipeline answers", n), n, func(*sbv1.PipelineResponse) bool { return true })
	out := map[uint64]*sbv1.PipelineResponse{}
	for _, a := range all {
		if _, dup := out[a.Id]; dup {
			p.t.Fatalf("two answers for command %d", a.Id)
		}
		out[a.Id] = a
	}
	return out
}

// TestPipelineOrder is the first reference app's exchange: a client sends
// 200 events with acks at once; for each, as it arrives, the service
// replies to that socket with an event that asks for an ack, and answers
// the client's ack, both on one Pipeline stream without waiting. The
// replies reach the client in the order of its events, every ack callback
// fires, and each reply's answer carries the client's ack.
func TestPipelineOrder(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	c := n.connect(0, dial{edge: 1, transports: []string{"websocket"}})
	events := f.subscribe(&sbv1.SubscribeRequest{Events: []string{"my_event"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})
	p := openPipeline(t, f.api)

	const N = 200
	for i := range N {
		n.emit(0, "my_event", i, i)
	}
	isEvent := func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent() != nil }
	for i := range N {
		ev := events.WaitN(t, fmt.Sprintf("event %d", i), i+1, isEvent)[i].GetClientEvent()
		if ev.Sid != c.sid || ev.AckToken == "" {
			t.Fatalf("event %d: sid %q, ack token %q", i, ev.Sid, ev.AckToken)
		}
		p.send(uint64(2*i), &sbv1.EmitWithAckRequest{
			Target: &sbv1.Target{Sids: []string{ev.Sid}}, Event: "my_response",
			ArgsJson: ev.ArgsJson, Timeout: durationpb.New(waitTimeout),
		})
		p.send(uint64(2*i+1), &sbv1.AckRequest{AckToken: ev.AckToken, ArgsJson: fmt.Sprintf(`["ok",%d]`, i)})
	}

	answers := p.wait(2 * N)
	for i := range N {
		r := answers[uint64(2*i)].GetEmitWithAck()
		if r == nil || len(r.Acks) != 1 || r.Acks[0].Sid != c.sid || r.Acks[0].ArgsJson != `["pong",0]` {
			t.Fatalf("answer to reply %d: %v", i, answers[uint64(2*i)])
		}
		if answers[uint64(2*i+1)].GetAck() == nil {
			t.Fatalf("answer to ack %d: %v", i, answers[uint64(2*i+1)])
		}
	}
	replies := n.lines.WaitN(t, "the replies", N, func(l line) bool { return l.Ev == "event" && l.Event == "my_response" })
	for i, l := range replies {
		if string(l.Args) != fmt.Sprintf("[%d]", i) || !l.Asked {
			t.Fatalf("reply %d the client received: args %s asked %v (the replies arrived out of order)", i, l.Args, l.Asked)
		}
	}
	acks := n.lines.WaitN(t, "the ack callbacks", N, func(l line) bool { return l.Ev == "ack" })
	for i, l := range acks {
		if l.ID != i || string(l.Args) != fmt.Sprintf(`["ok",%d]`, i) {
			t.Fatalf("ack callback %d: id %d args %s", i, l.ID, l.Args)
		}
	}
}

// TestPipelineOperationsFirst: an emit sent after a JoinRoom, a LeaveRoom
// or an Ack on the same stream comes after it at the socket, though an
// edge handles those on another path than emits: the new member gets the
// room's emit, the old one does not, and the client's ack callback fires
// before the event that follows the ack.
func TestPipelineOperationsFirst(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	c := n.connect(0, dial{edge: 0, transports: []string{"websocket"}})
	events := f.subscribe(&sbv1.SubscribeRequest{Events: []string{"q"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})
	p := openPipeline(t, f.api)
	me := &sbv1.Target{Sids: []string{c.sid}}

	const rounds = 30
	id := uint64(0)
	for i := range rounds {
		room := fmt.Sprintf("r%d", i)
		n.emit(0, "q", i, i)
		ev := events.WaitN(t, fmt.Sprintf("event %d", i), i+1, func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent() != nil })[i].GetClientEvent()
		for _, cmd := range []any{
			&sbv1.JoinRoomRequest{Target: me, Rooms: []string{room}},
			&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{room}}, Event: "in", ArgsJson: fmt.Sprint("[", i, "]")},
			&sbv1.LeaveRoomRequest{Target: me, Rooms: []string{room}},
			&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{room}}, Event: "out", ArgsJson: fmt.Sprint("[", i, "]")},
			&sbv1.AckRequest{AckToken: ev.AckToken, ArgsJson: fmt.Sprint("[", i, "]")},
			&sbv1.EmitRequest{Target: me, Event: "after", ArgsJson: fmt.Sprint("[", i, "]")},
		} {
			p.send(id, cmd)
			id++
		}
	}
	for k, a := range p.wait(int(id)) {
		if a.GetError() != nil {
			t.Fatalf("command %d: %v", k, a.GetError())
		}
	}
	f.fence()
	var in, after, acks int
	for _, l := range n.lines.Matching(func(l line) bool { return l.C == 0 }) {
		switch {
		case l.Ev == "event" && l.Event == "out":
			t.Errorf("the client got %s from room r%s after it left", l.Event, l.Args)
		case l.Ev == "event" && l.Event == "in":
			if string(l.Args) != fmt.Sprint("[", in, "]") {
				t.Errorf("emit %d to the room it just joined: got %s", in, l.Args)
			}
			in++
		case l.Ev == "ack":
			acks++
		case l.Ev == "event" && l.Event == "after":
			if acks != after+1 {
				t.Errorf("event after ack %d came with %d ack callbacks fired", after, acks)
			}
			after++
		}
	}
	if in != rounds || after != rounds {
		t.Errorf("the client got %d of %d room emits and %d of %d events after an ack", in, rounds, after, rounds)
	}
}

// TestPipelineErrors: a command that is not valid gets an error answer
// with the code and message its RPC would return, and the stream goes on;
// when the caller closes its side, every command is answered and the
// stream ends without an error.
func TestPipelineErrors(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	p := openPipeline(t, f.api)
	p.send(1, &sbv1.EmitRequest{Event: ""})
	p.send(2, nil)
	p.send(3, &sbv1.JoinRoomRequest{Target: &sbv1.Target{}, Rooms: []string{"x"}})
	p.send(4, &sbv1.AckRequest{AckToken: "nope"})
	p.send(5, &sbv1.EmitRequest{Event: "ok", ArgsJson: `[1]`})
	p.send(6, &sbv1.JoinRoomRequest{Target: &sbv1.Target{All: true}, Rooms: []string{"x"}})
	if err := p.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	a := p.wait(6)
	for id, want := range map[uint64]string{1: "event is empty", 2: "command: none set", 3: "target.all", 4: "ack_token"} {
		e := a[id].GetError()
		if e == nil || codes.Code(e.Code) != codes.InvalidArgument || !strings.Contains(e.Message, want) {
			t.Errorf("command %d: got %v, want INVALID_ARGUMENT with %q", id, a[id], want)
		}
	}
	if a[5].GetEmit() == nil {
		t.Errorf("command 5: %v, want an emit answer", a[5])
	}
	if r := a[6].GetJoinRoom(); r == nil || r.Sockets == nil || *r.Sockets != 0 {
		t.Errorf("command 6: %v, want a join answer with sockets 0", a[6])
	}
	if err := p.answers.Ended(t, "the stream to end"); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v, want io.EOF (OK)", err)
	}
}

// TestPipelineEmitReport: an emit with report on a stream is answered with
// the edges' report, as Emit is.
func TestPipelineEmitReport(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	a := n.connect(0, dial{edge: 0})
	b := n.connect(1, dial{edge: 1})
	p := openPipeline(t, f.api)
	p.send(7, &sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{a.sid, b.sid}}, Event: "r", Report: true})
	r := p.wait(1)[7].GetEmit()
	got, _ := json.Marshal(map[string]any{"sockets": r.GetSockets(), "queued": r.GetQueued(), "edges": len(r.GetDeliveries()), "missing": r.GetMissingEdges()})
	if string(got) != `{"edges":2,"missing":null,"queued":2,"sockets":2}` {
		t.Errorf("report: %s (%v)", got, r)
	}
}
