package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLs serves two sockets with --registry and lists them with ifctl ls:
// each with its interfaces, a link whose server has gone with the reason,
// files that are not sockets left out; a server's link goes when it stops.
func TestLs(t *testing.T) {
	dir, err := os.MkdirTemp("", "ifls") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	reg := filepath.Join(dir, "registry")
	if err := os.Mkdir(reg, 0o700); err != nil {
		t.Fatal(err)
	}
	kv := serveBinary(t, "unix://"+filepath.Join(dir, "kv.sock"), "testdata/manifests/db.kv.yaml", "--mock", "--registry", reg)
	logs := serveBinary(t, "unix://"+filepath.Join(dir, "logs.sock"), "testdata/manifests/logs.sink.yaml", "testdata/manifests/sensors.temperature.yaml", "--registry", reg)
	if err := os.Symlink(filepath.Join(dir, "gone.sock"), filepath.Join(reg, "gone.sock")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(reg, "README"), []byte("not a socket"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := run(t, "ls", reg)
	check(t, r, 0)
	want := []string{
		"SOCKET ADDRESS INTERFACES",
		"gone.sock unix://" + filepath.Join(dir, "gone.sock") + " the link leads nowhere: its server has gone",
		"kv.sock " + kv.addr + " db.kv 2.1.0",
		"logs.sock " + logs.addr + " logs.sink 0.9.2, sensors.temperature 1.4.0",
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("ls:\n%s", r.stdout)
	}
	for i, w := range want {
		if got := strings.Join(strings.Fields(lines[i]), " "); got != w {
			t.Errorf("line %d: %q, want %q", i, got, w)
		}
	}

	r = runIn(t, "", []string{"IFKIT_REGISTRY=" + reg}, "ls", "-o", "json")
	check(t, r, 0)
	var entries []struct {
		Name, Addr, Error string
		Interfaces        []struct{ Name, Direction string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if len(entries) != 3 || entries[1].Addr != kv.addr || len(entries[1].Interfaces) != 1 || entries[1].Interfaces[0].Direction != "duplex" || entries[0].Error == "" {
		t.Errorf("-o json: %+v", entries)
	}

	// A server that stops takes its link away.
	kv.stop(t)
	if _, err := os.Lstat(filepath.Join(reg, "kv.sock")); !os.IsNotExist(err) {
		t.Errorf("kv.sock is still in the registry after its server stopped: %v", err)
	}

	r = run(t, "ls", filepath.Join(dir, "nope"))
	check(t, r, 1, "no registry folder", "--registry")
}
