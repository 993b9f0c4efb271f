package data

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/manifest"
)

// TestReplyOfTheWrongType: a reply must have the type its request
// declares; a peer that answers a Get with a Row breaks the protocol.
func TestReplyOfTheWrongType(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, cli := PipeForTest(t, m, Config{Handlers: map[string]Handler{
		"Get": func(ctx context.Context, msg *Message) error {
			return msg.conn.send(ctx, "Row", json.RawMessage(`{"key":"k"}`), msg.corr, FlagReply, false)
		},
	}}, Config{})
	if _, err := cli.Call(context.Background(), "Get", json.RawMessage(`{"key":"k"}`)); !errors.Is(err, codes.ProtocolError) {
		t.Fatalf("Call answered with the wrong type: %v, want protocol_error", err)
	}
	if err := cli.Err(); !errors.Is(err, codes.ProtocolError) || !strings.Contains(err.Error(), "declares Value as its reply") {
		t.Fatalf("the connection ended with %v", err)
	}
}
