package lab_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmd/lab"
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
	dir, err := os.MkdirTemp("", "lab")
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

// TestRun: the page, the gateway under /gw, and a clean stop with a
// stream in flight.
func TestRun(t *testing.T) {
	addr := serve(t)
	var out, errOut bytes.Buffer
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	opts := &lab.Options{
		IO: &cmdutil.IOStreams{Out: &out, ErrOut: &errOut}, Addr: addr, HTTP: lab.HTTP{Addr: "127.0.0.1:0"},
		Credits: 4, Grace: time.Second, Ready: func(url string) { ready <- url },
	}
	go func() { done <- lab.Run(ctx, opts) }()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	res, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), addr) {
		t.Fatalf("GET /: %d %.200s", res.StatusCode, body)
	}
	res, err = http.Post(url+"/gw/demo.greeter/Hello", "application/json", strings.NewReader(`{"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"text":"hi"}` {
		t.Fatalf("Hello: %d %s", res.StatusCode, body)
	}
	events, err := http.Get(url + "/gw/_events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if !strings.Contains(out.String(), "lab bench for "+addr+" on http://127.0.0.1:") {
		t.Errorf("stdout: %q", out.String())
	}
}

// TestReachable: an address other hosts can reach needs TLS and a secret;
// half a certificate pair, or two secrets, are usage errors.
func TestReachable(t *testing.T) {
	addr := serve(t)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret-s3cret-s3cret\n"), 0o600)
	for _, c := range []struct {
		h    lab.HTTP
		want string
	}{
		{lab.HTTP{Addr: "0.0.0.0:0"}, "reachable from other hosts"},
		{lab.HTTP{Addr: "0.0.0.0:0", SecretFile: secret}, "reachable from other hosts"},
		{lab.HTTP{Addr: "127.0.0.1:0", TLSCert: "x.pem"}, "certificate and key go together"},
		{lab.HTTP{Addr: "127.0.0.1:0", SecretFile: secret, SecretEnv: "X"}, "give the lab's secret once"},
		{lab.HTTP{Addr: "127.0.0.1"}, "give host:port"},
	} {
		var out bytes.Buffer
		err := lab.Run(context.Background(), &lab.Options{IO: &cmdutil.IOStreams{Out: &out, ErrOut: &out}, Addr: addr, HTTP: c.h})
		var ue *cmdutil.ExitError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &ue) || ue.Code != cmdutil.ExitUsage {
			t.Errorf("%+v: %v, want a usage error with %q", c.h, err, c.want)
		}
	}
}
