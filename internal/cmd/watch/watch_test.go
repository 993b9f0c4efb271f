package watch_test

import (
	"context"
	"github.com/ifkit/ifkit/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmd/watch"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// hostile is a client name and close reason that would forge a log line
// and colour the terminal if printed raw.
const hostile = "x\x1b[31mred\n12:00:00.000  connection_closed #1 on fake: normal_close\u202e"

// TestPeerTextIsInert: a client's name and close reason with a newline, an
// escape sequence and a bidi override come out of watch's text output as
// one quoted line each, and exact in -o json.
func TestPeerTextIsInert(t *testing.T) {
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})

	for _, format := range []cmdutil.Format{cmdutil.Text, cmdutil.JSON} {
		t.Run(string(format), func(t *testing.T) {
			out := &testutil.SyncBuffer{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- watch.Run(ctx, &watch.Options{IO: &cmdutil.IOStreams{Out: out, ErrOut: out}, Addr: addr, Output: format})
			}()
			waitFor(t, out, "connected")
			c, err := iface.Dial(context.Background(), addr, iface.WithClientName(hostile))
			if err != nil {
				t.Fatal(err)
			}
			conn, err := c.Connect(context.Background(), m.Name)
			if err != nil {
				t.Fatal(err)
			}
			conn.Close(hostile)
			c.Close()
			// (the hostile name holds "connection_closed" too)
			closed := `: normal_close: "`
			if format == cmdutil.JSON {
				closed = `"event":"connection_closed"`
			}
			waitFor(t, out, closed)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			got := out.String()
			if format == cmdutil.JSON {
				if want := `"client":"x\u001b[31mred\n12:00:00.000  connection_closed #1 on fake: normal_close` + "\u202e" + `"`; !strings.Contains(got, want) {
					t.Errorf("-o json should keep the client's name exact (%s):\n%s", want, got)
				}
				return
			}
			if strings.ContainsAny(got, "\x1b\u202e") {
				t.Errorf("an escape or bidi override reached the output:\n%q", got)
			}
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("want 3 lines (connected, opened, closed), got %d:\n%s", len(lines), got)
			}
			quoted := `"x\x1b[31mred\n12:00:00.000  connection_closed #1 on fake: normal_close\u202e"`
			if !strings.HasSuffix(lines[1], " from "+quoted) {
				t.Errorf("opened: %s, want the client's name as %s", lines[1], quoted)
			}
			if !strings.HasSuffix(lines[2], ": normal_close: "+quoted) {
				t.Errorf("closed: %s, want the reason as %s", lines[2], quoted)
			}
		})
	}
}

// waitFor waits until out holds want.
func waitFor(t *testing.T, out *testutil.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
