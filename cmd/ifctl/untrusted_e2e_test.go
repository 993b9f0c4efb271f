package main_test

// End-to-end tests of peer text: what a hostile client or server chooses
// (names, close and refusal reasons, manifest titles) reaches ifctl's text
// output and serve's log inert, one line per event, never as an escape
// sequence (spec/PROTOCOL.md §13).

import (
	"context"
	"errors"
	"github.com/ifkit/ifkit/internal/testutil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// hostile is text that, printed raw, would colour the terminal, forge a log
// line and reverse what follows it.
const hostile = "x\x1b[31mred\n12:00:00.000 forged line\u202e"

// hostileQuoted is hostile as ifctl prints it.
const hostileQuoted = `"x\x1b[31mred\n12:00:00.000 forged line\u202e"`

// logLine is a line of serve's log: a timestamp, then the message.
var logLine = regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} `)

// inert fails unless out has no escape or bidi override, and every line of
// it matches line.
func inert(t *testing.T, what, out string, line *regexp.Regexp) {
	t.Helper()
	if strings.ContainsAny(out, "\x1b\u202e") {
		t.Errorf("%s holds an escape or a bidi override:\n%q", what, out)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !line.MatchString(l) {
			t.Errorf("%s has a line %q that is not one of its own:\n%s", what, l, out)
		}
		if strings.HasPrefix(l, "12:00:00.000 forged") {
			t.Errorf("%s has a forged line:\n%s", what, out)
		}
	}
}

// TestHostileClientText: a client named and closing with hostile text, and
// asking for a hostile interface 2000 times, against `ifctl serve` watched
// by `ifctl watch`: the log and watch print each event on one line with the
// text quoted, and the refusals are rate-limited.
func TestHostileClientText(t *testing.T) {
	srv := serveBinary(t, listenAddr(t, "unix"), "testdata/manifests/sensors.temperature.yaml", "testdata/manifests/logs.sink.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	watch := exec.CommandContext(ctx, ifctl, "watch", srv.addr)
	wout, werr := &testutil.SyncBuffer{}, &testutil.SyncBuffer{}
	watch.Stdout, watch.Stderr = wout, werr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	waitIn(t, wout, "connected")

	c, err := iface.Dial(ctx, srv.addr, iface.WithClientName(hostile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(ctx, "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(hostile)
	srv.logged(t, "closed by the client")
	sink, err := c.Connect(ctx, "logs.sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(ctx, "Record", map[string]any{"time": "2026-11-22T09:30:00Z", "level": "info", "message": "rtl \u202e text"}); err != nil {
		t.Fatal(err)
	}
	sink.Close("done")
	srv.logged(t, `received Record #1 "{`)

	const flood = 2000
	start := time.Now()
	for range flood {
		if _, err := c.Connect(ctx, "no.such"+hostile); !errors.Is(err, iface.ErrUnknownInterface) {
			t.Fatalf("connecting to an unknown interface: %v", err)
		}
	}
	elapsed := time.Since(start)
	srv.logged(t, "more refusals not logged")
	waitIn(t, wout, "normal_close: "+hostileQuoted)
	watch.Process.Signal(syscall.SIGINT)
	if err := watch.Wait(); err != nil {
		t.Fatalf("watch: %v; stderr %s", err, werr)
	}
	srv.stop(t)

	log := srv.stderr.String()
	inert(t, "serve's log", log, logLine)
	if !strings.Contains(log, "closed by the client: normal_close: "+hostileQuoted) {
		t.Errorf("serve's log lacks the close reason as %s:\n%s", hostileQuoted, log)
	}
	refused := strings.Count(log, "refused a peer")
	// At most 10 a second, in each second the flood touched.
	if most := 10 * (int(elapsed/time.Second) + 2); refused < 10 || refused > most {
		t.Errorf("%d refusals of %d logged in %s, want 10 to %d:\n%s", refused, flood, elapsed, most, log)
	}
	t.Logf("%d refusals in %s: %d logged", flood, elapsed.Round(time.Millisecond), refused)

	out := wout.String()
	inert(t, "watch's output", out, logLine)
	if !strings.Contains(out, "from "+hostileQuoted) || !strings.Contains(out, "normal_close: "+hostileQuoted) {
		t.Errorf("watch lacks the client's name and reason as %s:\n%s", hostileQuoted, out)
	}
}

// waitIn waits until b holds want.
func waitIn(t *testing.T, b *testutil.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in:\n%s", want, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostileServerText: a server whose manifest's title and description,
// refusal reasons and close reasons are hostile: list, describe, call and
// recv print them inert.
func TestHostileServerText(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"db.kv.yaml", "sensors.temperature.yaml"} {
		data, err := os.ReadFile(filepath.Join("../../testdata/manifests", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	os.CopyFS(filepath.Join(dir, "greenhouse"), os.DirFS("../../testdata/manifests/greenhouse"))
	os.CopyFS(filepath.Join(dir, "kv"), os.DirFS("../../testdata/manifests/kv"))
	kvPath := filepath.Join(dir, "db.kv.yaml")
	data, _ := os.ReadFile(kvPath)
	data = regexp.MustCompile(`(?m)^title: .*$`).ReplaceAll(data, []byte(`title: "Key/value \x1b[2J\u202e store\nforged"`))
	if err := os.WriteFile(kvPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	kv, err := manifest.Load(kvPath)
	if err != nil {
		t.Fatal(err)
	}
	temp, err := manifest.Load(filepath.Join(dir, "sensors.temperature.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	srv := iface.NewServer()
	if err := srv.Register(iface.Interface{Manifest: kv, CatchAll: func(context.Context, *iface.Message) error {
		return errors.New(hostile)
	}, OnReset: func(context.Context, *iface.Conn, string) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Register(iface.Interface{Manifest: temp, OnConnect: func(_ context.Context, c *iface.Conn) { c.Close(hostile) }}); err != nil {
		t.Fatal(err)
	}
	l, err := iface.Listen(context.Background(), listenAddr(t, "unix"))
	if err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + l.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	anyLine := regexp.MustCompile(``)

	r := run(t, "list", addr)
	check(t, r, 0)
	inert(t, "list", r.stdout, anyLine)
	if !strings.Contains(r.stdout, `"Key/value \x1b[2J\u202e store\nforged"`) {
		t.Errorf("list shows the title as:\n%s", r.stdout)
	}
	r = run(t, "describe", addr, "db.kv")
	check(t, r, 0)
	inert(t, "describe", r.stdout, anyLine)
	if !strings.Contains(r.stdout, `db.kv 2.1.0 — "Key/value \x1b[2J\u202e store\nforged"`) {
		t.Errorf("describe shows the title as:\n%s", r.stdout)
	}
	r = run(t, "list", addr, "-o", "json")
	check(t, r, 0)
	if !strings.Contains(r.stdout, `"title": "Key/value \u001b[2J`+"\u202e"+` store\nforged"`) {
		t.Errorf("list -o json should keep the title exact:\n%s", r.stdout)
	}

	r = run(t, "call", addr, "db.kv", "Get", "-d", `{"key":"k"}`)
	check(t, r, 64+int(iface.CodeInternal), "the server refused: internal: "+hostileQuoted)
	inert(t, "call's error", r.stderr, regexp.MustCompile(`^(ifctl: |  try: )`))

	r = run(t, "recv", addr, "sensors.temperature")
	check(t, r, 0, "the server closed the connection after 0 message(s): "+hostileQuoted)
	inert(t, "recv's error", r.stderr, regexp.MustCompile(`^ifctl: `))
}
