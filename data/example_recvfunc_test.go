package data_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/manifest"
)

// ExampleConn_RecvFunc is the fast path both ways: SendBatch queues many
// messages under one lock, and RecvFunc hands each message to a function on
// the connection's reader, borrowed (no copy, no queue, no hand-off):
// decode it there, or Clone it to keep it. Its credit goes back when the
// function returns.
func ExampleConn_RecvFunc() {
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
	defer client.Close("done")
	defer server.Close("done")

	ctx := context.Background()
	var notes []any
	for _, text := range []string{"one", "two", "three"} {
		notes = append(notes, json.RawMessage(`{"text":"`+text+`"}`))
	}
	go client.SendBatch(ctx, "Note", notes)

	errDone := errors.New("done")
	var kept *data.Message
	err = server.RecvFunc(ctx, func(msg *data.Message) error {
		var note struct{ Text string }
		if err := msg.Decode(&note); err != nil {
			return err
		}
		// msg.Borrowed() says whether msg is lent (it arrived while
		// RecvFunc waited) or was queued before the call: timing decides,
		// so this example does not print it.
		fmt.Println(msg.Seq, note.Text)
		if msg.Seq == 3 {
			kept = msg.Clone() // valid after the function returns
			return errDone     // RecvFunc returns it as it is
		}
		return nil
	})
	fmt.Println(err == errDone, string(kept.Data), kept.Borrowed())
	// Output:
	// 1 one
	// 2 two
	// 3 three
	// true {"text":"three"} false
}
