package main_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/internal/testpki"
	"github.com/ifkit/ifkit/internal/testutil"
)

// labProcess starts `ifctl args...` and returns the URL from the line of
// stdout that starts with prefix; at cleanup it is interrupted and must
// exit 0.
func labProcess(t *testing.T, prefix string, args ...string) string {
	t.Helper()
	cmd := exec.Command(ifctl, args...)
	cmd.Dir = filepath.Join("..", "..")
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	found := make(chan string, 1)
	go func() {
		br := bufio.NewReader(out)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(found)
				return
			}
			if strings.HasPrefix(l, prefix) {
				f := strings.Fields(l)
				found <- f[len(f)-1]
				io.Copy(io.Discard, br)
				return
			}
		}
	}()
	var u string
	select {
	case u = <-found:
	case <-time.After(waitLong):
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(waitLong):
			cmd.Process.Kill()
			<-done
			t.Errorf("ifctl %s did not stop on SIGINT", args[0])
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("ifctl %s exited %d after SIGINT; stderr:\n%s", args[0], code, stderr)
		}
	})
	if u == "" {
		t.Fatalf("ifctl %s printed no %q line; stderr:\n%s", args[0], prefix, stderr)
	}
	return u
}

func httpGet(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestLab: ifctl lab against ifctl serve --mock serves the page and the
// gateway under /gw; an address other hosts can reach is refused without
// HTTPS and a secret.
func TestLab(t *testing.T) {
	t.Parallel()
	srv := serveBinary(t, listenAddr(t, "unix"), "testdata/manifests/sensors.temperature.yaml", "testdata/manifests/db.kv.yaml", "--mock")
	u := labProcess(t, "lab bench for ", "lab", srv.addr, "--http", "127.0.0.1:0")
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("lab URL %q", u)
	}
	c := &http.Client{Timeout: waitLong}
	if st, body := httpGet(t, c, u+"/"); st != 200 || !strings.Contains(body, "lab bench") || !strings.Contains(body, srv.addr) {
		t.Fatalf("GET /: %d %.300s", st, body)
	}
	if st, body := httpGet(t, c, u+"/gw/"); st != 200 || !strings.Contains(body, `"name":"sensors.temperature"`) || !strings.Contains(body, `"name":"db.kv"`) {
		t.Fatalf("GET /gw/: %d %.300s", st, body)
	}
	res, err := c.Post(u+"/gw/db.kv/Get", "application/json", strings.NewReader(`{"key":"config/greenhouse/north"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Ifkit-Type") != "Value" {
		t.Fatalf("POST Get: %d %s", res.StatusCode, body)
	}
	check(t, run(t, "lab", srv.addr, "--http", "0.0.0.0:0"), 2, "reachable from other hosts", "--http-tls-cert", "--http-secret-file")
	check(t, run(t, "lab", srv.addr, "--http", "nonsense"), 2, "give host:port")
	check(t, run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", listenAddr(t, "unix"), "--lab", "0.0.0.0:0"), 2, "reachable from other hosts", "--tls-cert")
}

// TestServeLab: serve --lab on a non-loopback address with TLS and the
// server's secret: the page asks for the secret, the secret never reaches
// it, and the lab's own session to the server proves it.
func TestServeLab(t *testing.T) {
	t.Parallel()
	p := testpki.New(t)
	secretFile, _ := filepath.Abs("../../testdata/cli/secret.txt")
	data, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(data))
	u := labProcess(t, "lab bench on ", "serve", "testdata/manifests/sensors.temperature.yaml", "--mock", "--listen", "tls://127.0.0.1:0",
		"--secret-file", secretFile, "--tls-cert", p.ServerCert, "--tls-key", p.ServerKey, "--lab", "0.0.0.0:0")
	if !strings.HasPrefix(u, "https://") {
		t.Fatalf("lab URL %q", u)
	}
	pem, _ := os.ReadFile(p.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// The test certificate names 127.0.0.1.
	u = strings.Replace(u, "0.0.0.0", "127.0.0.1", 1)
	u = strings.Replace(u, "[::]", "127.0.0.1", 1)
	c := &http.Client{Timeout: waitLong, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if st, body := httpGet(t, c, u+"/gw/"); st != 401 || strings.Contains(body, secret) {
		t.Fatalf("GET /gw/ without the secret: %d %s", st, body)
	}
	res, err := c.PostForm(u+"/login", url.Values{"secret": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 || len(res.Cookies()) != 1 || !res.Cookies()[0].Secure {
		t.Fatalf("sign in: %d %v", res.StatusCode, res.Cookies())
	}
	cookie := res.Cookies()[0]
	for _, path := range []string{"/", "/assets/lab.js", "/gw/", "/gw/sensors.temperature/manifest", "/api/docs/sensors.temperature"} {
		req, _ := http.NewRequest("GET", u+path, nil)
		req.AddCookie(cookie)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.Contains(string(body), secret) || strings.Contains(cookie.Value, secret) {
			t.Fatalf("GET %s signed in: %d (or the secret is in it)", path, res.StatusCode)
		}
	}
}
