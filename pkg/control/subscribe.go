package control

import (
	"slices"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// Subscribe implements switchboard.v1.Control: it subscribes NATS for the
// requested namespaces, events and kinds and forwards until the caller
// leaves or control shuts down. Edges lost come from the hub's own
// edge-lost subscription, copies of one loss dropped (edgelost.go).
func (s *Server) Subscribe(req *sbv1.SubscribeRequest, stream sbv1.Control_SubscribeServer) error {
	kinds, err := checkSubscribe(req)
	if err != nil {
		return err
	}
	if err := s.available(); err != nil {
		return err
	}
	s.streams.Add(1)
	defer s.streams.Done()

	wantEvents := slices.Contains(kinds, sbv1.EventKind_EVENT_KIND_CLIENT_EVENT)
	wantConnect := slices.Contains(kinds, sbv1.EventKind_EVENT_KIND_CONNECT)
	wantDisconnect := slices.Contains(kinds, sbv1.EventKind_EVENT_KIND_DISCONNECT)
	wantLost := slices.Contains(kinds, sbv1.EventKind_EVENT_KIND_EDGE_LOST)

	// A subject named twice (a namespace or event repeated in the request)
	// is subscribed once, or each event would be streamed twice.
	var subjects []string
	add := func(subject string) {
		if !slices.Contains(subjects, subject) {
			subjects = append(subjects, subject)
		}
	}
	namespaces := req.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	for _, ns := range namespaces {
		if wantEvents {
			if len(req.Events) == 0 {
				add(s.subj.EventFilter(ns, ""))
			}
			for _, ev := range req.Events {
				add(s.subj.EventFilter(ns, ev))
			}
		}
		if wantConnect || wantDisconnect {
			add(s.subj.LifecycleFilter(ns))
		}
	}
	q := newStreamQueue(s.cfg.StreamQueue, s.cfg.StreamQueueBytes)
	for _, subj := range subjects {
		leave, err := s.hub.join(subj, req.QueueGroup, q)
		if err != nil {
			return busError(err)
		}
		defer leave()
	}
	if wantLost {
		// Every instance holds the edge-lost subscription, and every stream
		// that wants losses gets each once: queue groups do not share them,
		// and namespaces and events do not filter them.
		leave, err := s.hub.join(s.subj.EdgeLost(), "", q)
		if err != nil {
			return busError(err)
		}
		defer leave()
	}
	if err := s.nc.FlushTimeout(s.cfg.GatherTimeout); err != nil {
		return busError(err)
	}
	// Tell the caller the subscription is live: headers go out now, so a
	// client can wait for them before it makes events happen.
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return status.Error(codes.Unavailable, "control is shutting down")
		case <-q.wake:
		}
		msgs, over, dropped := q.take()
		for _, m := range msgs {
			resp := s.toSubscribeResponse(m, wantConnect, wantDisconnect)
			// A caller that does not read blocks this Send (gRPC flow
			// control) while its queue fills up and overflows: it holds
			// control's memory only up to the queue's bound, which counts
			// m until it is sent.
			if resp != nil {
				if err := stream.Send(resp); err != nil {
					return err
				}
			}
			q.sent(m)
		}
		if over {
			s.log.Warn("control: Subscribe stream fell behind; ended", "dropped", dropped, "queue", s.cfg.StreamQueue, "queue_bytes", s.cfg.StreamQueueBytes)
			return status.Errorf(codes.ResourceExhausted,
				"slow consumer: this stream fell behind by more than %d events or %d bytes, and %d events were dropped; read faster, or share the work with a queue_group",
				s.cfg.StreamQueue, s.cfg.StreamQueueBytes, dropped)
		}
	}
}

func (s *Server) toSubscribeResponse(m *nats.Msg, wantConnect, wantDisconnect bool) *sbv1.SubscribeResponse {
	if m.Subject == s.subj.EdgeLost() {
		if lost := decodeLost(m.Data); lost != nil {
			return &sbv1.SubscribeResponse{Event: &sbv1.SubscribeResponse_EdgeLost{EdgeLost: lost}}
		}
		return nil
	}
	if _, isEvent := s.subj.IsEvent(m.Subject); isEvent {
		var ev sbv1.ClientEvent
		if proto.Unmarshal(m.Data, &ev) != nil {
			return nil
		}
		if _, ok := s.subj.IsAck(m.Reply); ok {
			ev.AckToken = m.Reply
		}
		return &sbv1.SubscribeResponse{Event: &sbv1.SubscribeResponse_ClientEvent{ClientEvent: &ev}}
	}
	var lc busv1.LifecycleEvent
	if proto.Unmarshal(m.Data, &lc) != nil {
		return nil
	}
	switch x := lc.Event.(type) {
	case *busv1.LifecycleEvent_Connected:
		if wantConnect {
			return &sbv1.SubscribeResponse{Event: &sbv1.SubscribeResponse_Connected{Connected: x.Connected}}
		}
	case *busv1.LifecycleEvent_Disconnected:
		if wantDisconnect {
			return &sbv1.SubscribeResponse{Event: &sbv1.SubscribeResponse_Disconnected{Disconnected: x.Disconnected}}
		}
	}
	return nil
}
