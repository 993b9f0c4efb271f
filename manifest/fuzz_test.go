package manifest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ifkit/ifkit/manifest"
)

// FuzzParse feeds arbitrary bytes to the manifest parser, as YAML and as
// JSON. It must never panic, every error must be an ErrorList with a file
// name, and anything accepted must have a stable canonical form.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"manifests", "parity", "invalid"} {
		files, _ := filepath.Glob(filepath.Join(repo, "testdata", dir, "*.*"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil && len(data) < 4096 {
				f.Add(data, filepath.Ext(file) == ".json")
			}
		}
	}
	f.Add([]byte("ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\ncodecs: [raw]\nmessages: {send: {A: {}}}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "fuzz.yaml"
		if asJSON {
			name = "fuzz.json"
		}
		m, err := manifest.Parse(name, data)
		if err != nil {
			list, ok := err.(manifest.ErrorList)
			if !ok || len(list) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			return
		}
		again, err := manifest.Parse("canonical.json", m.Canonical())
		if err != nil {
			t.Fatalf("canonical form of an accepted manifest does not parse: %v\n%s", err, m.Canonical())
		}
		if !bytes.Equal(again.Canonical(), m.Canonical()) {
			t.Fatalf("canonical form not stable:\n%s\n%s", m.Canonical(), again.Canonical())
		}
	})
}
