package iface_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// A notice bus: the server publishes Notices; subscribers filter on kind
// and level.
const noticeBus = `
ifkit: 1
name: demo.notices
version: 1.0.0
direction: send
codecs: [json]
messages:
  send:
    Notice:
      schema:
        type: object
        properties: {kind: {type: string}, level: {type: integer}, text: {type: string}}
      filter_fields: [kind, level]
`

// ExampleServer_Topic publishes to two subscribers with different filters:
// each gets only what its filter selects, and the rest never leave the
// server.
func ExampleServer_Topic() {
	ctx := context.Background()
	m, err := manifest.Parse("notices.yaml", []byte(noticeBus))
	if err != nil {
		panic(err)
	}
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m})
	l, err := iface.Listen(ctx, "mem://example-topic")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	topic := srv.Topic("demo.notices")

	client, err := iface.Dial(ctx, "mem://example-topic")
	if err != nil {
		panic(err)
	}
	defer client.Close()
	configs, err := client.Connect(ctx, "demo.notices", iface.WithFilter(iface.Filter{CEL: `kind == "config"`}))
	if err != nil {
		panic(err)
	}
	urgent, err := client.Connect(ctx, "demo.notices", iface.WithFilter(iface.Filter{Structured: `{"field":"level","in":[4,5]}`}))
	if err != nil {
		panic(err)
	}
	for topic.Subscribers() < 2 { // a connection subscribes once the server has started it
		time.Sleep(time.Millisecond)
	}

	// A filter that names a field filter_fields does not list is refused.
	_, err = client.Connect(ctx, "demo.notices", iface.WithFilter(iface.Filter{CEL: `text == "x"`}))
	fmt.Println(iface.CodeOf(err))

	for _, n := range []map[string]any{
		{"kind": "config", "level": 1, "text": "workers: 3"},
		{"kind": "status", "level": 5, "text": "disk full"},
		{"kind": "status", "level": 1, "text": "ok"},
	} {
		res, _ := topic.Publish(ctx, "Notice", n)
		fmt.Printf("%q: sent to %d, filtered out for %d\n", n["text"], res.Sent, res.FilteredOut)
	}
	for _, c := range []*iface.Conn{configs, urgent} {
		msg, _ := c.Recv(ctx)
		fmt.Println(string(msg.Data))
	}
	// Output:
	// invalid_filter
	// "workers: 3": sent to 1, filtered out for 1
	// "disk full": sent to 1, filtered out for 1
	// "ok": sent to 0, filtered out for 2
	// {"kind":"config","level":1,"text":"workers: 3"}
	// {"kind":"status","level":5,"text":"disk full"}
}
