package metrics_test

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	"github.com/ifkit/ifkit/metrics"
)

// ExampleNewServer registers a server's collector; promhttp.HandlerFor(reg,
// promhttp.HandlerOpts{}) then serves it at /metrics.
func ExampleNewServer() {
	m, _ := manifest.Load("../testdata/manifests/sensors.temperature.yaml")
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m})
	defer srv.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewServer(srv))
	families, _ := reg.Gather()
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "ifkit_server_connections") {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetLabel()[0].GetValue())
		}
	}
	// Output:
	// ifkit_server_connections_open sensors.temperature
	// ifkit_server_connections_opened_total sensors.temperature
}
