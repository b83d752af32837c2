package control

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// PipelineWindow is how many commands of one Pipeline stream may be
// unanswered at a time: past it, control reads no more commands until
// answers are sent, and the caller's sends block (HTTP/2 flow control).
const PipelineWindow = 1024

// Pipeline implements switchboard.v1.Control.
//
// One goroutine reads the commands, validates each and publishes it, in
// stream order: the bus keeps one publisher's messages in order, and each
// edge handles broadcasts in arrival order and operations in arrival
// order. An operation (join, leave, disconnect, set data, ack) and a
// broadcast may be handled in either order at an edge (docs/bus.md), so a
// broadcast is published only once the operations before it are done.
// Replies come on one subscription per stream (its inbox, a token per
// command); a goroutine per command that awaits replies turns them into
// its answer, and one goroutine sends the answers.
func (s *Server) Pipeline(stream sbv1.Control_PipelineServer) error {
	s.streams.Add(1)
	defer s.streams.Done()
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	p := &pipe{
		s:       s,
		ctx:     ctx,
		inbox:   s.nc.NewInbox(),
		waiting: map[uint64]*pending{},
		answers: make(chan *sbv1.PipelineResponse, PipelineWindow),
		slots:   make(chan struct{}, PipelineWindow),
	}
	sub, err := s.nc.Subscribe(p.inbox+".*", p.onReply)
	if err != nil {
		return busError(err)
	}
	defer sub.Unsubscribe()

	sendErr := make(chan error, 1)
	go func() { sendErr <- p.send(stream, cancel) }()
	recvErr := make(chan error, 1)
	go func() { recvErr <- p.receive(stream) }()

	select {
	case err = <-recvErr:
	case <-s.stop:
		// Recv may be blocked until this returns: the goroutines left end
		// with the stream's context. Unanswered commands get no answer.
		return status.Error(codes.Unavailable, "control is shutting down")
	}
	p.work.Wait() // every command started has its answer queued
	close(p.answers)
	if serr := <-sendErr; err == nil || errors.Is(err, io.EOF) {
		err = serr
	}
	return err
}

// pipe is one Pipeline stream.
type pipe struct {
	s     *Server
	ctx   context.Context
	inbox string // replies come on inbox.<token>

	mu      sync.Mutex
	waiting map[uint64]*pending // commands awaiting replies, by token
	next    uint64              // the next token

	answers chan *sbv1.PipelineResponse // capacity PipelineWindow: never full (slots)
	slots   chan struct{}               // one per unanswered command
	work    sync.WaitGroup              // goroutines that will queue an answer
	ops     sync.WaitGroup              // operations published and not done
}

// pending is a command's replies, as they come.
type pending struct {
	ch   chan *nats.Msg
	done chan struct{} // closed once the command stopped reading ch
}

// receive reads and starts commands until the caller closes its side
// (io.EOF), the stream fails or control stops.
func (p *pipe) receive(stream sbv1.Control_PipelineServer) error {
	for {
		select {
		case p.slots <- struct{}{}:
		case <-p.ctx.Done():
			return status.FromContextError(p.ctx.Err()).Err()
		}
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		p.start(req)
	}
}

// send sends the answers in the order they come, each freeing a slot. A
// failed send cancels the stream; the answers still queued are dropped.
func (p *pipe) send(stream sbv1.Control_PipelineServer, cancel context.CancelFunc) error {
	var err error
	for {
		select {
		case a, ok := <-p.answers:
			if !ok {
				return err
			}
			if err == nil {
				if err = stream.Send(a); err != nil {
					cancel()
				}
			}
			<-p.slots
		case <-p.ctx.Done():
			return status.FromContextError(p.ctx.Err()).Err()
		}
	}
}

// answer queues a command's answer.
func (p *pipe) answer(id uint64, err error, m proto.Message) {
	r := &sbv1.PipelineResponse{Id: id}
	if err != nil {
		st := status.Convert(err)
		r.Result = &sbv1.PipelineResponse_Error{Error: &sbv1.CommandError{Code: uint32(st.Code()), Message: st.Message()}}
	} else {
		switch x := m.(type) {
		case *sbv1.EmitResponse:
			r.Result = &sbv1.PipelineResponse_Emit{Emit: x}
		case *sbv1.EmitWithAckResponse:
			r.Result = &sbv1.PipelineResponse_EmitWithAck{EmitWithAck: x}
		case *sbv1.JoinRoomResponse:
			r.Result = &sbv1.PipelineResponse_JoinRoom{JoinRoom: x}
		case *sbv1.LeaveRoomResponse:
			r.Result = &sbv1.PipelineResponse_LeaveRoom{LeaveRoom: x}
		case *sbv1.DisconnectResponse:
			r.Result = &sbv1.PipelineResponse_Disconnect{Disconnect: x}
		case *sbv1.SetSocketDataResponse:
			r.Result = &sbv1.PipelineResponse_SetSocketData{SetSocketData: x}
		case *sbv1.AckResponse:
			r.Result = &sbv1.PipelineResponse_Ack{Ack: x}
		}
	}
	p.answers <- r
}

// start validates a command and publishes it, in stream order; a command
// that awaits replies gets a goroutine that answers it.
func (p *pipe) start(req *sbv1.PipelineRequest) {
	var c call
	var err error
	switch x := req.Command.(type) {
	case *sbv1.PipelineRequest_Emit:
		c, err = p.s.planEmit(x.Emit)
	case *sbv1.PipelineRequest_EmitWithAck:
		c, err = p.s.planEmitWithAck(x.EmitWithAck, 0)
	case *sbv1.PipelineRequest_JoinRoom:
		c, err = p.s.planJoin(x.JoinRoom)
	case *sbv1.PipelineRequest_LeaveRoom:
		c, err = p.s.planLeave(x.LeaveRoom)
	case *sbv1.PipelineRequest_Disconnect:
		c, err = p.s.planDisconnect(x.Disconnect)
	case *sbv1.PipelineRequest_SetSocketData:
		c, err = p.s.planSetData(x.SetSocketData)
	case *sbv1.PipelineRequest_Ack:
		p.startAck(req.Id, x.Ack)
		return
	default:
		err = status.Error(codes.InvalidArgument, "command: none set (emit, emit_with_ack, join_room, leave_room, disconnect, set_socket_data or ack)")
	}
	if err == nil {
		err = p.s.available()
	}
	if err != nil {
		p.answer(req.Id, err, nil)
		return
	}
	if !c.ops {
		p.ops.Wait() // the operations before it are done at the edges
	}
	if !c.reply {
		err := p.s.publishAll(c.f)
		var m proto.Message
		if err == nil {
			m = c.answer(gathered{})
		}
		p.answer(req.Id, err, m)
		return
	}
	token, w := p.await(c.f.replyRoom())
	if err := p.s.publishRequests(c.f, p.replyTo(token)); err != nil {
		p.forget(token, w)
		p.answer(req.Id, err, nil)
		return
	}
	p.work.Add(1)
	if c.ops {
		p.ops.Add(1)
	}
	go func() {
		defer p.work.Done()
		g, err := p.s.collect(p.ctx, c.f, c.wait, w.ch)
		p.forget(token, w)
		if c.ops {
			p.ops.Done()
		}
		var m proto.Message
		if err == nil {
			m = c.answer(g)
		}
		p.answer(req.Id, err, m)
	}()
}

// startAck publishes an Ack to the edge holding the socket; its answer
// comes when the edge says whether the client got it. An ack is an
// operation at the edge: an emit after it waits for it.
func (p *pipe) startAck(id uint64, req *sbv1.AckRequest) {
	payload, err := p.s.planAck(req)
	if err == nil {
		err = p.s.available()
	}
	if err != nil {
		p.answer(id, err, nil)
		return
	}
	token, w := p.await(1)
	if err := p.s.nc.PublishRequest(req.AckToken, p.replyTo(token), payload); err != nil {
		p.forget(token, w)
		p.answer(id, busError(err), nil)
		return
	}
	p.work.Add(1)
	p.ops.Add(1)
	go func() {
		defer p.work.Done()
		resp, err := p.awaitAck(w)
		p.forget(token, w)
		p.ops.Done()
		p.answer(id, err, resp)
	}()
}

// awaitAck waits for the edge's answer to an ack, as Ack does.
func (p *pipe) awaitAck(w *pending) (proto.Message, error) {
	timer := time.NewTimer(p.s.cfg.GatherTimeout)
	defer timer.Stop()
	select {
	case m := <-w.ch:
		if noResponders(m) {
			return nil, errNoAckWaiter
		}
		return p.s.ackAnswer(m.Data)
	case <-timer.C:
		return nil, status.Errorf(codes.DeadlineExceeded, "the edge did not answer the ack within %v", p.s.cfg.GatherTimeout)
	case <-p.ctx.Done():
		return nil, busError(p.ctx.Err())
	case <-p.s.stop:
		return nil, status.Error(codes.Unavailable, "control is shutting down")
	}
}

// await registers a command that awaits replies, with room for n of them,
// and returns its token.
func (p *pipe) await(n int) (uint64, *pending) {
	w := &pending{ch: make(chan *nats.Msg, n), done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	p.waiting[p.next] = w
	return p.next, w
}

// replyTo is the reply subject of the command with token.
func (p *pipe) replyTo(token uint64) string {
	return p.inbox + "." + strconv.FormatUint(token, 36)
}

// forget unregisters a command that no longer reads its replies.
func (p *pipe) forget(token uint64, w *pending) {
	p.mu.Lock()
	delete(p.waiting, token)
	p.mu.Unlock()
	close(w.done)
}

// onReply hands a reply to the command its subject's last token names.
// It waits while that command's channel is full (the command is reading
// it) but not once the command is done: a late reply is dropped.
func (p *pipe) onReply(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	n, err := strconv.ParseUint(m.Subject[i+1:], 36, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	w := p.waiting[n]
	p.mu.Unlock()
	if w == nil {
		return
	}
	select {
	case w.ch <- m:
	case <-w.done:
	}
}
