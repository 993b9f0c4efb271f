package iface_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// A greeter: a duplex interface whose Hello request is answered by one
// Greeting, with the JSON Schemas that both ends check.
const greeter = `
ifkit: 1
name: demo.greeter
version: 1.0.0
direction: duplex
messages:
  recv:
    Hello:
      schema: {type: object, required: [name], properties: {name: {type: string}}}
      reply: {type: Greeting}
  send:
    Greeting:
      schema: {type: object, properties: {text: {type: string}}}
`

// Example shows a server hosting an interface on a Unix socket and a client
// calling it.
func Example() {
	ctx := context.Background()
	m, err := manifest.Parse("greeter.yaml", []byte(greeter))
	if err != nil {
		panic(err)
	}

	// The server: an interface is a manifest plus handlers.
	srv := iface.NewServer()
	srv.Register(iface.Interface{
		Manifest: m,
		Handlers: map[string]iface.Handler{
			"Hello": func(ctx context.Context, msg *iface.Message) error {
				var hello struct{ Name string }
				if err := msg.Decode(&hello); err != nil {
					return err
				}
				return msg.Reply(ctx, map[string]string{"text": "hello, " + hello.Name})
			},
		},
	})
	dir, _ := os.MkdirTemp("", "ifk")
	defer os.RemoveAll(dir)
	addr := "unix://" + filepath.Join(dir, "greeter.sock")
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	// The client: dial, connect to the interface, call.
	client, err := iface.Dial(ctx, addr)
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
	fmt.Println(reply.Type.Name, string(reply.Data))

	// Messages are checked against their types before they leave.
	err = conn.Send(ctx, "Hello", json.RawMessage(`{"name":42}`))
	fmt.Println(err)
	// Output:
	// Greeting {"text":"hello, Ada"}
	// ifkit: send Hello: json: type Hello: /name: expected string, but got number
}

// ExampleControl shows introspection over the control sub-interface: what a
// client learns about an unknown socket.
func ExampleControl() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m})
	l, _ := iface.Listen(ctx, "tcp://127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	client, _ := iface.Dial(ctx, l.Addr().String())
	defer client.Close()
	ctl, err := client.Control(ctx, "") // server-wide: list and fetch manifests
	if err != nil {
		panic(err)
	}
	defer ctl.Close()
	list, _ := ctl.List(ctx)
	for _, i := range list {
		fmt.Println(i.Name, i.Version, i.Direction)
	}
	live, _ := ctl.Manifest(ctx, "demo.greeter", nil)
	fmt.Println("same manifest as the file:", live.Hash() == m.Hash())
	// Output:
	// demo.greeter 1.0.0 duplex
	// same manifest as the file: true
}

// ExampleWithOnRefusal shows a server hearing the peers it turns away: here
// a client asking for an interface the server does not host.
func ExampleWithOnRefusal() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	refused := make(chan iface.Refusal, 1)
	srv := iface.NewServer(iface.WithOnRefusal(func(r iface.Refusal) { refused <- r }))
	srv.Register(iface.Interface{Manifest: m})
	l, _ := iface.Listen(ctx, "tcp://127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	client, _ := iface.Dial(ctx, l.Addr().String())
	defer client.Close()
	_, err := client.Connect(ctx, "demo.nope")
	fmt.Println("client:", err)
	r := <-refused
	fmt.Println("server:", r.Interface, r.Code, r.Reason)
	// Output:
	// client: ifkit: connection closed by peer: unknown_interface: no interface "demo.nope" here; this server has demo.greeter
	// server: demo.nope unknown_interface no interface "demo.nope" here; this server has demo.greeter
}

// ExampleControl_Notifications shows what a program in another module
// does with the control plane's plain types: it stores a connection's
// stats, type-switches on the server's notifications, and reads the code a
// connection ended with, without matching any error text.
func ExampleControl_Notifications() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m})
	l, _ := iface.Listen(ctx, "tcp://127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	watcher, _ := iface.Dial(ctx, l.Addr().String())
	defer watcher.Close()
	watch, _ := watcher.Control(ctx, "")
	defer watch.Close()

	client, _ := iface.Dial(ctx, l.Addr().String(), iface.WithClientName("example"))
	defer client.Close()
	conn, _ := client.Connect(ctx, "demo.greeter")
	ctl, _ := client.Control(ctx, "demo.greeter", iface.AttachTo(conn))
	var stats iface.ConnStats // a plain struct: store it, print it, compare it
	stats, _ = ctl.Stats(ctx)
	// Ids are never reused, even by a restarted server (ids.go): they
	// count up from the time they were handed out.
	fmt.Println("stats of connection", stats.ConnectionID == conn.ID(), "sent", stats.SentMessages)
	ctl.CloseConn(ctx, "an operator closed it")
	<-conn.Done()
	fmt.Println("the connection ended with", iface.CodeOf(conn.Err()))

	for n := range watch.Notifications() {
		switch n := n.(type) {
		case *control.ConnectionOpened:
			fmt.Println("opened", n.ConnectionID == conn.ID(), "by", n.Client)
		case *control.ConnectionClosed:
			fmt.Println("closed", n.ConnectionID == conn.ID(), n.Code, n.Reason)
			return
		}
	}
	// Output:
	// stats of connection true sent 0
	// the connection ended with normal_close
	// opened true by example
	// closed true normal_close an operator closed it
}

// ExampleNewClient shows a session over a connection the program already
// has, here the two ends of a net.Pipe: the server serves its end with
// ServeConn, the client runs over the other with NewClient. A server
// behind a firewall does the same with a connection it dialed out.
func ExampleNewClient() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Hello": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, map[string]string{"text": "hello over a pipe"})
		},
	}})
	defer srv.Close()
	serverEnd, clientEnd := net.Pipe()
	go srv.ServeConn(serverEnd)

	client, err := iface.NewClient(ctx, clientEnd)
	if err != nil {
		panic(err)
	}
	defer client.Close()
	conn, _ := client.Connect(ctx, "demo.greeter")
	reply, _ := conn.Call(ctx, "Hello", json.RawMessage(`{"name":"pipe"}`))
	fmt.Println(string(reply.Data))
	// Output: {"text":"hello over a pipe"}
}

// ExampleMemNetwork shows an in-process address: Listen and Dial of
// mem://name meet without a socket, through the same handshake.
func ExampleMemNetwork() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m})
	mem := iface.NewMemNetwork() // or leave it out for the process-wide one
	l, _ := iface.Listen(ctx, "mem://greeter", iface.WithMemNetwork(mem))
	go srv.Serve(l)
	defer srv.Close()

	client, err := iface.Dial(ctx, "mem://greeter", iface.WithMemNetwork(mem))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	ctl, _ := client.Control(ctx, "")
	defer ctl.Close()
	list, _ := ctl.List(ctx)
	fmt.Println(client.Addr(), list[0].Name)
	// Output: mem://greeter demo.greeter
}

// ExampleClient_Monitor watches another client's connection: the monitor
// fires once, with the reason the connection ended; a monitor of something
// already gone answers at once with noproc.
func ExampleClient_Monitor() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m})
	l, _ := iface.Listen(ctx, "tcp://127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	user, _ := iface.Dial(ctx, l.Addr().String())
	defer user.Close()
	conn, _ := user.Connect(ctx, "demo.greeter")

	watcher, _ := iface.Dial(ctx, l.Addr().String())
	defer watcher.Close()
	mon, _ := watcher.Monitor(ctx, iface.MonitorTarget{ConnectionID: conn.ID()})
	defer mon.Close()

	conn.Close("finished")
	<-mon.Done()
	fmt.Println(mon.Down().Code, mon.Down().Reason)

	late, _ := watcher.Monitor(ctx, iface.MonitorTarget{ConnectionID: conn.ID()})
	defer late.Close()
	<-late.Done()
	fmt.Println(late.Down().Code, "noproc:", late.Down().NoProc)
	// Output:
	// normal_close finished
	// not_found noproc: true
}

// ExampleNewBalancer spreads connections over two servers of the same
// interface, in turn.
func ExampleNewBalancer() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	var addrs []string
	got := make(chan int, 4) // which server each connection reached
	for i := range 2 {
		srv := iface.NewServer()
		srv.Register(iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) { got <- i }})
		l, _ := iface.Listen(ctx, "tcp://127.0.0.1:0")
		go srv.Serve(l)
		defer srv.Close()
		addrs = append(addrs, l.Addr().String())
	}
	b, _ := iface.NewBalancer(strings.Join(addrs, ","), iface.BalanceRoundRobin)
	defer b.Close()
	for range 4 {
		conn, _ := b.Connect(ctx, "demo.greeter")
		fmt.Println("server", <-got, "got a connection")
		conn.Close("done")
	}
	// Output:
	// server 0 got a connection
	// server 1 got a connection
	// server 0 got a connection
	// server 1 got a connection
}
