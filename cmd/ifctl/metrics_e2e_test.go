package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// TestServeMetricsAndJSONLog: `ifctl serve --metrics 127.0.0.1:0
// --log-format json` says where it serves the metrics, a scrape of
// /metrics follows a client's calls and a refusal, and the log is JSON
// records (connections, refusals, the operator) holding neither secret.
func TestServeMetricsAndJSONLog(t *testing.T) {
	secret, err := os.ReadFile("../../testdata/cli/secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := os.ReadFile("../../testdata/cli/admin-secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveBinary(t, listenAddr(t, "tcp"), "testdata/manifests/db.kv.yaml", "--mock",
		"--secret-file", "testdata/cli/secret.txt", "--admin-secret-file", "testdata/cli/admin-secret.txt",
		"--metrics", "127.0.0.1:0", "--log-format", "json")
	line, err := srv.stdout.ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics on ")
	if err != nil || !ok || !strings.HasSuffix(url, "/metrics") {
		t.Fatalf("serve printed %q (%v), want \"metrics on URL\"", line, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	c, err := iface.Dial(ctx, srv.addr, iface.WithSecret([]byte(strings.TrimSpace(string(secret)))), iface.WithClientName("metrics-e2e"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(ctx, "db.kv", iface.WithCodec("json"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := conn.Call(ctx, "Get", json.RawMessage(`{"key":"k"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Connect(ctx, "no.such"); iface.CodeOf(err) != iface.CodeUnknownInterface {
		t.Fatalf("Connect to no.such: %v", err)
	}
	r := run(t, "conns", srv.addr, "--secret-file", "testdata/cli/secret.txt", "--admin-secret-file", "testdata/cli/wrong-secret.txt")
	check(t, r, 64+int(iface.CodeAuthFailed), "not the server's admin secret")
	check(t, run(t, "conns", srv.addr, "--secret-file", "testdata/cli/secret.txt", "--admin-secret-file", "testdata/cli/admin-secret.txt"), 0)

	// A refusal is counted once the server has answered it: scrape until
	// every line is there.
	deadline := time.Now().Add(waitLong)
	for {
		body := scrape(t, url)
		missing := ""
		for _, want := range []string{
			`ifkit_server_connections_open{interface="db.kv"} 1`,
			`ifkit_server_connections_opened_total{interface="db.kv"} 1`,
			`ifkit_server_messages_total{direction="received",interface="db.kv"} 2`,
			`ifkit_server_handler_seconds_count{interface="db.kv",type="Get"} 2`,
			`ifkit_server_refusals_total{code="unknown_interface"} 1`,
			`ifkit_server_refusals_total{code="auth_failed"} 1`,
			`go_goroutines `,
		} {
			if !strings.Contains(body, want) {
				missing = want
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn.Close("done")
	<-conn.Done()
	deadline = time.Now().Add(waitLong)
	for !strings.Contains(scrape(t, url), `ifkit_server_connections_ended_total{code="normal_close",interface="db.kv"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("the ended connection is not in /metrics:\n%s", scrape(t, url))
		}
		time.Sleep(20 * time.Millisecond)
	}

	srv.stop(t)
	log := srv.stderr.String()
	for _, s := range []string{strings.TrimSpace(string(secret)), strings.TrimSpace(string(admin))} {
		if strings.Contains(log, s) {
			t.Fatalf("a secret is in the log:\n%s", log)
		}
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not a JSON record: %v", sc.Text(), err)
		}
		msg, _ := rec["msg"].(string)
		switch {
		case msg == "connection opened" && rec["client"] == "metrics-e2e" && rec["interface"] == "db.kv":
			seen["opened"] = true
		case msg == "connection closed" && rec["code"] == "normal_close" && rec["by"] == "client":
			seen["closed"] = true
		case msg == "refused" && rec["code"] == "unknown_interface":
			seen["refused"] = true
		case msg == "refused" && rec["code"] == "auth_failed":
			seen["wrong proof"] = true
		case msg == "operator" && rec["how"] == "admin secret":
			seen["operator"] = true
		case msg == "stopped":
			seen["stopped"] = true
		}
	}
	for _, k := range []string{"opened", "closed", "refused", "wrong proof", "operator", "stopped"} {
		if !seen[k] {
			t.Errorf("the JSON log has no %s record:\n%s", k, log)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
