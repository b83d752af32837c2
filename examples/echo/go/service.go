package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// ns is the namespace of the page.
const ns = "/test"

// pipeline is one Pipeline stream: commands go out in the order send is
// called, each with an id, and a command's answer, when it comes, is handed
// to the function given with it. Answers come as commands complete, not in
// order; the functions of the commands sent with the same key (a sid) run
// in the order those were sent, each once its answer and those of the
// key's earlier commands came. run reads the answers and calls the
// functions, on one goroutine.
type pipeline struct {
	stream grpc.BidiStreamingClient[sbv1.PipelineRequest, sbv1.PipelineResponse]
	logger *slog.Logger

	mu      sync.Mutex                  // guards the stream's sends and the fields below
	id      uint64                      // the last command's id
	pending map[uint64]*pendingAnswer   // commands sent with a function, by id
	byKey   map[string][]*pendingAnswer // of pending, each key's in send order
}

// pendingAnswer is a command whose answer a function waits for.
type pendingAnswer struct {
	key  string
	then func(*sbv1.PipelineResponse)
	resp *sbv1.PipelineResponse // the answer, once it came
}

// send sends r; then, when not nil, gets its answer unless that is an
// error (which run logs), after the functions of the commands sent before
// with the same key. Control reads at most 1,024 unanswered commands of a
// stream, then send blocks; so at most as many wait in pending, and the
// answers control owes, small, fit in the stream's flow-control window:
// run is never stuck behind a blocked send.
func (p *pipeline) send(key string, r *sbv1.PipelineRequest, then func(*sbv1.PipelineResponse)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.id++
	r.Id = p.id
	if then != nil {
		a := &pendingAnswer{key: key, then: then}
		p.pending[p.id] = a
		p.byKey[key] = append(p.byKey[key], a)
	}
	return p.stream.Send(r)
}

// run reads answers until the stream ends.
func (p *pipeline) run() error {
	for {
		resp, err := p.stream.Recv()
		if err != nil {
			return err
		}
		if e := resp.GetError(); e != nil {
			p.logger.Warn("command failed", "id", resp.GetId(), "code", e.GetCode(), "message", e.GetMessage())
		}
		for _, a := range p.ready(resp) {
			if a.resp.GetError() == nil {
				a.then(a.resp)
			}
		}
	}
}

// ready records resp and returns the answers whose functions may run now,
// in order.
func (p *pipeline) ready(resp *sbv1.PipelineResponse) []*pendingAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.pending[resp.GetId()]
	if a == nil {
		return nil
	}
	delete(p.pending, resp.GetId())
	a.resp = resp
	q := p.byKey[a.key]
	n := 0
	for n < len(q) && q[n].resp != nil {
		n++
	}
	out := q[:n:n]
	if n == len(q) {
		delete(p.byKey, a.key)
	} else {
		p.byKey[a.key] = q[n:]
	}
	return out
}

// echo is the service: the Flask-SocketIO app's handlers.
type echo struct {
	p      *pipeline
	logger *slog.Logger
}

// serve answers the page's events until ctx ends or a stream fails.
func serve(ctx context.Context, api sbv1.ControlClient, logger *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := api.Pipeline(ctx)
	if err != nil {
		return err
	}
	e := &echo{p: &pipeline{stream: stream, logger: logger, pending: map[uint64]*pendingAnswer{}, byKey: map[string][]*pendingAnswer{}}, logger: logger}
	pipeDone := make(chan error, 1)
	go func() {
		pipeDone <- e.p.run()
		cancel() // the Subscribe stream ends too
	}()
	err = e.subscribe(ctx, api)
	cancel()
	// The stream that failed first says why; the other was cancelled.
	if perr := <-pipeDone; err == nil || status.Code(err) == codes.Canceled && status.Code(perr) != codes.Canceled {
		err = perr
	}
	return err
}

func (e *echo) subscribe(ctx context.Context, api sbv1.ControlClient) error {
	sub, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{Namespaces: []string{ns},
		Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT, sbv1.EventKind_EVENT_KIND_CONNECT, sbv1.EventKind_EVENT_KIND_DISCONNECT}})
	if err != nil {
		return err
	}
	if _, err := sub.Header(); err != nil { // control is subscribed once the headers came
		return err
	}
	e.logger.Info("subscribed", "namespace", ns)
	for {
		ev, err := sub.Recv()
		if err != nil {
			return err
		}
		switch ev := ev.Event.(type) {
		case *sbv1.SubscribeResponse_Connected:
			sid := ev.Connected.GetSocket().GetSid()
			e.logger.Info("connected", "sid", sid)
			err = e.emit(to(sid), "Server connected", 0)
		case *sbv1.SubscribeResponse_Disconnected:
			e.logger.Info("client disconnected", "sid", ev.Disconnected.GetSid(), "reason", ev.Disconnected.GetReason())
		case *sbv1.SubscribeResponse_ClientEvent:
			err = e.handle(ev.ClientEvent)
		}
		if err != nil {
			return err
		}
	}
}

func to(sid string) *sbv1.Target { return &sbv1.Target{Namespace: ns, Sids: []string{sid}} }

// reply is my_response's argument.
func reply(data string, count int64) string {
	b, _ := json.Marshal([]any{map[string]any{"data": data, "count": count}})
	return string(b)
}

func (e *echo) emit(t *sbv1.Target, data string, count int64) error {
	return e.p.send("", &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Emit{Emit: &sbv1.EmitRequest{
		Target: t, Event: "my_response", ArgsJson: reply(data, count)}}}, nil)
}

// count adds one to the socket's message count, kept in its data (so any
// replica of the service may answer its next event) and counted by the
// edge that holds the socket (SetSocketData's increment: a burst's events
// each get their own count), and hands the new count to then, in the order
// of the socket's events.
func (e *echo) count(sid string, then func(n int64) error) error {
	return e.p.send(sid, &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_SetSocketData{SetSocketData: &sbv1.SetSocketDataRequest{
		Target: to(sid), Increment: map[string]int64{"count": 1}}}}, func(r *sbv1.PipelineResponse) {
		var s struct {
			Count int64 `json:"count"`
		}
		d := r.GetSetSocketData().GetDataJson()
		if json.Unmarshal([]byte(d), &s) != nil { // the socket is gone
			e.logger.Info("not counted", "sid", sid, "sockets", r.GetSetSocketData().GetSockets())
			return
		}
		if err := then(s.Count); err != nil {
			e.logger.Warn("send", "sid", sid, "err", err)
		}
	})
}

// handle answers one client event. An event whose argument is not the
// object the page sends is answered as if its fields were empty.
func (e *echo) handle(ce *sbv1.ClientEvent) error {
	var args []struct {
		Data string `json:"data"`
		Room string `json:"room"`
	}
	_ = json.Unmarshal([]byte(ce.GetArgsJson()), &args)
	var data, room string
	if len(args) > 0 {
		data, room = args[0].Data, args[0].Room
	}
	sid := ce.GetSid()
	switch ce.GetEvent() {
	case "my_event":
		return e.count(sid, func(n int64) error {
			// Keyed apart from the counts: the acks are logged in order
			// without holding the next counts back for the client.
			return e.p.send("ack "+sid, &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_EmitWithAck{EmitWithAck: &sbv1.EmitWithAckRequest{
				Target: to(sid), Event: "my_response", ArgsJson: reply(data, n)}}}, func(r *sbv1.PipelineResponse) {
				if len(r.GetEmitWithAck().GetAcks()) > 0 {
					e.logger.Info("ack received", "sid", sid, "count", n, "data", data)
				} else {
					e.logger.Warn("no ack", "sid", sid, "count", n, "timed_out", r.GetEmitWithAck().GetTimedOutSids())
				}
			})
		})
	case "my_broadcast_event":
		return e.count(sid, func(n int64) error { return e.emit(&sbv1.Target{Namespace: ns, All: true}, data, n) })
	case "join":
		if err := e.p.send("", &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_JoinRoom{JoinRoom: &sbv1.JoinRoomRequest{Target: to(sid), Rooms: []string{room}}}}, nil); err != nil {
			return err
		}
		return e.count(sid, func(n int64) error { return e.emit(to(sid), "Joined room: "+room, n) })
	case "leave":
		if err := e.p.send("", &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_LeaveRoom{LeaveRoom: &sbv1.LeaveRoomRequest{Target: to(sid), Rooms: []string{room}}}}, nil); err != nil {
			return err
		}
		return e.count(sid, func(n int64) error { return e.emit(to(sid), "Left room: "+room, n) })
	case "my_room_event":
		return e.count(sid, func(n int64) error { return e.emit(&sbv1.Target{Namespace: ns, Rooms: []string{room}}, data, n) })
	case "disconnect_request":
		return e.count(sid, func(n int64) error {
			if err := e.emit(to(sid), "Disconnected!", n); err != nil {
				return err
			}
			return e.p.send("", &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Disconnect{Disconnect: &sbv1.DisconnectRequest{Target: to(sid)}}}, nil)
		})
	case "my_ping":
		if tok := ce.GetAckToken(); tok != "" {
			return e.p.send("", &sbv1.PipelineRequest{Command: &sbv1.PipelineRequest_Ack{Ack: &sbv1.AckRequest{AckToken: tok}}}, nil)
		}
	}
	return nil
}
