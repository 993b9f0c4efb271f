package httpfwd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"

	"github.com/ifkit/ifkit/adapter/httpfwd"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	manifests "github.com/ifkit/ifkit/testdata/manifests"
)

// Example puts an HTTP service behind the http.api interface and calls it
// through ifkit.
func Example() {
	ctx := context.Background()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "you asked for %s", r.URL.Path)
	}))
	defer api.Close()

	data, _ := fs.ReadFile(manifests.FS, "http.api.json")
	m, err := manifest.Parse("http.api.json", data)
	if err != nil {
		panic(err)
	}
	f, err := httpfwd.New(m, api.URL)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	srv := iface.NewServer()
	srv.Register(f.Interface())
	l, _ := iface.Listen(ctx, "mem://http-api")
	go srv.Serve(l)
	defer srv.Close()

	c, _ := iface.Dial(ctx, "mem://http-api")
	defer c.Close()
	conn, _ := c.Connect(ctx, "http.api")
	reply, err := conn.Call(ctx, "Request", json.RawMessage(`{"method":"GET","path":"/v1/zones/north/climate"}`))
	if err != nil {
		panic(err)
	}
	var res httpfwd.Response
	reply.Decode(&res)
	fmt.Println(res.Status, res.Body)
	// Output: 200 you asked for /v1/zones/north/climate
}
