package iface_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

// syncBuffer is a strings.Builder safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// records parses JSON log lines.
func records(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// WithLogger logs connections, refusals and operators as structured
// records, and never a secret: neither the shared one nor the admin one,
// right or wrong.
func TestStructuredLog(t *testing.T) {
	secret := []byte("the-shared-secret-0123456789")
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	_, addr := serveOptions(t, "tcp", []iface.ServerOption{
		iface.WithSecret(secret), iface.WithAdminSecret(adminSecret), iface.WithLogger(log),
	}, sensors(t, 1))
	c, err := iface.Dial(ctx(t), addr, iface.WithSecret(secret), iface.WithClientName("client\nwith a newline"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(ctx(t), "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close("bye")
	<-conn.Done()
	if _, err := c.Connect(ctx(t), "no.such"); iface.CodeOf(err) != iface.CodeUnknownInterface {
		t.Fatalf("Connect to no.such: %v", err)
	}
	wrongCtl, _ := c.Control(ctx(t), "sensors.temperature")
	if err := wrongCtl.Operator(ctx(t), []byte("a-wrong-admin-secret-guess")); iface.CodeOf(err) != iface.CodeAuthFailed {
		t.Fatalf("a wrong proof: %v", err)
	}
	wrongCtl.Close()
	ctl, _ := c.Control(ctx(t), "sensors.temperature")
	if err := ctl.Operator(ctx(t), adminSecret); err != nil {
		t.Fatal(err)
	}
	ctl.Close()
	if _, err := iface.Dial(ctx(t), addr, iface.WithSecret([]byte("a-wrong-shared-secret-guess"))); err == nil {
		t.Fatal("a wrong shared secret was accepted")
	}

	want := map[string]func(r map[string]any) bool{
		"connection opened": func(r map[string]any) bool {
			return r["interface"] == "sensors.temperature" && r["client"] == "client\nwith a newline" && r["codec"] != ""
		},
		"connection closed": func(r map[string]any) bool { return r["code"] == "normal_close" && r["reason"] == "bye" },
		"refused":           func(r map[string]any) bool { return r["code"] == "unknown_interface" && r["interface"] == "no.such" },
		"operator":          func(r map[string]any) bool { return r["how"] == "admin secret" },
	}
	eventually(t, func() bool {
		seen := map[string]bool{}
		for _, r := range records(t, buf.String()) {
			if ok := want[r["msg"].(string)]; ok != nil && ok(r) {
				seen[r["msg"].(string)] = true
			}
		}
		return len(seen) == len(want) && strings.Contains(buf.String(), "the client's proof of the shared secret was wrong")
	})
	text := buf.String()
	for _, s := range []string{string(secret), string(adminSecret), "a-wrong-admin-secret-guess", "a-wrong-shared-secret-guess"} {
		if strings.Contains(text, s) {
			t.Fatalf("the log holds the secret %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "client\nwith") {
		t.Fatal("a client's newline reached the log unescaped")
	}
}
