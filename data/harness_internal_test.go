package data

import (
	"net"
	"testing"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/manifest"
)

// PipeForTest connects two ends of one interface over net.Pipe, with no
// session under them: the data plane alone. server and client are the
// ends' configurations; the manifest, codec (json), ids and credits are
// filled in where they are zero. Both ends are closed when the test ends.
func PipeForTest(t testing.TB, m *manifest.Manifest, server, client Config) (srv, cli *Conn) {
	t.Helper()
	json, _ := codec.Standard().Lookup(codec.NameJSON)
	a, b := net.Pipe()
	for _, c := range []*Config{&server, &client} {
		c.ID, c.Manifest = 1, m
		if c.Codec == nil {
			c.Codec = json
		}
	}
	server.Server = true
	credits := int64(m.Flow.Credits)
	if server.Window == 0 && m.Direction.Receives() {
		server.Window, server.AutoGrant = credits, true
	}
	server.ReceivesNothing = !m.Direction.Receives()
	if client.Window == 0 {
		client.Window = credits
		client.AutoGrant = true
	}
	if client.SendCredit == 0 && !server.ReceivesNothing {
		client.SendCredit = server.Window
	}
	if server.SendCredit == 0 && client.AutoGrant {
		server.SendCredit = client.Window
	}
	srv, cli = New(a, nil, server).Start(), New(b, nil, client).Start()
	t.Cleanup(func() {
		cli.Close("test over")
		srv.Close("test over")
	})
	return srv, cli
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
