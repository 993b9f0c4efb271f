package iface_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

const soakManifest = `
ifkit: 1
name: soak.counter
version: 1.0.0
direction: duplex
flow: {credits: 16, max_message_bytes: 1024}
messages:
  recv:
    Up: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
  send:
    Down: {schema: {type: object, required: [n], properties: {n: {type: integer}}}}
`

// soakSize is the number of connections and the messages each sends each
// way: small by default, IFKIT_SOAK=conns,messages for the full size
// (RELIABILITY.md uses IFKIT_SOAK=2000,1000).
func soakSize(t *testing.T) (conns, msgs int) {
	conns, msgs = 200, 50
	if v := os.Getenv("IFKIT_SOAK"); v != "" {
		if _, err := fmt.Sscanf(v, "%d,%d", &conns, &msgs); err != nil {
			t.Fatalf("IFKIT_SOAK=%q: want conns,messages", v)
		}
	}
	return conns, msgs
}

// goroutineDescriptorBytes bounds what the runtime keeps per goroutine it
// ever ran: a runtime.g (480 bytes in Go 1.26, a 512-byte size class) and its
// slot in the list of all goroutines.
const goroutineDescriptorBytes = 512 + 8

// sampleGoroutinePeak returns the goroutine count now and a function that
// stops sampling and returns the highest count seen since.
func sampleGoroutinePeak() (now int, stop func() int) {
	now = runtime.NumGoroutine()
	done, result := make(chan struct{}), make(chan int)
	go func() {
		peak := now
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, runtime.NumGoroutine())
			select {
			case <-done:
				result <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return now, func() int { close(done); return <-result }
}

func heapInUse() uint64 {
	// Twice: sync.Pool keeps what it held through one collection.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSoak runs many connections at once, each streaming numbered messages
// both ways under credits. Every message must arrive once, in order, on both
// ends; the server's memory must come back to its baseline afterwards.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test skipped in -short mode")
	}
	conns, msgs := soakSize(t)
	m, err := manifest.Parse("soak.yaml", []byte(soakManifest))
	if err != nil {
		t.Fatal(err)
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		var (
			mu       sync.Mutex
			upSeen   = map[uint64]int{} // connection → next expected n from the client
			problems []string
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			problems = append(problems, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		i := iface.Interface{
			Manifest: m,
			Handlers: map[string]iface.Handler{"Up": func(ctx context.Context, msg *iface.Message) error {
				var v struct{ N int }
				if err := msg.Decode(&v); err != nil {
					fail("server decode: %v", err)
					return err
				}
				mu.Lock()
				want := upSeen[msg.Conn().ID()]
				upSeen[msg.Conn().ID()] = want + 1
				mu.Unlock()
				if v.N != want || msg.Seq != uint64(want+1) {
					fail("conn %d: got n=%d seq=%d, want n=%d", msg.Conn().ID(), v.N, msg.Seq, want)
				}
				return nil
			}},
			OnConnect: func(ctx context.Context, c *iface.Conn) {
				for n := 0; n < msgs; n++ {
					if err := c.Send(ctx, "Down", json.RawMessage(`{"n":`+strconv.Itoa(n)+`}`)); err != nil {
						return
					}
				}
			},
		}
		// Thousands of dials at once on a loaded machine (CI beside other
		// builds: a load of 30 on 2 cores) can take longer than the default
		// 10 s handshake timeout: the test is about loss, not handshake speed,
		// so both ends allow two minutes.
		cfg := iface.DefaultConfig()
		cfg.HandshakeTimeout = 2 * time.Minute
		// And yamux's write timeout: at that load a session's writes
		// waited past the default 10 s ("connection write timeout").
		cfg.ConnectionWriteTimeout = 2 * time.Minute
		_, addr := serveConfig(t, tr, cfg, i)
		baseline, baseGoroutines := heapInUse(), runtime.NumGoroutine()

		// The runtime keeps every goroutine descriptor it ever made (some
		// 500 bytes each) for reuse: that much of the heap stays after the
		// clients leave, once, at the run's peak goroutine count. Sample
		// the peak so the check below allows exactly that and no more.
		peak, stopSampling := sampleGoroutinePeak()
		start := time.Now()
		// Generous: a loaded 2-core machine moves some 30 000 JSON messages
		// a second through all connections; the test is about loss, not speed.
		budget := time.Minute + time.Duration(conns*msgs)*100*time.Microsecond
		var wg sync.WaitGroup
		for k := 0; k < conns; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), budget)
				defer cancel()
				c, err := iface.Dial(ctx, addr, iface.WithConfig(cfg))
				if err != nil {
					fail("dial: %v", err)
					return
				}
				defer c.Close()
				conn, err := c.Connect(ctx, "soak.counter")
				if err != nil {
					fail("connect: %v", err)
					return
				}
				defer conn.Close("soak done")
				sendErr := make(chan error, 1)
				go func() {
					for n := 0; n < msgs; n++ {
						if err := conn.Send(ctx, "Up", json.RawMessage(`{"n":`+strconv.Itoa(n)+`}`)); err != nil {
							sendErr <- err
							return
						}
					}
					sendErr <- nil
				}()
				for n := 0; n < msgs; n++ {
					msg, err := conn.Recv(ctx)
					if err != nil {
						fail("recv %d: %v", n, err)
						return
					}
					var v struct{ N int }
					if err := msg.Decode(&v); err != nil || v.N != n || msg.Seq != uint64(n+1) {
						fail("client got n=%d seq=%d (%v), want n=%d", v.N, msg.Seq, err, n)
						return
					}
				}
				if err := <-sendErr; err != nil {
					fail("send: %v", err)
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		peakGoroutines := stopSampling()
		if len(problems) > 0 {
			t.Fatalf("%d problems, first: %s", len(problems), problems[0])
		}
		// The server got every message of every connection: count them once
		// the last handlers have run.
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			total, complete := 0, len(upSeen) == conns
			for _, n := range upSeen {
				total += n
				complete = complete && n == msgs
			}
			mu.Unlock()
			if complete {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("server received %d of %d messages from %d connections", total, conns*msgs, len(upSeen))
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Sessions close asynchronously after the clients leave.
		for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > baseGoroutines && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > baseGoroutines {
			t.Errorf("%d goroutines after the clients left, %d before", n, baseGoroutines)
		}
		after := heapInUse()
		descriptors := uint64(max(0, peakGoroutines-peak)) * goroutineDescriptorBytes
		t.Logf("%s: %d connections × %d messages each way in %v; server+client heap %d KiB before, %d KiB after (%d goroutines at the peak, whose descriptors the runtime keeps: at most %d KiB)",
			tr, conns, msgs, elapsed.Round(time.Millisecond), baseline>>10, after>>10, peakGoroutines, descriptors>>10)
		if after > baseline+descriptors+4<<20 {
			t.Errorf("memory did not return to its baseline: %d KiB before, %d KiB after the clients left (%d KiB of it goroutine descriptors)", baseline>>10, after>>10, descriptors>>10)
		}
	})
}
