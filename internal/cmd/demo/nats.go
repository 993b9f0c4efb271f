package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	natsgo "github.com/nats-io/nats.go"

	natsad "github.com/ifkit/ifkit/adapter/nats"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// queue serves an embedded NATS JetStream through the queue adapter, as
// `ifctl adapter nats` does, publishes a few events (one twice) and
// consumes them with credits, acknowledgements and a reset.
func queue(ctx context.Context, out io.Writer, _ *iface.Client, _ map[string]*manifest.Manifest) error {
	heading(out, "10. A message queue as interfaces: embedded NATS JetStream (ifctl adapter nats, adapter/nats)")
	dir, err := os.MkdirTemp("", "ifkit-demo-nats-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	emb, err := natsad.StartEmbedded(filepath.Join(dir, "js"), 0)
	if err != nil {
		return err
	}
	defer emb.Close()
	nc, err := natsgo.Connect(emb.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	ad, err := natsad.New(ctx, nc, natsad.DefaultConfig())
	if err != nil {
		return err
	}
	defer ad.Close()
	srv := iface.NewServer()
	defer srv.Close()
	if err := ad.Register(srv); err != nil {
		return err
	}
	addr := "unix://" + filepath.Join(dir, "q.sock")
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		return err
	}
	go srv.Serve(l)
	cl, err := iface.Dial(ctx, addr, iface.WithClientName("ifctl demo"))
	if err != nil {
		return err
	}
	defer cl.Close()
	fmt.Fprintf(out, "   embedded JetStream on %s; stream EVENTS; interfaces events.publish (recv), events.feed (send)\n", emb.URL())

	pub, err := cl.Connect(ctx, "events.publish")
	if err != nil {
		return err
	}
	for _, e := range []string{`{"id":"evt-1","kind":"door.opened"}`, `{"id":"evt-2","kind":"door.closed"}`, `{"id":"evt-1","kind":"door.opened"}`} {
		if err := pub.Send(ctx, "Event", json.RawMessage(e)); err != nil {
			return err
		}
	}
	err = pub.Send(ctx, "Event", json.RawMessage(`{"kind":"no id"}`))
	pub.Close("published")
	fmt.Fprintf(out, "   sent evt-1, evt-2, evt-1 again; an event without id is refused before it is sent:\n     %v\n", err)
	// The adapter publishes what it received even once the client has
	// gone: wait for the three to be settled.
	st := ad.Stats()
	for deadline := time.Now().Add(10 * time.Second); st.Published+st.Duplicates < 3 && time.Now().Before(deadline); st = ad.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprintf(out, "   JetStream stored %d, dropped %d duplicate (Nats-Msg-Id from the field id); credit came back only after each PubAck\n", st.Published, st.Duplicates)

	feed, err := cl.Connect(ctx, "events.feed", iface.WithPullMode(), iface.WithCredits(8))
	if err != nil {
		return err
	}
	ctl, err := cl.Control(ctx, "events.feed", iface.AttachTo(feed))
	if err != nil {
		return err
	}
	defer ctl.Close()
	recv := func() error {
		m, err := feed.Recv(ctx)
		if err != nil {
			return err
		}
		var d natsad.Delivery
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		fmt.Fprintf(out, "   ← seq %d (delivered %d×) %s\n", d.Seq, d.Delivered, d.Data)
		return nil
	}
	feed.Request(1) // one credit: the adapter fetches one message from the consumer
	if err := recv(); err != nil {
		return err
	}
	if err := ctl.Reset(ctx, "seq:1"); err != nil {
		return err
	}
	fmt.Fprintln(out, "   control reset seq:1 → the consumer goes back to the stream's start")
	feed.Request(2)
	for range 2 {
		if err := recv(); err != nil {
			return err
		}
	}
	feed.Close("done") // its CLOSE says all 3 were consumed
	srv.Close()
	st = ad.Stats()
	fmt.Fprintf(out, "   %d delivered (seq 1 twice: the reset handed it back), %d acknowledged to JetStream once consumed; the folder is removed on exit\n", st.Delivered, st.Acked)
	return nil
}
