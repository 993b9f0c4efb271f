package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ifkit/ifkit/adapter/httpgw/lab"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// The lab bench in front of a server in the same process: the page at /,
// the gateway under /gw, the interface's Markdown rendered at /api/docs.
func ExampleNew() {
	m, _ := manifest.Parse("greeter.yaml", []byte(`
ifkit: 1
name: demo.greeter
version: 1.0.0
description: Says **hello**.
direction: duplex
messages:
  recv:
    Hello: {schema: {type: object, properties: {name: {type: string}}}, reply: {type: Greeting}}
  send:
    Greeting: {schema: {type: object, properties: {text: {type: string}}}}
`))
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Hello": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, map[string]string{"text": "hello"})
		},
	}})
	mem := iface.NewMemNetwork()
	l, _ := iface.Listen(context.Background(), "mem://greeter", iface.WithMemNetwork(mem))
	go srv.Serve(l)
	defer srv.Close()

	bench, err := lab.New(context.Background(), func(ctx context.Context) (*iface.Client, error) {
		return iface.Dial(ctx, "mem://greeter", iface.WithMemNetwork(mem))
	}, lab.WithServerName("mem://greeter"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bench.Close()
	hs := httptest.NewServer(bench) // http.ListenAndServe("127.0.0.1:8080", bench)
	defer hs.Close()

	res, _ := http.Get(hs.URL + "/api/docs/demo.greeter")
	var docs struct{ Description string }
	json.NewDecoder(res.Body).Decode(&docs)
	res.Body.Close()
	fmt.Print(docs.Description)
	res, _ = http.Get(hs.URL + "/")
	res.Body.Close()
	fmt.Println(res.Status, res.Header.Get("Content-Type"))
	// Output:
	// <p>Says <strong>hello</strong>.</p>
	// 200 OK text/html; charset=utf-8
}
