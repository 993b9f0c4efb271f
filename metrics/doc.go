// Package metrics exports ifkit's connection and interface counters to
// Prometheus (github.com/prometheus/client_golang), so that package iface
// itself does not depend on it.
//
// Both collectors are pull-based: they read the counters ifkit keeps anyway
// (iface.Server.Stats, iface.Conn.Stats) when Prometheus scrapes, and add
// nothing to the path of a message.
//
//   - NewServer(srv) exports a server's metrics: connections open, opened
//     and ended by code, messages and bytes each way, messages refused,
//     dropped and failing their authentication, credit stalls, sessions and
//     streams refused by code, and per received message type the handler's
//     calls and errors, and for request types its latency (a histogram),
//     all by interface.
//   - NewConns() exports the connections a client adds to it (Add): the
//     same traffic counters, from the client's side.
//
// Register either with a prometheus.Registerer and serve it with promhttp:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.NewServer(srv))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// ifctl serve --metrics ADDR does this for the servers it runs. The metric
// names and labels are listed in the README ("Metrics and logs").
package metrics
