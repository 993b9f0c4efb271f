package main_test

// End-to-end tests of the commands that connect: the built binary against
// `ifctl serve` (the binary itself) and against in-process iface.Servers,
// over Unix and TCP, checking stdout, stderr and exit codes.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ifkit/ifkit/internal/testutil"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// waitLong bounds anything a test waits for: generous, as the machine is
// shared. No test asserts a speed.
const waitLong = 60 * time.Second

// transports are the address kinds every served test runs over.
var transports = []string{"unix", "tcp"}

// listenAddr returns an address to listen on for transport: a socket in
// a fresh short folder (paths of Unix sockets are limited to ~100 bytes),
// or a free TCP port.
func listenAddr(t *testing.T, transport string) string {
	t.Helper()
	if transport == "tcp" {
		return "tcp://127.0.0.1:0"
	}
	dir, err := os.MkdirTemp("", "ifctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "unix://" + filepath.Join(dir, "s.sock")
}

// served is an `ifctl serve` process.
type served struct {
	addr   string
	stderr *testutil.SyncBuffer
	cmd    *exec.Cmd
	done   chan struct{}
	stdout *bufio.Reader
}

// serveBinary starts `ifctl serve args... --listen addr` and returns once
// it prints where it listens. At cleanup it is stopped with SIGINT and must
// exit 0 after a graceful shutdown.
func serveBinary(t *testing.T, addr string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(ifctl, append(append([]string{"serve"}, args...), "--listen", addr)...)
	cmd.Dir = filepath.Join("..", "..")
	s := &served{stderr: &testutil.SyncBuffer{}, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(s.done) }()
	s.stdout = bufio.NewReader(out)
	line := make(chan string, 1)
	go func() {
		l, _ := s.stdout.ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		a, ok := strings.CutPrefix(strings.TrimSpace(l), "listening on ")
		if !ok {
			cmd.Process.Kill()
			<-s.done
			t.Fatalf("serve printed %q, want \"listening on ADDR\"; stderr:\n%s", l, s.stderr)
		}
		s.addr = a
	case <-time.After(waitLong):
		cmd.Process.Kill()
		<-s.done
		t.Fatalf("serve did not say where it listens; stderr:\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop interrupts the server and checks that it shut down gracefully.
func (s *served) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		return // already stopped and checked
	default:
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(waitLong):
		s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("serve did not stop on SIGINT; stderr:\n%s", s.stderr)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("serve exited %d after SIGINT; stderr:\n%s", code, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "stopped") {
		t.Errorf("serve's log does not end with a graceful stop:\n%s", s.stderr)
	}
}

// logged waits until the server's log contains want.
func (s *served) logged(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !strings.Contains(s.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("serve's log lacks %q:\n%s", want, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runIn runs ifctl with stdin and extra environment, bounded by waitLong.
func runIn(t *testing.T, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	cmd := exec.CommandContext(ctx, ifctl, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("running ifctl %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// check fails unless r exited with code and its stderr contains every
// string of inErr (stderr must be empty when inErr is nil and code is 0).
func check(t *testing.T, r result, code int, inErr ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if code == 0 && len(inErr) == 0 && r.stderr != "" {
		t.Errorf("stderr should be empty, got %q", r.stderr)
	}
	for _, s := range inErr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
	if code != 0 && !strings.HasPrefix(r.stderr, "ifctl: ") {
		t.Errorf("an error should start with \"ifctl: \": %q", r.stderr)
	}
}

// ndjson parses stdout as NDJSON records.
func ndjson(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

var exampleManifests = []string{
	"testdata/manifests/sensors.temperature.yaml",
	"testdata/manifests/logs.sink.yaml",
	"testdata/manifests/db.kv.yaml",
	"testdata/manifests/jobs.queue.yaml",
	"testdata/manifests/blob.stream.yaml",
	"testdata/cli/noexamples.yaml",
}

// TestServedCommands runs every connecting command against `ifctl serve
// --mock`, over Unix and TCP.
func TestServedCommands(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := serveBinary(t, listenAddr(t, tr), append(exampleManifests, "--mock", "--rate", "200/s")...)
			a := srv.addr
			if !strings.HasPrefix(a, tr+"://") {
				t.Fatalf("serve listens on %q, want a %s address", a, tr)
			}

			t.Run("list", func(t *testing.T) {
				r := run(t, "list", a)
				check(t, r, 0)
				for _, want := range []string{"NAME", "sensors.temperature  1.4.0", "logs.sink", "recv", "cli.noexamples"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("list lacks %q:\n%s", want, r.stdout)
					}
				}
				r = run(t, "list", a, "-o", "json")
				check(t, r, 0)
				var list []struct{ Name, Direction, Hash string }
				if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != len(exampleManifests) {
					t.Fatalf("list -o json: %v\n%s", err, r.stdout)
				}
				m, _ := manifest.Load("../../testdata/manifests/db.kv.yaml")
				for _, e := range list {
					if e.Name == "db.kv" && (e.Hash != m.Hash() || e.Direction != "duplex") {
						t.Errorf("db.kv listed as %+v; the file's hash is %s", e, m.Hash())
					}
				}
			})

			t.Run("describe", func(t *testing.T) {
				r := run(t, "describe", a, "db.kv")
				check(t, r, 0)
				for _, want := range []string{"db.kv 2.1.0 — Key/value store with scans", "direction  duplex", "server receives (client sends):",
					"Scan  (kv.v1.Scan)  → stream of Row", "ifRevision", "flow       64 credits", "control    list, manifest, ping, stats, pause, resume, reset, close",
					"try it:", "ifctl call " + a + " db.kv Get -d '{\"key\":\"config/greenhouse/north\"}'"} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("describe lacks %q:\n%s", want, r.stdout)
					}
				}
				// Parity: the live canonical manifest is the file's.
				live := run(t, "describe", a, "sensors.temperature", "-o", "json")
				file := run(t, "manifest", "show", "testdata/manifests/sensors.temperature.yaml", "-o", "json")
				check(t, live, 0)
				if live.stdout != file.stdout {
					t.Errorf("describe -o json differs from manifest show -o json:\n%s\n%s", live.stdout, file.stdout)
				}
				y := run(t, "describe", a, "logs.sink", "-o", "yaml")
				check(t, y, 0)
				if !strings.Contains(y.stdout, "name: logs.sink") {
					t.Errorf("describe -o yaml:\n%s", y.stdout)
				}
				all := run(t, "describe", a)
				check(t, all, 0)
				if strings.Count(all.stdout, "try it:") != len(exampleManifests) {
					t.Errorf("describe without IFACE should describe every interface:\n%s", all.stdout)
				}
			})

			t.Run("recv", func(t *testing.T) {
				r := run(t, "recv", a, "sensors.temperature", "-n", "3")
				check(t, r, 0)
				recs := ndjson(t, r.stdout)
				if len(recs) != 3 {
					t.Fatalf("want 3 records:\n%s", r.stdout)
				}
				for i, rec := range recs {
					v, _ := rec["value"].(map[string]any)
					if rec["type"] != "Reading" || rec["seq"] != float64(i+1) || v["probe"] == nil || v["celsius"] == nil {
						t.Errorf("record %d: %v", i, rec)
					}
				}
				// proto decoded with the served descriptors: the example's probe
				if v := recs[0]["value"].(map[string]any); v["probe"] != "p1" || v["celsius"] != 21.5 {
					t.Errorf("first reading %v, want the manifest's first example", v)
				}
				// raw bytes are base64
				r = run(t, "recv", a, "blob.stream", "-n", "1", "--values")
				check(t, r, 0)
				var s string
				if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
					t.Fatalf("raw value %q: %v", r.stdout, err)
				}
				if b, err := base64.StdEncoding.DecodeString(s); err != nil || len(b) == 0 {
					t.Errorf("raw value %q is not base64: %v", s, err)
				}
				// mock values made from a proto definition without examples
				r = run(t, "recv", a, "cli.noexamples", "-n", "2", "--credits", "1", "-o", "text")
				check(t, r, 0)
				if !strings.HasPrefix(r.stdout, "#1 Tick {\"name\":\"name-1\"") || !strings.Contains(r.stdout, "#2 Tick") {
					t.Errorf("recv -o text of made-up Ticks:\n%s", r.stdout)
				}
			})

			t.Run("recv-timeout", func(t *testing.T) {
				// logs.sink only receives; with -n a timeout is a failure,
				// without it the normal end of a bounded recv.
				r := run(t, "recv", a, "db.kv", "-n", "1", "--timeout", "300ms")
				check(t, r, 1, "received 0 of 1 message(s) within --timeout 300ms")
				r = run(t, "recv", a, "db.kv", "--timeout", "300ms")
				check(t, r, 0)
			})

			t.Run("send", func(t *testing.T) {
				r := run(t, "send", a, "logs.sink", "-d", `{"time":"2026-11-22T09:30:00Z","level":"info","message":"from the e2e test"}`)
				check(t, r, 0)
				if r.stdout != "sent 1 Record message to logs.sink\n" {
					t.Errorf("stdout %q", r.stdout)
				}
				srv.logged(t, `received Record #1 {"time":"2026-11-22T09:30:00Z","level":"info","message":"from the e2e test"}`)

				stream := `{"time":"2026-11-22T09:30:00Z","level":"info","message":"one"}
{"time":"2026-11-22T09:30:01Z","level":"warn","message":"two"}

{"time":"2026-11-22T09:30:02Z","level":"info","message":"three"}
`
				r = runIn(t, stream, nil, "send", a, "logs.sink", "-d", "@-", "-o", "json")
				check(t, r, 0)
				if !jsonEqual(r.stdout, `{"interface":"logs.sink","sent":3,"types":{"Record":3}}`) {
					t.Errorf("send -o json: %s", r.stdout)
				}
				srv.logged(t, `"message":"three"`)
			})

			t.Run("send-invalid", func(t *testing.T) {
				stream := `{"time":"2026-11-22T09:30:00Z","level":"info","message":"ok"}
{"time":"2026-11-22T09:30:00Z","level":"info","message":"ok too"}
{"time":"2026-11-22T09:30:00Z","level":"loud","message":"bad level"}
{"time":"2026-11-22T09:30:00Z","level":"info","message":"never sent"}
`
				r := runIn(t, stream, nil, "send", a, "logs.sink", "-d", "@-")
				check(t, r, 1, "stdin line 3: invalid Record: /level: value must be one of", "sent 2 message(s) before the error",
					"try: see Record's fields with: ifctl describe "+a+" logs.sink")
				if r.stdout != "" {
					t.Errorf("stdout %q", r.stdout)
				}
				r = run(t, "send", a, "logs.sink", "-d", `{"time":"2026-11-22T09:30:00Z","level":"info"}`)
				check(t, r, 1, "-d: invalid Record: missing properties: 'message'")
				r = run(t, "send", a, "logs.sink", "-d", `{"time":`)
				check(t, r, 1, "-d: not JSON")
				r = run(t, "call", a, "db.kv", "Get", "-d", `{"key":5}`)
				check(t, r, 1, "-d: invalid Get", "key")
			})

			t.Run("wrong-direction", func(t *testing.T) {
				r := run(t, "send", a, "sensors.temperature", "-d", `{}`)
				check(t, r, 1, "wrong direction: sensors.temperature only sends", "try: read from it with: ifctl recv "+a+" sensors.temperature")
				r = run(t, "recv", a, "logs.sink", "-n", "1")
				check(t, r, 1, "wrong direction: logs.sink only receives", "ifctl send "+a+" logs.sink")
				r = run(t, "send", a, "jobs.queue", "--type", "Job", "-d", `{"id":"j"}`)
				check(t, r, 1, "wrong direction: jobs.queue Job is sent by the server", "clients send Ack, Nack, Submit")
				r = run(t, "send", a, "db.kv", "--type", "Get", "-d", `{"key":"k"}`)
				check(t, r, 1, "Get is a request (answered by Value)", "ifctl call "+a+" db.kv Get")
				r = run(t, "call", a, "jobs.queue", "Ack", "-d", `{"id":"j"}`)
				check(t, r, 1, "jobs.queue Ack is not a request")
				r = run(t, "send", a, "db.kv", "-d", `{"key":"k"}`)
				check(t, r, 1, "every type db.kv takes is a request (Get, Put, Scan): send it with ifctl call")
				r = run(t, "send", a, "jobs.queue", "-d", `{"id":"j"}`)
				check(t, r, 2, "jobs.queue takes several one-way message types (Ack, Nack): say which with --type", "ifctl send "+a+" jobs.queue --type Ack")
			})

			t.Run("call", func(t *testing.T) {
				r := run(t, "call", a, "db.kv", "Get", "-d", `{"key":"config/greenhouse/north"}`)
				check(t, r, 0)
				if !jsonEqual(r.stdout, `{"key":"config/greenhouse/north","found":true,"value":"eyJ0YXJnZXQiOjIxLjV9","revision":"41"}`) {
					t.Errorf("Get's reply: %s", r.stdout)
				}
				r = run(t, "call", a, "db.kv", "Scan", "-d", `{"start":"config/","end":"config0"}`, "-o", "text")
				check(t, r, 0)
				if !strings.HasPrefix(r.stdout, "#1 Row {\"key\":\"config/greenhouse/north\"") {
					t.Errorf("Scan's replies: %s", r.stdout)
				}
				r = runIn(t, `{"kind":"thumbnail","args":{"image":"x.jpg"}}`, nil, "call", a, "jobs.queue", "Submit", "-d", "@-")
				check(t, r, 0)
				if !jsonEqual(r.stdout, `{"id":"job-01JD3Q8Z6N"}`) {
					t.Errorf("Submit's reply: %s", r.stdout)
				}
				// a reply made from the JSON Schema (no examples): count >= 3
				r = run(t, "call", a, "cli.noexamples", "Poke", "-o", "yaml")
				check(t, r, 0)
				if !strings.Contains(r.stdout, "count: 3") || !strings.Contains(r.stdout, "state: idle") {
					t.Errorf("Poke's reply: %s", r.stdout)
				}
			})

			t.Run("unknown-interface", func(t *testing.T) {
				for _, args := range [][]string{
					{"recv", a, "no.such", "-n", "1"},
					{"send", a, "no.such", "-d", "{}"},
					{"call", a, "no.such", "T"},
					{"describe", a, "no.such"},
					{"stats", a, "no.such"},
					{"ping", a, "no.such"},
				} {
					r := run(t, args...)
					check(t, r, 64+int(iface.CodeUnknownInterface), "unknown_interface", "no.such", "try: see the interfaces it serves with: ifctl list "+a)
				}
			})

			t.Run("ping", func(t *testing.T) {
				r := run(t, "ping", a)
				check(t, r, 0)
				if !strings.HasPrefix(r.stdout, "pong from "+a+": seq=1 time=") {
					t.Errorf("ping: %q", r.stdout)
				}
				r = run(t, "ping", a, "db.kv", "-c", "2", "-i", "1ms", "-o", "json")
				check(t, r, 0)
				recs := ndjson(t, r.stdout)
				if len(recs) != 2 || recs[1]["seq"] != float64(2) || recs[0]["interface"] != "db.kv" {
					t.Errorf("ping -o json: %s", r.stdout)
				}
				// jobs.queue offers no control operations but the defaults;
				// blob.stream does not offer pause: ping is offered by both.
			})

			t.Run("stats", func(t *testing.T) {
				r := run(t, "stats", a, "sensors.temperature", "-o", "json")
				check(t, r, 0)
				var st map[string]any
				if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st["interface"] != "sensors.temperature" || st["connection_id"] == nil {
					t.Errorf("stats -o json: %v %s", err, r.stdout)
				}
				r = run(t, "stats", a, "db.kv", "--every", "10ms", "-n", "2")
				check(t, r, 0)
				if strings.Count(r.stdout, "connection ") != 2 || !strings.Contains(r.stdout, "credits") {
					t.Errorf("stats --every -n 2:\n%s", r.stdout)
				}
			})

			t.Run("watch", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), waitLong)
				defer cancel()
				w := exec.CommandContext(ctx, ifctl, "watch", a, "-o", "json", "--timeout", "20s")
				var stderr bytes.Buffer
				w.Stderr = &stderr
				out, _ := w.StdoutPipe()
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(out)
				if !sc.Scan() || !strings.Contains(sc.Text(), `"event":"connected"`) {
					t.Fatalf("watch's first event: %q", sc.Text())
				}
				r := run(t, "recv", a, "sensors.temperature", "-n", "1")
				check(t, r, 0)
				opened, found := "", false
				for !found && sc.Scan() {
					line := sc.Text()
					if strings.Contains(line, `"event":"connection_opened"`) && strings.Contains(line, `"interface":"sensors.temperature"`) && strings.Contains(line, `"client":"ifctl"`) {
						opened = line
					}
					found = strings.Contains(line, `"event":"connection_closed"`) && strings.Contains(line, `"interface":"sensors.temperature"`) && strings.Contains(line, `"reason":"ifctl recv: got 1 message(s)"`)
				}
				if opened == "" {
					t.Errorf("watch did not report the recv connection opening before it closed")
				}
				if !found {
					t.Errorf("watch did not report the recv connection closing")
				}
				w.Process.Signal(syscall.SIGINT)
				go io.Copy(io.Discard, out)
				if err := w.Wait(); err != nil {
					t.Errorf("watch after SIGINT: %v; stderr %s", err, stderr.String())
				}
			})

			t.Run("completion", func(t *testing.T) {
				r := run(t, "__complete", "recv", a, "")
				if r.code != 0 || !strings.Contains(r.stdout, "sensors.temperature\tGreenhouse temperature readings\n") {
					t.Errorf("completing IFACE: exit %d\n%s", r.code, r.stdout)
				}
			})

			t.Run("usage", func(t *testing.T) {
				for _, args := range [][]string{
					{"send", a, "logs.sink"},
					{"recv", a},
					{"call", a, "db.kv"},
					{"recv", "ftp://x", "logs.sink"},
					{"ping", a, "-c", "0"},
					{"list", a, "-o", "xml"},
				} {
					r := run(t, args...)
					check(t, r, 2, "Usage: ifctl "+args[0]+" ADDR", "Run 'ifctl "+args[0]+" --help' for usage.")
				}
			})
		})
	}
}

// TestServeShutdownEndsClients checks that SIGTERM closes clients'
// connections normally: recv exits 0 and watch reports the draining.
func TestServeShutdownEndsClients(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := serveBinary(t, listenAddr(t, tr), "testdata/manifests/sensors.temperature.yaml", "--mock", "--rate", "100/s")
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			recv := exec.CommandContext(ctx, ifctl, "recv", srv.addr, "sensors.temperature")
			watch := exec.CommandContext(ctx, ifctl, "watch", srv.addr)
			var rout, rerr, wout, werr testutil.SyncBuffer
			recv.Stdout, recv.Stderr = &rout, &rerr
			watch.Stdout, watch.Stderr = &wout, &werr
			for _, c := range []*exec.Cmd{recv, watch} {
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
			}
			srv.logged(t, "sensors.temperature: opened")
			for !strings.Contains(wout.String(), "connected to") || !strings.Contains(rout.String(), `"seq":2`) {
				if ctx.Err() != nil {
					t.Fatalf("clients did not start: %s %s", wout.String(), rerr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			srv.cmd.Process.Signal(syscall.SIGTERM)
			recv.Wait()
			watch.Wait()
			select { // it finishes its shutdown after its clients have gone
			case <-srv.done:
			case <-time.After(waitLong):
				t.Errorf("serve did not exit after SIGTERM; stderr:\n%s", srv.stderr)
			}
			srv.stop(t)
			if code := recv.ProcessState.ExitCode(); code != 0 || !strings.Contains(rerr.String(), "the server closed the connection after") || !strings.Contains(rerr.String(), "the server is shutting down") {
				t.Errorf("recv: exit %d, stderr %s", code, rerr.String())
			}
			if code := watch.ProcessState.ExitCode(); code != 64+int(iface.CodeDraining) || !strings.Contains(wout.String(), "draining") || !strings.Contains(wout.String(), "disconnected: draining") {
				t.Errorf("watch: exit %d, stdout %s stderr %s", code, wout.String(), werr.String())
			}
			// The notice comes before serve closes the connections, so a
			// client can use it to hand over.
			if d, c := strings.Index(wout.String(), "draining:"), strings.Index(wout.String(), "connection_closed"); d < 0 || c < 0 || d > c {
				t.Errorf("watch saw the connection close before the draining notice:\n%s", wout.String())
			}
			srv.logged(t, "closed by the server: normal_close: the server is shutting down")
		})
	}
}

// TestConnectErrors covers what a person meets before anything is served:
// no socket, nothing listening, a port that speaks another protocol.
func TestConnectErrors(t *testing.T) {
	t.Run("socket-missing", func(t *testing.T) {
		dir := t.TempDir()
		a := "unix://" + filepath.Join(dir, "none.sock")
		for _, cmd := range []string{"list", "ping", "watch"} {
			r := run(t, cmd, a)
			check(t, r, 3, "cannot connect", "there is no socket at", "ifctl serve FILE --listen "+a)
		}
		r := run(t, "recv", a, "x")
		check(t, r, 3, "no socket")
	})
	t.Run("nothing-listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		r := run(t, "list", addr)
		check(t, r, 3, "connection refused", "nothing listens on "+addr)
	})
	for _, tr := range transports {
		t.Run("wrong-protocol-"+tr, func(t *testing.T) {
			network, laddr := "tcp", "127.0.0.1:0"
			if tr == "unix" {
				network, laddr = "unix", strings.TrimPrefix(listenAddr(t, tr), "unix://")
			}
			l, err := net.Listen(network, laddr)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			t.Cleanup(func() { l.Close(); wg.Wait() })
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					// as a real server would: greet, read until the client goes
					c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
					wg.Add(1)
					go func() {
						defer wg.Done()
						io.Copy(io.Discard, c)
						c.Close()
					}()
				}
			}()
			a := l.Addr().String()
			if tr == "unix" {
				a = "unix://" + a
			}
			for _, args := range [][]string{{"list", a}, {"recv", a, "x"}, {"describe", a}} {
				r := run(t, args...)
				check(t, r, 3, "not an ifkit peer", "SSH-2.0", "not as an ifkit server: check the host and port")
			}
		})
	}
	t.Run("bad-address", func(t *testing.T) {
		r := run(t, "list", "unix://relative.sock")
		check(t, r, 2, "unix:// needs an absolute path")
	})
}

// TestPermissionDenied runs ifctl as another user against an owner-only
// socket (as root), or against a socket made unwritable (otherwise).
func TestPermissionDenied(t *testing.T) {
	srv := serveBinary(t, listenAddr(t, "unix"), "testdata/manifests/logs.sink.yaml")
	path := strings.TrimPrefix(srv.addr, "unix://")
	var r result
	if os.Geteuid() == 0 {
		// the binary and the socket's folder must be reachable by nobody
		for _, p := range []string{filepath.Dir(ifctl), filepath.Dir(path)} {
			os.Chmod(p, 0o755)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		defer cancel()
		cmd := exec.CommandContext(ctx, ifctl, "list", srv.addr)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Skipf("cannot run as nobody: %v", err)
		}
		r = result{stdout.String(), stderr.String(), exit.ExitCode()}
	} else {
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		r = run(t, "list", srv.addr)
	}
	check(t, r, 3, "permission denied", "run ifctl as the user that runs the server")
}

// TestSecret serves with --secret-file and connects without it, with the
// wrong one, with the right one from a file and from the environment.
func TestSecret(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := serveBinary(t, listenAddr(t, tr), "testdata/manifests/db.kv.yaml", "--mock", "--secret-file", "testdata/cli/secret.txt")
			a := srv.addr
			r := run(t, "list", a)
			check(t, r, 64+int(iface.CodeAuthFailed), "requires a shared secret", "try: pass the server's shared secret with --secret-file FILE or --secret-env NAME")
			if want := "ifctl: " + a + ": auth_failed: the server requires a shared secret, and the client has none\n"; !strings.HasPrefix(r.stderr, want) {
				t.Errorf("stderr %q, want it to start %q", r.stderr, want)
			}
			r = run(t, "call", a, "db.kv", "Get", "--secret-file", "testdata/cli/wrong-secret.txt")
			check(t, r, 64+int(iface.CodeAuthFailed), "refused the shared secret", "check the shared secret")
			// Said once, in ifctl's words: no repeated code, no Go API.
			if want := "ifctl: " + a + ": auth_failed: the server refused the shared secret\n"; !strings.HasPrefix(r.stderr, want) {
				t.Errorf("stderr %q, want it to start %q", r.stderr, want)
			}
			srv.logged(t, "auth_failed: the client's proof of the shared secret was wrong")
			r = run(t, "call", a, "db.kv", "Get", "--secret-file", "testdata/cli/secret.txt")
			check(t, r, 0)
			secret, _ := os.ReadFile("../../testdata/cli/secret.txt")
			r = runIn(t, "", []string{"IFKIT_TEST_SECRET=" + strings.TrimSpace(string(secret))}, "ping", a, "--secret-env", "IFKIT_TEST_SECRET")
			check(t, r, 0)
			r = run(t, "ping", a, "--secret-file", "testdata/cli/no-such-file")
			check(t, r, 2, "no-such-file")
		})
	}
}

// TestEcho talks to `ifctl serve --echo` with a Go client: what it sends on
// a duplex interface comes back on the same connection.
func TestEcho(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := serveBinary(t, listenAddr(t, tr), "testdata/manifests/jobs.queue.yaml", "--echo")
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			c, err := iface.Dial(ctx, srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conn, err := c.Connect(ctx, "jobs.queue", iface.WithCodec("json"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close("test done")
			if err := conn.Send(ctx, "Ack", []byte(`{"id":"job-echo-1"}`)); err != nil {
				t.Fatal(err)
			}
			msg, err := conn.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if msg.Type.Name != "Job" || !jsonEqual(string(msg.Data), `{"id":"job-echo-1"}`) {
				t.Errorf("echo: %s %s", msg.Type.Name, msg.Data)
			}
			// a request is answered with its own value when that is a valid reply
			reply, err := conn.Call(ctx, "Submit", []byte(`{"kind":"k"}`))
			if err != nil {
				t.Fatal(err)
			}
			if reply.Type.Name != "Accepted" {
				t.Errorf("Submit answered with %s %s", reply.Type.Name, reply.Data)
			}
			srv.logged(t, `received Ack #1 {"id":"job-echo-1"}`)

			// -q logs the connection, not the messages.
			quiet := serveBinary(t, listenAddr(t, tr), "testdata/manifests/jobs.queue.yaml", "--echo", "-q")
			q, err := iface.Dial(ctx, quiet.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			qc, err := q.Connect(ctx, "jobs.queue", iface.WithCodec("json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := qc.Send(ctx, "Ack", []byte(`{"id":"job-echo-2"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := qc.Recv(ctx); err != nil {
				t.Fatal(err)
			}
			qc.Close("test done")
			quiet.logged(t, "closed by the client: normal_close: test done")
			if strings.Contains(quiet.stderr.String(), "received") {
				t.Errorf("serve -q logged a message:\n%s", quiet.stderr)
			}
		})
	}
}

// TestRefusedByHandler serves logs.sink in process with a handler that
// refuses one record: send names its line and exits 64+internal.
func TestRefusedByHandler(t *testing.T) {
	m, err := manifest.Load("../../testdata/manifests/logs.sink.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := iface.NewServer()
			var mu sync.Mutex
			var got []string
			err := srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
				"Record": func(_ context.Context, msg *iface.Message) error {
					var r struct{ Message string }
					if err := json.Unmarshal(msg.Data, &r); err != nil {
						return err
					}
					if r.Message == "refuse me" {
						return errors.New("the index is full")
					}
					mu.Lock()
					got = append(got, r.Message)
					mu.Unlock()
					return nil
				},
			}})
			if err != nil {
				t.Fatal(err)
			}
			l, err := iface.Listen(context.Background(), listenAddr(t, tr))
			if err != nil {
				t.Fatal(err)
			}
			addr := "unix://" + l.Addr().String()
			if tr == "tcp" {
				addr = "tcp://" + l.Addr().String()
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(l) }()
			t.Cleanup(func() {
				srv.Close()
				if err := <-done; !errors.Is(err, iface.ErrServerClosed) {
					t.Errorf("Serve: %v", err)
				}
			})
			in := `{"time":"2026-11-22T09:30:00Z","level":"info","message":"one"}
{"time":"2026-11-22T09:30:00Z","level":"info","message":"refuse me"}
{"time":"2026-11-22T09:30:00Z","level":"info","message":"three"}
`
			r := runIn(t, in, nil, "send", addr, "logs.sink", "-d", "@-", "--settle", "3s")
			check(t, r, 64+int(iface.CodeInternal), "stdin line 2: the server refused it: internal: the index is full")
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(got) != "[one three]" {
				t.Errorf("the handler got %v", got)
			}
		})
	}
}
