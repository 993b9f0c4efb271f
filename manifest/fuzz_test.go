package manifest_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// FuzzLoadFile feeds arbitrary bytes to the loader as a file a manifest
// names: a .proto file, a schema file or a descriptor set. It must never
// panic, and every error must be an ErrorList whose errors name a file.
func FuzzLoadFile(f *testing.F) {
	for _, pattern := range []string{"manifests/*/v1/*.proto", "manifests/schemas/*.json"} {
		files, _ := filepath.Glob(filepath.Join(repo, "testdata", pattern))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data, uint8(0))
				f.Add(data, uint8(1))
			}
		}
	}
	f.Add([]byte(protoOK), uint8(0))
	f.Add([]byte("syntax = \"proto3\";\npackage x;\nmessage A {}\nenum E { "+strings.Repeat("V = 1; ", 700)+"}\n"), uint8(0))
	f.Add([]byte(`{"type":"object","patternProperties":{"^a+$":{"pattern":"b*"}}}`), uint8(1))
	f.Add([]byte("\n\x12\x07x.proto\x12\x01x"), uint8(2))
	manifests := []struct{ text, file string }{{protoManifest, "x.proto"}, {schemaManifest, "s.json"}, {setManifest, "x.binpb"}}
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		c := manifests[int(kind)%len(manifests)]
		dir := folder(t, map[string]string{"m.yaml": c.text, c.file: string(data)})
		_, err := manifest.Load(filepath.Join(dir, "m.yaml"))
		if err == nil {
			return
		}
		var list manifest.ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
		}
		for _, e := range list {
			if e.File == "" || e.Msg == "" {
				t.Fatalf("error without a file or a message: %#v", e)
			}
		}
	})
}

// FuzzParamsCheck feeds arbitrary bytes to Params.Check, as a server does
// with a connection's parameters from the wire: it must never panic, and
// it accepts only one JSON value that the schema accepts.
func FuzzParamsCheck(f *testing.F) {
	m, err := manifest.Load(filepath.Join(repo, "testdata", "spawn", "demo.counter.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{``, `{}`, `{"start":10,"step":5}`, `{"start":-1}`, `[1]`, `{"a":`, `{} {}`, `null`, `{"step":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if m.Params.Check(data) == nil && len(bytes.TrimSpace(data)) > 0 && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
			t.Fatalf("accepted %q, which is not an object", data)
		}
	})
}
