package data_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
)

// WaitCredit returns the room the peer's grants leave, and waits while
// there is none; WaitPeerConsumed returns once the peer's grant says it
// consumed more than the caller saw.
func TestWaitCreditAndPeerConsumed(t *testing.T) {
	m := load(t, "sensors.temperature")
	srv, cli := data.PipeForTest(t, m, data.Config{}, data.Config{Window: 4, AutoGrant: false})
	short, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	if n, err := srv.WaitCredit(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitCredit with no credit: %d, %v; want a timeout", n, err)
	}
	cli.Request(3)
	n, err := srv.WaitCredit(ctx(t))
	if err != nil || n != 3 {
		t.Fatalf("WaitCredit after a grant of 3: %d, %v", n, err)
	}
	reading := map[string]any{"probe": "p1", "celsius": 20.5, "time": "2026-11-22T09:30:00Z"}
	for range 2 {
		if err := srv.Send(ctx(t), "Reading", reading); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := srv.WaitCredit(ctx(t)); err != nil || n != 1 {
		t.Fatalf("WaitCredit after 2 of 3 sent: %d, %v", n, err)
	}
	got := make(chan uint64, 1)
	go func() {
		n, _ := srv.WaitPeerConsumed(ctx(t), 0)
		got <- n
	}()
	for range 2 {
		if _, err := cli.Recv(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	cli.Request(2) // the grant carries the consumed count
	if n := <-got; n != 2 {
		t.Fatalf("WaitPeerConsumed returned %d, want 2", n)
	}
	cli.Close("done")
	if _, err := srv.WaitPeerConsumed(ctx(t), 2); codes.Of(err) != codes.NormalClose {
		t.Fatalf("WaitPeerConsumed on a closed connection: %v", err)
	}
	if n, err := srv.WaitCredit(ctx(t)); codes.Of(err) != codes.NormalClose {
		t.Fatalf("WaitCredit on a closed connection: %d, %v", n, err)
	}
}

// A receiver closing normally reports what it consumed since its last
// grant (a CREDIT of 0 before its CLOSE): automatic grants come only once
// half the window is free, so without it 3 of 16 would never be known.
func TestCloseReportsConsumed(t *testing.T) {
	m := load(t, "sensors.temperature")
	srv, cli := data.PipeForTest(t, m, data.Config{}, data.Config{Window: 16, AutoGrant: true})
	reading := map[string]any{"probe": "p1", "celsius": 20.5, "time": "2026-11-22T09:30:00Z"}
	for range 3 {
		if err := srv.Send(ctx(t), "Reading", reading); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := cli.Recv(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.PeerConsumed(); n != 0 {
		t.Fatalf("PeerConsumed %d before the close; the window is not half free yet", n)
	}
	cli.Close("done")
	<-srv.Done()
	if n := srv.PeerConsumed(); n != 3 {
		t.Fatalf("PeerConsumed after the client's close: %d, want 3", n)
	}
}
