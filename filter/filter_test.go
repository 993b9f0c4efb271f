package filter_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/filter"
	"github.com/ifkit/ifkit/manifest"
)

func load(t testing.TB, path string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sensors(t testing.TB) *manifest.Manifest {
	return load(t, filepath.Join("..", "testdata", "manifests", "sensors.temperature.yaml"))
}

func status(t testing.TB) *manifest.Manifest {
	return load(t, filepath.Join("testdata", "status.bus.yaml"))
}

// match compiles spec for m and judges each message (JSON text).
func match(t *testing.T, m *manifest.Manifest, spec filter.Spec, codec string, msgs ...string) []bool {
	t.Helper()
	f, err := filter.Compile(m, spec, codec)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", spec, err)
	}
	typ := f.Type()
	var out []bool
	for _, s := range msgs {
		v := f.Match(typ, json.RawMessage(s))
		if v == data.Unfiltered {
			t.Fatalf("%s: unfiltered", s)
		}
		out = append(out, v == data.Matched)
	}
	return out
}

func TestForms(t *testing.T) {
	sm, st := sensors(t), status(t)
	readings := []string{
		`{"probe":"p1","zone":"north","celsius":21.5}`,
		`{"probe":"bench-3/south","zone":"south","celsius":-2.25}`,
		`{"probe":"bench-4","zone":"nursery"}`,
	}
	notices := []string{
		`{"kind":"status","program":"worker-1","level":1,"load":0.5,"up":true,"tags":["a","b"]}`,
		`{"kind":"notice","program":"planner","level":3,"load":2,"up":false,"tags":[]}`,
		`{"kind":"config","program":"worker-2","level":2}`,
	}
	cases := []struct {
		name string
		m    *manifest.Manifest
		spec filter.Spec
		msgs []string
		want []bool
	}{
		{"cel eq proto", sm, filter.Spec{CEL: `zone == "north"`}, readings, []bool{true, false, false}},
		{"cel and/startsWith proto", sm, filter.Spec{CEL: `probe.startsWith("bench-") && zone != "south"`}, readings, []bool{false, false, true}},
		{"cel in proto", sm, filter.Spec{CEL: `zone in ["south", "nursery"]`}, readings, []bool{false, true, true}},
		{"cel json name field", sm, filter.Spec{CEL: `probe == "p1" || zone == "nursery"`}, readings, []bool{true, false, true}},
		{"structured eq", sm, filter.Spec{Structured: `{"field":"zone","eq":"south"}`}, readings, []bool{false, true, false}},
		{"structured in", sm, filter.Spec{Structured: `{"field":"zone","in":["north","nursery"]}`}, readings, []bool{true, false, true}},
		{"structured prefix", sm, filter.Spec{Structured: `{"field":"probe","prefix":"bench-"}`}, readings, []bool{false, true, true}},
		{"structured all/not", sm, filter.Spec{Structured: `{"all":[{"field":"probe","prefix":"bench-"},{"not":{"field":"zone","eq":"south"}}]}`}, readings, []bool{false, false, true}},
		{"structured any", sm, filter.Spec{Structured: `{"any":[{"field":"probe","eq":"p1"},{"field":"zone","eq":"nursery"}]}`}, readings, []bool{true, false, true}},
		{"structured empty all", sm, filter.Spec{Structured: `{"all":[]}`}, readings, []bool{true, true, true}},
		{"structured empty any", sm, filter.Spec{Structured: `{"any":[]}`}, readings, []bool{false, false, false}},
		{"json cel enum/string", st, filter.Spec{CEL: `kind == "status" || program.startsWith("plan")`}, notices, []bool{true, true, false}},
		{"json cel int", st, filter.Spec{CEL: `level >= 2`}, notices, []bool{false, true, true}},
		{"json cel double", st, filter.Spec{CEL: `load > 1.0`}, notices, []bool{false, true, false}},
		{"json cel bool", st, filter.Spec{CEL: `up`}, notices, []bool{true, false, false}},
		{"json cel list", st, filter.Spec{CEL: `"b" in tags`}, notices, []bool{true, false, false}},
		{"json structured int", st, filter.Spec{Structured: `{"field":"level","in":[1,3]}`}, notices, []bool{true, true, false}},
		{"json structured double", st, filter.Spec{Structured: `{"field":"load","eq":2}`}, notices, []bool{false, true, false}},
		{"json structured bool", st, filter.Spec{Structured: `{"field":"up","eq":false}`}, notices, []bool{false, true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			codec := "proto"
			if c.m == st {
				codec = "json"
			}
			got := match(t, c.m, c.spec, codec, c.msgs...)
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s on %s: got %v, want %v", c.spec.CEL+c.spec.Structured, c.msgs[i], got[i], c.want[i])
				}
			}
		})
	}
}

func TestStructuredSameAsCEL(t *testing.T) {
	m := sensors(t)
	f, err := filter.Compile(m, filter.Spec{Structured: `{"all":[{"field":"zone","in":["north","south"]},{"not":{"field":"probe","prefix":"x\"y"}}]}`}, "proto")
	if err != nil {
		t.Fatal(err)
	}
	want := `(zone in ["north", "south"]) && (!(probe.startsWith("x\"y")))`
	if f.CEL() != want {
		t.Errorf("CEL() = %s, want %s", f.CEL(), want)
	}
}

func TestRefusals(t *testing.T) {
	sm, st := sensors(t), status(t)
	long := `zone == "a"`
	for range 400 {
		long += ` || zone == "a"`
	}
	cases := []struct {
		name      string
		m         *manifest.Manifest
		spec      filter.Spec
		codec     string
		kind, pos string
	}{
		{"cel syntax", sm, filter.Spec{CEL: `zone == `}, "proto", filter.KindSyntax, "1:9"},
		{"cel unknown field", sm, filter.Spec{CEL: `zone == "n" && colour == "red"`}, "proto", filter.KindUnknown, "1:16"},
		{"cel not filterable", sm, filter.Spec{CEL: `celsius > 20.0`}, "proto", filter.KindNotAllowed, "1:1"},
		{"cel not filterable later", sm, filter.Spec{CEL: "zone == \"n\" &&\n  celsius > 20.0"}, "proto", filter.KindNotAllowed, "2:3"},
		{"cel wrong types", sm, filter.Spec{CEL: `zone == 3`}, "proto", filter.KindType, "1:6"},
		{"cel not bool", sm, filter.Spec{CEL: `zone`}, "proto", filter.KindType, "1:1"},
		{"cel cost", st, filter.Spec{CEL: `tags.all(a, tags.all(b, a == b))`}, "json", filter.KindCost, ""},
		{"too long", sm, filter.Spec{CEL: long}, "proto", filter.KindTooLong, ""},
		{"raw codec", sm, filter.Spec{CEL: `zone == "n"`}, "raw", filter.KindCodec, ""},
		{"no such type", sm, filter.Spec{Type: "Nope", CEL: `zone == "n"`}, "proto", filter.KindTarget, ""},
		{"both forms", sm, filter.Spec{CEL: `true`, Structured: `{"all":[]}`}, "proto", filter.KindSyntax, ""},
		{"structured unknown field", sm, filter.Spec{Structured: `{"all":[{"field":"colour","eq":"red"}]}`}, "proto", filter.KindUnknown, "/all/0/field"},
		{"structured not filterable", sm, filter.Spec{Structured: `{"not":{"field":"celsius","eq":1}}`}, "proto", filter.KindNotAllowed, "/not/field"},
		{"structured wrong type", sm, filter.Spec{Structured: `{"field":"zone","eq":3}`}, "proto", filter.KindType, "/eq"},
		{"structured wrong type in list", st, filter.Spec{Structured: `{"field":"level","in":[1,"two"]}`}, "json", filter.KindType, "/in/1"},
		{"structured prefix on int", st, filter.Spec{Structured: `{"field":"level","prefix":"1"}`}, "json", filter.KindType, "/prefix"},
		{"structured fraction for int", st, filter.Spec{Structured: `{"field":"level","eq":1.5}`}, "json", filter.KindType, "/eq"},
		{"structured syntax", sm, filter.Spec{Structured: `{"field":"zone","eq":}`}, "proto", filter.KindSyntax, ""},
		{"structured two ops", sm, filter.Spec{Structured: `{"field":"zone","eq":"a","prefix":"b"}`}, "proto", filter.KindSyntax, "/prefix"},
		{"structured unknown key", sm, filter.Spec{Structured: `{"any":[{"feild":"zone","eq":"a"}]}`}, "proto", filter.KindSyntax, "/any/0/feild"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := filter.Compile(c.m, c.spec, c.codec)
			var fe *filter.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile: %v, want a *filter.Error", err)
			}
			if fe.Kind != c.kind || fe.Pos != c.pos {
				t.Errorf("got kind %s at %q (%v), want %s at %q", fe.Kind, fe.Pos, err, c.kind, c.pos)
			}
			if fe.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestRecvInterfaceRefused(t *testing.T) {
	m := load(t, filepath.Join("..", "testdata", "manifests", "logs.sink.yaml"))
	_, err := filter.Compile(m, filter.Spec{CEL: "true"}, "json")
	var fe *filter.Error
	if !errors.As(err, &fe) || fe.Kind != filter.KindTarget {
		t.Fatalf("got %v", err)
	}
}

func TestValueSharedAmongFilters(t *testing.T) {
	m := sensors(t)
	a, _ := filter.Compile(m, filter.Spec{CEL: `zone == "north"`}, "proto")
	b, _ := filter.Compile(m, filter.Spec{CEL: `zone == "south"`}, "json")
	v := filter.NewValue(map[string]any{"probe": "p", "zone": "south"})
	if a.MatchValue(v) || !b.MatchValue(v) {
		t.Fatal("wrong verdicts on a shared value")
	}
}

func TestMissingJSONFieldDoesNotMatch(t *testing.T) {
	got := match(t, status(t), filter.Spec{CEL: `!(load > 1.0)`}, "json", `{"kind":"status","program":"p","level":1}`)
	if got[0] {
		t.Fatal("a message without the field matched")
	}
}

func BenchmarkMatch(b *testing.B) {
	m := sensors(b)
	f, err := filter.Compile(m, filter.Spec{CEL: `zone == "north" && probe.startsWith("bench-")`}, "proto")
	if err != nil {
		b.Fatal(err)
	}
	typ := f.Type()
	msg := typ.New()
	if err := jsonUnmarshal(msg, `{"probe":"bench-1","zone":"north"}`); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if f.Match(typ, msg) != data.Matched {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatchShared: one evaluation on a value already decoded (what a
// topic's second and later subscribers cost).
func BenchmarkMatchShared(b *testing.B) {
	m := sensors(b)
	f, err := filter.Compile(m, filter.Spec{CEL: `zone == "north" && probe.startsWith("bench-")`}, "proto")
	if err != nil {
		b.Fatal(err)
	}
	v := filter.NewValue(json.RawMessage(`{"probe":"bench-1","zone":"north"}`))
	f.MatchValue(v)
	b.ReportAllocs()
	for b.Loop() {
		if !f.MatchValue(v) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatchJSON: a schema-only type, decoded from JSON text each time.
func BenchmarkMatchJSON(b *testing.B) {
	f, err := filter.Compile(status(b), filter.Spec{Structured: `{"all":[{"field":"kind","eq":"status"},{"field":"level","in":[1,2]}]}`}, "json")
	if err != nil {
		b.Fatal(err)
	}
	text := json.RawMessage(`{"kind":"status","program":"worker-1","level":1,"load":0.5,"up":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if f.Match(f.Type(), text) != data.Matched {
			b.Fatal("no match")
		}
	}
}
