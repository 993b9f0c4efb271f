package nats_test

import (
	"strings"
	"testing"

	natsad "github.com/ifkit/ifkit/adapter/nats"
)

// Every setting that cannot work is reported, each at its place.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"streams: [{name: 'a b', subjects: [x]}]", `streams[0].name "a b"`},
		{"streams: [{name: S}]", "streams[0].subjects: give at least one subject"},
		{"streams: [{name: S, subjects: ['a.>.b']}]", `streams[0].subjects[0] "a.>.b" is not a subject`},
		{"consume: [{interface: x.y, stream: S, consumer: c, type: Nope}]", `consume[0].type "Nope": not a type under types (there are none)`},
		{"types: {T: {}}\npublish: [{interface: x.y, subject: 'a.*', type: T}]", `publish[0].subject "a.*": give a subject without wildcards`},
		{"types: {T: {}}\npublish: [{interface: x.y, subject: a, type: T, credits: 1000000}]", "publish[0].credits 1000000: give 1 to 65536"},
		{"types: {T: {}}\npublish: [{interface: x.y, subject: a, type: T}, {interface: x.y, subject: b, type: T}]", `publish[1].interface "x.y": also the name of publish[0]`},
		{"types: {T: {schema_file: t.json}}", "types.T.schema_file: this configuration is not read from a file"},
		{"consume: [{interface: x.y, stream: S, consumer: c, type: T, ack_wait: soon}]", `"soon" is not a duration`},
		{"streamz: []", "field streamz not found"},
		{"types: {T: {}}\ntopics: [{interface: x.y, stream: S, subject: a, type: T, on_exhausted: wait}]", `topics[0].on_exhausted "wait"`},
	} {
		_, err := natsad.ParseConfig("q.yaml", []byte(tc.src), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "q.yaml:") {
			t.Errorf("%s:\n got %v\nwant q.yaml: ...%s...", tc.src, err, tc.want)
		}
	}
	if _, err := natsad.ParseConfig("empty.yaml", nil, ""); err != nil {
		t.Errorf("an empty configuration: %v", err)
	}
}

// The configuration loader takes any bytes without panicking, and what it
// accepts it accepts again.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(natsad.DefaultConfigYAML))
	f.Add([]byte(testConfig))
	f.Add([]byte("types: {T: {schema: true}}\ntopics: [{interface: a.b, stream: S, subject: 'a.>', type: T}]"))
	f.Add([]byte("consume: [{ack_wait: -1s}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := natsad.ParseConfig("fuzz.yaml", data, "")
		if err != nil {
			return
		}
		if c == nil {
			t.Fatal("no configuration and no error")
		}
	})
}
