package iface

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// filesOutListener fails its first Accepts as a process out of file
// descriptors does (EMFILE), then accepts as its listener does.
type filesOutListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *filesOutListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: fmt.Errorf("accept4: %w", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Out of file descriptors, the server pauses accepting and goes on, says
// why to its refusal hook, and serves once descriptors are back: a flood
// of connections does not make Serve return (and ifctl serve exit).
func TestServeGoesOnOutOfFiles(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &filesOutListener{Listener: inner}
	l.fails.Store(3)
	refusals := make(chan Refusal, 8)
	s := NewServer(WithOnRefusal(func(r Refusal) { refusals <- r }))
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() {
		s.Close()
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, "tcp://"+inner.Addr().String())
	if err != nil {
		t.Fatalf("dialing after the server ran out of files: %v", err)
	}
	c.Close()
	select {
	case r := <-refusals:
		if r.Code != CodeLimitExceeded {
			t.Errorf("refusal %v", r)
		}
	case <-ctx.Done():
		t.Fatal("the refusal hook heard nothing")
	}
}
