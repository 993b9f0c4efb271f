package iface

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/internal/pb/sessionpb"
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
func authServer(t *testing.T, network string, secret []byte) (*Server, net.Listener) {
	m := authManifest(t)
	var opts []ServerOption
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
	writeMsg(st, &sessionpb.OpenStream{Interface: "auth.notes", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"json"}, Credits: 16})
	if err := readMsg(p.br, &p.res, maxOpenResultBytes); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return p, key
}

func TestMessageAuthSignAndVerify(t *testing.T) {
	key := messageKey(sessionKey(testSecret, []byte("server nonce"), []byte("client nonce")), 7)
	client, server := newMessageAuth(key, false), newMessageAuth(key, true)
	f := &frame{kind: frameMessage, flags: flagAuth, seq: 3, typeID: 1, corr: 9, body: []byte(`{"text":"hi"}`)}
	f.tag = append([]byte(nil), client.sign(f)...)
	if !server.verify(f) {
		t.Fatal("a correctly signed message does not verify")
	}
	for name, change := range map[string]func(g *frame){
		"body":        func(g *frame) { g.body = []byte(`{"text":"ho"}`) },
		"seq":         func(g *frame) { g.seq++ },
		"type":        func(g *frame) { g.typeID++ },
		"corr":        func(g *frame) { g.corr++ },
		"reply flag":  func(g *frame) { g.flags |= flagReply },
		"no tag flag": func(g *frame) { g.flags &^= flagAuth },
		"tag":         func(g *frame) { g.tag = append([]byte{g.tag[0] ^ 1}, g.tag[1:]...) },
	} {
		g := *f
		change(&g)
		if server.verify(&g) {
			t.Errorf("a message with a changed %s verifies", name)
		}
	}
	// Reflected: the server must not accept its own tag as the client's.
	if client.verify(f) {
		t.Error("a message verifies in the direction it was not sent")
	}
	// Another connection's key.
	other := newMessageAuth(messageKey(sessionKey(testSecret, []byte("server nonce"), []byte("client nonce")), 8), true)
	if other.verify(f) {
		t.Error("a message verifies under another connection's key")
	}
}

// Messages that fail authentication are dropped, counted and reported with
// their sequence number; the connection goes on and delivers the good ones.
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
			signer := newMessageAuth(messageKey(key, connID), false)
			seq := uint64(0)
			msg := func(body string, mangle func(f *frame)) uint64 {
				seq++
				f := &frame{kind: frameMessage, flags: flagAuth, seq: seq, typeID: noteID, body: []byte(body)}
				f.tag = signer.sign(f)
				if mangle != nil {
					mangle(f)
				}
				p.send(f)
				return seq
			}
			wrongDir := newMessageAuth(messageKey(key, connID), true)
			otherConn := newMessageAuth(messageKey(key, connID+1), false)
			forged := map[uint64]string{
				msg(`{"text":"tampered"}`, func(f *frame) { f.body = []byte(`{"text":"tampered!"}`) }): "tampered body",
				msg(`{"text":"untagged"}`, func(f *frame) { f.flags, f.tag = 0, nil }):                 "no tag",
				msg(`{"text":"reflected"}`, func(f *frame) { f.tag = wrongDir.sign(f) }):               "server's direction",
				msg(`{"text":"replayed"}`, func(f *frame) { f.tag = otherConn.sign(f) }):               "another connection's key",
			}
			good := msg(`{"text":"genuine"}`, nil)

			fr := newFrameReader(p.br, 1<<20)
			p.st.SetReadDeadline(time.Now().Add(10 * time.Second))
			verifier := newMessageAuth(messageKey(key, connID), false)
			for len(forged) > 0 {
				var f frame
				if err := fr.read(&f); err != nil {
					t.Fatalf("reading the server's answers: %v (still waiting for %v)", err, forged)
				}
				switch f.kind {
				case frameError:
					what, ok := forged[f.seq]
					if !ok || f.code != CodeAuthFailed || !strings.Contains(string(f.reason), "authentication tag") {
						t.Fatalf("ERROR %s for message %d: %q", f.code, f.seq, f.reason)
					}
					delete(forged, f.seq)
					t.Logf("%s: refused with %s", what, f.code)
				case frameMessage:
					// The echo of a forged message would mean it was delivered.
					if !verifier.verify(&f) {
						t.Fatalf("the server's message %d has a bad tag", f.seq)
					}
					if !strings.Contains(string(f.body), "genuine") {
						t.Fatalf("the server echoed %s: a forged message was delivered", f.body)
					}
				case frameClose:
					t.Fatalf("the server closed the connection: %s %s", f.code, f.reason)
				}
			}
			// The genuine message is echoed, signed by the server.
			for {
				var f frame
				if err := fr.read(&f); err != nil {
					t.Fatalf("no echo of the genuine message %d: %v", good, err)
				}
				if f.kind == frameMessage {
					if !verifier.verify(&f) || !strings.Contains(string(f.body), "genuine") {
						t.Fatalf("echo %d %s: tag ok = %v", f.seq, f.body, verifier.verify(&f))
					}
					break
				}
			}
			st := s.conn(connID).stats()
			if st.GetAuthFailures() != 4 || st.GetReceivedMessages() != 5 {
				t.Errorf("stats: auth_failures %d, received %d; want 4 of 5", st.GetAuthFailures(), st.GetReceivedMessages())
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
			cl, err := Dial(ctxT(t), addr, WithClientSecret(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			conn, err := cl.Connect(ctxT(t), "auth.notes", WithOnRefused(func(e *RemoteError) { refused <- e }))
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
