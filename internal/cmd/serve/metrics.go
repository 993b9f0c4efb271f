package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/metrics"
)

// Bounds of the metrics endpoint's HTTP server: a scraper that sends its
// request slowly, or stops reading the answer, is cut off.
const (
	metricsHeaderTimeout = 10 * time.Second
	metricsWriteTimeout  = 30 * time.Second
	metricsStopTimeout   = 5 * time.Second
)

// metricsServer serves a server's Prometheus metrics at /metrics.
type metricsServer struct {
	url  string // where it serves, http://host:port/metrics
	hs   *http.Server
	done chan struct{}
}

// serveMetrics listens on addr (host:port) and serves srv's metrics (and
// the Go runtime's and the process's) at /metrics until stop.
func serveMetrics(addr string, srv *iface.Server) (*metricsServer, error) {
	addr = strings.TrimPrefix(addr, "http://")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, cmdutil.Hint(fmt.Errorf("--metrics: cannot listen on %s: %w", addr, err), "give a free host:port, e.g. --metrics 127.0.0.1:9464")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewServer(srv), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsServer{
		url:  "http://" + l.Addr().String() + "/metrics",
		hs:   &http.Server{Handler: mux, ReadHeaderTimeout: metricsHeaderTimeout, WriteTimeout: metricsWriteTimeout},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return // the listener failed; stop has nothing left to wait for
		}
	}()
	return m, nil
}

// stop ends the metrics server, letting a scrape under way finish within
// metricsStopTimeout.
func (m *metricsServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), metricsStopTimeout)
	defer cancel()
	if m.hs.Shutdown(ctx) != nil {
		m.hs.Close()
	}
	<-m.done
}
