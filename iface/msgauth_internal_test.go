package iface

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

var testSecret = []byte("a shared secret of some length")

// authManifest is a duplex interface whose messages are authenticated.
func authManifest(t *testing.T) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("auth.yaml", []byte(`
ifkit: 1
name: auth.notes
version: 1.0.0
direction: duplex
codecs: [json]
message_auth: hmac-sha256
messages:
  send:
    Echo: {schema: {type: object, required: [text], properties: {text: {type: string}}}}
  recv:
    Note: {schema: {type: object, required: [text], properties: {text: {type: string}}}}
flow: {credits: 16}
`))
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageAuth != manifest.MessageAuthHMAC {
		t.Fatalf("MessageAuth = %q", m.MessageAuth)
	}
	return m
}

// authServer serves auth.notes on network, with the shared secret when
// secret is set; every Note received is echoed back as an Echo.
func authServer(t *testing.T, network string, secret []byte, opts ...ServerOption) (*Server, net.Listener) {
	m := authManifest(t)
	if secret != nil {
		opts = append(opts, WithSecret(secret))
	}
	s := NewServer(opts...)
	echo := func(ctx context.Context, msg *Message) error {
		return msg.Conn().Send(ctx, "Echo", msg.Data)
	}
	if err := s.Register(Interface{Manifest: m, Handlers: map[string]Handler{"Note": echo}}); err != nil {
		t.Fatal(err)
	}
	return s, serveOn(t, s, network)
}

// openAuthRaw runs the session handshake by hand (with the secret when
// given) and opens a data stream to auth.notes. It returns the peer and the
// session key (nil without a secret).
func openAuthRaw(t *testing.T, l net.Listener, secret []byte) (*rawPeer, []byte) {
	raw, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.Write(preface(prefaceOK))
	status, err := readPreface(raw)
	if err != nil {
		t.Fatal(err)
	}
	var key []byte
	if status == prefaceAuthRequired {
		if key, err = clientAuth(raw, secret); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := yamux.Client(raw, DefaultConfig().yamux())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, sess: sess, st: st, br: bufio.NewReader(st)}
	pbio.Write(st, &sessionpb.OpenStream{Interface: "auth.notes", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"json"}, Credits: 16})
	if err := pbio.Read(p.br, &p.res, maxOpenResultBytes); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return p, key
}

func TestMessageAuthDropsForgedMessages(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s, l := authServer(t, network, testSecret)
			noteID := authManifest(t).Recv[0].ID
			p, key := openAuthRaw(t, l, testSecret)
			if p.res.GetCode() != 0 {
				t.Fatalf("refused: %s", p.res.GetReason())
			}
			connID := p.res.GetConnectionId()
			mk := messageKey(key, connID)
			seq := uint64(0)
			msg := func(body string, mangle func(f *data.Frame)) uint64 {
				seq++
				f := &data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: seq, TypeID: noteID, Body: []byte(body)}
				f.Tag = data.Tag(mk, false, f)
				if mangle != nil {
					mangle(f)
				}
				p.send(f)
				return seq
			}
			forged := map[uint64]string{
				msg(`{"text":"tampered"}`, func(f *data.Frame) { f.Body = []byte(`{"text":"tampered!"}`) }):               "tampered body",
				msg(`{"text":"untagged"}`, func(f *data.Frame) { f.Flags, f.Tag = 0, nil }):                               "no tag",
				msg(`{"text":"reflected"}`, func(f *data.Frame) { f.Tag = data.Tag(mk, true, f) }):                        "server's direction",
				msg(`{"text":"replayed"}`, func(f *data.Frame) { f.Tag = data.Tag(messageKey(key, connID+1), false, f) }): "another connection's key",
			}
			good := msg(`{"text":"genuine"}`, nil)

			fr := data.NewFrameReader(p.br, 1<<20)
			p.st.SetReadDeadline(time.Now().Add(10 * time.Second))
			verified := func(f *data.Frame) bool { return bytes.Equal(f.Tag, data.Tag(mk, true, f)) }
			for len(forged) > 0 {
				f, err := fr.Read()
				if err != nil {
					t.Fatalf("reading the server's answers: %v (still waiting for %v)", err, forged)
				}
				switch f.Kind {
				case data.FrameError:
					what, ok := forged[f.Seq]
					if !ok || f.Code != CodeAuthFailed || !strings.Contains(string(f.Reason), "authentication tag") {
						t.Fatalf("ERROR %s for message %d: %q", f.Code, f.Seq, f.Reason)
					}
					delete(forged, f.Seq)
					t.Logf("%s: refused with %s", what, f.Code)
				case data.FrameMessage:
					// The echo of a forged message would mean it was delivered.
					if !verified(f) {
						t.Fatalf("the server's message %d has a bad tag", f.Seq)
					}
					if !strings.Contains(string(f.Body), "genuine") {
						t.Fatalf("the server echoed %s: a forged message was delivered", f.Body)
					}
				case data.FrameClose:
					t.Fatalf("the server closed the connection: %s %s", f.Code, f.Reason)
				}
			}
			// The genuine message is echoed, signed by the server.
			for {
				f, err := fr.Read()
				if err != nil {
					t.Fatalf("no echo of the genuine message %d: %v", good, err)
				}
				if f.Kind == data.FrameMessage {
					if !verified(f) || !strings.Contains(string(f.Body), "genuine") {
						t.Fatalf("echo %d %s: tag ok = %v", f.Seq, f.Body, verified(f))
					}
					break
				}
			}
			st := s.conn(connID).Stats()
			if st.AuthFailures != 4 || st.ReceivedMessages != 5 {
				t.Errorf("stats: auth_failures %d, received %d; want 4 of 5", st.AuthFailures, st.ReceivedMessages)
			}
		})
	}
}

// Through the public API both ways: a client with the secret talks; the
// server reports nothing refused.
func TestMessageAuthEndToEnd(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			_, l := authServer(t, network, testSecret)
			addr := l.Addr().String()
			if network == "unix" {
				addr = "unix://" + addr
			}
			refused := make(chan *RemoteError, 1)
			cl, err := Dial(ctxT(t), addr, WithSecret(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			conn, err := cl.Connect(ctxT(t), "auth.notes", WithOnRefused(func(_ *Conn, e *RemoteError) { refused <- e }))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 100; i++ {
				if err := conn.Send(ctxT(t), "Note", map[string]any{"text": "n"}); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Recv(ctxT(t)); err != nil {
					t.Fatalf("echo %d: %v", i, err)
				}
			}
			select {
			case e := <-refused:
				t.Fatalf("the server refused a message: %v", e)
			default:
			}
			conn.Close("done")
		})
	}
}

// An interface with message_auth needs a session authenticated with a shared
// secret: the client says so before opening it, and the server refuses a
// raw peer that tries anyway.
func TestMessageAuthNeedsASecret(t *testing.T) {
	_, l := authServer(t, "tcp", nil)
	cl, err := Dial(ctxT(t), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Connect(ctxT(t), "auth.notes")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CodeAuthFailed || !strings.Contains(ce.Reason, "shared secret") {
		t.Fatalf("Connect = %v, want auth_failed naming the shared secret", err)
	}
	p, _ := openAuthRaw(t, l, nil)
	if Code(p.res.GetCode()) != CodeAuthFailed || !strings.Contains(p.res.GetReason(), "message_auth") {
		t.Fatalf("raw open: %s %q, want auth_failed", Code(p.res.GetCode()), p.res.GetReason())
	}
}
