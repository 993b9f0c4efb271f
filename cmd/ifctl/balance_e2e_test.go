package main_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBalanceFlag: call --balance round-robin spreads its requests over a
// comma-separated ADDR, a connection per request, each server getting its
// turn; a bad policy is a usage error.
func TestBalanceFlag(t *testing.T) {
	a := serveBinary(t, "unix://"+filepath.Join(t.TempDir(), "a.sock"), "testdata/manifests/db.kv.yaml", "--mock")
	b := serveBinary(t, "unix://"+filepath.Join(t.TempDir(), "b.sock"), "testdata/manifests/db.kv.yaml", "--mock")
	reqs := strings.Repeat(`{"key":"config/greenhouse/north"}`+"\n", 4)
	r := runIn(t, reqs, nil, "call", a.addr+","+b.addr, "db.kv", "Get", "-d", "@-", "--balance", "round-robin")
	check(t, r, 0)
	if n := strings.Count(r.stdout, `"found":true`); n != 4 {
		t.Fatalf("%d replies, want 4:\n%s", n, r.stdout)
	}
	for _, s := range []*served{a, b} {
		deadline := time.Now().Add(waitLong)
		for strings.Count(s.stderr.String(), "db.kv: opened") < 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := strings.Count(s.stderr.String(), "db.kv: opened"); n != 2 {
			t.Errorf("a server got %d of the 4 connections, want 2:\n%s", n, s.stderr)
		}
	}
	check(t, run(t, "call", a.addr+","+b.addr, "db.kv", "Get", "-d", "{}", "--balance", "fastest"), 2, "--balance")
}
