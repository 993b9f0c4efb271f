package nats

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultEmbeddedReady bounds how long StartEmbedded waits for its server
// to accept connections.
const DefaultEmbeddedReady = 10 * time.Second

// Embedded is a NATS server with JetStream running in this process, for
// when there is no server to use: it listens on a loopback port and keeps
// its streams in a folder of its own.
type Embedded struct {
	srv    *server.Server
	dir    string
	remove bool // the folder is ours: Close removes it
}

// StartEmbedded starts a NATS server with JetStream in this process,
// listening on 127.0.0.1 (port 0: one the system picks), storing its
// streams under dir. With dir "" it makes a temporary folder, which Close
// removes; a folder given is kept, and the streams in it live on.
func StartEmbedded(dir string, port int) (*Embedded, error) {
	e := &Embedded{dir: dir}
	if dir == "" {
		d, err := os.MkdirTemp("", "ifkit-nats-")
		if err != nil {
			return nil, fmt.Errorf("embedded NATS server: %w", err)
		}
		e.dir, e.remove = d, true
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "ifkit-embedded",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   e.dir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		e.cleanup()
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	e.srv = srv
	srv.Start()
	if !srv.ReadyForConnections(DefaultEmbeddedReady) {
		e.Close()
		return nil, fmt.Errorf("embedded NATS server: not ready within %v", DefaultEmbeddedReady)
	}
	return e, nil
}

// URL is the address clients connect to (nats://127.0.0.1:PORT).
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Dir is the folder the server keeps its streams in.
func (e *Embedded) Dir() string { return e.dir }

// Close shuts the server down, waits until it has stopped, and removes
// its folder if StartEmbedded made it.
func (e *Embedded) Close() error {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
	return e.cleanup()
}

func (e *Embedded) cleanup() error {
	if !e.remove {
		return nil
	}
	if err := os.RemoveAll(e.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded NATS server: removing %s: %w", e.dir, err)
	}
	return nil
}
