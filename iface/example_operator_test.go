package iface_test

import (
	"context"
	"fmt"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// ExampleWithAdminSecret shows an operator: a control stream that proves
// the server's admin secret lists another client's connection, closes it,
// and reads the server's counters per message type.
func ExampleWithAdminSecret() {
	ctx := context.Background()
	m, _ := manifest.Parse("greeter.yaml", []byte(greeter))
	admin := []byte("0123456789abcdef-the-admin-secret") // e.g. iface.SecretFromFile
	srv := iface.NewServer(iface.WithAdminSecret(admin))
	srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Hello": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, map[string]string{"text": "hello"})
		},
	}})
	l, _ := iface.Listen(ctx, "tcp://127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	// Some client's connection.
	user, _ := iface.Dial(ctx, l.Addr().String(), iface.WithClientName("greeter-app"))
	defer user.Close()
	conn, _ := user.Connect(ctx, "demo.greeter")
	conn.Call(ctx, "Hello", map[string]string{"name": "ada"})

	// The operator, on a session of its own.
	op, _ := iface.Dial(ctx, l.Addr().String())
	defer op.Close()
	ctl, _ := op.Control(ctx, "demo.greeter")
	defer ctl.Close()
	if err := ctl.Operator(ctx, admin); err != nil {
		panic(err)
	}
	conns, _ := ctl.Connections(ctx, "demo.greeter")
	for _, c := range conns {
		fmt.Println("connection", c.Stats.ConnectionID == conn.ID(), c.Client, c.Stats.ReceivedMessages, "received")
	}
	ctl.Conn(conn.ID()).Close(ctx, "maintenance")
	<-conn.Done()
	fmt.Println("the client sees:", conn.Err())

	st, _ := ctl.ServerStats(ctx, "demo.greeter")
	for _, t := range st.Interfaces[0].Types {
		fmt.Println(t.Type, "handled", t.Handled, "errors", t.Errors)
	}
	// Output:
	// connection true greeter-app 1 received
	// the client sees: ifkit: connection closed by peer: normal_close: maintenance
	// Hello handled 1 errors 0
}
