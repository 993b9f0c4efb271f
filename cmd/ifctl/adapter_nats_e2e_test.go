package main_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/internal/testutil"
)

// `ifctl adapter nats` with no flags but --listen: an embedded JetStream
// whose events are published (a re-send stored once) and consumed with
// ifctl send and recv; bad input is refused with a reason; SIGINT stops it
// and removes the embedded server's folder.
func TestAdapterNATS(t *testing.T) {
	addr := listenAddr(t, "unix")
	cmd := exec.Command(ifctl, "adapter", "nats", "--listen", addr)
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "listening on "+addr {
			t.Fatalf("printed %q; stderr:\n%s", l, stderr)
		}
	case <-time.After(waitLong):
		t.Fatalf("the adapter did not say where it listens; stderr:\n%s", stderr)
	}
	dir := regexp.MustCompile(`streams in (\S+)\)`).FindStringSubmatch(stderr.String())
	if dir == nil {
		t.Fatalf("stderr does not say where the streams are:\n%s", stderr)
	}

	r := runIn(t, "{\"id\":\"e1\",\"n\":1}\n{\"id\":\"e2\"}\n{\"id\":\"e1\",\"n\":1}\n", nil, "send", addr, "events.publish", "-d", "@-")
	check(t, r, 0)
	r = runIn(t, "", nil, "recv", addr, "events.feed", "-n", "2")
	check(t, r, 0)
	recs := ndjson(t, r.stdout)
	if len(recs) != 2 {
		t.Fatalf("recv printed %d records:\n%s", len(recs), r.stdout)
	}
	for i, want := range []string{"e1", "e2"} {
		v := recs[i]["value"].(map[string]any)
		if v["seq"].(float64) != float64(i+1) || v["data"].(map[string]any)["id"] != want {
			t.Errorf("record %d: %v", i, recs[i])
		}
	}
	r = runIn(t, "", nil, "recv", addr, "events.feed", "--reset", "seq:2", "-n", "1")
	check(t, r, 0)
	if recs := ndjson(t, r.stdout); len(recs) != 1 || recs[0]["value"].(map[string]any)["seq"].(float64) != 2 {
		t.Errorf("recv --reset seq:2 printed:\n%s", r.stdout)
	}
	check(t, runIn(t, "", nil, "recv", addr, "events.feed", "--reset", "soon", "-n", "1"), 68, "--reset soon", "invalid_message", "give seq:N")
	check(t, runIn(t, "", nil, "send", addr, "events.publish", "-d", `{"kind":"no id"}`), 1, "missing properties: 'id'")
	check(t, runIn(t, "", nil, "send", addr, "events.feed", "-d", `{}`), 1, "events.feed only sends")

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(waitLong):
		t.Fatalf("the adapter did not stop on SIGINT; stderr:\n%s", stderr)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGINT; stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("the embedded server's folder %s is still there (%v)", dir[1], err)
	}
}

// A configuration that cannot work is a usage error that says where.
func TestAdapterNATSBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "q.yaml")
	os.WriteFile(cfg, []byte("publish: [{interface: a.b, subject: 'x.*', type: T}]\n"), 0o644)
	r := runIn(t, "", nil, "adapter", "nats", "--config", cfg, "--listen", "unix:x.sock")
	check(t, r, 2, cfg+": publish[0].type \"T\": not a type under types", `publish[0].subject "x.*": give a subject without wildcards`)
	r = runIn(t, "", nil, "adapter", "nats", "--url", "nats://127.0.0.1:1", "--store", "/tmp/x")
	check(t, r, 2, "--store and --nats-port are for the embedded server")
}
