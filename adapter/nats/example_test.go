package nats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	natsgo "github.com/nats-io/nats.go"

	natsad "github.com/ifkit/ifkit/adapter/nats"
	"github.com/ifkit/ifkit/iface"
)

// An embedded JetStream served as ifkit interfaces: publish an event, then
// consume it with its stream sequence.
func Example() {
	ctx := context.Background()
	emb, err := natsad.StartEmbedded("", 0) // a temporary folder, removed by Close
	if err != nil {
		panic(err)
	}
	defer emb.Close()
	nc, err := natsgo.Connect(emb.URL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	ad, err := natsad.New(ctx, nc, natsad.DefaultConfig())
	if err != nil {
		panic(err)
	}
	defer ad.Close()
	srv := iface.NewServer()
	if err := ad.Register(srv); err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	addr := "unix://" + filepath.Join(dir, "q.sock")
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	client, err := iface.Dial(ctx, addr)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	pub, err := client.Connect(ctx, "events.publish")
	if err != nil {
		panic(err)
	}
	pub.Send(ctx, "Event", json.RawMessage(`{"id":"evt-1","kind":"door.opened"}`))
	pub.Send(ctx, "Event", json.RawMessage(`{"id":"evt-1","kind":"door.opened"}`)) // re-sent: stored once
	pub.Close("done")

	feed, err := client.Connect(ctx, "events.feed")
	if err != nil {
		panic(err)
	}
	m, err := feed.Recv(ctx)
	if err != nil {
		panic(err)
	}
	var d natsad.Delivery
	json.Unmarshal(m.Data, &d)
	fmt.Println(d.Seq, d.Subject, string(d.Data))
	feed.Close("done")
	// Output: 1 events.in {"id":"evt-1","kind":"door.opened"}
}
