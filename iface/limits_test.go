package iface_test

import (
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
