package iface_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// transports are the socket kinds every runtime test runs over.
// transports are what every runtime test runs over; sockets those a test
// needs when it crosses a process or handles the socket itself.
var (
	transports = []string{"unix", "tcp", "mem"}
	sockets    = []string{"unix", "tcp"}
)

// load loads an example manifest from testdata/manifests.
func load(t testing.TB, name string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(filepath.Join("..", "testdata", "manifests", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// serve starts a server with the interfaces on a fresh socket of the
// transport and returns its address; the server closes at the end of the test.
func serve(t testing.TB, transport string, ifaces ...iface.Interface) (*iface.Server, string) {
	t.Helper()
	cfg := iface.DefaultConfig()
	cfg.HandshakeTimeout = 2 * time.Second
	return serveConfig(t, transport, cfg, ifaces...)
}

// serveConfig is serve with the server's Config.
func serveConfig(t testing.TB, transport string, cfg iface.Config, ifaces ...iface.Interface) (*iface.Server, string) {
	t.Helper()
	return serveOptions(t, transport, []iface.ServerOption{iface.WithConfig(cfg)}, ifaces...)
}

// serveOptions is serve with the server's options.
func serveOptions(t testing.TB, transport string, opts []iface.ServerOption, ifaces ...iface.Interface) (*iface.Server, string) {
	t.Helper()
	s := iface.NewServer(opts...)
	for _, i := range ifaces {
		if err := s.Register(i); err != nil {
			t.Fatal(err)
		}
	}
	addr := "tcp://127.0.0.1:0"
	if transport == "mem" {
		addr = fmt.Sprintf("mem://%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), memNames.Add(1))
	}
	if transport == "unix" {
		dir, err := os.MkdirTemp("", "ifk") // short: unix socket paths are limited to ~100 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = "unix://" + filepath.Join(dir, "s.sock")
	}
	l, err := iface.Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	if transport == "tcp" {
		addr = l.Addr().String()
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != iface.ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, addr
}

// dial connects a client that closes at the end of the test.
func dial(t testing.TB, addr string) *iface.Client {
	t.Helper()
	c, err := iface.Dial(ctx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ctx bounds each test step so a bug shows as a failure, not a hang.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// memNames numbers the mem:// listeners of the tests, which share the
// process-wide network.
var memNames atomic.Int64

func forEachTransport(t *testing.T, f func(t *testing.T, transport string)) {
	forEach(t, transports, f)
}

// forEachSocket runs f over Unix and TCP only: for a test that kills a peer
// process or writes to the socket itself.
func forEachSocket(t *testing.T, f func(t *testing.T, transport string)) {
	forEach(t, sockets, f)
}

func forEach(t *testing.T, list []string, f func(t *testing.T, transport string)) {
	for _, tr := range list {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}
