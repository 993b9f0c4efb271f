package iface_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/testpki"
)

var adminSecret = []byte("an-admin-secret-of-32-bytes-long")

// An operator (the admin secret proved on a control stream) lists every
// session's connections and acts on another client's; without the secret,
// or with a wrong one, the same requests are refused with a reason.
func TestOperatorScope(t *testing.T) {
	forEachSocket(t, func(t *testing.T, tr string) {
		var resets atomic.Int32
		refusals := make(chan iface.Refusal, 8)
		srv, addr := serveOptions(t, tr, []iface.ServerOption{
			iface.WithAdminSecret(adminSecret),
			iface.WithOnRefusal(func(r iface.Refusal) { refusals <- r }),
		}, kv(t, &resets))
		user, err := iface.Dial(ctx(t), addr, iface.WithClientName("the-user"))
		if err != nil {
			t.Fatal(err)
		}
		defer user.Close()
		conn, err := user.Connect(ctx(t), "db.kv", iface.WithCodec("json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"a", "b"} {
			if _, err := conn.Call(ctx(t), "Get", json.RawMessage(`{"key":"`+key+`"}`)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.Call(ctx(t), "Put", json.RawMessage(`{"key":"a","value":"eA=="}`)); iface.CodeOf(err) != iface.CodeInternal {
			t.Fatalf("Put = %v, want internal", err)
		}

		other := dial(t, addr)
		ctl, err := other.Control(ctx(t), "db.kv")
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		if _, err := ctl.Connections(ctx(t), ""); iface.CodeOf(err) != iface.CodeAuthFailed || !strings.Contains(err.Error(), "admin secret") {
			t.Fatalf("Connections without the secret: %v, want auth_failed naming the admin secret", err)
		}
		if err := ctl.Conn(conn.ID()).Pause(ctx(t)); iface.CodeOf(err) != iface.CodeNotFound {
			t.Fatalf("Pause of another session's connection: %v, want not_found", err)
		}

		wrong, err := other.Control(ctx(t), "db.kv")
		if err != nil {
			t.Fatal(err)
		}
		defer wrong.Close()
		if err := wrong.Operator(ctx(t), []byte("not-the-admin-secret-at-all")); iface.CodeOf(err) != iface.CodeAuthFailed {
			t.Fatalf("Operator with a wrong secret: %v, want auth_failed", err)
		}
		select {
		case r := <-refusals:
			if r.Code != iface.CodeAuthFailed || strings.Contains(r.Reason, "not-the-admin") || strings.Contains(r.Reason, string(adminSecret)) {
				t.Fatalf("refusal reported as %v", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a wrong operator proof was not reported")
		}

		if err := ctl.Operator(ctx(t), adminSecret); err != nil {
			t.Fatalf("Operator: %v", err)
		}
		list, err := ctl.Connections(ctx(t), "db.kv")
		if err != nil || len(list) != 1 {
			t.Fatalf("Connections = %+v, %v", list, err)
		}
		c := list[0]
		if c.Stats.ConnectionID != conn.ID() || c.Client != "the-user" || c.Codec != "json" || c.Stats.ReceivedMessages != 3 || c.Stats.SentMessages != 2 {
			t.Fatalf("connection listed as %+v", c)
		}
		if tr == "unix" && (c.Peer == nil || c.Peer.UID != uint32(os.Getuid()) || c.Peer.PID != int32(os.Getpid())) {
			t.Fatalf("peer credentials %+v, want this process's", c.Peer)
		}
		if tr == "tcp" && (c.Peer != nil || !strings.HasPrefix(c.Remote, "127.0.0.1:")) {
			t.Fatalf("a TCP peer listed with %+v from %q", c.Peer, c.Remote)
		}
		if none, err := ctl.Connections(ctx(t), "sensors.temperature"); err != nil || len(none) != 0 {
			t.Fatalf("Connections of another interface = %+v, %v", none, err)
		}
		if st, err := ctl.Conn(conn.ID()).Stats(ctx(t)); err != nil || st.ReceivedMessages != 3 {
			t.Fatalf("Stats of the user's connection: %+v, %v", st, err)
		}
		if err := ctl.Conn(conn.ID()).Reset(ctx(t), ""); err != nil || resets.Load() != 1 {
			t.Fatalf("Reset of the user's connection: %v (%d resets)", err, resets.Load())
		}

		stats, err := ctl.ServerStats(ctx(t), "db.kv")
		if err != nil || len(stats.Interfaces) != 1 {
			t.Fatalf("ServerStats = %+v, %v", stats, err)
		}
		is := stats.Interfaces[0]
		if is.Open != 1 || is.Opened != 1 || is.Totals.ReceivedMessages != 3 {
			t.Fatalf("interface stats %+v", is)
		}
		byType := map[string]iface.TypeStats{}
		for _, ty := range is.Types {
			byType[ty.Type] = ty
		}
		if g := byType["Get"]; g.Handled != 2 || g.Errors != 0 || g.Processing <= 0 {
			t.Fatalf("Get's stats %+v", g)
		}
		if p := byType["Put"]; p.Handled != 1 || p.Errors != 1 || p.LastError != "read-only store" {
			t.Fatalf("Put's stats %+v", p)
		}
		if stats.Refusals[iface.CodeAuthFailed] != 1 {
			t.Fatalf("refusals %v, want the wrong proof", stats.Refusals)
		}

		if err := ctl.Conn(conn.ID()).Close(ctx(t), "maintenance"); err != nil {
			t.Fatalf("Close of the user's connection: %v", err)
		}
		<-conn.Done()
		var ce *iface.CloseError
		if !errors.As(conn.Err(), &ce) || ce.Code != iface.CodeNormalClose || ce.Reason != "maintenance" {
			t.Fatalf("the user's connection ended with %v", conn.Err())
		}
		// Ended connections stay in the server's counters.
		eventually(t, func() bool {
			is := srv.Stats().Interfaces[0]
			return is.Open == 0 && is.Ended[iface.CodeNormalClose] == 1 && is.Totals.ReceivedMessages == 3
		})
	})
}

// A session whose client certificate names an operator has the scope on
// every control stream; another certificate of the same CA does not.
func TestOperatorCertificate(t *testing.T) {
	p := testpki.New(t)
	mutual, err := iface.ServerTLS(p.ServerCert, p.ServerKey, p.CA)
	if err != nil {
		t.Fatal(err)
	}
	client, err := iface.ClientTLS(p.CA, p.ClientCert, p.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		names    []string
		operator bool
	}{{[]string{testpki.ClientName}, true}, {[]string{"someone-else"}, false}} {
		addr := serveWith(t, "tls://127.0.0.1:0", []iface.ListenOption{iface.WithServerTLS(mutual)}, iface.WithOperatorCertNames(c.names...))
		cl, err := iface.Dial(ctx(t), addr, iface.WithTLS(client))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := cl.Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := cl.Control(ctx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		list, err := ctl.Connections(ctx(t), "")
		switch {
		case c.operator && (err != nil || len(list) != 1 || list[0].TLSName != testpki.ClientName):
			t.Errorf("operator names %v: Connections = %+v, %v", c.names, list, err)
		case !c.operator && iface.CodeOf(err) != iface.CodeAuthFailed:
			t.Errorf("operator names %v: Connections = %+v, %v, want auth_failed", c.names, list, err)
		}
		ctl.Close()
		conn.Close("")
		cl.Close()
	}
}

// eventually waits up to 10 s for ok.
func eventually(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not within 10 s")
		}
	}
}
