package manifest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/ifkit/ifkit/manifest"
)

// Manifests that name one file each. The positions in the errors below are
// those of the name: line 5, column 10 (protos), 38 ($ref) or 19
// (descriptor_sets).
const (
	protoManifest  = "ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\nprotos: [x.proto]\nmessages: {send: {A: {proto: x.A}}}\n"
	schemaManifest = "ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\nmessages: {send: {A: {schema: {$ref: s.json}}}}\n"
	setManifest    = "ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\ndescriptor_sets: [x.binpb]\nmessages: {send: {A: {proto: x.A}}}\n"
	protoOK        = "syntax = \"proto3\";\npackage x;\nmessage A { string s = 1; }\n"
)

// folder writes files (name → content, names slash-separated) into a new
// temporary folder and returns it.
func folder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// symlink makes name in dir a symbolic link to target.
func symlink(t *testing.T, target, dir, name string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// loadWithin loads the manifest m.yaml of dir and fails the test if the load
// has not returned after 60 s. That is a guard against a hang (a named pipe
// opened for reading waits for a writer forever), not a measure of speed.
func loadWithin(t *testing.T, dir string) (*manifest.Manifest, error) {
	t.Helper()
	type result struct {
		m   *manifest.Manifest
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := manifest.Load(filepath.Join(dir, "m.yaml"))
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(60 * time.Second): // the race detector and a busy machine slow a load tenfold
		t.Fatal("Load has not returned after 60 s")
		return nil, nil
	}
}

// wantRefused checks that err is a one-error ErrorList matching cause with
// errors.Is (unless it is nil), whose text starts with prefix (dir replaced by DIR) and holds
// every string of parts.
func wantRefused(t *testing.T, err error, dir string, cause error, prefix string, parts ...string) {
	t.Helper()
	var list manifest.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v (%T), want a manifest.ErrorList", err, err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("errors.Is(err, %v) = false; err = %v", cause, err)
	}
	text := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "DIR/")
	if len(list) != 1 || !strings.HasPrefix(text, prefix) {
		t.Errorf("err =\n%s\nwant one error starting %q", text, prefix)
	}
	for _, p := range parts {
		if !strings.Contains(text, p) {
			t.Errorf("err =\n%s\nwant it to say %q", text, p)
		}
	}
}

// outsideSecret writes a file outside any manifest folder whose bytes appear
// in no error message, and returns its path and its content.
func outsideSecret(t *testing.T) (string, string) {
	t.Helper()
	const secret = "\x01\x02\x7f§¤"
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, secret
}

func TestSymlinkOutOfTheFolderIsRefused(t *testing.T) {
	secretFile, secret := outsideSecret(t)
	for _, target := range []string{"/etc/passwd", "/proc/self/environ", secretFile} {
		if _, err := os.Stat(target); err != nil {
			t.Logf("skipping %s: %v", target, err)
			continue
		}
		t.Run("proto to "+filepath.Base(target), func(t *testing.T) {
			dir := folder(t, map[string]string{"m.yaml": protoManifest})
			symlink(t, target, dir, "x.proto")
			_, err := loadWithin(t, dir)
			wantRefused(t, err, dir, manifest.ErrOutsideFolder,
				"DIR/m.yaml:5:10: protos[0]: cannot read x.proto: it is a symbolic link to "+target+", which leads outside the manifest's folder",
				"copy the file in")
			if strings.ContainsAny(err.Error(), secret) {
				t.Errorf("the error holds bytes of the file outside the folder: %q", err)
			}
		})
		t.Run("schema to "+filepath.Base(target), func(t *testing.T) {
			dir := folder(t, map[string]string{"m.yaml": schemaManifest})
			symlink(t, target, dir, "s.json")
			_, err := loadWithin(t, dir)
			// The whole error is fixed text: nothing of the target can be in it.
			want := "DIR/m.yaml:5:38: messages.send.A.schema.$ref: cannot read s.json: it is a symbolic link to " + target +
				", which leads outside the manifest's folder; a manifest reads only files inside its folder (a link must be relative and stay inside): copy the file in instead"
			wantRefused(t, err, dir, manifest.ErrOutsideFolder, want)
			if got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "DIR/"); got != want {
				t.Errorf("err =\n%s\nwant exactly\n%s", got, want)
			}
			if strings.ContainsAny(err.Error(), secret) {
				t.Errorf("the error holds bytes of the file outside the folder: %q", err)
			}
		})
	}
}

func TestSymlinkedFolderOutOfTheFolderIsRefused(t *testing.T) {
	outside := folder(t, map[string]string{"v1/x.proto": protoOK})
	dir := folder(t, map[string]string{"m.yaml": strings.Replace(protoManifest, "[x.proto]", "[pkg/v1/x.proto]", 1)})
	symlink(t, outside, dir, "pkg")
	_, err := loadWithin(t, dir)
	wantRefused(t, err, dir, manifest.ErrOutsideFolder,
		"DIR/m.yaml:5:10: protos[0]: cannot read pkg/v1/x.proto: pkg, on the way to it, is a symbolic link to "+outside+", which leads outside the manifest's folder")
}

func TestImportThroughSymlinkOutOfTheFolderIsRefused(t *testing.T) {
	outside := folder(t, map[string]string{"common.proto": "syntax = \"proto3\";\npackage c;\nmessage C {}\n"})
	dir := folder(t, map[string]string{
		"m.yaml":  protoManifest,
		"x.proto": "syntax = \"proto3\";\npackage x;\nimport \"lib/common.proto\";\nmessage A { c.C c = 1; }\n",
	})
	symlink(t, outside, dir, "lib")
	_, err := loadWithin(t, dir)
	if !errors.Is(err, manifest.ErrOutsideFolder) || !strings.Contains(err.Error(), "lib, on the way to it, is a symbolic link to "+outside) {
		t.Fatalf("err = %v, want the import refused as outside the folder", err)
	}
}

func TestSymlinkInsideTheFolderIsFollowed(t *testing.T) {
	dir := folder(t, map[string]string{"m.yaml": protoManifest, "real/x.proto": protoOK})
	symlink(t, "real/x.proto", dir, "x.proto")
	if _, err := loadWithin(t, dir); err != nil {
		t.Fatalf("a relative link that stays inside the folder: %v", err)
	}
}

// enumOnOneLine is a .proto file with an enum of n values on one line.
func enumOnOneLine(n int) string {
	var b strings.Builder
	b.WriteString("syntax = \"proto3\";\npackage x;\nmessage A { E e = 1; }\nenum E { ")
	for i := range n {
		fmt.Fprintf(&b, "V%d = %d; ", i, i)
	}
	b.WriteString("}\n")
	return b.String()
}

func TestLongProtoLineIsRefused(t *testing.T) {
	// 200 000 values on one line: protocompile's source positions take time
	// quadratic in a line's length (10 000 values took 5 s, 40 000 over a
	// minute).
	dir := folder(t, map[string]string{"m.yaml": protoManifest, "x.proto": enumOnOneLine(200_000)})
	_, err := loadWithin(t, dir)
	wantRefused(t, err, dir, manifest.ErrTooLarge, "DIR/x.proto:4:1: the line is longer than the 4096 bytes (4 KiB) a line of a .proto file may have")

	// The same in a file it imports: the error is in that file.
	dir = folder(t, map[string]string{
		"m.yaml":  protoManifest,
		"x.proto": "syntax = \"proto3\";\npackage x;\nimport \"e.proto\";\nmessage A { e.E e = 1; }\n",
		"e.proto": strings.Replace(strings.Replace(enumOnOneLine(1000), "package x;", "package e;", 1), "message A { E e = 1; }\n", "", 1),
	})
	_, err = loadWithin(t, dir)
	if !errors.Is(err, manifest.ErrTooLarge) || !strings.Contains(err.Error(), "e.proto:3:1: the line is longer") {
		t.Fatalf("err = %v, want the long line of the imported file", err)
	}
}

// patternSchema is a schema file whose property patterns are the given
// lengths.
func patternSchema(lengths ...int) string {
	var props []string
	for i, n := range lengths {
		props = append(props, fmt.Sprintf(`"p%d": {"type": "string", "pattern": "%s"}`, i, strings.Repeat("x*", n/2)))
	}
	return `{"type": "object", "properties": {` + strings.Join(props, ", ") + `}}`
}

func TestLongPatternIsRefused(t *testing.T) {
	// A 1.2 MB pattern took 3 to 9.5 s to compile, and the error echoed it.
	dir := folder(t, map[string]string{"m.yaml": schemaManifest, "s.json": patternSchema(1_200_000)})
	_, err := loadWithin(t, dir)
	wantRefused(t, err, dir, manifest.ErrTooLarge,
		"DIR/s.json:1:71: properties.p0.pattern: this regular expression is 1200000 bytes; with it the schemas' patterns come to 1200000, over the 65536 bytes (64 KiB)")
	if len(err.Error()) > 1000 {
		t.Errorf("the error is %d bytes; it should not echo the pattern", len(err.Error()))
	}

	// Patterns of several schemas count together; the one past the limit is named.
	twoTypes := "ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\nmessages: {send: {A: {schema: {$ref: a.json}}, B: {schema: {$ref: b.json}}}}\n"
	dir = folder(t, map[string]string{"m.yaml": twoTypes, "a.json": patternSchema(40_000), "b.json": patternSchema(100, 30_000)})
	_, err = loadWithin(t, dir)
	wantRefused(t, err, dir, manifest.ErrTooLarge, "DIR/b.json:1:", "properties.p1.pattern: this regular expression is 30000 bytes; with it the schemas' patterns come to 70100")

	// A patternProperties key is a regular expression too.
	inline := fmt.Sprintf(`{"ifkit": 1, "name": "a.b", "version": "1.0.0", "direction": "send", "messages": {"send": {"A": {"schema": {"patternProperties": {"%s": true}}}}}}`, strings.Repeat("y", 70_000))
	_, err = manifest.Parse("m.json", []byte(inline))
	if !errors.Is(err, manifest.ErrTooLarge) || !strings.Contains(err.Error(), "this regular expression is 70000 bytes") {
		t.Fatalf("err = %v, want the patternProperties key refused", err)
	}
}

// propertiesSchema is a schema with n properties, each an empty schema.
func propertiesSchema(n int) string {
	props := make([]string, n)
	for i := range props {
		props[i] = fmt.Sprintf(`"p%d": {}`, i)
	}
	return `{"type": "object", "properties": {` + strings.Join(props, ", ") + `}}`
}

func TestSchemaWithTooManySubschemasIsRefused(t *testing.T) {
	// The JSON Schema compiler takes time quadratic in the number of
	// subschemas: 8192 took 0.9 s, 60 000 (2.6 MB) 57 s.
	dir := folder(t, map[string]string{"m.yaml": schemaManifest, "s.json": propertiesSchema(8192)})
	_, err := loadWithin(t, dir)
	wantRefused(t, err, dir, manifest.ErrTooLarge, "DIR/s.json:1:", "properties.p4094: the schema has more than 4096 objects and booleans")

	// Schemas under the limit each, over it together.
	var types, files = []string{}, map[string]string{}
	for i := range 5 {
		types = append(types, fmt.Sprintf("T%d: {schema: {$ref: s%d.json}}", i, i))
		files[fmt.Sprintf("s%d.json", i)] = propertiesSchema(4000)
	}
	files["m.yaml"] = "ifkit: 1\nname: a.b\nversion: 1.0.0\ndirection: send\nmessages: {send: {" + strings.Join(types, ", ") + "}}\n"
	dir = folder(t, files)
	_, err = loadWithin(t, dir)
	wantRefused(t, err, dir, manifest.ErrTooLarge, "DIR/s4.json:1:", "with this schema the manifest's schemas have more than 16384 objects and booleans together")
}

func TestOversizeFilesAreRefused(t *testing.T) {
	t.Run("schema over the source limit", func(t *testing.T) {
		schema := `{"description": "` + strings.Repeat("x", manifest.MaxSourceBytes) + `"}`
		dir := folder(t, map[string]string{"m.yaml": schemaManifest, "s.json": schema})
		_, err := loadWithin(t, dir)
		wantRefused(t, err, dir, manifest.ErrTooLarge, fmt.Sprintf("DIR/m.yaml:5:38: messages.send.A.schema.$ref: cannot read s.json: it is %d bytes, "+
			"over the 4194304 bytes (4 MiB) the .proto and schema files of one load may have together; a descriptor set (descriptor_sets) is not compiled and may be larger", len(schema)))
	})
	t.Run(".proto files over the source limit together", func(t *testing.T) {
		// 3 MiB each: the second listed is refused.
		comment := strings.Repeat("// "+strings.Repeat("c", 60)+"\n", 3<<20/64)
		x, y := comment+protoOK, comment+"syntax = \"proto3\";\npackage y;\n"
		dir := folder(t, map[string]string{
			"m.yaml":  strings.Replace(protoManifest, "[x.proto]", "[x.proto, y.proto]", 1),
			"x.proto": x,
			"y.proto": y,
		})
		_, err := loadWithin(t, dir)
		wantRefused(t, err, dir, manifest.ErrTooLarge, fmt.Sprintf("DIR/m.yaml:5:19: protos[1]: cannot read y.proto: it is %d bytes, "+
			"over the 4194304 bytes (4 MiB) the .proto and schema files of one load may have together (%d are read already)", len(y), len(x)))
	})
	t.Run("descriptor set over the file limit", func(t *testing.T) {
		dir := folder(t, map[string]string{"m.yaml": setManifest})
		// A sparse file: it is refused on its size, before it is read.
		f, err := os.Create(filepath.Join(dir, "x.binpb"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(manifest.MaxFileBytes + 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err = loadWithin(t, dir)
		wantRefused(t, err, dir, manifest.ErrTooLarge, "DIR/m.yaml:5:19: descriptor_sets[0]: cannot read x.binpb: it is 16777217 bytes, over the 16777216 bytes (16 MiB) a file may have")
	})
	t.Run("canonical form over the file limit", func(t *testing.T) {
		// A 13 MB descriptor set is a file a load may read, but embedded in
		// base64 it would make a canonical form no receiver accepts.
		set := &descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{{
			Name:        proto.String("x.proto"),
			Package:     proto.String("x"),
			Syntax:      proto.String("proto3"),
			MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("A")}},
			EnumType: []*descriptorpb.EnumDescriptorProto{{
				Name:  proto.String("E"),
				Value: []*descriptorpb.EnumValueDescriptorProto{{Name: proto.String("V" + strings.Repeat("v", 13<<20)), Number: proto.Int32(0)}},
			}},
		}}}
		data, err := proto.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		dir := folder(t, map[string]string{"m.yaml": setManifest, "x.binpb": string(data)})
		_, err = loadWithin(t, dir)
		wantRefused(t, err, dir, manifest.ErrTooLarge, "DIR/m.yaml: the canonical form, with every descriptor and schema embedded, would be", "over the 16777216 bytes (16 MiB) a receiver accepts")
	})
}

func TestOneLineJSONParsesInLinearTime(t *testing.T) {
	// Every value's column was counted from the start of its line: a 2 MB
	// one-line JSON manifest (a canonical form is one line) took 37 s, 4 MB
	// three minutes.
	var b strings.Builder
	b.WriteString(`{"ifkit":1,"name":"a.b","version":"1.0.0","direction":"send","codecs":["raw"],"messages":{"send":{"A":{}}},"metadata":{"x":[`)
	for i := range 40_000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + strings.Repeat("y", 50) + `"`)
	}
	b.WriteString(`]},"flow":{"credits":0}}`)
	dir := folder(t, map[string]string{"m.yaml": b.String()})
	_, err := loadWithin(t, dir)
	// The error's column is right: the last value but one, counted in runes.
	want := fmt.Sprintf("DIR/m.yaml:1:%d: flow.credits: must be >= 1 but found 0", b.Len()-2)
	wantRefused(t, err, dir, nil, want)
}

func TestLoadContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := folder(t, map[string]string{"m.yaml": protoManifest, "x.proto": protoOK})
	_, err := manifest.LoadContext(ctx, filepath.Join(dir, "m.yaml"))
	var list manifest.ErrorList
	if !errors.Is(err, context.Canceled) || errors.As(err, &list) {
		t.Fatalf("err = %v (%T), want context.Canceled and not an ErrorList", err, err)
	}
}
