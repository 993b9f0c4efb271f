package mqtt_test

import (
	"strings"
	"testing"

	mqttad "github.com/ifkit/ifkit/adapter/mqtt"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"types: {T: {}}\nsubscribe: [{interface: a.b, filter: 'a/#/b', type: T}]", `subscribe[0].filter "a/#/b" is not a topic filter`},
		{"types: {T: {}}\npublish: [{interface: a.b, topic: 'a/+', type: T}]", `publish[0].topic "a/+": give a topic name without wildcards`},
		{"types: {T: {}}\npublish: [{interface: a.b, topic: a, type: T, credits: 70000}]", "publish[0].credits 70000: give 1 to 65535"},
		{"subscribe: [{interface: a.b, filter: a, type: Nope}]", `subscribe[0].type "Nope": not a type under types`},
		{"types: {T: {}}\npublish: [{interface: a.b, topic: a, type: T}, {interface: a.b, topic: b, type: T}]", `publish[1].interface "a.b": also the name of publish[0]`},
		{"topics: []", "field topics not found"},
	} {
		_, err := mqttad.ParseConfig("m.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "m.yaml:") {
			t.Errorf("%s:\n got %v\nwant m.yaml: ...%s...", tc.src, err, tc.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(config("root")))
	f.Add([]byte("types: {T: {schema: true}}\nsubscribe: [{interface: a.b, filter: '+/x/#', type: T, exclusive: true}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := mqttad.ParseConfig("fuzz.yaml", data); err == nil && c == nil {
			t.Fatal("no configuration and no error")
		}
	})
}
