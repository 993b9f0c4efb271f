package nats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/iface"
)

// benchConfig has one stream B, a consume interface per consumer name and
// a publish interface with ids.
func benchConfig(consumer string) string {
	return fmt.Sprintf(`
streams: [{name: B, subjects: ["b.>"], storage: memory}]
types:
  Item: {schema: {type: object, required: [id], properties: {id: {type: string}, n: {type: integer}}}}
consume: [{interface: b.feed, stream: B, consumer: %s, type: Item, credits: 256}]
publish: [{interface: b.pub, subject: b.in, type: Item, msg_id: [id], credits: 256}]
`, consumer)
}

func item(i int) []byte {
	b, _ := json.Marshal(map[string]any{"id": fmt.Sprint("i-", i), "n": i})
	return b
}

// fill stores n items on B with nats.go (async, then waits for every ack).
func fill(b *testing.B, js jetstream.JetStream, from, n int) {
	b.Helper()
	for i := from; i < from+n; i++ {
		if _, err := js.PublishAsync("b.in", item(i)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged")
	}
}

func msgsPerSec(b *testing.B) { b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s") }

// Consuming stored messages: through the adapter (an ifkit client with
// 256 credits; each message acknowledged once consumed) against nats.go
// directly (a pull consumer, Fetch of 256, Ack each).
func BenchmarkConsume(b *testing.B) {
	b.Run("adapter", func(b *testing.B) {
		w := newWorld(b, benchConfig(fmt.Sprint("a", b.N)))
		js, _ := jetstream.New(w.own)
		fill(b, js, 0, b.N)
		conn, err := w.dial().Connect(ctxT(b), "b.feed", iface.WithCredits(256))
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		n := 0
		err = conn.RecvFunc(ctxT(b), func(*iface.Message) error {
			if n++; n == b.N {
				return errDone
			}
			return nil
		})
		if err != errDone {
			b.Fatal(err)
		}
		msgsPerSec(b)
	})
	b.Run("nats.go", func(b *testing.B) {
		w := newWorld(b, benchConfig("unused"))
		js, _ := jetstream.New(w.own)
		fill(b, js, 0, b.N)
		cons, err := js.CreateConsumer(ctxT(b), "B", jetstream.ConsumerConfig{Durable: fmt.Sprint("d", b.N), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for n := 0; n < b.N; {
			batch, err := cons.Fetch(min(256, b.N-n), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			for m := range batch.Messages() {
				m.Ack()
				n++
			}
		}
		msgsPerSec(b)
	})
}

var errDone = fmt.Errorf("done")

// Publishing: through the adapter (an ifkit client with 256 credits, each
// credit back after the message's PubAck) against nats.go directly, one
// Publish at a time (waiting for each PubAck, as the adapter does per
// connection) and async (256 in flight).
func BenchmarkPublish(b *testing.B) {
	b.Run("adapter", func(b *testing.B) {
		w := newWorld(b, benchConfig("unused"))
		conn, err := w.dial().Connect(ctxT(b), "b.pub")
		if err != nil {
			b.Fatal(err)
		}
		msgs := make([]json.RawMessage, b.N)
		for i := range msgs {
			msgs[i] = item(i)
		}
		b.ResetTimer()
		for _, m := range msgs {
			if err := conn.Send(ctxT(b), "Item", m); err != nil {
				b.Fatal(err)
			}
		}
		for st := w.ad.Stats(); st.Published < uint64(b.N); st = w.ad.Stats() {
			time.Sleep(time.Millisecond)
		}
		msgsPerSec(b)
	})
	b.Run("nats.go-sync", func(b *testing.B) {
		w := newWorld(b, benchConfig("unused"))
		js, _ := jetstream.New(w.own)
		b.ResetTimer()
		for i := range b.N {
			if _, err := js.Publish(context.Background(), "b.in", item(i), jetstream.WithMsgID(fmt.Sprint("b.pub/i-", i))); err != nil {
				b.Fatal(err)
			}
		}
		msgsPerSec(b)
	})
	b.Run("nats.go-async", func(b *testing.B) {
		w := newWorld(b, benchConfig("unused"))
		js, _ := jetstream.New(w.own, jetstream.WithPublishAsyncMaxPending(256))
		b.ResetTimer()
		fill(b, js, 0, b.N)
		msgsPerSec(b)
	})
}
