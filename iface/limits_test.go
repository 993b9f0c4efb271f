package iface_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// A session with no open connection is closed after the idle timeout; one
// with a quiet but open connection is not.
func TestIdleTimeout(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		cfg := iface.DefaultConfig()
		cfg.IdleTimeout = 100 * time.Millisecond
		_, addr := serveConfig(t, transport, cfg, iface.Interface{Manifest: load(t, "sensors.temperature.yaml")})

		idle := dial(t, addr)
		select {
		case <-idle.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a session that opened nothing was not closed after the idle timeout")
		}

		busy := dial(t, addr)
		conn, err := busy.Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-busy.Done():
			t.Fatalf("a session with an open connection was closed as idle: %v", conn.Err())
		case <-time.After(4 * cfg.IdleTimeout):
		}
		conn.Close("done")
		select {
		case <-busy.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the session was not closed once its last connection closed and the idle timeout passed")
		}
	})
}

// The server holds at most MaxConnections connections: one more is refused
// with limit_exceeded, saying why, and the others go on; once one closes, a
// new one is accepted.
func TestMaxConnections(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		cfg := iface.DefaultConfig()
		cfg.MaxConnections = 2
		_, addr := serveConfig(t, transport, cfg, iface.Interface{Manifest: load(t, "logs.sink.yaml")})
		cl := dial(t, addr)
		var open []*iface.Conn
		for i := 0; i < 2; i++ {
			c, err := cl.Connect(ctx(t), "logs.sink")
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
		}
		_, err := cl.Connect(ctx(t), "logs.sink")
		var ce *iface.CloseError
		if !errors.As(err, &ce) || ce.Code != iface.CodeLimitExceeded || !strings.Contains(ce.Reason, "maximum of 2") {
			t.Fatalf("third Connect = %v, want limit_exceeded naming the maximum", err)
		}
		rec := []byte(`{"level":"info","message":"still here","time":"2026-11-22T10:00:00Z"}`)
		for _, c := range open {
			if err := c.Send(ctx(t), "Record", rec); err != nil {
				t.Fatalf("an accepted connection after the refusal: %v", err)
			}
		}
		open[0].Close("making room")
		<-open[0].Done()
		var again *iface.Conn
		for deadline := time.Now().Add(5 * time.Second); again == nil; time.Sleep(10 * time.Millisecond) {
			if again, err = cl.Connect(ctx(t), "logs.sink"); err != nil && time.Now().After(deadline) {
				t.Fatalf("no room after a connection closed: %v", err)
			}
		}
		again.Close("")
		open[1].Close("")
	})
}

func TestConfigValidate(t *testing.T) {
	for name, change := range map[string]func(*iface.Config){
		"HandshakeTimeout": func(c *iface.Config) { c.HandshakeTimeout = 0 },
		"StreamWindow":     func(c *iface.Config) { c.StreamWindow = 1024 },
		"IdleTimeout":      func(c *iface.Config) { c.IdleTimeout = -time.Second },
		"MaxStreams":       func(c *iface.Config) { c.MaxStreams = 0 },
	} {
		cfg := iface.DefaultConfig()
		change(&cfg)
		err := cfg.Validate()
		if err == nil || !contains(err.Error(), name) {
			t.Errorf("a bad %s: Validate said %v, want an error naming it", name, err)
		}
	}
	if err := iface.DefaultConfig().Validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
