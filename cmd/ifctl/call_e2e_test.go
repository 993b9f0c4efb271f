package main_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// TestCallForScripts covers call's flags for scripts against serve --mock:
// --collect, -q, requests from stdin, --oneway, and errors without a Usage
// block when the command line is right.
func TestCallForScripts(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := serveBinary(t, listenAddr(t, tr), "testdata/manifests/db.kv.yaml", "--mock")
			a := srv.addr
			row := `{"key":"config/greenhouse/north","value":"eyJ0YXJnZXQiOjIxLjV9","revision":"41"}`
			value := `{"key":"config/greenhouse/north","found":true,"value":"eyJ0YXJnZXQiOjIxLjV9","revision":"41"}`

			// --collect: a stream's replies as one array, a single reply too.
			r := run(t, "call", a, "db.kv", "Scan", "-d", `{"start":"config/","end":"config0"}`, "--collect")
			check(t, r, 0)
			if r.stdout != "["+row+"]\n" {
				t.Errorf("--collect of a stream: %q", r.stdout)
			}
			r = run(t, "call", a, "db.kv", "Get", "-d", `{"key":"a"}`, "--collect")
			check(t, r, 0)
			if r.stdout != "["+value+"]\n" {
				t.Errorf("--collect of one reply: %q", r.stdout)
			}
			r = run(t, "call", a, "db.kv", "Scan", "--collect", "-o", "yaml")
			check(t, r, 0)
			if !strings.HasPrefix(r.stdout, "---\n- key: config/greenhouse/north\n") {
				t.Errorf("--collect -o yaml: %q", r.stdout)
			}
			r = run(t, "call", a, "db.kv", "Scan", "--collect", "-o", "text")
			check(t, r, 2, "--collect prints JSON or YAML")
			r = run(t, "call", a, "db.kv", "Scan", "--collect", "--oneway")
			check(t, r, 2, "do not go together")

			// Requests from stdin, one per line, on one connection.
			r = runIn(t, "{\"key\":\"a\"}\n\n{\"key\":\"b\"}\n", nil, "call", a, "db.kv", "Get", "-d", "@-")
			check(t, r, 0)
			if r.stdout != value+"\n"+value+"\n" {
				t.Errorf("two requests from stdin: %q", r.stdout)
			}
			srv.logged(t, `received Get #2 {"key":"b"}`)
			r = runIn(t, "{\"key\":\"a\"}\nnope\n", nil, "call", a, "db.kv", "Get", "-d", "@-")
			check(t, r, 1, "ifctl: -d line 2: not JSON")
			if r.stdout != value+"\n" || strings.Contains(r.stderr, "Usage:") {
				t.Errorf("a bad second line: stdout %q stderr %q", r.stdout, r.stderr)
			}
			r = runIn(t, "", nil, "call", a, "db.kv", "Get", "-d", "@-")
			check(t, r, 2, "holds no request")

			// -q: nothing on stdout, the exit code tells.
			r = run(t, "call", a, "db.kv", "Scan", "-q")
			check(t, r, 0)
			if r.stdout != "" {
				t.Errorf("-q printed %q", r.stdout)
			}
			r = run(t, "call", a, "db.kv", "Get", "-q", "-d", `{"key":1}`)
			check(t, r, 1, "invalid Get")

			// --oneway: the server gets the request, nothing is printed.
			r = run(t, "call", a, "db.kv", "Put", "-d", `{"key":"oneway/1","value":"YQ=="}`, "--oneway")
			check(t, r, 0)
			if r.stdout != "" {
				t.Errorf("--oneway printed %q", r.stdout)
			}
			srv.logged(t, `received Put #1 {"key":"oneway/1"`)

			// A file that cannot be read is a failure, not a wrong command line.
			r = run(t, "call", a, "db.kv", "Get", "-d", "@testdata/no-such.json")
			check(t, r, 1, "ifctl: -d @testdata/no-such.json: open testdata/no-such.json: no such file or directory")
			if strings.Contains(r.stderr, "Usage:") {
				t.Errorf("a missing -d file printed a Usage block:\n%s", r.stderr)
			}
		})
	}
}

// TestCallTimeout: --timeout bounds a call the server never answers, and
// call exits 1 saying so.
func TestCallTimeout(t *testing.T) {
	m, err := manifest.Load("../../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := iface.NewServer()
	if err := srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Get": func(ctx context.Context, _ *iface.Message) error { <-ctx.Done(); return ctx.Err() },
	}, OnReset: func(context.Context, *iface.Conn, string) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	l, err := iface.Listen(context.Background(), listenAddr(t, "unix"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, iface.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	r := run(t, "call", "unix://"+l.Addr().String(), "db.kv", "Get", "--timeout", "300ms", "-q")
	check(t, r, 1, "timed out", "raise --timeout")
}
