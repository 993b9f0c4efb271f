package manifest_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ifkit/ifkit/manifest"
)

// diffBase is the old manifest of every TestDiff case; a case edits it (and
// its proto file) into the new one.
const diffBase = `ifkit: 1
name: shop.orders
version: 1.0.0
title: Orders
direction: duplex
codecs: [proto, json]
protos: [shop.proto]
messages:
  recv:
    Place:
      proto: shop.v1.Place
      reply: {type: Placed}
    Note:
      proto: shop.v1.Note
      schema:
        type: object
        additionalProperties: false
        required: [text]
        properties:
          text: {type: string, maxLength: 100}
          level: {enum: [info, warn]}
          count: {type: integer, minimum: 0}
  send:
    Placed:
      proto: shop.v1.Placed
      filter_fields: [id]
flow: {credits: 64, max_message_bytes: 1024, on_exhausted: block}
control: [ping, stats, close]
`

const diffProto = `syntax = "proto3";
package shop.v1;
message Place { string item = 1; int32 quantity = 2; Kind kind = 3; }
message Placed { string id = 1; repeated string items = 2; }
message Note { string text = 1; string level = 2; int32 count = 3; }
enum Kind { KIND_UNSPECIFIED = 0; KIND_NORMAL = 1; }
`

func loadDiffCase(t *testing.T, yaml, proto string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("shop.yaml", []byte(yaml), manifest.WithFS(fstest.MapFS{"shop.proto": {Data: []byte(proto)}}))
	if err != nil {
		t.Fatalf("the case does not load:\n%v\n%s", err, yaml)
	}
	return m
}

// TestDiff checks each kind of change against whom it breaks: every
// breaking change of the issue (a type or field removed, a direction
// narrowed, credits lowered, a schema tightened…) and compatible ones.
func TestDiff(t *testing.T) {
	cases := []struct {
		name       string
		yaml       [2]string // replace [0] with [1] in diffBase
		proto      [2]string // the same in diffProto
		path, what string    // of the one change expected (what: a part of it)
		breaks     manifest.Breaks
	}{
		{"version", [2]string{"1.0.0", "1.1.0"}, [2]string{}, "version", `"1.0.0" → "1.1.0"`, manifest.Compatible},
		{"title", [2]string{"title: Orders", "title: Shop orders"}, [2]string{}, "title", "Shop orders", manifest.Compatible},
		{"name", [2]string{"name: shop.orders", "name: shop.order"}, [2]string{}, "name", "shop.order", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"direction narrowed to send", [2]string{"direction: duplex", "direction: send"}, [2]string{"", ""}, "direction", "clients may no longer send", manifest.BreaksSenders},
		{"codec removed", [2]string{"codecs: [proto, json]", "codecs: [proto]"}, [2]string{}, "codecs", "json removed", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"codec order", [2]string{"codecs: [proto, json]", "codecs: [json, proto]"}, [2]string{}, "", "", manifest.Compatible},
		{"credits lowered", [2]string{"credits: 64", "credits: 32"}, [2]string{}, "flow.credits", "lowered from 64 to 32", manifest.BreaksSenders},
		{"credits raised", [2]string{"credits: 64", "credits: 128"}, [2]string{}, "flow.credits", "raised", manifest.Compatible},
		{"max bytes lowered", [2]string{"max_message_bytes: 1024", "max_message_bytes: 512"}, [2]string{}, "flow.max_message_bytes", "lowered", manifest.BreaksSenders},
		{"max bytes raised", [2]string{"max_message_bytes: 1024", "max_message_bytes: 2048"}, [2]string{}, "flow.max_message_bytes", "raised", manifest.BreaksReceivers},
		{"on_exhausted drops", [2]string{"on_exhausted: block", "on_exhausted: drop_oldest"}, [2]string{}, "flow.on_exhausted", "dropped", manifest.BreaksReceivers},
		{"on_exhausted fails", [2]string{"on_exhausted: block", "on_exhausted: error"}, [2]string{}, "flow.on_exhausted", "fails", manifest.BreaksSenders},
		{"message_auth", [2]string{"control:", "message_auth: hmac-sha256\ncontrol:"}, [2]string{}, "message_auth", "none → hmac-sha256", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"control removed", [2]string{"[ping, stats, close]", "[ping, close]"}, [2]string{}, "control", "stats removed", manifest.BreaksSenders},
		{"control added", [2]string{"[ping, stats, close]", "[ping, stats, pause, close]"}, [2]string{}, "control", "pause added", manifest.Compatible},
		{"type removed", [2]string{"    Note:\n", "    Gone:\n"}, [2]string{}, "messages.recv.Note", "removed", manifest.BreaksSenders},
		{"reply removed", [2]string{"      reply: {type: Placed}\n", ""}, [2]string{}, "messages.recv.Place.reply", "removed", manifest.BreaksSenders},
		{"reply becomes a stream", [2]string{"{type: Placed}", "{type: Placed, stream: true}"}, [2]string{}, "messages.recv.Place.reply.stream", "false → true", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"proto field removed", [2]string{}, [2]string{" int32 quantity = 2;", ""}, "messages.recv.Place.fields.quantity", "field 2 removed", manifest.BreaksSenders},
		{"proto field added (json offered)", [2]string{}, [2]string{"int32 quantity = 2;", "int32 quantity = 2; string coupon = 4;"}, "messages.recv.Place.fields.coupon", "field 4 added", manifest.BreaksReceivers},
		{"proto field renamed", [2]string{}, [2]string{"int32 quantity = 2;", "int32 qty = 2;"}, "messages.recv.Place.fields.quantity", "renamed to qty", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"proto field type", [2]string{}, [2]string{"int32 quantity = 2;", "int64 quantity = 2;"}, "messages.recv.Place.fields.quantity", "int32 → int64", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"proto field made repeated", [2]string{}, [2]string{"string id = 1;", "repeated string id = 1;"}, "messages.send.Placed.fields.id", "string → repeated string", manifest.BreaksSenders | manifest.BreaksReceivers},
		{"enum value added", [2]string{}, [2]string{"KIND_NORMAL = 1;", "KIND_NORMAL = 1; KIND_GIFT = 2;"}, "messages.recv.Place.fields.kind", "KIND_GIFT added", manifest.BreaksReceivers},
		{"enum value removed", [2]string{}, [2]string{" KIND_NORMAL = 1;", ""}, "messages.recv.Place.fields.kind", "KIND_NORMAL removed", manifest.BreaksSenders},
		{"required added", [2]string{"required: [text]", "required: [text, level]"}, [2]string{}, "messages.recv.Note.schema.required", `"level" now required`, manifest.BreaksSenders},
		{"required removed", [2]string{"required: [text]", "required: []"}, [2]string{}, "messages.recv.Note.schema.required", "no longer required", manifest.BreaksReceivers},
		{"enum narrowed", [2]string{"[info, warn]", "[info]"}, [2]string{}, "messages.recv.Note.schema.properties.level.enum", `"warn" no longer allowed`, manifest.BreaksSenders},
		{"enum widened", [2]string{"[info, warn]", "[info, warn, error]"}, [2]string{}, "messages.recv.Note.schema.properties.level.enum", `"error" now allowed`, manifest.BreaksReceivers},
		{"maxLength lowered", [2]string{"maxLength: 100", "maxLength: 50"}, [2]string{}, "messages.recv.Note.schema.properties.text.maxLength", "tighter", manifest.BreaksSenders},
		{"maxLength raised", [2]string{"maxLength: 100", "maxLength: 200"}, [2]string{}, "messages.recv.Note.schema.properties.text.maxLength", "looser", manifest.BreaksReceivers},
		{"minimum raised", [2]string{"minimum: 0", "minimum: 1"}, [2]string{}, "messages.recv.Note.schema.properties.count.minimum", "tighter", manifest.BreaksSenders},
		{"pattern added", [2]string{"{type: string, maxLength: 100}", "{type: string, maxLength: 100, pattern: '^[a-z]+$'}"}, [2]string{}, "messages.recv.Note.schema.properties.text.pattern", "added", manifest.BreaksSenders},
		{"property type changed", [2]string{"{type: integer, minimum: 0}", "{type: string}"}, [2]string{}, "messages.recv.Note.schema.properties.count.type", `type "integer" no longer allowed`, manifest.BreaksSenders},
		{"property removed (closed object)", [2]string{"          count: {type: integer, minimum: 0}\n", ""}, [2]string{}, "messages.recv.Note.schema.properties.count", "removed", manifest.BreaksSenders},
		{"property added (closed object)", [2]string{"          count:", "          extra: {type: string}\n          count:"}, [2]string{}, "messages.recv.Note.schema.properties.extra", "added", manifest.BreaksReceivers},
		{"additionalProperties opened", [2]string{"additionalProperties: false", "additionalProperties: true"}, [2]string{}, "messages.recv.Note.schema.additionalProperties", "no longer false", manifest.BreaksReceivers},
		{"filter field removed", [2]string{"      filter_fields: [id]\n", ""}, [2]string{}, "messages.send.Placed.filter_fields", "id removed", manifest.BreaksReceivers},
		{"description only", [2]string{"title: Orders", "title: Orders\ndescription: All orders."}, [2]string{}, "description", "changed", manifest.Compatible},
	}
	old := loadDiffCase(t, diffBase, diffProto)
	if cs := manifest.Diff(old, old); len(cs) != 0 {
		t.Fatalf("a manifest differs from itself: %v", cs)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			yaml, proto := diffBase, diffProto
			if c.yaml[0] != "" {
				if !strings.Contains(yaml, c.yaml[0]) {
					t.Fatalf("the base has no %q", c.yaml[0])
				}
				yaml = strings.Replace(yaml, c.yaml[0], c.yaml[1], 1)
			}
			if c.proto[0] != "" {
				if !strings.Contains(proto, c.proto[0]) {
					t.Fatalf("the proto has no %q", c.proto[0])
				}
				proto = strings.Replace(proto, c.proto[0], c.proto[1], 1)
			}
			if c.name == "direction narrowed to send" {
				// A send interface has no recv types: drop them.
				i, j := strings.Index(yaml, "  recv:"), strings.Index(yaml, "  send:")
				yaml = yaml[:i] + yaml[j:]
			}
			cs := manifest.Diff(old, loadDiffCase(t, yaml, proto))
			if c.path == "" {
				if len(cs) != 0 {
					t.Fatalf("got %v, want no change", cs)
				}
				return
			}
			var found *manifest.Change
			for i := range cs {
				if cs[i].Path == c.path && strings.Contains(cs[i].What, c.what) {
					found = &cs[i]
				}
			}
			if found == nil {
				t.Fatalf("no change at %s with %q; got:\n%v", c.path, c.what, cs)
			}
			if found.Breaks != c.breaks {
				t.Errorf("%v: %s, want %s", *found, found.Breaks, c.breaks)
			}
			wantBreaking := 0
			for _, x := range cs {
				if x.Breaks != manifest.Compatible {
					wantBreaking++
				}
			}
			if got := len(cs.Breaking()); got != wantBreaking {
				t.Errorf("Breaking() has %d changes, want %d", got, wantBreaking)
			}
			if !strings.Contains(cs.Summary(), c.path) {
				t.Errorf("Summary() %q does not name %s", cs.Summary(), c.path)
			}
		})
	}
}

// TestDiffExamples diffs every example manifest against itself and against
// every other: no change and no panic, and a rename is always breaking.
func TestDiffExamples(t *testing.T) {
	var ms []*manifest.Manifest
	for _, f := range manifestFiles(t, "manifests") {
		m, err := manifest.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	for _, a := range ms {
		if cs := manifest.Diff(a, a); len(cs) != 0 {
			t.Errorf("%s differs from itself: %v", a.Name, cs)
		}
		for _, b := range ms {
			if a != b && len(manifest.Diff(a, b).Breaking()) == 0 {
				t.Errorf("%s → %s has no breaking change", a.Name, b.Name)
			}
		}
	}
}
