package main_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDescribeSuggestionsRun runs every command describe's "try it"
// section suggests, for every example interface and for types with no
// examples: each must succeed as printed (the values it suggests pass
// their types' checks).
func TestDescribeSuggestionsRun(t *testing.T) {
	files := append(append([]string{}, exampleManifests...), "testdata/cli/schemaonly.yaml")
	srv := serveBinary(t, listenAddr(t, "unix"), append(files, "--mock", "--rate", "20/s")...)
	r := run(t, "list", srv.addr, "-o", "json")
	check(t, r, 0)
	var list []struct{ Name string }
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, r.stdout)
	}
	var names []string
	for _, i := range list {
		names = append(names, i.Name)
	}
	if len(names) != len(files) {
		t.Fatalf("serving %d interfaces, want %d", len(names), len(files))
	}
	for _, name := range names {
		r := run(t, "describe", srv.addr, name)
		check(t, r, 0)
		_, try, ok := strings.Cut(r.stdout, "\ntry it:\n")
		if !ok {
			t.Fatalf("describe %s has no try it section:\n%s", name, r.stdout)
		}
		for _, line := range strings.Split(strings.TrimSpace(try), "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "ifctl ") {
				continue
			}
			cmd := exec.Command("sh", "-c", `exec "$IFCTL" `+strings.TrimPrefix(line, "ifctl "))
			cmd.Env = append(cmd.Environ(), "IFCTL="+ifctl)
			cmd.Dir = filepath.Join("..", "..")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("describe %s suggests %s, which fails: %v\n%s", name, line, err, out)
			}
		}
	}
}

// TestRoughEdges: what a new user met, each gone.
func TestRoughEdges(t *testing.T) {
	srv := serveBinary(t, listenAddr(t, "unix"), "testdata/manifests/db.kv.yaml", "testdata/manifests/logs.sink.yaml",
		"testdata/manifests/sensors.temperature.yaml", "testdata/cli/schemaonly.yaml", "--mock")
	a := srv.addr

	// send without --type on an interface whose types are all requests
	// says to use call (exit 1), not to send a request with --type.
	r := run(t, "send", a, "db.kv", "-d", `{"key":"a"}`)
	check(t, r, 1, "every type db.kv takes is a request (Get, Put, Scan): send it with ifctl call", "try: ifctl call "+a+" db.kv Get -d JSON")
	if strings.Contains(r.stderr, "--type") || strings.Contains(r.stderr, "Usage:") {
		t.Errorf("send suggests --type or prints a Usage block:\n%s", r.stderr)
	}
	// With one one-way type beside a request, send picks it.
	r = run(t, "send", a, "cli.schemaonly", "-d", `{"zone":"south","celsius":3.5}`)
	check(t, r, 0)
	if r.stdout != "sent 1 Reading message to cli.schemaonly\n" {
		t.Errorf("stdout %q", r.stdout)
	}

	// bench makes values from a JSON Schema, as serve --mock does.
	r = run(t, "bench", a, "cli.schemaonly", "--type", "Reading", "-n", "50")
	check(t, r, 0)
	if !strings.Contains(r.stdout, "send Reading: 50 messages") {
		t.Errorf("bench stdout:\n%s", r.stdout)
	}
	r = run(t, "bench", a, "cli.schemaonly", "--type", "Lookup", "-n", "5")
	check(t, r, 0, "Lookup is a request")

	// A client that knows no manifest gets the manifest's credits as its
	// window, as recv --help says (logs.sink: 1024; sensors: 512).
	r = run(t, "stats", a, "logs.sink")
	check(t, r, 0)
	if !strings.Contains(r.stdout, "the server may send 1024 more") {
		t.Errorf("stats logs.sink: the default window is not flow.credits (1024):\n%s", r.stdout)
	}

	// The binary the README builds is ignored by git.
	if out, err := exec.Command("git", "-C", filepath.Join("..", ".."), "check-ignore", "-q", "ifctl").CombinedOutput(); err != nil {
		t.Errorf("git does not ignore ./ifctl (go build -o ifctl ./cmd/ifctl): %v %s", err, out)
	}
}
