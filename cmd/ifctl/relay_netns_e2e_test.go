package main_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/internal/testutil"
)

// netns is a network namespace with a veth pair to the test's namespace,
// made by the test and removed at its end: the host side gets
// 169.254.N.1/30, the namespace side 169.254.N.2/30 (link-local addresses
// on the test's own veth only).
type netns struct {
	name, hostIP, nsIP string
}

// newNetns makes the namespace, or skips the test with the reason when it
// cannot (not root, no ip(8), no namespaces) — unless
// IFKIT_REQUIRE_SERVICES=1 (CI, which runs as root on a machine that can),
// where that fails it.
func newNetns(t *testing.T) *netns {
	t.Helper()
	unable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("IFKIT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s (IFKIT_REQUIRE_SERVICES=1: network namespaces are required)", msg)
		}
		t.Skipf("%s; this test needs root and ip(8) to make a network namespace", msg)
	}
	if os.Geteuid() != 0 {
		unable("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unable("no ip(8) on PATH")
	}
	id := os.Getpid() % 200
	n := &netns{name: fmt.Sprintf("ifkit-relay-%d", os.Getpid()), hostIP: fmt.Sprintf("169.254.%d.1", 20+id), nsIP: fmt.Sprintf("169.254.%d.2", 20+id)}
	host, peer := fmt.Sprintf("ifkh%d", os.Getpid()), fmt.Sprintf("ifkn%d", os.Getpid())
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", n.name); err != nil {
		unable("cannot make a network namespace: %v", err)
	}
	t.Cleanup(func() {
		ip("link", "del", host) // also removes its peer
		if err := ip("netns", "del", n.name); err != nil {
			t.Errorf("removing the namespace: %v", err)
		}
	})
	for _, args := range [][]string{
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.name},
		{"addr", "add", n.hostIP + "/30", "dev", host},
		{"link", "set", host, "up"},
		{"netns", "exec", n.name, "ip", "addr", "add", n.nsIP + "/30", "dev", peer},
		{"netns", "exec", n.name, "ip", "link", "set", peer, "up"},
		{"netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// background starts a long-running ifctl (prefix, e.g. ip netns exec, then
// args), returns its stdout lines as they come, and stops it with SIGINT at
// the end of the test.
func background(t *testing.T, stderr *testutil.SyncBuffer, prefix []string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	argv := append(append(append([]string{}, prefix...), ifctl), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitLong):
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, lines
}

// line waits for a line of lines containing want.
func line(t *testing.T, lines <-chan string, want string, stderr *testutil.SyncBuffer) string {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the output ended before %q; stderr:\n%s", want, stderr)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q; stderr:\n%s", want, stderr)
		}
	}
}

// TestRelayNetns: a server in its own network namespace, which the host
// cannot reach, dials out to a relay on the host; through the relay it is
// listed, described and called by name, and the relay announces it as it
// comes and goes. RELIABILITY.md has the commands this runs.
func TestRelayNetns(t *testing.T) {
	ns := newNetns(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "relay-secret")
	if err := os.WriteFile(secret, []byte("relay-secret-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var relayErr, serveErr, watchErr testutil.SyncBuffer
	_, relayOut := background(t, &relayErr, nil, "relay", "--listen", ns.hostIP+":0", "--secret-file", secret)
	relayAddr := strings.TrimPrefix(line(t, relayOut, "listening on ", &relayErr), "listening on tcp://")
	relayURL := "relay://" + relayAddr
	_, watchOut := background(t, &watchErr, nil, "watch", relayURL+"/", "-o", "json", "--relay-secret-file", secret)
	line(t, watchOut, `"event":"connected"`, &watchErr)

	// The server listens on its namespace's loopback only, and dials out.
	const port = "7471"
	server, _ := background(t, &serveErr, []string{"ip", "netns", "exec", ns.name},
		"serve", "testdata/manifests/db.kv.yaml", "--mock", "--listen", "tcp://127.0.0.1:"+port,
		"--relay", "tcp://"+relayAddr, "--name", "kv", "--relay-secret-file", secret)
	line(t, watchOut, `"event":"server_learned","servers":["kv"]`, &watchErr)

	// Not reachable directly: neither at the host's loopback nor at the
	// namespace's veth address.
	for _, direct := range []string{"tcp://127.0.0.1:" + port, "tcp://" + ns.nsIP + ":" + port} {
		r := run(t, "ping", direct, "--timeout", "3s")
		if r.code != 3 {
			t.Errorf("ping %s from the host: exit %d, want 3 (unreachable)\n%s", direct, r.code, r.stderr)
		}
	}
	// Through the relay, by name.
	r := run(t, "list", relayURL+"/kv", "--relay-secret-file", secret)
	check(t, r, 0)
	if !strings.Contains(r.stdout, "db.kv") {
		t.Errorf("list through the relay:\n%s", r.stdout)
	}
	r = run(t, "describe", relayURL+"/kv", "db.kv", "--relay-secret-file", secret)
	check(t, r, 0)
	if !strings.Contains(r.stdout, "Key/value store") {
		t.Errorf("describe through the relay:\n%s", r.stdout)
	}
	r = run(t, "call", relayURL+"/kv", "db.kv", "Get", "-d", `{"key":"config/greenhouse/north"}`, "--relay-secret-file", secret)
	check(t, r, 0)
	if !strings.Contains(r.stdout, `"found":true`) {
		t.Errorf("call through the relay:\n%s", r.stdout)
	}
	// Refused without the relay's secret, and for a name nobody holds.
	check(t, run(t, "list", relayURL+"/kv", "--timeout", "5s"), 77, "the relay requires a shared secret", "--relay-secret-file")
	check(t, run(t, "list", relayURL+"/nobody", "--relay-secret-file", secret, "--timeout", "5s"), 3, "no server named")

	// The server goes: the relay forgets it, and says so.
	server.Process.Signal(syscall.SIGINT)
	line(t, watchOut, `"event":"server_forgotten","servers":["kv"]`, &watchErr)
}
