package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmd/watch"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/internal/testutil"
	"github.com/ifkit/ifkit/manifest"
)

// TestMonitorFlag: watch --monitor prints each target's down once, with its
// code, a noproc for one already gone, and returns when all have fired.
func TestMonitorFlag(t *testing.T) {
	m, err := manifest.Load("../../../testdata/manifests/sensors.temperature.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := iface.NewServer()
	if err := srv.Register(iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) { <-c.Done() }}); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "watch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	c, err := iface.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(context.Background(), m.Name)
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- watch.Run(context.Background(), &watch.Options{
			IO: &cmdutil.IOStreams{Out: out, ErrOut: out}, Addr: addr, Output: cmdutil.JSON,
			Monitors: []string{fmt.Sprintf("conn:%d", conn.ID()), "conn:5", "iface:" + m.Name},
		})
	}()
	waitFor(t, out, `"noproc":true`)
	if strings.Contains(out.String(), fmt.Sprintf(`"target":"conn:%d"`, conn.ID())) {
		t.Fatalf("the live connection was reported down:\n%s", out)
	}
	conn.Close("enough")
	waitFor(t, out, `"reason":"enough"`)
	srv.Unregister(m.Name)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("watch did not return once every monitor fired:\n%s", out)
	}
	downs := map[string]watch.Event{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e watch.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event == "monitor_down" {
			if _, twice := downs[e.Target]; twice {
				t.Fatalf("%s fired twice:\n%s", e.Target, out)
			}
			downs[e.Target] = e
		}
	}
	want := map[string]string{fmt.Sprintf("conn:%d", conn.ID()): "normal_close", "conn:5": "not_found", "iface:" + m.Name: "unknown_interface"}
	for target, code := range want {
		if downs[target].Code != code {
			t.Errorf("%s: %+v, want code %s", target, downs[target], code)
		}
	}
}

func TestMonitorFlagBad(t *testing.T) {
	for _, bad := range []string{"conn:x", "conn:0", "iface:", "server:1", "pid:3"} {
		err := watch.Run(context.Background(), &watch.Options{IO: &cmdutil.IOStreams{Out: &testutil.SyncBuffer{}}, Addr: "unix:///nonexistent", Monitors: []string{bad}})
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--monitor") {
			t.Errorf("--monitor %s: %v, want a usage error naming --monitor", bad, err)
		}
	}
}
