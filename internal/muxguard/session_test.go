package muxguard_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/internal/muxguard"
)

// -unguarded runs TestPingFloodEndsSession with yamux straight on the
// socket, to see the flood the guard exists for (the test then fails).
var unguarded = flag.Bool("unguarded", false, "run the ping flood against a bare yamux session (expect failure)")

// floodBound is how long the flooded session may last: far beyond the
// milliseconds it takes, so that a loaded machine does not fail it; without
// the guard it never ends.
const floodBound = time.Minute

// TestPingFloodEndsSession: a peer that writes Ping requests in a loop
// and never reads gets its session ended by the guard, at once and with
// the guard's error as the session's cause, while the server holds no more
// goroutines than yamux's own three and one reply per Ping of the burst.
func TestPingFloodEndsSession(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		srvRaw, cliRaw := tr.pair(t)
		cfg := muxguard.DefaultConfig()
		guard := newGuard(t, srvRaw, cfg)
		base := runtime.NumGoroutine()
		var sess *yamux.Session
		var err error
		if *unguarded {
			sess, err = yamux.Server(srvRaw, ifkitYamux(15*time.Second))
		} else {
			sess, err = yamux.Server(guard, ifkitYamux(15*time.Second))
		}
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()

		flooded := make(chan struct{})
		go func() { // the attacker: writes, never reads
			defer close(flooded)
			burst := pings(256)
			for {
				if _, err := cliRaw.Write(burst); err != nil {
					return
				}
			}
		}()
		defer func() { cliRaw.Close(); <-flooded }()

		start := time.Now()
		peak := 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		timeout := time.NewTimer(floodBound)
		defer timeout.Stop()
	wait:
		for {
			select {
			case <-sess.CloseChan():
				break wait
			case <-tick.C:
				peak = max(peak, runtime.NumGoroutine()-base)
			case <-timeout.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				t.Fatalf("the flooded session is still open after %v; the server's goroutines grew by up to %d, heap in use %d MiB",
					floodBound, max(peak, runtime.NumGoroutine()-base), ms.HeapInuse>>20)
			}
		}
		took := time.Since(start)

		_, cause := sess.AcceptStream()
		var gerr *muxguard.Error
		if !errors.As(cause, &gerr) {
			t.Fatalf("the session ended with %v; want the guard's *muxguard.Error", cause)
		}
		if guard.Err() != cause {
			t.Errorf("guard.Err() = %v; want the session's cause %v", guard.Err(), cause)
		}
		// 1 attacker, yamux's recv, send and keepalive loops, at most one
		// reply goroutine per Ping the bucket let through, and slack for
		// the transport's own.
		if bound := 1 + 3 + cfg.PingBurst + 4; peak > bound {
			t.Errorf("the server's goroutines grew by %d under the flood; want at most %d", peak, bound)
		}
		t.Logf("session ended after %v (%s); %d Ping requests counted; goroutines peaked at +%d",
			took.Round(time.Microsecond), gerr.Reason, guard.Pings(), peak)
	})
}

// TestBurstHoldsBoundedGoroutines: a peer that sends a whole burst of
// Ping requests and never reads makes the server hold at most one reply
// goroutine per Ping of the burst; the next Ping ends the session and they
// all exit. The burst is larger than yamux's send queue (64) so that, over
// a pipe, the replies really wait.
func TestBurstHoldsBoundedGoroutines(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		srvRaw, cliRaw := tr.pair(t)
		cfg := muxguard.DefaultConfig()
		cfg.PingBurst = 200
		guard := newGuard(t, srvRaw, cfg)
		base := runtime.NumGoroutine()
		sess, err := yamux.Server(guard, ifkitYamux(15*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if _, err := cliRaw.Write(pings(cfg.PingBurst)); err != nil {
			t.Fatal(err)
		}
		// Let the replies start and settle.
		peak := 0
		for range 50 {
			time.Sleep(2 * time.Millisecond)
			peak = max(peak, runtime.NumGoroutine()-base)
		}
		if bound := 3 + cfg.PingBurst + 4; peak > bound {
			t.Errorf("%d Ping requests made the server's goroutines grow by %d; want at most %d", cfg.PingBurst, peak, bound)
		}
		if guard.Err() != nil || sess.IsClosed() {
			t.Fatalf("a burst within the limit ended the session: %v", guard.Err())
		}
		wrote := make(chan error, 1)
		go func() { _, err := cliRaw.Write(pingReq(0)); wrote <- err }()
		select {
		case <-sess.CloseChan():
		case <-time.After(floodBound):
			t.Fatalf("the session is still open %v after a Ping over the limit", floodBound)
		}
		cliRaw.Close()
		<-wrote
		if guard.Err() == nil {
			t.Fatal("the session ended, but not by the guard")
		}
		t.Logf("%d Ping requests held +%d goroutines; Ping %d ended the session", cfg.PingBurst, peak, guard.Pings())
	})
}

// TestKeepaliveSessionKeepsWorking: a normal yamux client, with keepalive
// on at 300 ms (faster than any real configuration, within the default
// limit) and a burst of RTT pings, streams data whose bytes look like Ping
// requests through a guarded server for over a second; nothing trips.
func TestKeepaliveSessionKeepsWorking(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		t.Cleanup(func() { goleak.VerifyNone(t) })
		srvRaw, cliRaw := tr.pair(t)
		guard := newGuard(t, srvRaw, muxguard.DefaultConfig())
		srv, err := yamux.Server(guard, ifkitYamux(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		cli, err := yamux.Client(cliRaw, ifkitYamux(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		var echoes sync.WaitGroup
		echoes.Add(1)
		go func() { // the server: echoes every stream
			defer echoes.Done()
			for {
				st, err := srv.AcceptStream()
				if err != nil {
					return
				}
				echoes.Add(1)
				go func() {
					defer echoes.Done()
					io.Copy(st, st)
					st.Close()
				}()
			}
		}()
		defer func() { cli.Close(); srv.Close(); echoes.Wait() }()

		const rtt = 8
		for i := range rtt {
			if _, err := cli.Ping(); err != nil {
				t.Fatalf("RTT ping %d: %v", i, err)
			}
		}
		payload := bytes.Repeat(pingReq(1), 256<<10/12) // 3 MiB of Ping look-alikes
		start := time.Now()
		var streams sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			streams.Add(1)
			go func() {
				defer streams.Done()
				for time.Since(start) < 1200*time.Millisecond {
					if err := echo(cli, payload); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		streams.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err := guard.Err(); err != nil || srv.IsClosed() || cli.IsClosed() {
			t.Fatalf("guard.Err() = %v, server closed %v, client closed %v; want nil, false, false", err, srv.IsClosed(), cli.IsClosed())
		}
		if _, err := cli.Ping(); err != nil {
			t.Fatalf("a ping at the end: %v", err)
		}
		// The RTT pings, the last one and at least two keepalives.
		if n := guard.Pings(); n < rtt+1+2 {
			t.Errorf("guard.Pings() = %d; want at least %d", n, rtt+3)
		}
	})
}

// echo sends payload on a new stream of sess and checks it comes back.
func echo(sess *yamux.Session, payload []byte) error {
	st, err := sess.OpenStream()
	if err != nil {
		return err
	}
	defer st.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := st.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	_, rerr := io.ReadFull(st, got)
	if err := errors.Join(<-werr, rerr); err != nil {
		return err
	}
	if !bytes.Equal(got, payload) {
		return errors.New("the echo differs from what was sent")
	}
	return nil
}
