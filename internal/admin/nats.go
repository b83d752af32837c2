package admin

import (
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// NATSMetrics describes a NATS connection's metrics under a prefix
// (switchboard_edge, switchboard_control), for a collector to emit from
// the connection's own counters at scrape time.
type NATSMetrics struct {
	connected, reconnects, buffered    *prometheus.Desc
	inMsgs, inBytes, outMsgs, outBytes *prometheus.Desc
}

// NewNATSMetrics returns the descriptions of the NATS metrics named
// prefix_nats_….
func NewNATSMetrics(prefix string) *NATSMetrics {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prefix+"_nats_"+name, help, nil, nil)
	}
	return &NATSMetrics{
		connected:  d("connected", "1 while the NATS connection is connected, 0 while it is not (reconnecting, closed, or not made yet)."),
		reconnects: d("reconnects_total", "Times the NATS connection reconnected."),
		buffered:   d("reconnect_buffer_bytes", "Bytes published while disconnected, held for the reconnection."),
		inMsgs:     d("received_messages_total", "Messages the NATS connection received."),
		inBytes:    d("received_bytes_total", "Payload bytes the NATS connection received."),
		outMsgs:    d("sent_messages_total", "Messages the NATS connection published."),
		outBytes:   d("sent_bytes_total", "Payload bytes the NATS connection published."),
	}
}

// Describe sends the descriptions.
func (m *NATSMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.connected, m.reconnects, m.buffered, m.inMsgs, m.inBytes, m.outMsgs, m.outBytes} {
		ch <- d
	}
}

// Collect sends nc's metrics; with nc nil (no connection yet, or none at
// all), connected reads 0 and the counters are left out.
func (m *NATSMetrics) Collect(ch chan<- prometheus.Metric, nc *nats.Conn) {
	if nc == nil {
		ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, 0)
		return
	}
	up := 0.0
	if nc.Status() == nats.CONNECTED {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, up)
	st := nc.Stats()
	ch <- prometheus.MustNewConstMetric(m.reconnects, prometheus.CounterValue, float64(st.Reconnects))
	ch <- prometheus.MustNewConstMetric(m.inMsgs, prometheus.CounterValue, float64(st.InMsgs))
	ch <- prometheus.MustNewConstMetric(m.inBytes, prometheus.CounterValue, float64(st.InBytes))
	ch <- prometheus.MustNewConstMetric(m.outMsgs, prometheus.CounterValue, float64(st.OutMsgs))
	ch <- prometheus.MustNewConstMetric(m.outBytes, prometheus.CounterValue, float64(st.OutBytes))
	if b, err := nc.Buffered(); err == nil {
		ch <- prometheus.MustNewConstMetric(m.buffered, prometheus.GaugeValue, float64(b))
	}
}

// NATSReady reports why nc is not ready: nil while it is connected.
func NATSReady(nc *nats.Conn) error {
	if nc == nil {
		return errNoNATS
	}
	if st := nc.Status(); st != nats.CONNECTED {
		return &notConnected{st}
	}
	return nil
}

var errNoNATS = notReady("NATS: not connected yet")

type notReady string

func (e notReady) Error() string { return string(e) }

type notConnected struct{ st nats.Status }

func (e *notConnected) Error() string { return "NATS: " + statusName(e.st) }

// statusName is a connection status as a readiness reason.
func statusName(st nats.Status) string {
	switch st {
	case nats.RECONNECTING:
		return "reconnecting"
	case nats.CLOSED:
		return "connection closed"
	case nats.CONNECTING:
		return "connecting"
	case nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return "draining"
	case nats.DISCONNECTED:
		return "disconnected"
	}
	return "not connected (" + st.String() + ")"
}
