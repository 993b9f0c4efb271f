package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmd/gateway"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const greeter = `
ifkit: 1
name: demo.greeter
version: 1.0.0
direction: duplex
messages:
  recv:
    Hello:
      schema: {type: object, required: [name], properties: {name: {type: string}}}
      reply: {type: Greeting}
  send:
    Greeting:
      schema: {type: object, properties: {text: {type: string}}}
`

func serve(t *testing.T) string {
	t.Helper()
	m, err := manifest.Parse("greeter.yaml", []byte(greeter))
	if err != nil {
		t.Fatal(err)
	}
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Hello": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, map[string]string{"text": "hi"})
		},
	}})
	dir, err := os.MkdirTemp("", "gw")
	if err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); os.RemoveAll(dir) })
	return addr
}

func TestRun(t *testing.T) {
	addr := serve(t)
	var out, errOut bytes.Buffer
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts := &gateway.Options{
		IO: &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}, Addr: addr, HTTP: "127.0.0.1:0",
		Credits: 4, CallTimeout: time.Second, Grace: time.Second,
		Ready: func(url string) { ready <- url },
	}
	go func() { done <- gateway.Run(ctx, opts) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	res, err := http.Post(url+"/demo.greeter/Hello", "application/json", strings.NewReader(`{"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"text":"hi"}` {
		t.Fatalf("Hello: %d %s", res.StatusCode, body)
	}
	// A stream in flight does not hold the shutdown up.
	sres, err := http.Get(url + "/demo.greeter/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer sres.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !strings.Contains(out.String(), "gateway for "+addr+" on http://127.0.0.1:") {
		t.Errorf("stdout: %q", out.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr: %q", errOut.String())
	}
}

func TestUsage(t *testing.T) {
	io := &cmdutil.IOStreams{Out: io.Discard, ErrOut: io.Discard}
	for _, o := range []*gateway.Options{
		{IO: io, Addr: "nope://x", HTTP: "127.0.0.1:0"},
		{IO: io, Addr: "unix:///tmp/x.sock", HTTP: "8080"},
	} {
		if err := gateway.Run(context.Background(), o); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
			t.Errorf("%s --http %s: %v (exit %d), want a usage error", o.Addr, o.HTTP, err, cmdutil.ExitCode(err))
		}
	}
	// Nothing at ADDR: the command fails, saying so.
	err := gateway.Run(context.Background(), &gateway.Options{IO: io, Addr: "unix:///nonexistent/x.sock", HTTP: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "no socket") {
		t.Errorf("nothing at ADDR: %v", err)
	}
}
