package iface_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// ExampleRelay shows a server that clients cannot dial serving through a
// relay it dials out to, and a client reaching it there by name.
func ExampleRelay() {
	ctx := context.Background()

	// The relay, where both can reach it.
	relay := iface.NewRelay()
	l, err := iface.Listen(ctx, "tcp://127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go relay.Serve(l)
	defer relay.Close()
	relayAddr := l.Addr().String()

	// The relay itself (no name) announces servers as they come and go.
	self, err := iface.Dial(ctx, "relay://"+relayAddr+"/")
	if err != nil {
		panic(err)
	}
	defer self.Close()
	watch, err := self.Control(ctx, "")
	if err != nil {
		panic(err)
	}
	defer watch.Close()

	// The server dials out and registers as "greeter"; it registers again
	// by itself if the relay goes and comes back.
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Hello": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, map[string]string{"text": "hello through the relay"})
		},
	}})
	go srv.ServeRelay(ctx, "tcp://"+relayAddr, "greeter")
	defer srv.Close()
	for n := range watch.Notifications() {
		if sc, ok := n.(*control.ServersChanged); ok {
			fmt.Println("learned", sc.Learned)
			break
		}
	}

	// A client reaches the server by name.
	client, err := iface.Dial(ctx, "relay://"+relayAddr+"/greeter")
	if err != nil {
		panic(err)
	}
	defer client.Close()
	conn, err := client.Connect(ctx, "demo.greeter")
	if err != nil {
		panic(err)
	}
	defer conn.Close("done")
	reply, err := conn.Call(ctx, "Hello", json.RawMessage(`{"name":"Ada"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(reply.Data))

	// A name nobody registered is refused, with a code and a reason.
	_, err = iface.Dial(ctx, "relay://"+relayAddr+"/nobody")
	fmt.Println(iface.CodeOf(err))
	// Output:
	// learned [greeter]
	// {"text":"hello through the relay"}
	// not_found
}
