package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// ifkitCredits is flow.credits of the benchmark interface: the manifest
// default (256). max_message_bytes is raised from its 64 KiB default to
// 1 MiB, since a 64 KiB payload plus its BytesValue wrapping exceeds it.
const ifkitCredits = 256

// ifkitManifest is a duplex interface of bytes messages: Out streams from
// server to client; Ping is a request the server answers with Pong.
const ifkitManifest = `
ifkit: 1
name: bench.blob
version: 1.0.0
direction: duplex
codecs: [%s]
protos: [google/protobuf/wrappers.proto]
messages:
  send:
    Out:
      proto: google.protobuf.BytesValue%[3]s
    Pong:
      proto: google.protobuf.BytesValue%[3]s
  recv:
    Ping:
      proto: google.protobuf.BytesValue%[3]s
      reply: {type: Pong}
flow: {credits: %[2]d, max_message_bytes: 1048576, on_exhausted: block}
`

// ifkitSchema is the JSON Schema ifkit-schema gives each type besides its
// proto: a BytesValue's JSON form is a base64 string, which the schema bounds
// as a user's schema would (so that every message is checked against it).
const ifkitSchema = `
      schema: {type: string, minLength: 0, maxLength: 2000000, description: base64 of the payload}`

// ifkitSystem is ifkit with one codec (and, with schema, a JSON Schema for
// every type: ifkit-schema), through its fast user path. With the raw
// codec (ifkit-raw) the payload is sent as bytes and the receiver uses the
// lent bytes as they are, as bare yamux's receiver uses the buffer it reads
// into: no protobuf encoding or decoding, ifkit's framing, flow control and
// checks alone. Otherwise:
// iface.Server and iface.Dial, Conn.Send and Conn.RecvFunc for streams,
// Conn.Call and an inline Handler answering with Message.Reply for round
// trips. Every link is
// its own session (socket) with one connection on it.
type ifkitSystem struct {
	codec  string
	schema bool
}

func (s ifkitSystem) Name() string {
	if s.schema {
		return "ifkit-schema"
	}
	return "ifkit-" + s.codec
}

type ifkitServer struct {
	srv       *iface.Server
	addr      string
	cleanup   func()
	conns     chan *iface.Conn
	served    chan error
	manifests *iface.ManifestCache // shared by the links' clients
	raw       bool                 // the raw codec
}

func (s ifkitSystem) Start(transport string) (server, error) {
	dir, err := os.MkdirTemp("", "ifkm")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	m, err := manifest.Parse("bench.yaml", fmt.Appendf(nil, ifkitManifest, s.codec, ifkitCredits, s.schemaText()), manifest.WithDir(dir))
	if err != nil {
		return nil, err
	}
	l, cleanup, err := listen(transport)
	if err != nil {
		return nil, err
	}
	is := &ifkitServer{
		srv:       iface.NewServer(iface.WithConfig(transportConfig)),
		cleanup:   cleanup,
		conns:     make(chan *iface.Conn, 1),
		served:    make(chan error, 1),
		manifests: iface.NewManifestCache(),
		raw:       s.codec == "raw",
	}
	if transport == "unix" {
		is.addr = "unix://" + l.Addr().String()
	} else {
		is.addr = "tcp://" + l.Addr().String()
	}
	err = is.srv.Register(iface.Interface{
		Manifest: m,
		// The round trip's handler runs on the connection's reader (no
		// hand-off to a handler goroutine): it decodes and replies while the
		// request is borrowed.
		InlineHandlers: true,
		Handlers: map[string]iface.Handler{"Ping": func(ctx context.Context, msg *iface.Message) error {
			if is.raw {
				return msg.Reply(ctx, msg.Data)
			}
			var v wrapperspb.BytesValue
			if err := msg.Decode(&v); err != nil {
				return err
			}
			return msg.Reply(ctx, &v)
		}},
		// OnConnect hands the server end to the opener and returns: the
		// connection goes on without a goroutine of ours.
		OnConnect: func(ctx context.Context, c *iface.Conn) { is.conns <- c },
	})
	if err != nil {
		l.Close()
		cleanup()
		return nil, err
	}
	go func() { is.served <- is.srv.Serve(coalescingListener{l}) }()
	return is, nil
}

// schemaText is the schema field of the manifest's types, if any.
func (s ifkitSystem) schemaText() string {
	if s.schema {
		return ifkitSchema
	}
	return ""
}

func (is *ifkitServer) Open(ctx context.Context) (link, error) {
	// One manifest cache for the process's clients, as a program that opens
	// many connections to one interface would have (iface.WithManifestCache):
	// without it each connection parses and holds the manifest (~25 KiB).
	cl, err := iface.Dial(ctx, is.addr, iface.WithManifestCache(is.manifests), iface.WithConfig(transportConfig))
	if err != nil {
		return nil, err
	}
	cc, err := cl.Connect(ctx, "bench.blob")
	if err != nil {
		cl.Close()
		return nil, err
	}
	select {
	case sc := <-is.conns:
		if sc.ID() != cc.ID() {
			cl.Close()
			return nil, fmt.Errorf("ifkit: server end %d for client end %d", sc.ID(), cc.ID())
		}
		return &ifkitLink{client: cl, cc: cc, sc: sc, raw: is.raw}, nil
	case <-ctx.Done():
		cl.Close()
		return nil, ctx.Err()
	}
}

func (is *ifkitServer) Close() error {
	err := is.srv.Close()
	<-is.served
	is.cleanup()
	return err
}

// errStreamDone ends a Stream's RecvFunc once it has all n messages.
var errStreamDone = errors.New("stream done")

type ifkitLink struct {
	client *iface.Client
	cc, sc *iface.Conn // client and server ends
	in     wrapperspb.BytesValue
	raw    bool // the raw codec: bytes as they are
}

// value is payload as the link's codec sends it: the bytes themselves
// (raw), or a BytesValue.
func (l *ifkitLink) value(payload []byte) any {
	if l.raw {
		return payload
	}
	return wrapperspb.Bytes(payload)
}

// size is the length of the payload m carries: its lent bytes (raw), or
// the BytesValue decoded from it, as a user would to get the bytes
// (gRPC's RecvMsg does the same work).
func (l *ifkitLink) size(m *iface.Message) (int, error) {
	if l.raw {
		return len(m.Data), nil
	}
	if err := m.Decode(&l.in); err != nil {
		return 0, err
	}
	return len(l.in.Value), nil
}

func (l *ifkitLink) Stream(ctx context.Context, payload []byte, n int) error {
	msg := l.value(payload)
	sent := make(chan error, 1)
	go func() {
		for range n {
			if err := l.sc.Send(ctx, "Out", msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// The lending path (Conn.RecvFunc): each message is taken on the
	// connection's reader while borrowed.
	got := 0
	err := l.cc.RecvFunc(ctx, func(m *iface.Message) error {
		if k, err := l.size(m); err != nil {
			return err
		} else if k != len(payload) {
			return fmt.Errorf("ifkit: message of %d bytes, %d sent", k, len(payload))
		}
		if got++; got == n {
			return errStreamDone
		}
		return nil
	})
	if err != errStreamDone {
		return err
	}
	return <-sent
}

func (l *ifkitLink) RoundTrip(ctx context.Context, payload []byte) error {
	m, err := l.cc.Call(ctx, "Ping", l.value(payload))
	if err != nil {
		return err
	}
	k, err := l.size(m)
	if err != nil {
		return err
	}
	if k != len(payload) {
		return fmt.Errorf("ifkit: reply of %d bytes to %d", k, len(payload))
	}
	return nil
}

func (l *ifkitLink) Close() error {
	l.cc.Close("done")
	return l.client.Close()
}
