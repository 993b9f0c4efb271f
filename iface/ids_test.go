package iface_test

import (
	"context"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

// TestIDsNotReusedAfterRestart: a server restarted on the same address
// never hands out an id its previous run did, so an id a client still holds
// from before cannot reach another client's connection.
func TestIDsNotReusedAfterRestart(t *testing.T) {
	seen := map[uint64]int{}
	for run := 1; run <= 3; run++ {
		s := iface.NewServer()
		if err := s.Register(sensors(t, 0)); err != nil {
			t.Fatal(err)
		}
		l, err := iface.Listen(context.Background(), "tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(l) }()
		cl, err := iface.Dial(ctx(t), l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			conn, err := cl.Connect(ctx(t), "sensors.temperature")
			if err != nil {
				t.Fatal(err)
			}
			if prev, ok := seen[conn.ID()]; ok {
				t.Fatalf("run %d handed out id %d, which run %d had", run, conn.ID(), prev)
			}
			if conn.ID() >= 1<<53 {
				t.Fatalf("id %d is not a safe JSON integer", conn.ID())
			}
			seen[conn.ID()] = run
			conn.Close("done")
		}
		cl.Close()
		s.Close()
		<-served
	}
}
