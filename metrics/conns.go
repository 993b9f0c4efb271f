package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ifkit/ifkit/iface"
)

// Conns collects the metrics of the connections added to it, typically a
// client's; see NewConns.
type Conns struct {
	mu    sync.Mutex
	live  map[*iface.Conn]struct{}
	ended map[string]*endedTotals // by interface
}

// endedTotals are the final counters of one interface's ended connections.
type endedTotals struct {
	byCode map[iface.Code]uint64
	sum    iface.ConnStats
}

var _ prometheus.Collector = (*Conns)(nil)

// NewConns returns a collector with no connections.
func NewConns() *Conns {
	return &Conns{live: map[*iface.Conn]struct{}{}, ended: map[string]*endedTotals{}}
}

// Add adds a connection. Its counters are read at each scrape; once it has
// ended, its final counters join the totals and the collector lets it go,
// so a long-lived collector holds only live connections.
func (c *Conns) Add(conn *iface.Conn) {
	c.mu.Lock()
	c.live[conn] = struct{}{}
	c.mu.Unlock()
}

func cdesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ifkit_client_"+name, help, labels, nil)
}

var (
	cConnsOpen  = cdesc("connections_open", "Connections open now.", "interface")
	cConnsEnded = cdesc("connections_ended_total", "Connections ended, by end code.", "interface", "code")
	cMessages   = cdesc("messages_total", "MESSAGE frames this side sent and received (direction: sent, received).", "interface", "direction")
	cBytes      = cdesc("message_bytes_total", "Message body bytes this side sent and received.", "interface", "direction")
	cRefused    = cdesc("messages_refused_total", "Received messages this side refused as invalid.", "interface")
	cDropped    = cdesc("messages_dropped_total", "Messages this side dropped under its flow policy.", "interface")
	cStalls     = cdesc("credit_stalls_total", "Sends that found no credit (then waited, failed or dropped).", "interface")
)

// Describe implements prometheus.Collector.
func (c *Conns) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cConnsOpen, cConnsEnded, cMessages, cBytes, cRefused, cDropped, cStalls} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Conns) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	var live []*iface.Conn
	for conn := range c.live {
		select {
		case <-conn.Done():
			name := conn.Manifest().Name
			e := c.ended[name]
			if e == nil {
				e = &endedTotals{byCode: map[iface.Code]uint64{}}
				c.ended[name] = e
			}
			e.byCode[iface.CodeOf(conn.Err())]++
			e.sum.Add(iface.ConnStats(conn.Stats()))
			delete(c.live, conn)
		default:
			live = append(live, conn)
		}
	}
	totals := map[string]iface.ConnStats{}
	for name, e := range c.ended {
		totals[name] = e.sum
		for code, n := range e.byCode {
			ch <- prometheus.MustNewConstMetric(cConnsEnded, prometheus.CounterValue, float64(n), name, code.String())
		}
	}
	c.mu.Unlock()
	open := map[string]int{}
	for _, conn := range live {
		name := conn.Manifest().Name
		t := totals[name]
		t.Add(iface.ConnStats(conn.Stats()))
		totals[name] = t
		open[name]++
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for name, t := range totals {
		ch <- prometheus.MustNewConstMetric(cConnsOpen, prometheus.GaugeValue, float64(open[name]), name)
		counter(cMessages, t.SentMessages, name, "sent")
		counter(cMessages, t.ReceivedMessages, name, "received")
		counter(cBytes, t.SentBytes, name, "sent")
		counter(cBytes, t.ReceivedBytes, name, "received")
		counter(cRefused, t.Refused, name)
		counter(cDropped, t.Dropped, name)
		counter(cStalls, t.CreditStalls, name)
	}
}
