package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// notesV1 is a small manifest whose next versions the diff tests write.
const notesV1 = `ifkit: 1
name: notes
version: 1.0.0
direction: recv
codecs: [json]
messages:
  recv:
    Note:
      schema:
        type: object
        required: [text]
        properties:
          text: {type: string, maxLength: 100}
          level: {enum: [info, warn]}
      examples: [{text: hi, level: info}]
flow: {credits: 64}
`

func writeManifest(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestManifestDiff compares files and live manifests: compatible changes
// exit 0, breaking ones 1 with the changes on stdout and why on stderr.
func TestManifestDiff(t *testing.T) {
	dir := t.TempDir()
	v1 := writeManifest(t, dir, "v1.yaml", notesV1)
	compatible := writeManifest(t, dir, "v2.yaml", strings.NewReplacer("1.0.0", "1.1.0", "credits: 64", "credits: 128").Replace(notesV1))
	breaking := writeManifest(t, dir, "v3.yaml", strings.NewReplacer("1.0.0", "2.0.0", "[text]", "[text, level]", "[info, warn]", "[info]").Replace(notesV1))

	r := run(t, "manifest", "diff", v1, v1)
	check(t, r, 0)
	if r.stdout != "notes 1.0.0 → 1.0.0: no changes\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	r = run(t, "manifest", "diff", v1, compatible)
	check(t, r, 0)
	for _, want := range []string{"notes 1.0.0 → 1.1.0: 2 changes, 0 breaking", "compatible  flow.credits: raised from 64 to 128"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "manifest", "diff", v1, breaking)
	check(t, r, 1, "ifctl: 2 breaking changes from "+v1+" to "+breaking)
	for _, want := range []string{
		"3 changes, 2 breaking",
		`breaks senders  messages.recv.Note.schema.properties.level.enum: value "warn" no longer allowed`,
		`breaks senders  messages.recv.Note.schema.required: "level" now required`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	// The other way round the same changes break receivers.
	r = run(t, "manifest", "diff", breaking, v1, "-o", "json")
	check(t, r, 1, "2 breaking changes")
	var res struct {
		Old     struct{ Version string }
		Changes []struct {
			Path, What string
			Breaks     []string
		}
		Breaking int
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("-o json: %v\n%s", err, r.stdout)
	}
	if res.Old.Version != "2.0.0" || res.Breaking != 2 || len(res.Changes) != 3 {
		t.Errorf("-o json: %+v", res)
	}
	for _, c := range res.Changes {
		if c.Path != "version" && (len(c.Breaks) != 1 || c.Breaks[0] != "receivers") {
			t.Errorf("%s: breaks %v, want [receivers]", c.Path, c.Breaks)
		}
	}
	r = run(t, "manifest", "diff", v1, filepath.Join(dir, "missing.yaml"))
	check(t, r, 1, "missing.yaml")
	if strings.Contains(r.stderr, "Usage:") {
		t.Errorf("a failure printed a Usage block:\n%s", r.stderr)
	}

	// Live: the served manifest against a file, by the file's name.
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			srv := serveBinary(t, listenAddr(t, tr), v1)
			r := run(t, "manifest", "diff", srv.addr, breaking)
			check(t, r, 1, "2 breaking changes")
			if !strings.Contains(r.stdout, "notes 1.0.0 → 2.0.0: 3 changes, 2 breaking") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
			r = run(t, "manifest", "diff", srv.addr, srv.addr, "--iface", "notes")
			check(t, r, 0)
			r = run(t, "manifest", "diff", srv.addr, srv.addr)
			check(t, r, 2, "--iface NAME")
			r = run(t, "manifest", "diff", srv.addr, srv.addr, "--iface", "nope")
			check(t, r, 64+7, "unknown_interface")
		})
	}
}
