package httpgw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

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

// Example puts an ifkit interface on HTTP: a server hosting demo.greeter
// in this process (mem://), a gateway in front of it, and a POST.
func Example() {
	ctx := context.Background()
	m, err := manifest.Parse("greeter.yaml", []byte(greeter))
	if err != nil {
		panic(err)
	}
	srv := iface.NewServer()
	srv.Register(iface.Interface{Manifest: m, Handlers: map[string]iface.Handler{
		"Hello": func(ctx context.Context, msg *iface.Message) error {
			var v struct{ Name string }
			if err := msg.Decode(&v); err != nil {
				return err
			}
			return msg.Reply(ctx, map[string]string{"text": "hello, " + v.Name})
		},
	}})
	l, err := iface.Listen(ctx, "mem://greeter")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	gw, err := httpgw.New(ctx, func(ctx context.Context) (*iface.Client, error) {
		return iface.Dial(ctx, "mem://greeter")
	})
	if err != nil {
		panic(err)
	}
	defer gw.Close()
	hs := httptest.NewServer(gw) // or http.ListenAndServe("127.0.0.1:8080", gw)
	defer hs.Close()

	res, err := http.Post(hs.URL+"/demo.greeter/Hello", "application/json", strings.NewReader(`{"name":"Ada"}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Print(res.Status, " ", string(body))

	res, _ = http.Post(hs.URL+"/demo.greeter/Hello", "application/json", strings.NewReader(`{"name":42}`))
	var e struct{ Error httpgw.Error }
	json.NewDecoder(res.Body).Decode(&e)
	res.Body.Close()
	fmt.Println(res.StatusCode, e.Error.Code, e.Error.Pointer)
	// Output:
	// 200 OK {"text":"hello, Ada"}
	// 400 invalid_message /name
}
