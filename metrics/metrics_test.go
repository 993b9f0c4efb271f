package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	"github.com/ifkit/ifkit/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kv serves db.kv: Get answers, Put fails.
func kv(t *testing.T) iface.Interface {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Get": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, map[string]any{"key": "k", "found": false})
		},
		"Put": func(context.Context, *iface.Message) error { return errors.New("read-only") },
	}, OnReset: func(context.Context, *iface.Conn, string) error { return nil }}
}

// start serves srv on a fresh TCP port until the test ends.
func start(t *testing.T, srv *iface.Server) string {
	l, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

// families gathers reg into metric families by name.
func families(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value returns the value of the metric of family name whose labels
// include want, or -1.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// The server's metrics follow its traffic: connections, messages each way,
// handler calls and errors per type, end codes and refusals; scraped over
// HTTP as Prometheus does.
func TestServerMetrics(t *testing.T) {
	srv := iface.NewServer()
	if err := srv.Register(kv(t)); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metrics.NewServer(srv))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := iface.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(ctx, "db.kv", iface.WithCodec("json"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := conn.Call(ctx, "Get", json.RawMessage(`{"key":"k"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Call(ctx, "Put", json.RawMessage(`{"key":"k","value":"eA=="}`)); iface.CodeOf(err) != iface.CodeInternal {
		t.Fatalf("Put: %v", err)
	}
	if _, err := c.Connect(ctx, "no.such"); iface.CodeOf(err) != iface.CodeUnknownInterface {
		t.Fatalf("Connect to no.such: %v", err)
	}

	// The server counts a refusal once it has answered it: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for value(families(t, reg), "ifkit_server_refusals_total", map[string]string{"code": "unknown_interface"}) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the refused stream is not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f := families(t, reg)
	for _, w := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ifkit_server_connections_open", map[string]string{"interface": "db.kv"}, 1},
		{"ifkit_server_connections_opened_total", map[string]string{"interface": "db.kv"}, 1},
		{"ifkit_server_messages_total", map[string]string{"interface": "db.kv", "direction": "received"}, 4},
		{"ifkit_server_messages_total", map[string]string{"interface": "db.kv", "direction": "sent"}, 3},
		{"ifkit_server_handler_seconds", map[string]string{"interface": "db.kv", "type": "Get"}, 3},
		{"ifkit_server_handler_errors_total", map[string]string{"interface": "db.kv", "type": "Put"}, 1},
		{"ifkit_server_handler_calls_total", map[string]string{"interface": "db.kv", "type": "Get"}, 3},
		{"ifkit_server_refusals_total", map[string]string{"code": "unknown_interface"}, 1},
	} {
		if got := value(f, w.name, w.labels); got != w.want {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
		}
	}

	conn.Close("done")
	deadline = time.Now().Add(30 * time.Second)
	for value(families(t, reg), "ifkit_server_connections_ended_total", map[string]string{"interface": "db.kv", "code": "normal_close"}) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the ended connection is not counted by its code")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f = families(t, reg)
	if got := value(f, "ifkit_server_messages_total", map[string]string{"interface": "db.kv", "direction": "received"}); got != 4 {
		t.Errorf("after the end, received = %v, want 4 (counters never go down)", got)
	}
	if got := value(f, "ifkit_server_connections_open", map[string]string{"interface": "db.kv"}); got != 0 {
		t.Errorf("after the end, open = %v, want 0", got)
	}

	// What Prometheus scrapes.
	h := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer h.Close()
	resp, err := http.Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`ifkit_server_connections_opened_total{interface="db.kv"} 1`,
		`ifkit_server_handler_seconds_count{interface="db.kv",type="Get"} 3`,
		`ifkit_server_handler_seconds_bucket{interface="db.kv",type="Get",le="+Inf"} 3`,
		`# TYPE ifkit_server_handler_seconds histogram`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the scrape lacks %q:\n%s", want, body)
		}
	}
}

// A client's connections: counted while open, kept in the totals (and by
// end code) once ended, and then let go.
func TestConnsMetrics(t *testing.T) {
	srv := iface.NewServer()
	if err := srv.Register(kv(t)); err != nil {
		t.Fatal(err)
	}
	addr := start(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := iface.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	col := metrics.NewConns()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	for range 2 {
		conn, err := c.Connect(ctx, "db.kv", iface.WithCodec("json"))
		if err != nil {
			t.Fatal(err)
		}
		col.Add(conn)
		if _, err := conn.Call(ctx, "Get", json.RawMessage(`{"key":"k"}`)); err != nil {
			t.Fatal(err)
		}
		if len(families(t, reg)) == 0 {
			t.Fatal("nothing collected")
		}
		conn.Close("done")
		<-conn.Done()
	}
	f := families(t, reg)
	if got := value(f, "ifkit_client_messages_total", map[string]string{"interface": "db.kv", "direction": "sent"}); got != 2 {
		t.Errorf("sent = %v, want 2", got)
	}
	if got := value(f, "ifkit_client_connections_ended_total", map[string]string{"interface": "db.kv", "code": "normal_close"}); got != 2 {
		t.Errorf("ended = %v, want 2", got)
	}
	if got := value(f, "ifkit_client_connections_open", map[string]string{"interface": "db.kv"}); got != 0 {
		t.Errorf("open = %v, want 0", got)
	}
}
