package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmd/bench"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

const feedManifest = `
ifkit: 1
name: test.feed
version: 1.0.0
direction: send
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Blob: {proto: google.protobuf.BytesValue}
`

const echoManifest = `
ifkit: 1
name: test.echo
version: 1.0.0
direction: duplex
protos: [google/protobuf/wrappers.proto]
messages:
  recv:
    In: {proto: google.protobuf.BytesValue}
    Ping:
      proto: google.protobuf.BytesValue
      reply: {type: Pong}
  send:
    Pong: {proto: google.protobuf.BytesValue}
`

// serve starts a server of the feed and echo interfaces on a Unix socket
// and returns its address.
func serve(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ifkb") // short: Unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	parse := func(text string) *manifest.Manifest {
		m, err := manifest.Parse("m.yaml", []byte(text), manifest.WithDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	srv := iface.NewServer()
	feed := iface.Interface{Manifest: parse(feedManifest), OnConnect: func(ctx context.Context, c *iface.Conn) {
		msg := wrapperspb.Bytes(make([]byte, 100))
		for c.Send(ctx, "Blob", msg) == nil {
		}
	}}
	echo := iface.Interface{Manifest: parse(echoManifest), Handlers: map[string]iface.Handler{
		"In": func(context.Context, *iface.Message) error { return nil },
		"Ping": func(ctx context.Context, m *iface.Message) error {
			var v wrapperspb.BytesValue
			if err := m.Decode(&v); err != nil {
				return err
			}
			return m.Reply(ctx, &v)
		},
	}}
	for _, i := range []iface.Interface{feed, echo} {
		if err := srv.Register(i); err != nil {
			t.Fatal(err)
		}
	}
	addr := "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return addr
}

// run runs `ifctl bench args...` and returns stdout, stderr and the exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := bench.NewCmd(&cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, nil)
	cmd.SetArgs(args)
	cmd.SetOut(&errOut)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func TestReceiveJSON(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so it runs after the server closes
	addr := serve(t)
	out, errOut, code := run(t, addr, "test.feed", "-n", "500", "--duration", "20s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	tp := rep.Throughput
	if rep.Interface != "test.feed" || rep.Codec == "" || rep.Addr == "" || tp == nil {
		t.Fatalf("report %+v", rep)
	}
	if tp.Mode != "receive" || tp.Messages < 500 || tp.Bytes < 500*100 || tp.Seconds <= 0 || tp.MsgsPerS <= 0 || tp.MBPerS <= 0 {
		t.Errorf("throughput %+v", tp)
	}
	if rep.RTT != nil {
		t.Errorf("a send interface has no round trip: %+v", rep.RTT)
	}
	if errOut != "" && !strings.HasPrefix(errOut, "note:") {
		t.Errorf("stderr on a pipe: %q", errOut)
	}
}

func TestSendAndRoundTripJSON(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so it runs after the server closes
	addr := serve(t)
	out, errOut, code := run(t, addr, "test.echo", "-n", "300", "--size", "64", "--duration", "20s", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, errOut)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	tp, rt := rep.Throughput, rep.RTT
	if tp == nil || tp.Mode != "send" || tp.Type != "In" || tp.Messages != 300 || tp.Bytes != 300*66 || tp.PeerConsumed == nil {
		t.Fatalf("throughput %+v", tp)
	}
	if rt == nil || rt.Type != "Ping" || rt.Reply != "Pong" || rt.Calls != 300 || rt.Bytes != 66 {
		t.Fatalf("round trip %+v", rt)
	}
	if !(rt.P50us > 0 && rt.P50us <= rt.P90us && rt.P90us <= rt.P99us && rt.P99us <= rt.MaxUs) {
		t.Errorf("percentiles out of order: %+v", rt)
	}
}

func TestText(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so it runs after the server closes
	addr := serve(t)
	out, errOut, code := run(t, addr, "test.echo", "--type", "Ping", "-n", "20")
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "interface ") || !strings.Contains(lines[0], "test.echo 1.0.0") ||
		!strings.HasPrefix(lines[1], "round trip ") || !strings.Contains(lines[1], "Ping → Pong") || !strings.Contains(lines[1], "20 calls: p50 ") {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut, "note: throughput: Ping is a request") {
		t.Errorf("stderr: %q", errOut)
	}
}

func TestUsage(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so it runs after the server closes
	addr := serve(t)
	for _, args := range [][]string{
		{addr, "test.echo", "--type", "Nope"},
		{addr, "test.echo", "-n", "-1"},
		{addr, "test.echo", "--duration", "0s"},
		{addr},
	} {
		if _, errOut, code := run(t, args...); code != cmdutil.ExitUsage && !(len(args) == 1 && code != 0) {
			t.Errorf("%v: exit %d, want %d; stderr: %s", args, code, cmdutil.ExitUsage, errOut)
		}
	}
}

func TestFlags(t *testing.T) {
	var got *bench.Options
	cmd := bench.NewCmd(&cmdutil.IOStreams{}, func(_ context.Context, o *bench.Options) error { got = o; return nil })
	cmd.SetArgs([]string{"unix:x.sock", "a.b", "--type", "T", "-n", "7", "--size", "9", "--duration", "3s", "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Addr != "unix:x.sock" || got.Iface != "a.b" || got.Type != "T" || got.Count != 7 || got.Size != 9 ||
		got.Duration != 3*time.Second || got.Output != cmdutil.JSON {
		t.Errorf("options %+v", got)
	}
}

func TestConnectErrors(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first, so it runs after the server closes
	addr := serve(t)
	if _, errOut, code := run(t, "unix://"+filepath.Join(t.TempDir(), "none.sock"), "test.feed"); code != cmdutil.ExitConnect {
		t.Errorf("missing socket: exit %d, want %d; stderr: %s", code, cmdutil.ExitConnect, errOut)
	}
	if _, errOut, code := run(t, addr, "no.such"); code != cmdutil.ExitRemote+int(iface.CodeUnknownInterface) {
		t.Errorf("unknown interface: exit %d; stderr: %s", code, errOut)
	}
}
