package iface_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// ticksManifest is a send interface of small raw messages; the server
// blocks when the client runs out of credit, so nothing is dropped.
func ticksManifest(t testing.TB) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("ticks.yaml", []byte(`
ifkit: 1
name: test.ticks
version: 1.0.0
direction: send
codecs: [raw]
messages:
  send:
    Tick: {description: "a counter, as decimal text"}
flow: {credits: 16, max_message_bytes: 64, on_exhausted: block}
`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestPeerProcess is not a test: it is the peer process the fault tests
// start (and kill or stop). It reads ticks and prints each one's sequence
// number once it has it.
func TestPeerProcess(t *testing.T) {
	addr := os.Getenv("IFKIT_TEST_PEER_ADDR")
	if addr == "" {
		t.Skip("only run as the fault tests' peer process")
	}
	c, err := iface.Dial(context.Background(), addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn, err := c.Connect(context.Background(), "test.ticks")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for {
		m, err := conn.Recv(context.Background())
		if err != nil {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stdout, m.Seq) // unbuffered: one write per line
	}
}

// startPeer starts the peer process against addr and returns it with a
// channel of the sequence numbers it prints (closed when it exits).
func startPeer(t *testing.T, addr string) (*exec.Cmd, <-chan uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IFKIT_TEST_PEER_ADDR="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	seqs := make(chan uint64, 1<<16)
	go func() {
		defer close(seqs)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err == nil {
				seqs <- n
			}
		}
	}()
	return cmd, seqs
}

// serveTicks serves test.ticks, sending ticks to each connection until it
// ends, and hands over the server side of each connection.
func serveTicks(t *testing.T, transport string, cfg iface.Config) (string, <-chan *iface.Conn) {
	conns := make(chan *iface.Conn, 1)
	_, addr := serveConfig(t, transport, cfg, iface.Interface{
		Manifest: ticksManifest(t),
		OnConnect: func(ctx context.Context, c *iface.Conn) {
			conns <- c
			for i := 1; ctx.Err() == nil; i++ {
				if err := c.Send(ctx, "Tick", []byte(strconv.Itoa(i))); err != nil {
					return
				}
			}
		},
	})
	if transport == "tcp" {
		addr = "tcp://" + addr
	}
	return addr, conns
}

// A peer killed mid-stream (SIGKILL) ends the connection with
// transport_error at once, and the sender knows which messages the peer
// consumed: every one up to PeerConsumed.
func TestKilledPeer(t *testing.T) {
	forEachSocket(t, func(t *testing.T, transport string) {
		addr, conns := serveTicks(t, transport, iface.DefaultConfig())
		cmd, seqs := startPeer(t, addr)
		sc := <-conns
		var last uint64
		for last < 500 {
			n, ok := <-seqs
			if !ok {
				t.Fatal("the peer process exited early")
			}
			if n != last+1 {
				t.Fatalf("the peer received %d after %d", n, last)
			}
			last = n
		}
		killed := time.Now()
		cmd.Process.Signal(syscall.SIGKILL)
		for n := range seqs { // what it printed before it died
			last = n
		}
		select {
		case <-sc.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the connection to a killed peer did not end")
		}
		if !errors.Is(sc.Err(), iface.ErrTransport) {
			t.Errorf("ended with %v, want transport_error", sc.Err())
		}
		// The peer may be killed between taking a message and printing it.
		if got := sc.PeerConsumed(); got == 0 || got > last+1 {
			t.Errorf("PeerConsumed = %d; the peer printed up to %d", got, last)
		}
		t.Logf("SIGKILL → connection ended after %v with %v; PeerConsumed %d, the peer printed up to %d",
			time.Since(killed).Round(time.Millisecond), sc.Err(), sc.PeerConsumed(), last)
	})
}

// A stopped peer (SIGSTOP) cannot close anything: the connection ends with
// keepalive_timeout, within the keepalive interval plus the write timeout.
func TestStoppedPeer(t *testing.T) {
	forEachSocket(t, func(t *testing.T, transport string) {
		cfg := iface.DefaultConfig()
		cfg.KeepAliveInterval = 100 * time.Millisecond
		cfg.ConnectionWriteTimeout = 200 * time.Millisecond
		addr, conns := serveTicks(t, transport, cfg)
		cmd, seqs := startPeer(t, addr)
		sc := <-conns
		for n := range seqs {
			if n >= 100 {
				break
			}
		}
		stopped := time.Now()
		cmd.Process.Signal(syscall.SIGSTOP)
		defer cmd.Process.Signal(syscall.SIGCONT)
		select {
		case <-sc.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the connection to a stopped peer did not end")
		}
		if !errors.Is(sc.Err(), iface.ErrKeepaliveTimeout) {
			t.Errorf("ended with %v, want keepalive_timeout", sc.Err())
		}
		if sc.PeerConsumed() < 100-16 {
			t.Errorf("PeerConsumed = %d; the peer had taken at least 100", sc.PeerConsumed())
		}
		t.Logf("SIGSTOP → connection ended after %v (keepalive %v + write timeout %v) with %v; PeerConsumed %d",
			time.Since(stopped).Round(time.Millisecond), cfg.KeepAliveInterval, cfg.ConnectionWriteTimeout, sc.Err(), sc.PeerConsumed())
	})
}

// A server restarted on the same address: the client's connection ends
// with the reason the old server gave, and a new Dial reaches the new one.
func TestServerRestarted(t *testing.T) {
	forEachSocket(t, func(t *testing.T, transport string) {
		addr := "tcp://127.0.0.1:0"
		if transport == "unix" {
			dir, err := os.MkdirTemp("", "ifk")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			addr = "unix://" + dir + "/s.sock"
		}
		start := func() *iface.Server {
			s := iface.NewServer()
			if err := s.Register(iface.Interface{Manifest: ticksManifest(t)}); err != nil {
				t.Fatal(err)
			}
			l, err := iface.Listen(ctx(t), addr)
			if err != nil {
				t.Fatal(err)
			}
			if transport == "tcp" {
				addr = "tcp://" + l.Addr().String() // the same port again
			}
			go s.Serve(l)
			return s
		}
		old := start()
		c := dial(t, addr)
		conn, err := c.Connect(ctx(t), "test.ticks")
		if err != nil {
			t.Fatal(err)
		}
		old.Close()
		<-conn.Done()
		if !errors.Is(conn.Err(), iface.ErrDraining) {
			t.Errorf("the connection to a closed server ended with %v, want draining", conn.Err())
		}
		restarted := start()
		defer restarted.Close()
		c2 := dial(t, addr)
		if _, err := c2.Connect(ctx(t), "test.ticks"); err != nil {
			t.Fatalf("the restarted server: %v", err)
		}
	})
}
