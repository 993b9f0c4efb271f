package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

// TestOperatorCommands: conns, pause, resume, reset, close and stats
// (CONN-ID, --server) against `ifctl serve --admin-secret-file`, acting on
// the connection of another client (a Go client in this process): refused
// without the admin secret and with a wrong one, each with a reason and exit
// 77; done with it. The secret never shows in the server's log.
func TestOperatorCommands(t *testing.T) {
	admin, err := os.ReadFile("../../testdata/cli/admin-secret.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := serveBinary(t, listenAddr(t, tr), "testdata/manifests/db.kv.yaml", "--mock", "--admin-secret-file", "testdata/cli/admin-secret.txt")
			a := srv.addr
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			defer cancel()
			user, err := iface.Dial(ctx, a, iface.WithClientName("e2e-user"))
			if err != nil {
				t.Fatal(err)
			}
			defer user.Close()
			conn, err := user.Connect(ctx, "db.kv", iface.WithCodec("json"))
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := conn.Call(ctx, "Get", json.RawMessage(`{"key":"k"}`)); err != nil {
					t.Fatal(err)
				}
			}
			id := fmt.Sprint(conn.ID())
			adminFlag := []string{"--admin-secret-file", "testdata/cli/admin-secret.txt"}

			r := run(t, "conns", a)
			check(t, r, 64+int(iface.CodeAuthFailed), "needs the operator scope", "try: pass the server's admin secret with --admin-secret-file FILE")
			r = run(t, "pause", a, "db.kv", id)
			check(t, r, 64+int(iface.CodeNotFound), "no open connection "+id+" on db.kv in this session", "admin secret")
			r = run(t, "conns", a, "--admin-secret-file", "testdata/cli/secret.txt")
			check(t, r, 64+int(iface.CodeAuthFailed), "not the server's admin secret")
			r = run(t, "conns", a, "--admin-secret-file", "testdata/cli/no-such-file")
			check(t, r, 2, "no-such-file")
			srv.logged(t, "a wrong operator proof")

			r = run(t, append([]string{"conns", a, "-o", "json"}, adminFlag...)...)
			check(t, r, 0)
			var list []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 1 {
				t.Fatalf("conns -o json: %q (%v)", r.stdout, err)
			}
			c := list[0]
			st, _ := c["stats"].(map[string]any)
			if c["connection_id"] != float64(conn.ID()) || c["client"] != "e2e-user" || c["interface"] != "db.kv" || st["received_messages"] != float64(2) {
				t.Fatalf("conns listed %v", c)
			}
			if peer, _ := c["peer"].(map[string]any); tr == "unix" && (peer == nil || peer["pid"] != float64(os.Getpid())) {
				t.Fatalf("conns: peer %v, want this process's credentials", c["peer"])
			}
			r = run(t, append([]string{"conns", a, "db.kv"}, adminFlag...)...)
			check(t, r, 0)
			if !strings.Contains(r.stdout, "e2e-user") || !strings.HasPrefix(r.stdout, "ID ") {
				t.Fatalf("conns text:\n%s", r.stdout)
			}
			r = run(t, append([]string{"conns", a, "no.such"}, adminFlag...)...)
			check(t, r, 64+int(iface.CodeUnknownInterface))

			r = run(t, append([]string{"pause", a, "db.kv", id}, adminFlag...)...)
			check(t, r, 0)
			if want := "connection " + id + " on db.kv: paused\n"; r.stdout != want {
				t.Fatalf("pause printed %q, want %q", r.stdout, want)
			}
			r = run(t, append([]string{"stats", a, "db.kv", id, "-o", "json"}, adminFlag...)...)
			check(t, r, 0)
			if recs := ndjson(t, r.stdout); len(recs) != 1 || recs[0]["paused"] != true || recs[0]["connection_id"] != float64(conn.ID()) {
				t.Fatalf("stats of the paused connection: %s", r.stdout)
			}
			r = run(t, append([]string{"resume", a, "db.kv", "--all", "-o", "json"}, adminFlag...)...)
			check(t, r, 0)
			if recs := ndjson(t, r.stdout); len(recs) != 1 || recs[0]["ok"] != true || recs[0]["op"] != "resume" {
				t.Fatalf("resume --all -o json: %s", r.stdout)
			}
			if _, err := conn.Call(ctx, "Get", json.RawMessage(`{"key":"k"}`)); err != nil {
				t.Fatalf("a call after resume: %v", err)
			}
			// One id the server does not have: reported, the others still done.
			r = run(t, append([]string{"pause", a, "db.kv", "99999", id}, adminFlag...)...)
			check(t, r, 64+int(iface.CodeNotFound), "connection 99999 on db.kv: the server refused: not_found")
			if want := "connection " + id + " on db.kv: paused\n"; r.stdout != want {
				t.Fatalf("pause with one bad id printed %q, want %q", r.stdout, want)
			}
			check(t, run(t, append([]string{"resume", a, "db.kv", id}, adminFlag...)...), 0)
			check(t, run(t, "pause", a, "db.kv"), 2, "needs the connection ids", "or --all")
			check(t, run(t, "pause", a, "db.kv", "x1"), 2, `connection id "x1"`)
			// db.kv offers reset; the mock has no position to move, so it succeeds.
			check(t, run(t, append([]string{"reset", a, "db.kv", id, "--position", "7"}, adminFlag...)...), 0)

			r = run(t, append([]string{"stats", a, "db.kv", "--server", "-o", "json"}, adminFlag...)...)
			check(t, r, 0)
			var ss struct {
				ConnectionsOpen uint64 `json:"connections_open"`
				Types           []struct {
					Type    string `json:"type"`
					Handled uint64 `json:"handled"`
				} `json:"types"`
				Refusals map[string]uint64 `json:"refusals"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &ss); err != nil {
				t.Fatalf("stats --server -o json: %q: %v", r.stdout, err)
			}
			handled := map[string]uint64{}
			for _, ty := range ss.Types {
				handled[ty.Type] = ty.Handled
			}
			if ss.ConnectionsOpen < 1 || handled["Get"] != 3 || ss.Refusals["auth_failed"] < 1 {
				t.Fatalf("stats --server: %s", r.stdout)
			}
			r = run(t, append([]string{"stats", a, "db.kv", "--server"}, adminFlag...)...)
			check(t, r, 0)
			for _, want := range []string{"connections", "TYPE", "HANDLED", "Get"} {
				if !strings.Contains(r.stdout, want) {
					t.Fatalf("stats --server text lacks %q:\n%s", want, r.stdout)
				}
			}
			check(t, run(t, "stats", a, "db.kv", "--server"), 64+int(iface.CodeAuthFailed), "needs the operator scope")

			r = run(t, append([]string{"close", a, "db.kv", id, "--reason", "maintenance"}, adminFlag...)...)
			check(t, r, 0)
			<-conn.Done()
			var ce *iface.CloseError
			if !errors.As(conn.Err(), &ce) || ce.Code != iface.CodeNormalClose || ce.Reason != "maintenance" {
				t.Fatalf("the user's connection ended with %v", conn.Err())
			}
			srv.stop(t)
			if strings.Contains(srv.stderr.String(), strings.TrimSpace(string(admin))) {
				t.Fatalf("the admin secret is in the server's log:\n%s", srv.stderr)
			}
		})
	}
}

// TestOperatorServeFlags: the admin secret must not be the shared one,
// --operator-cert-name needs a client CA, --log-format and --metrics say
// what is wrong with theirs.
func TestOperatorServeFlags(t *testing.T) {
	r := run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", "tcp://127.0.0.1:0", "--secret-file", "testdata/cli/secret.txt", "--admin-secret-file", "testdata/cli/secret.txt")
	check(t, r, 2, "the admin secret is the shared secret")
	r = run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", "tcp://127.0.0.1:0", "--operator-cert-name", "ops")
	check(t, r, 2, "--operator-cert-name needs --tls-client-ca")
	r = run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", "tcp://127.0.0.1:0", "--admin-secret-env", "IFKIT_NO_SUCH_VARIABLE")
	check(t, r, 2, "IFKIT_NO_SUCH_VARIABLE")
	r = run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", "tcp://127.0.0.1:0", "--log-format", "xml")
	check(t, r, 2, `--log-format "xml": want plain, text or json`)
	r = run(t, "serve", "testdata/manifests/db.kv.yaml", "--listen", "tcp://127.0.0.1:0", "--metrics", "256.0.0.1:1")
	check(t, r, 1, "--metrics: cannot listen on 256.0.0.1:1")
}
