package edge

import (
	"errors"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/internal/admin"
)

// Collector returns a Prometheus collector of the edge's counters, read
// when scraped (Stats, ClusterStats, the NATS connection's own counters):
// it adds nothing to the paths that carry messages. Its metrics are named
// switchboard_edge_…; their labels are bounded (transport, reason, kind),
// never a sid, a room, a user or a namespace. docs/operations.md lists
// them.
func (e *Edge) Collector() prometheus.Collector { return newEdgeCollector(e) }

// Ready reports why the edge should not be sent traffic, nil when it may:
// an edge with a bus is ready once its fixed subscriptions are flushed to
// NATS and while its connection is connected (nats.go subscribes them
// again on reconnecting, before it says connected); a standalone edge once
// it listens. A stopping edge is not ready; a draining one says so.
func (e *Edge) Ready() error {
	if e.sio.Engine().Draining() {
		return errDraining
	}
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	if e.cfg.NATSURL == "" {
		if e.Addr() == nil {
			return errors.New("not listening yet")
		}
		return nil
	}
	if c == nil {
		return errors.New("not started, or stopping")
	}
	select {
	case <-c.leaving:
		return errors.New("stopping")
	default:
	}
	if err := admin.NATSReady(c.nc); err != nil {
		return err
	}
	return c.probe.Err()
}

// edgeCollector turns an edge's counters into const metrics at scrape time.
type edgeCollector struct {
	e    *Edge
	nats *admin.NATSMetrics

	sessions, opened, slow, writeTimeouts, postTimeouts   *prometheus.Desc
	writes, frames, handOffs                              *prometheus.Desc
	tcp, refusedAccept, connectsRefused, joinsRefused     *prometheus.Desc
	acksPending, acksRefused, dropped, omitted            *prometheus.Desc
	pubFailed, replyFailed, deliveryQueue, operationQueue *prometheus.Desc

	handshakesRefused, rateUntracked, eventsDropped       *prometheus.Desc // ratelimit.go, socketio's eventlimits.go
	probeFailures                                         *prometheus.Desc
	disconnects, packetsIn, bytesIn, packetsOut, bytesOut *prometheus.Desc
}

func newEdgeCollector(e *Edge) *edgeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchboard_edge_"+name, help, labels, nil)
	}
	return &edgeCollector{
		e:             e,
		nats:          admin.NewNATSMetrics("switchboard_edge"),
		sessions:      d("sessions", "Engine.IO sessions open now, by transport (polling, websocket).", "transport"),
		opened:        d("sessions_opened_total", "Engine.IO sessions opened (handshakes that succeeded)."),
		slow:          d("slow_consumer_disconnects_total", "Sessions closed because their write queue overflowed (slow consumers)."),
		writeTimeouts: d("write_timeout_disconnects_total", "Sessions closed because a write took longer than --write-timeout."),
		postTimeouts:  d("post_timeouts_total", "Polling POST bodies cut because they took longer than --post-timeout."),
		writes:        d("websocket_writes_total", "WebSocket write system calls (or TLS records written)."),
		frames:        d("websocket_frames_written_total", "WebSocket frames those writes carried."),
		handOffs:      d("websocket_blocking_writes_total", "WebSocket writes handed to a writer of the session's own because the socket did not take them at once."),
		tcp:           d("tcp_connections", "TCP connections the edge holds now."),
		refusedAccept: d("tcp_connections_refused_total", "TCP connections closed at accept, by reason (max_conns, max_conns_per_ip).", "reason"),
		connectsRefused: d("namespace_connects_refused_total",
			"Socket.IO CONNECTs refused, by reason: denied (a token missing or not valid, a connect hook's deny), auth_unavailable (a hook down or slow, JWKS keys not fetched), max_namespaces.", "reason"),
		joinsRefused:   d("room_joins_refused_total", "Room joins cut short because the socket was in --max-rooms-per-socket rooms."),
		acksPending:    d("client_acks_pending", "Client events waiting for a service's ack now."),
		acksRefused:    d("client_acks_refused_total", "Client events asking for an ack that were refused, by reason: max_pending (--max-pending-acks), no_responder (no service subscribed).", "reason"),
		dropped:        d("queue_drops_total", "Messages dropped by a full bounded queue, by kind: bus_delivery (the delivery path's queue; nats.go dropped them), operations (the operations queue; refused OVERLOADED).", "kind"),
		omitted:        d("list_sockets_omitted_total", "Sockets left out of a ListSockets reply that could not be encoded with them."),
		pubFailed:      d("bus_publish_failures_total", "Client events and lifecycle events nats.go refused to publish."),
		replyFailed:    d("bus_reply_failures_total", "Replies to control that could not be sent."),
		deliveryQueue:  d("bus_delivery_queue_messages", "Messages from the bus waiting for the delivery path now."),
		operationQueue: d("bus_operations_queue_messages", "Operations waiting for the operations worker now."),

		handshakesRefused: d("handshakes_refused_total", "Engine.IO handshakes and WebSocket upgrades refused, by reason: rate (429, the client address over --handshake-rate), origin (403, a WebSocket whose Origin is not allowed).", "reason"),
		rateUntracked:     d("handshake_rate_untracked_total", "Handshakes admitted without a rate bucket: the limiter held as many client addresses as it keeps (65,536)."),
		eventsDropped:     d("client_events_dropped_total", "Client events dropped, by reason: rate (the socket over --event-rate), event_name_too_long (over --max-event-name).", "reason"),
		disconnects:       d("disconnects_total", "Engine.IO sessions closed, by reason: transport_close, transport_error, ping_timeout, parse_error, forced_close (the API, a refused connect), server_shutting_down, slow_consumer, server_draining, connect_timeout, other.", "reason"),
		packetsIn:         d("packets_received_total", "Engine.IO packets received from clients, either transport."),
		bytesIn:           d("received_bytes_total", "Payload bytes of those packets."),
		packetsOut:        d("packets_sent_total", "Engine.IO packets queued to clients (a fan-out counts once per session; pings included)."),
		bytesOut:          d("sent_bytes_total", "Payload bytes of those packets."),
		probeFailures:     d("nats_probe_failures_total", "Readiness probes the edge sent itself through NATS and its delivery path that got no answer in time (--ready-check-interval)."),
	}
}

func (c *edgeCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.sessions, c.opened, c.slow, c.writeTimeouts, c.postTimeouts,
		c.writes, c.frames, c.handOffs,
		c.tcp, c.refusedAccept, c.connectsRefused, c.joinsRefused,
		c.acksPending, c.acksRefused, c.dropped, c.omitted,
		c.pubFailed, c.replyFailed, c.deliveryQueue, c.operationQueue,
		c.handshakesRefused, c.rateUntracked, c.eventsDropped, c.probeFailures,
		c.disconnects, c.packetsIn, c.bytesIn, c.packetsOut, c.bytesOut,
	}
}

// Describe implements prometheus.Collector.
func (c *edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
	c.nats.Describe(ch)
	c.e.fanout.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *edgeCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	st := c.e.Stats()
	eng := st.Engine
	// A session counts as WebSocket from the upgrade on; the two may be
	// read a moment apart, hence the floor.
	gauge(c.sessions, max(eng.Sessions-eng.WebSocket, 0), "polling")
	gauge(c.sessions, eng.WebSocket, "websocket")
	counter(c.opened, eng.Opened)
	counter(c.slow, eng.SlowConsumers)
	counter(c.writeTimeouts, eng.WriteTimeouts)
	counter(c.postTimeouts, eng.PostTimeouts)
	counter(c.writes, eng.Writes)
	counter(c.frames, eng.FramesWritten)
	counter(c.handOffs, eng.BlockingWriters)
	for reason, n := range eng.Closes {
		counter(c.disconnects, n, strings.ReplaceAll(reason, " ", "_"))
	}
	counter(c.packetsIn, eng.PacketsReceived)
	counter(c.bytesIn, eng.BytesReceived)
	counter(c.packetsOut, eng.PacketsSent)
	counter(c.bytesOut, eng.BytesSent)
	gauge(c.tcp, st.Connections)
	counter(c.refusedAccept, st.RefusedMaxConnections, "max_conns")
	counter(c.refusedAccept, st.RefusedPerIP, "max_conns_per_ip")
	counter(c.connectsRefused, st.ConnectsRefused, "denied")
	counter(c.connectsRefused, st.AuthFailures, "auth_unavailable")
	counter(c.connectsRefused, st.SocketIO.NamespacesRefused, "max_namespaces")
	counter(c.joinsRefused, st.SocketIO.RoomJoinsRefused)
	counter(c.handshakesRefused, st.RefusedHandshakeRate, "rate")
	counter(c.handshakesRefused, eng.OriginsRefused, "origin")
	counter(c.rateUntracked, st.HandshakeRateUntracked)
	counter(c.eventsDropped, st.SocketIO.EventsOverRate, "rate")
	counter(c.eventsDropped, st.SocketIO.EventNamesTooLong, "event_name_too_long")

	cs := c.e.ClusterStats() // zeros when standalone or stopped
	gauge(c.acksPending, cs.AcksPending)
	counter(c.acksRefused, cs.AcksRefused, "max_pending")
	counter(c.acksRefused, cs.AcksNoResponder, "no_responder")
	counter(c.dropped, cs.BusDropped, "bus_delivery")
	counter(c.dropped, cs.OperationsDropped, "operations")
	counter(c.omitted, cs.SocketsOmitted)
	counter(c.pubFailed, cs.PublishFailures)
	counter(c.replyFailed, cs.ReplyFailures)
	counter(c.probeFailures, cs.ProbeFailures)

	c.e.mu.Lock()
	cl := c.e.cluster
	c.e.mu.Unlock()
	var nc *nats.Conn
	deliveries, ops := 0, 0
	if cl != nil {
		nc, deliveries, ops = cl.nc, len(cl.msgs), len(cl.ops)
	}
	gauge(c.deliveryQueue, deliveries)
	gauge(c.operationQueue, ops)
	c.nats.Collect(ch, nc)
	c.e.fanout.Collect(ch)
}

// newFanoutHistogram is switchboard_edge_fanout_seconds: one observation a
// broadcast (not a socket), from the delivery path taking it to its frame
// queued to the last of its sockets.
func newFanoutHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchboard_edge_fanout_seconds",
		Help:    "Time from the delivery path taking a broadcast off the bus queue to its frame queued to the last of its sockets (writes follow asynchronously), one observation a broadcast.",
		Buckets: prometheus.ExponentialBucketsRange(0.00005, 5, 12),
	})
}
