package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// NetNS is a network namespace with a veth pair to the test's own, made
// by the test and removed at its end: the host side has HostIP/30, the
// namespace side NSIP/30 (link-local addresses on the test's own veth).
type NetNS struct {
	Name, HostIP, NSIP string
	HostLink           string // the host side's interface
}

// NewNetNS makes the namespace, or skips the test with the reason when it
// cannot (not root, no ip(8), no namespaces), unless
// IFKIT_REQUIRE_SERVICES=1 (CI, which runs as root on a machine that can),
// where that fails it. subnet picks the third octet of 169.254.subnet.0/30;
// tests that may run at once need different ones.
func NewNetNS(t *testing.T, prefix string, subnet int) *NetNS {
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
	pid := os.Getpid()
	n := &NetNS{Name: fmt.Sprintf("%s-%d", prefix, pid), HostIP: fmt.Sprintf("169.254.%d.1", subnet), NSIP: fmt.Sprintf("169.254.%d.2", subnet), HostLink: fmt.Sprintf("ifkh%d", pid)}
	peer := fmt.Sprintf("ifkn%d", pid)
	if err := Run("ip", "netns", "add", n.Name); err != nil {
		unable("cannot make a network namespace: %v", err)
	}
	t.Cleanup(func() {
		Run("ip", "link", "del", n.HostLink) // also removes its peer
		if err := Run("ip", "netns", "del", n.Name); err != nil {
			t.Errorf("removing the namespace: %v", err)
		}
	})
	for _, args := range [][]string{
		{"link", "add", n.HostLink, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.Name},
		{"addr", "add", n.HostIP + "/30", "dev", n.HostLink},
		{"link", "set", n.HostLink, "up"},
		{"netns", "exec", n.Name, "ip", "addr", "add", n.NSIP + "/30", "dev", peer},
		{"netns", "exec", n.Name, "ip", "link", "set", peer, "up"},
		{"netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
	} {
		if err := Run("ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// Exec returns the command line that runs args inside the namespace.
func (n *NetNS) Exec(args ...string) []string {
	return append([]string{"ip", "netns", "exec", n.Name}, args...)
}

// Run runs a command, returning its output with the error when it fails.
func Run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
