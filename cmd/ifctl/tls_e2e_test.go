package main_test

import (
	"strings"
	"testing"

	"github.com/ifkit/ifkit/internal/testpki"
)

// TestTLS serves over tls:// with a certificate made in the test, then
// with mutual TLS, and connects with and without the flags each needs.
func TestTLS(t *testing.T) {
	t.Parallel()
	p := testpki.New(t)
	srv := serveBinary(t, "tls://127.0.0.1:0", "testdata/manifests/db.kv.yaml", "--mock", "--tls-cert", p.ServerCert, "--tls-key", p.ServerKey)
	if !strings.HasPrefix(srv.addr, "tls://127.0.0.1:") {
		t.Fatalf("serve listens on %q, want tls://127.0.0.1:PORT", srv.addr)
	}
	check(t, run(t, "ping", srv.addr, "--tls-ca", p.CA), 0)
	check(t, run(t, "call", srv.addr, "db.kv", "Get", "--tls-ca", p.CA), 0)
	r := run(t, "ping", srv.addr)
	check(t, r, 3, "certificate")
	wrongName := strings.Replace(srv.addr, "127.0.0.1", "localhost", 1)
	check(t, run(t, "ping", wrongName, "--tls-ca", p.CA), 3, "localhost")

	mutual := serveBinary(t, "tls://127.0.0.1:0", "testdata/manifests/db.kv.yaml", "--mock",
		"--tls-cert", p.ServerCert, "--tls-key", p.ServerKey, "--tls-client-ca", p.CA)
	r = run(t, "ping", mutual.addr, "--tls-ca", p.CA)
	if r.code == 0 {
		t.Errorf("mutual TLS admitted ifctl without a client certificate:\n%s", r.stderr)
	}
	check(t, run(t, "ping", mutual.addr, "--tls-ca", p.CA, "--tls-cert", p.ClientCert, "--tls-key", p.ClientKey), 0)
	check(t, run(t, "ping", mutual.addr, "--tls-ca", p.CA, "--tls-cert", p.ClientCert), 2, "--tls-cert and --tls-key go together")
}
