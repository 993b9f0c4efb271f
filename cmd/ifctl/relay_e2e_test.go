package main_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"

	"github.com/ifkit/ifkit/internal/testpki"
	"github.com/ifkit/ifkit/internal/testutil"
)

// TestRelayRestart: ifctl list and ls show a relay's servers; when the
// relay stops, ifctl serve --relay logs it and registers again once the
// relay is back on the same address, and is called through it again.
func TestRelayRestart(t *testing.T) {
	var relayErr, serveErr testutil.SyncBuffer
	relay, relayOut := background(t, &relayErr, nil, "relay", "--listen", "127.0.0.1:0")
	relayAddr := strings.TrimPrefix(line(t, relayOut, "listening on ", &relayErr), "listening on tcp://")
	url := "relay://" + relayAddr
	background(t, &serveErr, nil, "serve", "testdata/manifests/db.kv.yaml", "--mock",
		"--relay", "tcp://"+relayAddr, "--name", "kv", "--relay-backoff", "20ms", "--relay-backoff-max", "200ms")
	waitIn(t, &serveErr, "relay: registered with tcp://"+relayAddr+" as kv")

	// The relay's servers, by name, then with their interfaces.
	r := run(t, "list", url+"/")
	check(t, r, 0)
	if lines := strings.Split(r.stdout, "\n"); len(lines) < 2 || strings.Join(strings.Fields(lines[0]), " ") != "SERVER ADDRESS" || strings.Join(strings.Fields(lines[1]), " ") != "kv "+url+"/kv" {
		t.Errorf("list %s/:\n%s", url, r.stdout)
	}
	r = run(t, "list", url+"/", "-o", "json")
	check(t, r, 0)
	var servers []struct{ Name, Addr string }
	if err := json.Unmarshal([]byte(r.stdout), &servers); err != nil || len(servers) != 1 || servers[0].Name != "kv" || servers[0].Addr != url+"/kv" {
		t.Errorf("list %s/ -o json: %v %s", url, err, r.stdout)
	}
	r = run(t, "ls", url+"/")
	check(t, r, 0)
	if lines := strings.Split(r.stdout, "\n"); len(lines) < 2 || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "kv "+url+"/kv db.kv ") {
		t.Errorf("ls %s/:\n%s", url, r.stdout)
	}
	check(t, run(t, "ls", url+"/kv"), 2, "name the relay itself")
	r = run(t, "list", url+"/kv")
	check(t, r, 0)
	if !strings.Contains(r.stdout, "db.kv") {
		t.Errorf("list %s/kv:\n%s", url, r.stdout)
	}
	check(t, run(t, "list", url+"/nobody", "--timeout", "5s"), 3, `no server named "nobody"`, "ifctl list "+url+"/")

	// The relay goes, and comes back on the same address.
	relay.Process.Signal(syscall.SIGINT)
	relay.Wait()
	waitIn(t, &serveErr, "relay: lost tcp://"+relayAddr)
	var relay2Err testutil.SyncBuffer
	_, relay2Out := background(t, &relay2Err, nil, "relay", "--listen", relayAddr)
	line(t, relay2Out, "listening on tcp://"+relayAddr, &relay2Err)
	waitIn(t, &serveErr, "relay: registered with tcp://"+relayAddr+" again as kv")
	r = run(t, "call", url+"/kv", "db.kv", "Get", "-d", `{"key":"config/greenhouse/north"}`)
	check(t, r, 0)
	if !strings.Contains(r.stdout, `"found":true`) {
		t.Errorf("call through the restarted relay:\n%s", r.stdout)
	}
}

// TestRelayOverTLS: a relay listening on tls:// is reached by ifctl serve
// --relay tls://… --relay-ca and by clients with --relay-ca; a client
// without it is not served.
func TestRelayOverTLS(t *testing.T) {
	pki := testpki.New(t)
	var relayErr, serveErr testutil.SyncBuffer
	_, relayOut := background(t, &relayErr, nil, "relay", "--listen", "tls://127.0.0.1:0", "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey)
	relayAddr := strings.TrimPrefix(line(t, relayOut, "listening on ", &relayErr), "listening on tls://")
	background(t, &serveErr, nil, "serve", "testdata/manifests/db.kv.yaml", "--mock",
		"--relay", "tls://"+relayAddr, "--relay-ca", pki.CA, "--name", "kv")
	waitIn(t, &serveErr, "relay: registered with tls://"+relayAddr+" as kv")
	r := run(t, "call", "relay://"+relayAddr+"/kv", "db.kv", "Get", "-d", `{"key":"config/greenhouse/north"}`, "--relay-ca", pki.CA)
	check(t, r, 0)
	if !strings.Contains(r.stdout, `"found":true`) {
		t.Errorf("call through the TLS relay:\n%s", r.stdout)
	}
	r = run(t, "list", "relay://"+relayAddr+"/kv", "--timeout", "5s")
	if r.code != 3 {
		t.Errorf("a client without TLS to a TLS relay: exit %d, want 3\n%s", r.code, r.stderr)
	}
	// Usage errors.
	check(t, run(t, "relay", "--listen", "tls://127.0.0.1:0"), 2, "needs --tls-cert")
	check(t, run(t, "relay", "--listen", "127.0.0.1:0", "--max-servers", "0"), 2, "--max-servers is 0")
	check(t, run(t, "relay", "--listen", "127.0.0.1:0", "--pipe-buffer", "10"), 2, "--pipe-buffer is 10")
	check(t, run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", "127.0.0.1:0", "--relay-ca", pki.CA), 2, "need --relay ADDR --name NAME")
	check(t, run(t, "serve", "testdata/manifests/db.kv.yaml", "--relay", "tcp://"+relayAddr, "--name", "kv", "--relay-backoff", "1s", "--relay-backoff-max", "10ms"), 2, "--relay-backoff-max is 10ms")
}
