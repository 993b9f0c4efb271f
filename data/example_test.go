package data_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/manifest"
)

// Example runs both ends of a connection over a net.Pipe, with no session
// and no handshake under them: the data plane alone, given the Config each
// end would otherwise learn from the handshake.
func Example() {
	m, err := manifest.Parse("notes.yaml", []byte(`
ifkit: 1
name: demo.notes
version: 1.0.0
direction: recv
messages:
  recv:
    Note: {schema: {type: object, required: [text], properties: {text: {type: string}}}}
flow: {credits: 8}
`))
	if err != nil {
		panic(err)
	}
	jsonCodec, _ := codec.Standard().Lookup(codec.NameJSON)
	a, b := net.Pipe()
	server := data.New(a, nil, data.Config{ID: 1, Manifest: m, Codec: jsonCodec, Server: true, Window: 8, AutoGrant: true, CloseTimeout: time.Second}).Start()
	client := data.New(b, nil, data.Config{ID: 1, Manifest: m, Codec: jsonCodec, SendCredit: 8, CloseTimeout: time.Second}).Start()
	defer server.Close("done")

	ctx := context.Background()
	client.Send(ctx, "Note", json.RawMessage(`{"text":"over a pipe"}`))
	msg, _ := server.Recv(ctx)
	fmt.Println(msg.Seq, msg.Type.Name, string(msg.Data))
	client.Close("bye")
	<-server.Done()
	fmt.Println(server.Err())
	// Output:
	// 1 Note {"text":"over a pipe"}
	// ifkit: connection closed by peer: normal_close: bye
}
