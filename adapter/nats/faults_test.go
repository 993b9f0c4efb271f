package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	natsad "github.com/ifkit/ifkit/adapter/nats"
	"github.com/ifkit/ifkit/iface"
)

// A consumer deleted under a connection ends it with not_found and a
// reason that names the consumer.
func TestFaultConsumerDeleted(t *testing.T) {
	w := newWorld(t, testConfig)
	conn, err := w.dial().Connect(ctxT(t), "t.feed")
	if err != nil {
		t.Fatal(err)
	}
	w.publishRaw(1, 1)
	if _, err := conn.Recv(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(w.own)
	if err := js.DeleteConsumer(ctxT(t), "T", "feed"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Recv(ctxT(t))
	if iface.CodeOf(err) != iface.CodeNotFound {
		t.Fatalf("after the consumer was deleted: %v; want not_found", err)
	}
	var ce *iface.CloseError
	if !asClose(err, &ce) || !contains(ce.Reason, "consumer feed of stream T") {
		t.Fatalf("reason %q does not name the consumer", err)
	}
}

// JetStream restarted mid-stream: the connection waits for it and goes
// on from where the consumer was; nothing consumed is lost.
func TestFaultJetStreamRestart(t *testing.T) {
	dir := t.TempDir()
	emb, err := natsad.StartEmbedded(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(emb.URL())
	port, _ := strconv.Atoi(u.Port())
	w := &world{t: t, emb: emb}
	w.start(testConfig, emb.URL())
	w.publishRaw(1, 5)
	conn, err := w.dial().Connect(ctxT(t), "t.feed", iface.WithCredits(2))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	recv := func(n int) {
		for range n {
			m, err := conn.Recv(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			d, _ := delivered(t, m)
			seen[d.Seq] = true
		}
	}
	recv(3)
	emb.Close()
	emb, err = natsad.StartEmbedded(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	w.publishRaw(6, 2)
	for len(seen) < 7 {
		recv(1)
	}
	for i := uint64(1); i <= 7; i++ {
		if !seen[i] {
			t.Fatalf("seq %d never delivered (seen %v)", i, seen)
		}
	}
	if conn.Err() != nil {
		t.Fatalf("the connection ended: %v", conn.Err())
	}
}

// A soak across the faults: messages published twice each (a forced
// re-send, some across a JetStream restart) are stored once each, and
// consumers killed at random points between delivery and consumption
// leave every message delivered at least once.
func TestSoakAtLeastOnceExactlyOnceStored(t *testing.T) {
	const n = 200
	dir := t.TempDir()
	emb, err := natsad.StartEmbedded(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(emb.URL())
	port, _ := strconv.Atoi(u.Port())
	w := &world{t: t, emb: emb}
	w.start(testConfig, emb.URL())
	t.Cleanup(func() { emb.Close() })

	publish := func(from, to int) {
		var refused refusals
		cl := w.dial()
		conn, err := cl.Connect(ctxT(t), "t.pub", iface.WithOnRefused(refused.add))
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			v, _ := json.Marshal(map[string]any{"id": itemID(i), "n": i})
			if err := conn.Send(ctxT(t), "Item", json.RawMessage(v)); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close("published")
		cl.Close()
		if r := refused.get(); len(r) > 0 {
			t.Fatalf("refused while JetStream was up: %v", r[0])
		}
	}
	seen := map[uint64]int{}
	consume := func(round int) {
		cl := w.dial()
		conn, err := cl.Connect(ctxT(t), "t.feed", iface.WithCredits(8))
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 5+round%17; k++ {
			ctx, cancel := context.WithTimeout(ctxT(t), 2*time.Second)
			m, err := conn.Recv(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				break // nothing to deliver now (the rest waits for its ack wait)
			}
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			d, _ := delivered(t, m)
			seen[d.Seq]++
		}
		if round%3 == 0 {
			conn.Close("done") // normal: the consumed count goes with the CLOSE
		}
		cl.Close() // otherwise killed, with messages delivered and not consumed
	}
	publish(0, n/2)
	publish(0, n/2) // every one re-sent
	round := 0
	for ; len(seen) < n/4; round++ {
		consume(round)
	}
	emb.Close() // restarted with messages stored, delivered, unacknowledged
	emb, err = natsad.StartEmbedded(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the adapter's connection back", func() bool { return w.nc.IsConnected() && w.own.IsConnected() })
	publish(n/4, n) // the second quarter re-sent across the restart
	publish(n/2, n)
	deadline := time.Now().Add(2 * time.Minute)
	for ; len(seen) < n && time.Now().Before(deadline); round++ {
		consume(round)
	}
	if got := w.streamMsgs("T"); got != n {
		t.Fatalf("stream T stores %d messages; want %d, each once", got, n)
	}
	for i := uint64(1); i <= n; i++ {
		if seen[i] == 0 {
			t.Fatalf("seq %d never delivered", i)
		}
	}
	again := 0
	for _, k := range seen {
		again += k - 1
	}
	t.Logf("%d messages stored once each, delivered %d times in %d connections (%d again)", n, n+again, round, again)
}

// JetStream gone for longer than WithOutage ends a consuming connection
// with transport_error and a reason saying for how long.
func TestFaultJetStreamGone(t *testing.T) {
	emb, err := natsad.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, emb: emb}
	w.start(testConfig, emb.URL(), natsad.WithOutage(time.Second))
	conn, err := w.dial().Connect(ctxT(t), "t.feed")
	if err != nil {
		t.Fatal(err)
	}
	w.publishRaw(1, 1)
	if _, err := conn.Recv(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	emb.Close()
	_, err = conn.Recv(ctxT(t))
	var ce *iface.CloseError
	if iface.CodeOf(err) != iface.CodeTransportError || !asClose(err, &ce) || !contains(ce.Reason, "JetStream has not answered for 1s") {
		t.Fatalf("with JetStream gone: %v; want transport_error saying it has not answered for 1s", err)
	}
}
