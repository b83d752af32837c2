package soak

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

const (
	// emitPeriod paces the fan-out: 50 emits a second, each to fanRoom
	// (about half the clients) except every namespaceEvery-th, which goes
	// to every socket of "/". Every bigEvery-th carries bigPad bytes.
	emitPeriod     = 20 * time.Millisecond
	namespaceEvery = 5
	bigEvery       = 50
	bigPad         = 16 << 10
	// askPeriod paces EmitWithAck to ackRoom (a quarter of the clients),
	// each asking for an ack within askTimeout.
	askPeriod  = 500 * time.Millisecond
	askTimeout = 3 * time.Second

	// clientEvent is the event clients emit, about once a second each.
	clientEvent = "soak"
	// fastStreams Subscribe streams read every client event as it comes;
	// the slow one reads all kinds of events, one every slowRead, so that
	// control ends it RESOURCE_EXHAUSTED; it subscribes again after
	// resubscribeAfter.
	fastStreams      = 2
	slowRead         = 5 * time.Millisecond
	resubscribeAfter = time.Second
)

// fanOut emits at emitPeriod until ctx ends.
func fanOut(ctx context.Context, api sbv1.ControlClient, tl *tally) {
	tick := time.NewTicker(emitPeriod)
	defer tick.Stop()
	big := strings.Repeat("x", bigPad)
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		target := &sbv1.Target{Rooms: []string{fanRoom}}
		event := "fan"
		if n%namespaceEvery == 0 {
			target, event = &sbv1.Target{}, "all"
		}
		pad := "0123456789abcdef0123456789abcdef"
		if n%bigEvery == 0 {
			pad = big
		}
		cctx, cancel := context.WithTimeout(ctx, ioTimeout)
		res, err := api.Emit(cctx, &sbv1.EmitRequest{
			Target:   target,
			Event:    event,
			ArgsJson: fmt.Sprintf(`[{"n":%d,"at":%d,"pad":"%s"}]`, n, time.Now().UnixMilli(), pad),
		})
		cancel()
		switch {
		case stopping(ctx, err):
			return
		case err != nil:
			tl.apiErrors.Add(1)
			tl.note(fmt.Sprintf("Emit: %v", err))
		case len(res.MissingEdges) > 0:
			tl.missingEdges.Add(1)
			tl.note(fmt.Sprintf("Emit: missing edges %v", res.MissingEdges))
		default:
			tl.emits.Add(1)
		}
	}
}

// asker calls EmitWithAck to ackRoom at askPeriod until ctx ends.
func asker(ctx context.Context, api sbv1.ControlClient, tl *tally) {
	tick := time.NewTicker(askPeriod)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, askTimeout+ioTimeout)
		res, err := api.EmitWithAck(cctx, &sbv1.EmitWithAckRequest{
			Target:   &sbv1.Target{Rooms: []string{ackRoom}},
			Event:    "ask",
			ArgsJson: fmt.Sprintf(`[%d]`, n),
			Timeout:  durationpb.New(askTimeout),
		})
		cancel()
		switch {
		case stopping(ctx, err):
			return
		case err != nil:
			tl.apiErrors.Add(1)
			tl.note(fmt.Sprintf("EmitWithAck: %v", err))
		default:
			if len(res.MissingEdges) > 0 {
				tl.missingEdges.Add(1)
				tl.note(fmt.Sprintf("EmitWithAck: missing edges %v", res.MissingEdges))
			}
			tl.emitsWithAck.Add(1)
			tl.acks.Add(int64(len(res.Acks)))
			tl.timedOut.Add(int64(len(res.TimedOutSids)))
		}
	}
}

// subscribe opens a Subscribe stream and waits until it is live.
func subscribe(ctx context.Context, api sbv1.ControlClient, req *sbv1.SubscribeRequest) (sbv1.Control_SubscribeClient, error) {
	st, err := api.Subscribe(ctx, req)
	if err != nil {
		return nil, err
	}
	if _, err := st.Header(); err != nil {
		return nil, err
	}
	return st, nil
}

// fastSubscriber counts the client events of stream i, in all and in
// bySid (its own until it returns), until ctx ends; ready is closed once
// the first stream is live. Control ending it is a
// failure (counted); it subscribes again.
func fastSubscriber(ctx context.Context, api sbv1.ControlClient, i int, tl *tally, bySid map[string]int, ready chan<- struct{}) {
	req := &sbv1.SubscribeRequest{
		Namespaces: []string{"/"},
		Kinds:      []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT},
	}
	for first := true; ; first = false {
		st, err := subscribe(ctx, api, req)
		if first {
			close(ready)
		}
		for err == nil {
			var r *sbv1.SubscribeResponse
			if r, err = st.Recv(); err == nil {
				if e := r.GetClientEvent(); e != nil && e.Event == clientEvent {
					tl.subEvents[i].Add(1)
					bySid[e.Sid]++
				}
			}
		}
		if stopping(ctx, err) {
			return
		}
		tl.fastEnds.Add(1)
		tl.note(fmt.Sprintf("fast Subscribe stream %d: %v", i, err))
		sleep(ctx, resubscribeAfter)
	}
}

// slowSubscriber reads every kind of event, one every slowRead, until ctx
// ends; when control ends the stream (RESOURCE_EXHAUSTED, as a slow
// consumer) it subscribes again.
func slowSubscriber(ctx context.Context, api sbv1.ControlClient, tl *tally, ready chan<- struct{}) {
	for first := true; ; first = false {
		st, err := subscribe(ctx, api, &sbv1.SubscribeRequest{})
		if first {
			close(ready)
		}
		for err == nil {
			if _, err = st.Recv(); err == nil && ctx.Err() == nil {
				tl.slowEvents.Add(1)
				sleep(ctx, slowRead)
			}
		}
		switch {
		case stopping(ctx, err):
			return
		case status.Code(err) == codes.ResourceExhausted:
			tl.slowEnds.Add(1)
		default:
			tl.slowOtherEnds.Add(1)
			tl.note(fmt.Sprintf("slow Subscribe stream: %v", err))
		}
		sleep(ctx, resubscribeAfter)
	}
}
