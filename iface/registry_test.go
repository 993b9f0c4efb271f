package iface_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

// TestRegistry: Serve links its Unix socket into the registry folder while
// it serves, replaces a link whose server has gone, refuses to take over
// one whose socket answers, and removes its link when it stops.
func TestRegistry(t *testing.T) {
	dir, err := os.MkdirTemp("", "ifreg") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	reg := filepath.Join(dir, "reg")
	if err := os.Mkdir(reg, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "a.sock")
	link := filepath.Join(reg, "a.sock")
	// A link left by a server that died.
	if err := os.Symlink(filepath.Join(dir, "dead.sock"), link); err != nil {
		t.Fatal(err)
	}
	start := func() (*iface.Server, chan error) {
		srv := iface.NewServer(iface.WithRegistry(reg))
		if err := srv.Register(iface.Interface{Manifest: load(t, "logs.sink.yaml")}); err != nil {
			t.Fatal(err)
		}
		l, err := iface.Listen(context.Background(), "unix://"+sock)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		return srv, done
	}
	srv, done := start()
	dial(t, "unix://"+sock).Close() // Serve answers: it has registered
	dial(t, "unix://"+link).Close() // and the link leads to it
	if target, err := os.Readlink(link); err != nil || target != sock {
		t.Fatalf("the link leads to %q (%v), want %s", target, err, sock)
	}

	// A second server whose socket has the same name, elsewhere, is refused.
	other := filepath.Join(dir, "b")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	srv2 := iface.NewServer(iface.WithRegistry(reg))
	l2, err := net.Listen("unix", filepath.Join(other, "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv2.Serve(l2); err == nil || errors.Is(err, iface.ErrServerClosed) || !errors.Is(err, os.ErrExist) {
		t.Errorf("a second server took the live link: %v", err)
	}
	srv2.Close()

	srv.Close()
	if err := <-done; !errors.Is(err, iface.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("the link is still there after Close: %v", err)
	}
}
