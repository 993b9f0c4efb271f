package iface_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// blockingSensors is sensors.temperature with on_exhausted: block, so that
// a benchmark measures delivery, not drops.
func blockingSensors(b testing.TB) *manifest.Manifest {
	dir := filepath.Join("..", "testdata", "manifests")
	text, err := os.ReadFile(filepath.Join(dir, "sensors.temperature.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := manifest.Parse("sensors.yaml", []byte(strings.Replace(string(text), "\n  on_exhausted: drop_oldest", "\n  on_exhausted: block", 1)), manifest.WithDir(dir))
	if err != nil || m.Flow.OnExhausted != manifest.Block {
		b.Fatal(err, m.Flow)
	}
	return m
}

// BenchmarkTopicPublish: one Publish to N subscribers over mem://, each
// reading as fast as it can; "all" subscribers have a filter every reading
// matches, "tenth" one that a tenth of them match (the rest are decided at
// the server and never sent). msgs/s counts Publish calls.
func BenchmarkTopicPublish(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100, 1000} {
		for _, mode := range []string{"none", "all", "tenth"} {
			if n == 0 && mode != "none" {
				continue
			}
			b.Run(fmt.Sprintf("subs=%d/filter=%s", n, mode), func(b *testing.B) {
				cfg := iface.DefaultConfig()
				cfg.MaxStreams = 2048
				srv, addr := serveConfig(b, "mem", cfg, iface.Interface{Manifest: blockingSensors(b)})
				topic := srv.Topic("sensors.temperature")
				cl := dial(b, addr)
				var wg sync.WaitGroup
				ctx, cancel := context.WithCancel(context.Background())
				defer func() { cancel(); wg.Wait() }()
				for i := range n {
					var opts []iface.ConnectOption
					switch mode {
					case "all":
						opts = append(opts, iface.WithFilter(iface.Filter{CEL: `zone == "north"`}))
					case "tenth":
						opts = append(opts, iface.WithFilter(iface.Filter{CEL: fmt.Sprintf(`probe == "p%d"`, i%10)}))
					}
					c, err := cl.Connect(ctx, "sensors.temperature", append(opts, iface.WithCodec("proto"))...)
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer c.Close("done")
						c.RecvFunc(ctx, func(*iface.Message) error { return nil })
					}()
				}
				waitSubscribers(b, topic, n)
				msgs := make([]any, 10)
				for i := range msgs {
					msgs[i] = reading(fmt.Sprintf("p%d", i), "north", i)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if _, err := topic.Publish(ctx, "Reading", msgs[i%10]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries-or-decisions/s")
			})
		}
	}
}
