package manifest_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/invalid")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// repo is the path from this package to the repository's testdata.
const repo = ".."

func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml", "*.json"} {
		found, err := filepath.Glob(filepath.Join(repo, "testdata", dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests in testdata/%s", dir)
	}
	return files
}

func TestValidManifestsLoad(t *testing.T) {
	for _, file := range append(manifestFiles(t, "manifests"), manifestFiles(t, "parity")...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m, err := manifest.Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !strings.HasPrefix(m.Hash(), "sha256:") || len(m.Hash()) != len("sha256:")+64 {
				t.Errorf("Hash() = %q, want sha256: and 64 hex digits", m.Hash())
			}
			// The canonical form is itself a manifest, self-contained, and a
			// fixed point: parsing it gives the same bytes and hash.
			again, err := manifest.Parse("canonical.json", m.Canonical())
			if err != nil {
				t.Fatalf("the canonical form does not parse on its own: %v", err)
			}
			if !bytes.Equal(again.Canonical(), m.Canonical()) {
				t.Errorf("canonical form is not stable:\nfirst:  %s\nsecond: %s", m.Canonical(), again.Canonical())
			}
			if again.Hash() != m.Hash() {
				t.Errorf("hash changed from %s to %s after a round trip", m.Hash(), again.Hash())
			}
			for _, mt := range append(append([]*manifest.MessageType(nil), m.Send...), m.Recv...) {
				got, ok := m.TypeByID(mt.Direction, mt.ID)
				if !ok || got != mt {
					t.Errorf("TypeByID(%s, %d) does not give back %s", mt.Direction, mt.ID, mt.Name)
				}
			}
		})
	}
}

func TestYAMLAndJSONSpellingsHaveOneHash(t *testing.T) {
	yamlM, err := manifest.Load(filepath.Join(repo, "testdata", "parity", "sensors.temperature.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	jsonM, err := manifest.Load(filepath.Join(repo, "testdata", "parity", "sensors.temperature.json"))
	if err != nil {
		t.Fatal(err)
	}
	if yamlM.Hash() != jsonM.Hash() {
		t.Errorf("YAML hash %s != JSON hash %s\nYAML: %s\nJSON: %s", yamlM.Hash(), jsonM.Hash(), yamlM.Canonical(), jsonM.Canonical())
	}
}

func TestInvalidManifestsGolden(t *testing.T) {
	for _, file := range manifestFiles(t, "invalid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := manifest.Load(file)
			if err == nil {
				t.Fatal("Load succeeded; want errors")
			}
			var list manifest.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want manifest.ErrorList", err)
			}
			for _, e := range list {
				if e.File == "" || e.Msg == "" {
					t.Errorf("error without file or message: %#v", e)
				}
			}
			// Goldens name files from the repository root.
			got := strings.ReplaceAll(err.Error(), filepath.Join(repo, "testdata")+string(filepath.Separator), "testdata/") + "\n"
			golden := strings.TrimSuffix(file, filepath.Ext(file)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./manifest -run Golden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestDefaultsAreFilledIn(t *testing.T) {
	m, err := manifest.Parse("logs.yaml", []byte(`
ifkit: 1
name: logs.sink
version: 0.1.0
direction: recv
messages:
  recv:
    Line: {schema: {type: string}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Flow != (manifest.Flow{Credits: 256, MaxMessageBytes: 65536, OnExhausted: manifest.Block}) {
		t.Errorf("Flow = %+v, want the defaults", m.Flow)
	}
	if strings.Join(m.Codecs, ",") != "json" {
		t.Errorf("Codecs = %v, want [json] for a schema-only type", m.Codecs)
	}
	if strings.Join(m.Control, ",") != "ping,stats,pause,resume,close" {
		t.Errorf("Control = %v, want the default operations", m.Control)
	}
	spelled, err := manifest.Parse("logs.json", []byte(`{"ifkit":1,"name":"logs.sink","version":"0.1.0","direction":"recv",
		"codecs":["json"],"control":["close","ping","stats","resume","pause"],
		"flow":{"credits":256,"max_message_bytes":65536,"on_exhausted":"block"},
		"messages":{"recv":{"Line":{"schema":{"type":"string"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if spelled.Hash() != m.Hash() {
		t.Errorf("spelling the defaults out changed the hash:\n%s\n%s", m.Canonical(), spelled.Canonical())
	}
}

func TestNoControlSubInterface(t *testing.T) {
	m, err := manifest.Parse("x.yaml", []byte("ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\ncodecs: [raw]\ncontrol: []\nmessages: {send: {Blob: {}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Control) != 0 || m.Offers(manifest.OpPing) {
		t.Errorf("Control = %v, want none", m.Control)
	}
}

func TestParseWithoutFolderRefusesFiles(t *testing.T) {
	_, err := manifest.Parse("mem.yaml", []byte("ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\nprotos: [a.proto]\nmessages: {send: {A: {proto: a.A}}}\n"))
	if err == nil || !strings.Contains(err.Error(), "mem.yaml:5:9: protos: cannot compile .proto files") {
		t.Fatalf("err = %v, want a positioned error about protos", err)
	}
}

func TestSizeLimit(t *testing.T) {
	big := make([]byte, manifest.MaxFileBytes+1)
	if _, err := manifest.Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

func TestYAMLBomb(t *testing.T) {
	// Each level doubles the size; expanded, this is 2^30 strings.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x]\n")
	for i := 1; i <= 30; i++ {
		b.WriteString(strings.NewReplacer("I", strconv.Itoa(i), "J", strconv.Itoa(i-1)).Replace("aI: &aI [*aJ, *aJ]\n"))
	}
	_, err := manifest.Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v, want the document size limit", err)
	}
}

func TestErrorsMatchWithErrorsAs(t *testing.T) {
	_, err := manifest.Parse("x.yaml", []byte("ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\nmessages: {send: {A: {schema: {type: string}}}}\nflow: {credits: 0}\n"))
	var e *manifest.Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *manifest.Error) failed", err)
	}
	if e.File != "x.yaml" || e.Line != 6 || e.Path != "flow.credits" {
		t.Errorf("got %+v, want x.yaml line 6 at flow.credits", e)
	}
}

func TestMessageAuth(t *testing.T) {
	const base = "ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\ncodecs: [raw]\nmessages: {send: {Blob: {}}}\n"
	parse := func(extra string) *manifest.Manifest {
		t.Helper()
		m, err := manifest.Parse("x.yaml", []byte(base+extra))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	plain, none, hmac := parse(""), parse("message_auth: none\n"), parse("message_auth: hmac-sha256\n")
	if plain.MessageAuth != manifest.MessageAuthNone || hmac.MessageAuth != manifest.MessageAuthHMAC {
		t.Fatalf("MessageAuth = %q, %q", plain.MessageAuth, hmac.MessageAuth)
	}
	// none is the default: the same canonical form, so the same hash.
	if plain.Hash() != none.Hash() || plain.Hash() == hmac.Hash() {
		t.Errorf("hashes: absent %s, none %s, hmac-sha256 %s", plain.Hash(), none.Hash(), hmac.Hash())
	}
	if !bytes.Contains(hmac.Canonical(), []byte(`"message_auth":"hmac-sha256"`)) || bytes.Contains(plain.Canonical(), []byte("message_auth")) {
		t.Errorf("canonical forms: %s / %s", plain.Canonical(), hmac.Canonical())
	}
	_, err := manifest.Parse("x.yaml", []byte(base+"message_auth: md5\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:7:15") || !strings.Contains(err.Error(), "hmac-sha256") {
		t.Errorf("err = %v, want a positioned error naming the allowed values", err)
	}
}
