package iface_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// TestOnRefusalHearsEveryRefusal: the server's refusal hook hears each
// session and stream it turns away, with the code the peer was told and a
// reason that says what was wrong; a refused peer never costs another.
func TestOnRefusalHearsEveryRefusal(t *testing.T) {
	forEachSocket(t, func(t *testing.T, tr string) {
		refusals := make(chan iface.Refusal, 16)
		hook := iface.WithOnRefusal(func(r iface.Refusal) { refusals <- r })
		cfg := iface.DefaultConfig()
		cfg.MaxConnections = 1
		_, addr := serveOptions(t, tr, []iface.ServerOption{iface.WithConfig(cfg), hook}, sensors(t, 0))
		next := func(what string) iface.Refusal {
			t.Helper()
			select {
			case r := <-refusals:
				return r
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: the hook heard nothing", what)
				return iface.Refusal{}
			}
		}
		raw := func(b []byte) {
			network, a := "tcp", addr
			if p, ok := strings.CutPrefix(addr, "unix://"); ok {
				network, a = "unix", p
			}
			c, err := net.Dial(network, a)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(b)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.Read(make([]byte, 16))
		}

		raw([]byte("GET / HTTP/1.1\r\n\r\n"))
		if r := next("HTTP"); r.Code != iface.CodeProtocolError || !strings.Contains(r.Reason, "HTTP") {
			t.Errorf("an HTTP request: %v", r)
		}
		raw([]byte{'I', 'F', 'K', 'T', 99, 0, 0, 0})
		if r := next("version"); r.Code != iface.CodeUnsupportedVersion || !strings.Contains(r.Reason, "version 99") {
			t.Errorf("another protocol version: %v", r)
		}

		cl := dial(t, addr)
		if _, err := cl.Connect(ctx(t), "no.such.thing"); !errors.Is(err, iface.ErrUnknownInterface) {
			t.Fatalf("Connect to an unknown interface: %v", err)
		}
		if r := next("unknown interface"); r.Code != iface.CodeUnknownInterface || r.Interface != "no.such.thing" || !strings.Contains(r.String(), "(no.such.thing): unknown_interface") {
			t.Errorf("an unknown interface: %v", r)
		}

		if _, err := cl.Connect(ctx(t), "sensors.temperature"); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Connect(ctx(t), "sensors.temperature"); err == nil {
			t.Fatal("a connection over MaxConnections was accepted")
		}
		if r := next("limit"); r.Code != iface.CodeLimitExceeded || !strings.Contains(r.Reason, "maximum of 1 connections") {
			t.Errorf("over MaxConnections: %v", r)
		}
		select {
		case r := <-refusals:
			t.Errorf("an unexpected refusal: %v", r)
		default:
		}
	})
}
