package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// TestServeLimitFlags: serve's limit flags are checked with errors naming
// the flag, shown with iface.DefaultConfig's defaults in --help, and
// applied: --max-connections refuses a second connection with
// limit_exceeded, --idle-timeout closes a socket that opens nothing.
func TestServeLimitFlags(t *testing.T) {
	const m = "testdata/manifests/sensors.temperature.yaml"
	for flag, want := range map[string]string{
		"--max-connections=-1":   "--max-connections is -1; it must be >= 0 (0: no bound)",
		"--max-streams=0":        "--max-streams is 0; it must be > 0",
		"--idle-timeout=-1s":     "--idle-timeout is -1s; it must be >= 0 (0: never)",
		"--handshake-timeout=0":  "--handshake-timeout is 0s; it must be > 0",
		"--keepalive=0":          "--keepalive is 0s; it must be > 0",
		"--write-timeout=-2s":    "--write-timeout is -2s; it must be > 0",
		"--close-timeout=0":      "--close-timeout is 0s; it must be > 0",
		"--stream-window=65536":  "--stream-window is 65536; it must be at least 262144 (256 KiB)",
		"--resume-grace=-1s":     "--resume-grace is -1s; it must be >= 0 (0: offer no resume)",
		"--max-streams=lots":     `invalid argument "lots" for "--max-streams"`,
		"--idle-timeout=forever": `invalid argument "forever" for "--idle-timeout"`,
	} {
		r := run(t, "serve", m, "--listen", "unix:never.sock", flag)
		check(t, r, 2, want)
	}
	help := run(t, "serve", "--help")
	for _, want := range []string{"--max-connections int", "--max-streams int ", "(default 1024)", "--idle-timeout duration", "(default 2m0s)",
		"--handshake-timeout duration", "--keepalive duration", "(default 15s)", "--write-timeout duration", "--close-timeout duration", "--stream-window uint32", "(default 1048576)", "--resume-grace duration", "(default 30s)"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, help.stdout)
		}
	}

	srv := serveBinary(t, listenAddr(t, "unix"), m, "--max-connections", "1", "--idle-timeout", "300ms")
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, err := iface.Dial(ctx, srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(ctx, "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	// The session is refused at its preface, which carries no code: the
	// client says why it may be, serve logs the code.
	r := run(t, "list", srv.addr)
	check(t, r, 3, "the server refused the session (shutting down, or at its connection limit)")
	srv.logged(t, "limit_exceeded: the server holds its maximum of 1 connections")
	conn.Close("done")
	for deadline := time.Now().Add(waitLong); ; {
		if r = run(t, "list", srv.addr); r.code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	check(t, r, 0)

	// A socket with no stream open is closed after --idle-timeout (the
	// default, 2 minutes, would outlast the test's wait).
	idle, err := iface.Dial(ctx, srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	select {
	case <-idle.Done():
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("the idle socket was closed after %s, before --idle-timeout 300ms", d)
		}
	case <-time.After(waitLong / 2):
		t.Errorf("the idle socket was not closed within %s (--idle-timeout 300ms)", waitLong/2)
	}
}
