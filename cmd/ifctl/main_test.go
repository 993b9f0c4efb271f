package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"
)

// ifctl is the path of the binary built once for all tests.
var ifctl string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ifctl-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ifctl = filepath.Join(dir, "ifctl")
	if out, err := exec.Command("go", "build", "-o", ifctl, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ifctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	// The in-process servers and clients must leave no goroutine behind.
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs ifctl from the repository root, so paths read as in the README.
func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(ifctl, args...)
	cmd.Dir = filepath.Join("..", "..")
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

func TestValidateValid(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/manifests/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example manifests")
	}
	args := []string{"manifest", "validate"}
	for _, f := range files {
		args = append(args, strings.TrimPrefix(f, "../../"))
	}
	r := run(t, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if got := strings.Count(r.stdout, "ok  testdata/manifests/"); got != len(files) {
		t.Errorf("%d ok lines for %d files:\n%s", got, len(files), r.stdout)
	}
}

func TestValidateInvalidPrintsGoldenErrors(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/invalid/*.golden")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, golden := range files {
		base := strings.TrimSuffix(filepath.Base(golden), ".golden")
		matches, _ := filepath.Glob(filepath.Join("../../testdata/invalid", base+".*"))
		for _, m := range matches {
			if m == golden {
				continue
			}
			t.Run(base, func(t *testing.T) {
				r := run(t, "manifest", "validate", strings.TrimPrefix(m, "../../"))
				want, _ := os.ReadFile(golden)
				if r.code != 1 {
					t.Errorf("exit code %d, want 1", r.code)
				}
				if r.stdout != "" {
					t.Errorf("stdout should be empty, got %q", r.stdout)
				}
				if r.stderr != string(want) {
					t.Errorf("stderr:\n%s\nwant (%s):\n%s", r.stderr, golden, want)
				}
			})
		}
	}
}

func TestValidateJSONOutput(t *testing.T) {
	r := run(t, "manifest", "validate", "-o", "json", "testdata/manifests/sensors.temperature.yaml", "testdata/invalid/unknown-field.yaml")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (one file is invalid); stderr: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want one JSON line per file, got:\n%s", r.stdout)
	}
	var valid, invalid struct {
		Valid  bool
		Hash   string
		Errors []struct {
			Line    int
			Message string
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &valid); err != nil || !valid.Valid || valid.Hash == "" {
		t.Errorf("first line %s: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &invalid); err != nil || invalid.Valid || len(invalid.Errors) == 0 || invalid.Errors[0].Line == 0 {
		t.Errorf("second line %s: %v", lines[1], err)
	}
}

func TestShowJSONIsWhatHashHashes(t *testing.T) {
	const file = "testdata/manifests/sensors.temperature.yaml"
	show := run(t, "manifest", "show", file, "-o", "json")
	hash := run(t, "manifest", "hash", file)
	if show.code != 0 || hash.code != 0 {
		t.Fatalf("exit codes %d, %d: %s %s", show.code, hash.code, show.stderr, hash.stderr)
	}
	sum := sha256.Sum256([]byte(strings.TrimSuffix(show.stdout, "\n")))
	if want := "sha256:" + hex.EncodeToString(sum[:]) + "\n"; hash.stdout != want {
		t.Errorf("hash printed %q; sha256 of show -o json is %q", hash.stdout, want)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal([]byte(show.stdout), &fromJSON); err != nil {
		t.Fatal(err)
	}
	y := run(t, "manifest", "show", file, "-o", "yaml")
	if err := yaml.Unmarshal([]byte(y.stdout), &fromYAML); err != nil {
		t.Fatalf("show -o yaml is not YAML: %v", err)
	}
	if fmt.Sprint(normalize(fromJSON)) != fmt.Sprint(normalize(fromYAML)) {
		t.Errorf("-o yaml and -o json differ:\n%v\n%v", fromJSON, fromYAML)
	}
}

// normalize makes numbers comparable across the JSON and YAML decoders.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case int:
		return float64(x)
	}
	return v
}

func TestShowText(t *testing.T) {
	r := run(t, "manifest", "show", "testdata/manifests/db.kv.yaml", "-o", "text")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"db.kv ", "direction", "duplex", "→ stream of Row", "fields:", "credits"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text description lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"manifest", "validate"},
		{"manifest", "show", "a", "b"},
		{"manifest", "show", "x.yaml", "-o", "xml"},
		{"no-such-command"},
		{"manifest", "hash", "--no-such-flag", "x"},
	} {
		r := run(t, args...)
		if r.code != 2 {
			t.Errorf("ifctl %v: exit %d, want 2 (usage); stderr %q", args, r.code, r.stderr)
		}
		if r.stderr == "" || r.stdout != "" {
			t.Errorf("ifctl %v: want the reason on stderr only; stdout %q stderr %q", args, r.stdout, r.stderr)
		}
	}
}

func TestMissingFile(t *testing.T) {
	r := run(t, "manifest", "hash", "testdata/no-such.yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "testdata/no-such.yaml") || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("exit %d, stderr %q; want 1 and a message naming the file", r.code, r.stderr)
	}
}

func TestHelpExitCodes(t *testing.T) {
	r := run(t, "help", "exit-codes")
	if r.code != 0 || !strings.Contains(r.stdout, "2   usage error") {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestDemo(t *testing.T) {
	r := run(t, "demo")
	if r.code != 0 {
		t.Fatalf("demo exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"sensors.temperature  1.4.0",            // listed over the control stream
		"the same as the file's",                // live manifest parity
		"#3 Reading {",                          // server → client stream, decoded
		"server's handler got Record {\"time\"", // client → server
		"Scan → (end of stream)",                // request/stream
		"stalled: server sent 2, holds 3 queued, has 0 credits",
		"received #5",
		"/level: value must be one of", // /level sorts before /time
		"change feed after reset start: #1 insert basil, #2 insert tomato, #3 insert sunflower", // the database step
		"invalid_message: plants: CHECK constraint failed",
		"JetStream stored 2, dropped 1 duplicate",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("demo wrote to stderr: %s", r.stderr)
	}
}
