package iface_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
)

// relay starts a relay with secret on a fresh TCP port and returns its
// address; it closes at the end of the test.
func relay(t *testing.T, opts ...iface.RelayOption) (*iface.Relay, string) {
	t.Helper()
	return relayOn(t, "tcp://127.0.0.1:0", nil, opts...)
}

// relayOn is relay on a listener of addr, with lo.
func relayOn(t *testing.T, addr string, lo []iface.ListenOption, opts ...iface.RelayOption) (*iface.Relay, string) {
	t.Helper()
	r := iface.NewRelay(opts...)
	l, err := iface.Listen(context.Background(), addr, lo...)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(l) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-served; err != iface.ErrServerClosed {
			t.Errorf("the relay's Serve returned %v", err)
		}
	})
	return r, l.Addr().String()
}

// serveThrough registers a server of ifaces with the relay under name and
// returns it; it stops at the end of the test.
func serveThrough(t *testing.T, relayAddr, name string, opts []iface.RelayServeOption, ifaces ...iface.Interface) *iface.Server {
	t.Helper()
	s := iface.NewServer()
	for _, i := range ifaces {
		if err := s.Register(i); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- s.ServeRelay(context.Background(), "tcp://"+relayAddr, name, opts...) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != iface.ErrServerClosed {
			t.Errorf("ServeRelay returned %v, want ErrServerClosed", err)
		}
	})
	return s
}

// waitServers waits until the relay lists want.
func waitServers(t *testing.T, ctl *iface.Control, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := ctl.Servers(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay lists %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRelay(t *testing.T) {
	secret := []byte("0123456789abcdef-relay")
	_, raddr := relay(t, iface.WithSecret(secret))
	rs := iface.WithRelaySecret(secret)

	watcher, err := iface.Dial(ctx(t), "relay://"+raddr+"/", rs)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	watch, err := watcher.Control(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	waitServers(t, watch)

	srv := serveThrough(t, raddr, "greenhouse", []iface.RelayServeOption{rs}, sensors(t, 5))
	waitServers(t, watch, "greenhouse")

	cl, err := iface.Dial(ctx(t), "relay://"+raddr+"/greenhouse", rs)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctl, err := cl.Control(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	infos, err := ctl.List(ctx(t))
	ctl.Close()
	if err != nil || len(infos) != 1 || infos[0].Name != "sensors.temperature" {
		t.Fatalf("list through the relay: %v, %v", infos, err)
	}
	conn, err := cl.Connect(ctx(t), "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if m, err := conn.Recv(ctx(t)); err != nil || m.Seq != uint64(i+1) {
			t.Fatalf("message %d through the relay: %v, %v", i, m, err)
		}
	}

	// Refusals: no such name, the wrong relay secret, none.
	if _, err := iface.Dial(ctx(t), "relay://"+raddr+"/nobody", rs); !errors.Is(err, iface.ErrRelay) || !errors.Is(err, iface.ErrConnect) {
		t.Errorf("dial of an unknown name: %v, want ErrRelay", err)
	}
	if _, err := iface.Dial(ctx(t), "relay://"+raddr+"/greenhouse", iface.WithRelaySecret([]byte("another-secret-of-16"))); iface.CodeOf(err) != iface.CodeAuthFailed {
		t.Errorf("dial with another relay secret: %v, want auth_failed", err)
	}
	if _, err := iface.Dial(ctx(t), "relay://"+raddr+"/greenhouse"); !errors.Is(err, iface.ErrRelaySecretRequired) || errors.Is(err, iface.ErrSecretRequired) {
		t.Errorf("dial without the relay secret: %v, want ErrRelaySecretRequired", err)
	}
	// A second server cannot take the name.
	dup := iface.NewServer()
	if err := dup.ServeRelay(ctx(t), "tcp://"+raddr, "greenhouse", rs); !errors.Is(err, iface.ErrRelay) {
		t.Errorf("a second server under the same name: %v, want ErrRelay", err)
	}
	dup.Close()

	// The server goes: the relay forgets it, and says so.
	srv.Close()
	waitServers(t, watch)
	forgotten := false
	for !forgotten {
		select {
		case n := <-watch.Notifications():
			if sc, ok := n.(*control.ServersChanged); ok && slices.Contains(sc.Forgotten, "greenhouse") {
				forgotten = true
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no ServersChanged forgetting greenhouse")
		}
	}
}

// TestRelayReregisters: a server whose relay restarts registers again by
// itself, and is reachable through the new relay.
func TestRelayReregisters(t *testing.T) {
	r1 := iface.NewRelay()
	l, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	go r1.Serve(l)
	var mu sync.Mutex
	var states []iface.RelayState
	srv := serveThrough(t, addr, "kv", []iface.RelayServeOption{iface.WithRelayBackoff(20*time.Millisecond, 200*time.Millisecond), iface.WithRelayState(func(s iface.RelayState) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	})}, sensors(t, 1))
	_ = srv
	reach := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			cl, err := iface.Dial(ctx(t), "relay://"+addr+"/kv")
			if err == nil {
				defer cl.Close()
				if _, err = cl.Connect(ctx(t), "sensors.temperature"); err == nil {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("kv not reachable through the relay: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	reach()
	r1.Close()
	l2, err := iface.Listen(context.Background(), "tcp://"+addr) // the same port
	if err != nil {
		t.Skipf("cannot listen on the relay's port again: %v", err)
	}
	r2 := iface.NewRelay()
	go r2.Serve(l2)
	defer r2.Close()
	reach()
	mu.Lock()
	defer mu.Unlock()
	registered := 0
	for _, s := range states {
		if s.Registered {
			registered++
		}
	}
	if registered < 2 {
		t.Errorf("registrations: %+v, want at least 2", states)
	}
}

// TestRelayTLSEndToEnd: with relay+tls:// the relay carries ciphertext
// only — a payload the client sends never appears in its bytes — while
// without TLS it does (the check can fail).
func TestRelayTLSEndToEnd(t *testing.T) {
	pki := relayPKI(t)
	serverTLS, clientTLS := pki.server, pki.client
	var mu sync.Mutex
	var seen bytes.Buffer
	_, raddr := relay(t, iface.WithRelayTap(func(b []byte) {
		mu.Lock()
		seen.Write(b)
		mu.Unlock()
	}))
	logs := iface.Interface{Manifest: load(t, "logs.sink.yaml")}
	got := make(chan string, 2)
	logs.CatchAll = func(_ context.Context, m *iface.Message) error {
		v, _ := m.JSON()
		got <- string(v)
		return nil
	}
	serveThrough(t, raddr, "plain", nil, logs)
	serveThrough(t, raddr, "secure", []iface.RelayServeOption{iface.WithRelayTLS(serverTLS)}, logs)
	for _, c := range []struct {
		addr   string
		secret string
		hidden bool
	}{
		{"relay://" + raddr + "/plain", "plaintext-needle-1", false},
		{"relay+tls://" + raddr + "/secure", "plaintext-needle-2", true},
	} {
		cl := dialEventually(t, c.addr, iface.WithTLS(clientTLS))
		conn, err := cl.Connect(ctx(t), "logs.sink", iface.WithCodec("json"))
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(map[string]string{"time": "2026-12-01T12:00:00Z", "level": "info", "message": c.secret})
		if err := conn.Send(ctx(t), "Record", json.RawMessage(rec)); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if !bytes.Contains([]byte(v), []byte(c.secret)) {
				t.Fatalf("the server received %s", v)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the server received nothing")
		}
		cl.Close()
		// The tap sees the bytes as the relay copies them, which may be
		// just after the server has read them: in plain text the needle
		// shows within a while.
		visible := false
		for deadline := time.Now().Add(5 * time.Second); ; {
			mu.Lock()
			visible = bytes.Contains(seen.Bytes(), []byte(c.secret))
			mu.Unlock()
			if visible || c.hidden || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if visible == c.hidden {
			t.Errorf("%s: the relay saw the payload: %v, want %v", c.addr, visible, !c.hidden)
		}
	}
}
