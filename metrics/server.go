package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
)

// Server collects an iface.Server's metrics at each scrape; see NewServer.
type Server struct {
	srv *iface.Server
}

var _ prometheus.Collector = (*Server)(nil)

// NewServer returns a collector of srv's metrics, read from srv.Stats at
// each scrape. Its label values are names from the server's own manifests
// and code names, so their number is bounded by what the server hosts.
func NewServer(srv *iface.Server) *Server { return &Server{srv: srv} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ifkit_server_"+name, help, labels, nil)
}

var (
	dConnsOpen    = desc("connections_open", "Connections open now.", "interface")
	dConnsOpened  = desc("connections_opened_total", "Connections accepted since the server started.", "interface")
	dConnsEnded   = desc("connections_ended_total", "Connections ended, by end code (spec/PROTOCOL.md §9).", "interface", "code")
	dMessages     = desc("messages_total", "MESSAGE frames sent and received (direction: sent, received).", "interface", "direction")
	dBytes        = desc("message_bytes_total", "Message body bytes sent and received.", "interface", "direction")
	dRefused      = desc("messages_refused_total", "Received messages refused as invalid (invalid_message).", "interface")
	dDropped      = desc("messages_dropped_total", "Messages the server dropped under its flow policy.", "interface")
	dAuthFailures = desc("message_auth_failures_total", "Received messages whose authentication tag failed.", "interface")
	dStalls       = desc("credit_stalls_total", "Sends that found no credit (then waited, failed or dropped).", "interface")
	dRefusals     = desc("refusals_total", "Sessions and streams the server refused, by code.", "code")
	dHandler      = desc("handler_seconds", "Time in the handler of a received request type (one-way types are counted in handler_calls_total, not timed).", "interface", "type")
	dHandlerCalls = desc("handler_calls_total", "Handler calls of a received message type.", "interface", "type")
	dHandlerErrs  = desc("handler_errors_total", "Handler calls that failed (the peer got an ERROR frame).", "interface", "type")
)

// Describe implements prometheus.Collector.
func (c *Server) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dConnsOpen, dConnsOpened, dConnsEnded, dMessages, dBytes, dRefused, dDropped, dAuthFailures, dStalls, dRefusals, dHandler, dHandlerCalls, dHandlerErrs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Server) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for code, n := range st.Refusals {
		counter(dRefusals, n, code.String())
	}
	for _, is := range st.Interfaces {
		name, t := is.Interface, is.Totals
		ch <- prometheus.MustNewConstMetric(dConnsOpen, prometheus.GaugeValue, float64(is.Open), name)
		counter(dConnsOpened, is.Opened, name)
		for code, n := range is.Ended {
			counter(dConnsEnded, n, name, code.String())
		}
		counter(dMessages, t.SentMessages, name, "sent")
		counter(dMessages, t.ReceivedMessages, name, "received")
		counter(dBytes, t.SentBytes, name, "sent")
		counter(dBytes, t.ReceivedBytes, name, "received")
		counter(dRefused, t.Refused, name)
		counter(dDropped, t.Dropped, name)
		counter(dAuthFailures, t.AuthFailures, name)
		counter(dStalls, t.CreditStalls, name)
		for _, ty := range is.Types {
			if timed(ty) {
				ch <- handlerHistogram(name, ty)
			}
			counter(dHandlerCalls, ty.Handled, name, ty.Type)
			counter(dHandlerErrs, ty.Errors, name, ty.Type)
		}
	}
}

// timed reports whether the server times t's calls (a request type): then
// every call is in a latency bucket.
func timed(t control.TypeStats) bool {
	var n uint64
	for _, b := range t.Latency {
		n += b
	}
	return n == t.Handled
}

// handlerHistogram is a type's latency buckets as a Prometheus histogram:
// the bounds of control.LatencyBound in seconds, cumulative.
func handlerHistogram(iface string, t control.TypeStats) prometheus.Metric {
	buckets := make(map[float64]uint64, control.LatencyBuckets-1)
	var cum uint64
	for i := 0; i < control.LatencyBuckets-1; i++ {
		if i < len(t.Latency) {
			cum += t.Latency[i]
		}
		buckets[control.LatencyBound(i).Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(dHandler, t.Handled, t.Processing.Seconds(), buckets, iface, t.Type)
}
