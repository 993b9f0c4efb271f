package iface

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// rawPeer is a client that speaks the protocol by hand, to break it.
type rawPeer struct {
	t    *testing.T
	sess *yamux.Session
	st   *yamux.Stream
	br   *bufio.Reader
	res  sessionpb.OpenResult
}

// badPeerServerOn serves logs.sink (which receives) and sensors.temperature
// (which sends) on a fresh tcp or unix listener.
func badPeerServerOn(t *testing.T, cfg Config, network string) (*Server, net.Listener, *manifest.Manifest) {
	m, err := manifest.Load(filepath.Join("..", "testdata", "manifests", "logs.sink.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sensors, err := manifest.Load(filepath.Join("..", "testdata", "manifests", "sensors.temperature.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(WithConfig(cfg))
	for _, i := range []Interface{{Manifest: m}, {Manifest: sensors}} {
		if err := s.Register(i); err != nil {
			t.Fatal(err)
		}
	}
	l := serveOn(t, s, network)
	return s, l, m
}

// serveOn runs s on a fresh tcp or unix listener until the test ends.
func serveOn(t *testing.T, s *Server, network string) net.Listener {
	addr := "127.0.0.1:0"
	if network == "unix" {
		// Short: a socket path has a length limit that t.TempDir can pass.
		dir, err := os.MkdirTemp("", "ifk")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "s.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l
}

// dialRaw opens a bare socket to l.
func dialRaw(t *testing.T, l net.Listener) net.Conn {
	raw, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func openRaw(t *testing.T, addr string, credits uint64) *rawPeer {
	p := openRawTo(t, addr, "logs.sink", credits)
	if p.res.GetCode() != 0 {
		t.Fatalf("handshake: %v", p.res.GetReason())
	}
	return p
}

// openRawTo opens a data stream to the named interface and reads the
// server's answer, whatever it is.
func openRawTo(t *testing.T, addr, iface string, credits uint64) *rawPeer {
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	raw, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	sess, st := rawStream(t, raw)
	p := &rawPeer{t: t, sess: sess, st: st, br: bufio.NewReader(st)}
	pbio.Write(st, &sessionpb.OpenStream{Interface: iface, Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"json"}, Credits: credits})
	if err := pbio.Read(p.br, &p.res, maxOpenResultBytes); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return p
}

// rawStream exchanges prefaces on raw, starts a yamux session over it
// (closed when the test ends) and opens a stream, sending nothing on it.
func rawStream(t *testing.T, raw net.Conn) (*yamux.Session, *yamux.Stream) {
	t.Helper()
	raw.Write(preface(prefaceOK))
	if _, err := readPreface(raw); err != nil {
		t.Fatal(err)
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
	return sess, st
}

func (p *rawPeer) send(f *data.Frame) { p.st.Write(data.AppendFrame(nil, f)) }

// closeFrame reads frames until the server's CLOSE and returns it.
func (p *rawPeer) closeFrame() *data.Frame {
	fr := data.NewFrameReader(p.br, 1<<20)
	p.st.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := fr.Read()
		if err != nil {
			p.t.Fatalf("no CLOSE from the server: %v", err)
		}
		if f.Kind == data.FrameClose {
			return f
		}
	}
}

const validRecord = `{"level":"info","message":"hello","time":"2026-11-22T10:00:00Z"}`

// Each bad peer gets a reason (where the protocol can carry one) and is cut
// off, while a bystander connection on the same server streams throughout
// and loses nothing.
func TestBadPeerIsCutOffWithAReason(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) { testBadPeers(t, network) })
	}
}

func testBadPeers(t *testing.T, network string) {
	s, l, m := badPeerServerOn(t, DefaultConfig(), network)
	recordID := m.Recv[0].ID
	byst := startBystander(t, s, l)
	cases := []struct {
		name   string
		frames func(p *rawPeer) []*data.Frame
		code   Code
		reason string
	}{
		{"credit violation", func(p *rawPeer) []*data.Frame {
			var fs []*data.Frame
			for i := uint64(1); i <= p.res.GetCredits()+1; i++ {
				fs = append(fs, &data.Frame{Kind: data.FrameMessage, Seq: i, TypeID: recordID, Body: []byte(validRecord)})
			}
			return fs
		}, CodeCreditViolation, "without credit"},
		{"sequence gap", func(*rawPeer) []*data.Frame {
			return []*data.Frame{{Kind: data.FrameMessage, Seq: 2, TypeID: recordID, Body: []byte(validRecord)}}
		}, CodeProtocolError, "sequence number 2 after 0"},
		{"unknown type", func(*rawPeer) []*data.Frame {
			return []*data.Frame{{Kind: data.FrameMessage, Seq: 1, TypeID: 99, Body: []byte(validRecord)}}
		}, CodeUnknownType, "type id 99"},
		{"unknown frame type", func(*rawPeer) []*data.Frame { return []*data.Frame{{Kind: 0x7f}} }, CodeProtocolError, "unknown frame type 0x7f"},
		{"a tag where none is declared", func(*rawPeer) []*data.Frame {
			return []*data.Frame{{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 1, TypeID: recordID, Tag: make([]byte, data.AuthTagLen), Body: []byte(validRecord)}}
		}, CodeProtocolError, "does not declare message_auth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := openRaw(t, l.Addr().String(), 0)
			for _, f := range tc.frames(p) {
				p.send(f)
			}
			f := p.closeFrame()
			if f.Code != tc.code || !strings.Contains(string(f.Reason), tc.reason) {
				t.Fatalf("CLOSE %s %q, want %s with %q", f.Code, f.Reason, tc.code, tc.reason)
			}
		})
	}
	t.Run("credit beyond flow.credits", func(t *testing.T) {
		// sensors.temperature sends; the raw client grants all its credits
		// at the open, then one more.
		p := openRawTo(t, l.Addr().String(), "sensors.temperature", 512)
		p.send(&data.Frame{Kind: data.FrameCredit, Credits: 1})
		if f := p.closeFrame(); f.Code != CodeProtocolError || !strings.Contains(string(f.Reason), "more than flow.credits (512)") {
			t.Fatalf("CLOSE %s %q, want protocol_error naming flow.credits", f.Code, f.Reason)
		}
	})
	t.Run("unknown interface", func(t *testing.T) {
		p := openRawTo(t, l.Addr().String(), "no.such", 0)
		if Code(p.res.GetCode()) != CodeUnknownInterface || !strings.Contains(p.res.GetReason(), "logs.sink") {
			t.Fatalf("open answer %s %q, want unknown_interface naming what the server has", Code(p.res.GetCode()), p.res.GetReason())
		}
	})
	t.Run("message the wrong way", func(t *testing.T) {
		// A client of sensors.temperature (the server sends) sends a Reading.
		p := openRawTo(t, l.Addr().String(), "sensors.temperature", 16)
		readingID := s.ifaces["sensors.temperature"].Manifest.Send[0].ID
		p.send(&data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: readingID, Body: []byte(`{"probe":"p1","celsius":1}`)})
		if f := p.closeFrame(); f.Code != CodeWrongDirection || !strings.Contains(string(f.Reason), "may not send") {
			t.Fatalf("CLOSE %s %q, want wrong_direction", f.Code, f.Reason)
		}
	})
	t.Run("length claiming gigabytes", func(t *testing.T) {
		p := openRaw(t, l.Addr().String(), 0)
		p.st.Write([]byte{data.FrameMessage, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0})
		if f := p.closeFrame(); f.Code != CodeMessageTooLarge {
			t.Fatalf("CLOSE %s %q, want message_too_large", f.Code, f.Reason)
		}
	})
	t.Run("invalid message refused, connection goes on", func(t *testing.T) {
		p := openRaw(t, l.Addr().String(), 0)
		p.send(&data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: recordID, Body: []byte(`{"level":"loud"}`)})
		p.send(&data.Frame{Kind: data.FrameMessage, Seq: 2, TypeID: recordID, Body: []byte(validRecord)})
		fr := data.NewFrameReader(p.br, 1<<20)
		p.st.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := fr.Read()
		if err != nil || f.Kind != data.FrameError || f.Code != CodeInvalidMessage || f.Seq != 1 {
			t.Fatalf("got frame %+v (%v), want ERROR invalid_message for message 1", f, err)
		}
		// The valid message after it was delivered: the connection lives.
		var c *Conn
		for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			c = s.conn(p.res.GetConnectionId())
		}
		msg, err := c.Recv(ctxT(t))
		if err != nil || msg.Seq != 2 {
			t.Fatalf("Recv = %v, %v; want message 2", msg, err)
		}
	})
	t.Run("message over max_message_bytes", func(t *testing.T) {
		p := openRaw(t, l.Addr().String(), 0)
		p.send(&data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: recordID, Body: make([]byte, m.Flow.MaxMessageBytes+1)})
		if f := p.closeFrame(); f.Code != CodeMessageTooLarge || !strings.Contains(string(f.Reason), "max_message_bytes") {
			t.Fatalf("CLOSE %s %q, want message_too_large naming max_message_bytes", f.Code, f.Reason)
		}
	})
	t.Run("socket closed mid-frame", func(t *testing.T) {
		p := openRaw(t, l.Addr().String(), 0)
		whole := data.AppendFrame(nil, &data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: recordID, Body: []byte(validRecord)})
		p.st.Write(whole[:len(whole)/2])
		var c *Conn
		for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			c = s.conn(p.res.GetConnectionId())
		}
		p.sess.Close() // the whole socket goes, half a frame in
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the server kept a connection whose socket closed mid-frame")
		}
		if !errors.Is(c.Err(), ErrTransport) || !strings.Contains(c.Err().Error(), "middle of a frame") {
			t.Fatalf("the server's connection ended with %v, want transport_error: the stream ended in the middle of a frame", c.Err())
		}
	})
	t.Run("wrong protocol version", func(t *testing.T) {
		raw := dialRaw(t, l)
		raw.Write([]byte{'I', 'F', 'K', 'T', 99, 0, 0, 0})
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		status, err := readPreface(raw)
		if err != nil || status != prefaceBadVersion {
			t.Fatalf("preface answer: status %d, %v; want status %d (bad version) with the server's version", status, err, prefaceBadVersion)
		}
	})
	t.Run("random bytes", func(t *testing.T) {
		raw := dialRaw(t, l)
		junk := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		raw.Write(junk)
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		// The server closes without a word (a reset, as it leaves bytes unread).
		if n, err := io.Copy(io.Discard, raw); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the server answered random bytes with %d bytes (%v); want the socket closed", n, err)
		}
	})
	t.Run("garbage before the preface", func(t *testing.T) {
		raw := dialRaw(t, l)
		raw.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf [8]byte
		if n, err := raw.Read(buf[:]); n != 0 || err == nil {
			t.Fatalf("the server answered a non-ifkit peer: %q %v", buf[:n], err)
		}
	})
	byst.check(t)
	// The server is unharmed: a proper client still works.
	cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	conn, err := cl.Connect(ctxT(t), "logs.sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Send(ctxT(t), "Record", json.RawMessage(validRecord)); err != nil {
		t.Fatal(err)
	}
	conn.Close("")
}

// bystander is a well-behaved connection that streams while bad peers
// attack the same server.
type bystander struct {
	server *Conn
	client *Client
	conn   *Conn
	sent   chan error
	n      int
}

func startBystander(t *testing.T, s *Server, l net.Listener) *bystander {
	cl, err := Dial(ctxT(t), l.Addr().Network()+"://"+l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	conn, err := cl.Connect(ctxT(t), "logs.sink")
	if err != nil {
		t.Fatal(err)
	}
	b := &bystander{client: cl, conn: conn, sent: make(chan error, 1), n: 3000}
	for deadline := time.Now().Add(5 * time.Second); b.server == nil && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		b.server = s.conn(conn.ID())
	}
	go func() {
		for i := 0; i < b.n; i++ {
			if err := conn.Send(context.Background(), "Record", json.RawMessage(validRecord)); err != nil {
				b.sent <- err
				return
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // spread over the attacks
			}
		}
		b.sent <- nil
	}()
	return b
}

// check says whether every message arrived, in order, with the connection
// still open on both ends.
func (b *bystander) check(t *testing.T) {
	t.Helper()
	for i := 1; i <= b.n; i++ {
		msg, err := b.server.Recv(ctxT(t))
		if err != nil {
			t.Fatalf("bystander: message %d of %d lost: %v", i, b.n, err)
		}
		if msg.Seq != uint64(i) {
			t.Fatalf("bystander: message %d arrived as %d", i, msg.Seq)
		}
	}
	if err := <-b.sent; err != nil {
		t.Fatalf("bystander: send: %v", err)
	}
	if b.conn.Err() != nil || b.server.Err() != nil {
		t.Fatalf("bystander: the connection ended: client %v, server %v", b.conn.Err(), b.server.Err())
	}
	t.Logf("bystander: %d of %d messages received in order during the attacks, connection open on both ends", b.n, b.n)
	b.conn.Close("done")
}

func TestSlowlorisHandshakeIsCutOff(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HandshakeTimeout = 100 * time.Millisecond
			_, l, _ := badPeerServerOn(t, cfg, network)
			raw := dialRaw(t, l)
			raw.Write([]byte("IFK")) // and then nothing
			raw.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := raw.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				t.Fatalf("read = %v; want the server to hang up after its handshake timeout", err)
			}

			// A stream opened whose handshake never comes is refused, saying why.
			_, st := rawStream(t, dialRaw(t, l))
			st.Write(nil) // the stream exists; its handshake never follows
			var res sessionpb.OpenResult
			st.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := pbio.Read(bufio.NewReader(st), &res, maxOpenResultBytes); err != nil {
				t.Fatalf("no answer to a stream without a handshake: %v", err)
			}
			if Code(res.GetCode()) != CodeLimitExceeded || !strings.Contains(res.GetReason(), "handshake timeout (100ms)") {
				t.Fatalf("answer %s %q, want limit_exceeded naming the handshake timeout", Code(res.GetCode()), res.GetReason())
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func ctxT(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}
