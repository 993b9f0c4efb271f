package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenGo writes the Go stubs of every example manifest with the built
// binary into a module of its own that uses this checkout (a replace
// directive), and checks that the code is gofmt-clean, passes go vet, and
// passes its own tests: every example of every type round-trips through
// the generated Client and Server.
func TestGenGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: not with -short")
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	gomod := "module example.com/gentest\n\ngo 1.26\n\nrequire github.com/ifkit/ifkit v0.0.0\n\nreplace github.com/ifkit/ifkit => " + repo + "\n"
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(repo, "testdata", "manifests", "*.yaml"))
	json, _ := filepath.Glob(filepath.Join(repo, "testdata", "manifests", "*.json"))
	files = append(append(files, json...), filepath.Join(repo, "testdata", "cli", "noexamples.yaml"), filepath.Join(repo, "testdata", "cli", "schemaonly.yaml"))
	out := filepath.Join(mod, "gen")
	r := run(t, append([]string{"gen", "go", "--out", out}, files...)...)
	check(t, r, 0, "wrote "+filepath.Join(out, "dbkv")+" (db.kv 2.1.0)")
	if r.stdout != "" {
		t.Errorf("gen go printed on stdout: %q", r.stdout)
	}
	pkgs, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(pkgs) != len(files) {
		t.Errorf("%d packages for %d manifests", len(pkgs), len(files))
	}
	for _, args := range [][]string{{"gofmt", "-l", "."}, {"go", "vet", "./..."}, {"go", "test", "-count=1", "./..."}} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		b, err := cmd.CombinedOutput()
		if err != nil || (args[0] == "gofmt" && len(b) > 0) {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
		if args[1] == "test" && strings.Count("\n"+string(b), "\nok ") != len(files) {
			t.Errorf("go test:\n%s", b)
		}
	}

	// Two manifests that would make one package are refused.
	r = run(t, "gen", "go", "--out", out, "testdata/manifests/db.kv.yaml", "testdata/manifests/db.kv.yaml")
	check(t, r, 1, "would both be package dbkv")
}
