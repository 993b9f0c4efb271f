// Command controlplane is the publish/subscribe example of seeds/003: the
// programs of a distributed application send each other status and
// notices through one hub, each receiving only what its filter selects.
//
//	controlplane hub ADDR                       serve app.bus at ADDR
//	controlplane member ADDR NAME [FILTER]      subscribe, post stdin's lines
//
// A member prints "ready" once subscribed, then each Notice it receives as
// one JSON line; each line it reads on stdin is posted (a JSON Post without
// "program": the member's NAME is filled in). FILTER is CEL, or the
// structured form when it starts with "{".
//
//	$ controlplane hub unix:///tmp/bus.sock &
//	$ controlplane member unix:///tmp/bus.sock planner 'kind == "status"' &
//	$ echo '{"kind":"status","level":1,"text":"up"}' | controlplane member unix:///tmp/bus.sock worker-1
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

//go:embed app.bus.yaml
var busManifest []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	args := os.Args[1:]
	var err error
	switch {
	case len(args) == 2 && args[0] == "hub":
		err = hub(ctx, args[1], os.Stdout)
	case (len(args) == 3 || len(args) == 4) && args[0] == "member":
		f := ""
		if len(args) == 4 {
			f = args[3]
		}
		err = member(ctx, args[1], args[2], f, os.Stdin, os.Stdout)
	default:
		fmt.Fprintln(os.Stderr, "usage: controlplane hub ADDR | controlplane member ADDR NAME [FILTER]")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

// hub serves app.bus at addr until ctx ends: every Post is published to
// every connection (iface.Topic), each through its own filter and credit.
func hub(ctx context.Context, addr string, out io.Writer) error {
	m, err := manifest.Parse("app.bus.yaml", busManifest)
	if err != nil {
		return err
	}
	srv := iface.NewServer()
	topic := srv.Topic(m.Name)
	err = srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Post": func(ctx context.Context, msg *iface.Message) error {
			// The Post passed its schema; it is the Notice as it is.
			_, err := topic.Publish(ctx, "Notice", json.RawMessage(msg.Data))
			return err
		},
	}})
	if err != nil {
		return err
	}
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on %s\n", addr)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	<-ctx.Done()
	srv.Close()
	if err := <-served; !errors.Is(err, iface.ErrServerClosed) {
		return err
	}
	return nil
}

// member subscribes to the hub at addr with filter, prints "ready" and
// then every Notice, and posts each line of in as a Post from name.
func member(ctx context.Context, addr, name, filter string, in io.Reader, out io.Writer) error {
	cl, err := iface.Dial(ctx, addr, iface.WithClientName(name))
	if err != nil {
		return err
	}
	defer cl.Close()
	var opts []iface.ConnectOption
	if filter != "" {
		f := iface.Filter{CEL: filter}
		if strings.HasPrefix(filter, "{") {
			f = iface.Filter{Structured: filter}
		}
		opts = append(opts, iface.WithFilter(f))
	}
	conn, err := cl.Connect(ctx, "app.bus", opts...)
	if err != nil {
		return err
	}
	defer conn.Close(name + " leaves")
	fmt.Fprintln(out, "ready")
	posted := make(chan error, 1)
	go func() { posted <- post(ctx, conn, name, in) }()
	for {
		msg, err := conn.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		fmt.Fprintf(out, "%s\n", msg.Data)
	}
}

// post sends each JSON line of in as a Post from name.
func post(ctx context.Context, conn *iface.Conn, name string, in io.Reader) error {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var p map[string]any
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
		p["program"] = name
		if err := conn.Send(ctx, "Post", p); err != nil {
			return err
		}
	}
	return sc.Err()
}
