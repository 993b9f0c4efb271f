package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
)

var update = flag.Bool("update", false, "rewrite spec/conformance/scenarios.json")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestScenariosFile keeps spec/conformance/scenarios.json, which clients in
// other languages read, equal to the scenarios the server plays.
func TestScenariosFile(t *testing.T) {
	want, err := json.MarshalIndent(Scenarios(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const path = "../../spec/conformance/scenarios.json"
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what Scenarios() says; run go test ./internal/conformance -run TestScenariosFile -update", path)
	}
}

// suite runs the suite in-process and returns its addresses and verdicts.
func suite(t *testing.T) (Ready, *verdictBox) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, t.TempDir(), "127.0.0.1", pw); pw.Close() }()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("the suite wrote nothing: %v", <-done)
	}
	var ready Ready
	if err := json.Unmarshal(sc.Bytes(), &ready); err != nil {
		t.Fatal(err)
	}
	verdicts := make(chan Verdict, 256)
	go func() {
		defer close(verdicts)
		for sc.Scan() {
			var v Verdict
			json.Unmarshal(sc.Bytes(), &v)
			verdicts <- v
		}
	}()
	// Verdicts of one scenario come in order, but a scenario's verdict may
	// come after the client's side of the next one started: match by name.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		for range verdicts {
		}
	})
	return ready, &verdictBox{c: verdicts, seen: map[string][]Verdict{}}
}

// verdictBox holds the verdicts that arrived, by scenario and transport.
type verdictBox struct {
	c    <-chan Verdict
	seen map[string][]Verdict
}

func (b *verdictBox) wait(ctx context.Context, scenario, transport string) (Verdict, bool) {
	key := transport + " " + scenario
	for {
		if q := b.seen[key]; len(q) > 0 {
			b.seen[key] = q[1:]
			return q[0], true
		}
		select {
		case v, ok := <-b.c:
			if !ok {
				return Verdict{}, false
			}
			k := v.Transport + " " + v.Scenario
			b.seen[k] = append(b.seen[k], v)
		case <-ctx.Done():
			return Verdict{}, false
		}
	}
}

// TestGoClient plays the scenarios whose outcome is a code against the Go
// client (iface), over Unix and TCP: the scripted servers and the reference
// client must agree before a client in another language is held to them.
func TestGoClient(t *testing.T) {
	ready, verdicts := suite(t)
	cfg := iface.DefaultConfig()
	cfg.HandshakeTimeout = time.Second
	opts := func(sc *Scenario) []iface.DialOption {
		o := []iface.DialOption{iface.WithConfig(cfg)}
		if sc.Secret {
			o = append(o, iface.WithSecret([]byte(Secret)))
		}
		return o
	}
	for _, transport := range []string{"unix", "tcp"} {
		for _, sc := range Scenarios() {
			t.Run(transport+"/"+sc.Name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				want := codes.OK
				if sc.Code != "" {
					want, _ = codes.Parse(sc.Code)
				}
				if sc.Level == "session" {
					c, err := iface.Dial(ctx, ready.Listeners[transport][sc.Name], opts(sc)...)
					if err == nil {
						c.Close()
					}
					switch sc.Name {
					case "session.preface", "session.exchange":
						if err != nil {
							t.Fatal(err)
						}
					case "session.not_ifkit":
						if !errors.Is(err, iface.ErrNotIfkit) {
							t.Fatalf("dial: %v, want ErrNotIfkit", err)
						}
					default:
						if err == nil {
							t.Fatal("the dial succeeded")
						}
						if sc.Code != "" && iface.CodeOf(err) != want {
							t.Fatalf("dial: %v (%s), want %s", err, iface.CodeOf(err), want)
						}
					}
				} else {
					listener := "scenarios"
					if sc.Secret {
						listener = "auth-scenarios"
					}
					playGo(t, ctx, ready.Listeners[transport][listener], sc, want, opts(sc))
				}
				v, ok := verdicts.wait(ctx, sc.Name, transport)
				if !ok {
					t.Fatal("no verdict")
				}
				if !v.Pass {
					t.Errorf("the server's verdict on the Go client: %s", v.Detail)
				}
			})
		}
	}
}

// playGo plays one stream scenario with the Go client.
func playGo(t *testing.T, ctx context.Context, addr string, sc *Scenario, want codes.Code, opts []iface.DialOption) {
	c, err := iface.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var copts []iface.ConnectOption
	switch sc.Name {
	case "conformance.manifest_mismatch":
		m, err := scenarioManifest("conformance.manifest_mismatch", false)
		if err != nil {
			t.Fatal(err)
		}
		copts = append(copts, iface.WithManifest(m))
	case "conformance.pull_mode":
		copts = append(copts, iface.WithPullMode())
	}
	conn, err := c.Connect(ctx, sc.Name, copts...)
	switch sc.Name {
	case "conformance.refused", "conformance.manifest_mismatch", "conformance.bad_manifest":
		if iface.CodeOf(err) != want {
			t.Fatalf("connect: %v (%s), want %s", err, iface.CodeOf(err), want)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close("test over")
	call := func(typ string) error {
		_, err := conn.Call(ctx, typ, json.RawMessage(`{}`))
		return err
	}
	switch sc.Name {
	case "conformance.reply_wrong_type":
		call("Ask")
	case "conformance.call_error", "conformance.call_end":
		if err := call("Ask"); err == nil || (want != codes.OK && iface.CodeOf(err) != want) {
			t.Errorf("call: %v, want it to fail (%s)", err, want)
		}
		conn.Close("done")
	case "conformance.call_stream":
		rs, err := conn.CallStream(ctx, "Scan", json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			if _, err := rs.Recv(ctx); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
		}
		if n != 3 {
			t.Errorf("%d replies, want 3", n)
		}
		if err := call("Ask"); err != nil {
			t.Error(err)
		}
		conn.Close("done")
	case "conformance.credits_respected":
		for i := 0; i < 5; i++ {
			if err := conn.Send(ctx, "Tell", json.RawMessage(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
	case "conformance.auth_client_tags":
		conn.Send(ctx, "Tell", json.RawMessage(`{"hello":"world"}`))
	case "conformance.pull_mode":
		time.Sleep(100 * time.Millisecond)
		conn.Request(3)
		for i := 0; i < 3; i++ {
			if _, err := conn.Recv(ctx); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close("done")
	case "conformance.invalid_body", "conformance.remote_close", "conformance.eof", "conformance.reply_unknown_corr", "conformance.auto_credit", "conformance.auth_bad_tag", "conformance.auth_missing_tag":
		for {
			if _, err := conn.Recv(ctx); err != nil {
				break
			}
		}
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
		t.Fatal("the connection did not end")
	}
	end := iface.CodeOf(conn.Err())
	switch {
	case strings.HasPrefix(sc.Verdict, "the client sends CLOSE"), sc.Name == "conformance.reply_wrong_type":
		if end != want {
			t.Errorf("the connection ended with %v, want %s", conn.Err(), want)
		}
	case sc.Name == "conformance.remote_close" || sc.Name == "conformance.eof":
		if end != want {
			t.Errorf("the connection ended with %v, want %s", conn.Err(), want)
		}
	}
}
