package iface_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in, network, address, str string
	}{
		{"unix:///run/x.sock", "unix", "/run/x.sock", "unix:///run/x.sock"},
		{"unix:rel/x.sock", "unix", "rel/x.sock", "unix:rel/x.sock"},
		{"tcp://127.0.0.1:7000", "tcp", "127.0.0.1:7000", "tcp://127.0.0.1:7000"},
		{"localhost:7000", "tcp", "localhost:7000", "tcp://localhost:7000"},
		{" [::1]:9 ", "tcp", "[::1]:9", "tcp://[::1]:9"},
		{"tls://example.org:443", "tcp", "example.org:443", "tls://example.org:443"},
	} {
		a, err := iface.ParseAddr(tc.in)
		if err != nil {
			t.Errorf("ParseAddr(%q): %v", tc.in, err)
			continue
		}
		if a.Network != tc.network || a.Address != tc.address || a.String() != tc.str {
			t.Errorf("ParseAddr(%q) = %+v (%s), want %s %s (%s)", tc.in, a, a, tc.network, tc.address, tc.str)
		}
	}
}

func TestParseAddrErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                "empty address",
		"unix://rel.sock": "absolute path",
		"unix:":           "no socket path",
		"http://x:1":      "unknown scheme",
		"justahost":       "want host:port",
		"host:":           "missing port",
		"tls://unix:///x": "tls:// takes host:port",
		"/run/x.sock":     "a Unix socket is written unix:///run/x.sock",
		"x.sock":          "written unix:x.sock",
		"tls://tcp://h:1": "tls:// takes host:port",
	} {
		if _, err := iface.ParseAddr(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseAddr(%q) = %v, want an error about %q", in, err, want)
		}
	}
}

func TestParseAddrList(t *testing.T) {
	list, err := iface.ParseAddrList("unix:a.sock,tcp://127.0.0.1:1,127.0.0.1:2")
	if err != nil || len(list) != 3 || list[2].Address != "127.0.0.1:2" {
		t.Fatalf("got %v, %v", list, err)
	}
	if _, err := iface.ParseAddrList("unix:a.sock,,x:1"); err == nil {
		t.Error("an empty element was accepted")
	}
}

func TestListenUnixOwnerOnlyAndCleanedUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := iface.Listen(context.Background(), "unix://"+path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := iface.Listen(context.Background(), "unix://"+path); err == nil || !strings.Contains(err.Error(), "another process is listening") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	l.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file still there after Close: %v", err)
	}
}

func TestListenReplacesStaleSocketButNotFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := iface.Listen(context.Background(), "unix://"+file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a plain file: %v", err)
	}
	// A socket file whose listener is gone (the process died).
	stale := filepath.Join(dir, "stale.sock")
	l, err := iface.Listen(context.Background(), "unix://"+stale)
	if err != nil {
		t.Fatal(err)
	}
	if ul, ok := l.(interface{ SetUnlinkOnClose(bool) }); ok {
		ul.SetUnlinkOnClose(false)
	}
	l.Close()
	l2, err := iface.Listen(context.Background(), "unix://"+stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}

// A server of another protocol version: the dial fails with
// unsupported_version, still matching ErrConnect.
func TestDialOtherVersion(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Read(make([]byte, 8))
		c.Write([]byte{'I', 'F', 'K', 'T', 2, 0, 0, 0})
	}()
	_, err = iface.Dial(context.Background(), l.Addr().String())
	if iface.CodeOf(err) != iface.CodeUnsupportedVersion || !errors.Is(err, iface.ErrConnect) {
		t.Fatalf("Dial = %v (%s), want unsupported_version matching ErrConnect", err, iface.CodeOf(err))
	}
}
