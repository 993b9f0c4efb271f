package iface

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/manifest"
)

// Connections share a served manifest only when the served bytes are its
// canonical form with the served hash; a server that serves other bytes
// under a known hash gets its own parse and does not replace the shared one.
func TestServedManifestsShared(t *testing.T) {
	src, err := manifest.Parse("m.yaml", []byte(`
ifkit: 1
name: cache.test
version: 1.0.0
direction: send
codecs: [json]
messages:
  send:
    Note: {schema: {type: object}}
`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := manifest.Parse("m.yaml", []byte(`
ifkit: 1
name: cache.test
version: 2.0.0
direction: send
codecs: [json]
messages:
  send:
    Note: {schema: {type: object}}
`))
	if err != nil {
		t.Fatal(err)
	}
	mc := NewManifestCache()
	a, err := mc.load("cache.test", src.Hash(), src.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	b, err := mc.load("cache.test", src.Hash(), append([]byte(nil), src.Canonical()...))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("the same served manifest was parsed twice")
	}
	// Other bytes under the known hash: refused, never shared.
	if c, err := mc.load("cache.test", src.Hash(), other.Canonical()); err == nil || c != nil || !strings.Contains(err.Error(), "hashes to "+other.Hash()) {
		t.Fatalf("other bytes under a known hash: %v, %v; want an error naming their hash", c, err)
	}
	if d, _ := mc.load("cache.test", src.Hash(), src.Canonical()); d != a {
		t.Fatal("a lying server replaced the shared manifest")
	}
	// Bytes whose hash is not the served one are refused.
	if e, err := mc.load("cache.test", "sha256:bogus", src.Canonical()); e != nil || err == nil {
		t.Fatal("a manifest served under a wrong hash was accepted")
	}
	if _, ok := mc.m["sha256:bogus"]; ok {
		t.Fatal("a manifest served under a wrong hash was cached")
	}
	// Once no one uses it, its entry goes.
	a, b = nil, nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		mc.mu.Lock()
		n := len(mc.m)
		mc.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left after their manifests were collected", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
