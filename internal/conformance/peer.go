package conformance

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

//go:embed scenario.yaml
var scenarioYAML []byte

// scenarioManifest is the manifest of a scripted interface (scenario.yaml).
func scenarioManifest(name string, auth bool) (*manifest.Manifest, error) {
	a := "none"
	if auth {
		a = manifest.MessageAuthHMAC
	}
	y := strings.NewReplacer("name: NAME", "name: "+name, "message_auth: AUTH", "message_auth: "+a).Replace(string(scenarioYAML))
	return manifest.Parse(name+".yaml", []byte(y))
}

// Timeouts of the scripted peers: how long they wait for what the client
// must send. Generous, so a slow CI machine passes; a client that never
// sends it fails after this long.
const (
	waitFrame = 5 * time.Second
	// quiet is how long a peer watches for a frame that must not come.
	quiet = 300 * time.Millisecond
)

// frameOrErr is what a peer's reader goroutine hands over.
type frameOrErr struct {
	f   *data.Frame
	err error
}

// peer is the server end of one scripted DATA stream, writing frames by hand
// with data.AppendFrame and reading the client's with data.FrameReader.
type peer struct {
	st     net.Conn
	req    *sessionpb.OpenStream
	m      *manifest.Manifest
	id     uint64
	key    []byte // the message key, on an authenticated interface
	seq    uint64 // the last MESSAGE seq this end sent
	frames chan frameOrErr
	wg     sync.WaitGroup
}

func newPeer(st net.Conn, br *bufio.Reader, req *sessionpb.OpenStream, m *manifest.Manifest, id uint64, key []byte) *peer {
	p := &peer{st: st, req: req, m: m, id: id, key: key, frames: make(chan frameOrErr, 256)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fr := data.NewFrameReader(br, m.Flow.MaxMessageBytes+54)
		for {
			f, err := fr.Read()
			p.frames <- frameOrErr{f, err}
			if err != nil {
				close(p.frames)
				return
			}
		}
	}()
	return p
}

// close ends the stream and waits for the reader.
func (p *peer) close() {
	p.st.Close()
	for range p.frames {
	}
	p.wg.Wait()
}

func (p *peer) write(b []byte) error {
	p.st.SetWriteDeadline(time.Now().Add(waitFrame))
	_, err := p.st.Write(b)
	return err
}

func (p *peer) frame(f *data.Frame) error { return p.write(data.AppendFrame(nil, f)) }

// message sends a MESSAGE with the next sequence number (signed when the
// interface authenticates messages).
func (p *peer) message(typeID uint32, corr uint64, flags byte, body string) error {
	p.seq++
	f := &data.Frame{Kind: data.FrameMessage, Flags: flags, Seq: p.seq, TypeID: typeID, Corr: corr, Body: []byte(body)}
	if p.key != nil {
		f.Flags |= data.FlagAuth
		f.Tag = data.Tag(p.key, true, f)
	}
	return p.frame(f)
}

// next returns the client's next frame, or an error (io.EOF at its FIN, a
// timeout after d).
func (p *peer) next(d time.Duration) (*data.Frame, error) {
	select {
	case fe, ok := <-p.frames:
		if !ok {
			return nil, io.EOF
		}
		return fe.f, fe.err
	case <-time.After(d):
		return nil, errTimeout
	}
}

var errTimeout = errors.New("timed out")

// nextOf returns the client's next frame of kind, skipping CREDIT frames
// (which a client may send at any time) unless kind is CREDIT.
func (p *peer) nextOf(kind byte, d time.Duration) (*data.Frame, error) {
	deadline := time.Now().Add(d)
	for {
		f, err := p.next(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if f.Kind == kind {
			return f, nil
		}
		if f.Kind != data.FrameCredit {
			return f, fmt.Errorf("the client sent %s, not a frame of kind %d", f, kind)
		}
	}
}

// expectClose passes when the client's next frame (CREDIT frames aside) is a
// CLOSE with want.
func (p *peer) expectClose(want codes.Code) (bool, string) {
	f, err := p.nextOf(data.FrameClose, waitFrame)
	if err != nil {
		return false, fmt.Sprintf("the client must end the connection with CLOSE %s: %v", want, err)
	}
	if f.Code != want {
		return false, fmt.Sprintf("the client sent CLOSE %s (%q), not %s", f.Code, f.Reason, want)
	}
	return true, fmt.Sprintf("the client sent CLOSE %s (%q)", f.Code, f.Reason)
}

// finish ends the connection from this side with normal_close and waits for
// the client's FIN; the client must not answer CLOSE with a CLOSE.
func (p *peer) finish() (bool, string) {
	// A write error is not the client's fault unless what it sent says so:
	// hashicorp/yamux may report a shutdown for a frame it did deliver.
	p.frame(&data.Frame{Kind: data.FrameClose, Code: codes.NormalClose, Reason: []byte("scenario done")})
	closeWrite(p.st)
	for {
		f, err := p.next(waitFrame)
		if errors.Is(err, io.EOF) {
			return true, ""
		}
		if err != nil {
			return false, fmt.Sprintf("after the server's CLOSE the client must close its side: %v", err)
		}
		if f.Kind == data.FrameClose {
			return false, fmt.Sprintf("the client answered CLOSE with a CLOSE (%s): §11.1 says it must not", f.Code)
		}
	}
}

// closeWrite half-closes a stream: hashicorp/yamux's Close sends FIN and
// the stream stays readable until the peer's FIN.
func closeWrite(c net.Conn) { c.Close() }

// --- the session set-up of a scripted server ---------------------------------

var magic = []byte("IFKT")

func preface(status byte) []byte { return []byte{'I', 'F', 'K', 'T', 1, status, 0, 0} }

func authMAC(secret []byte, label string, a, b []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("ifkit-auth-v1 " + label))
	m.Write(a)
	m.Write(b)
	return m.Sum(nil)
}

// serverExchange runs the server's side of the shared-secret exchange
// (spec/PROTOCOL.md §3.5) and returns the session key.
func serverExchange(c net.Conn, secret []byte) ([]byte, error) {
	sn := make([]byte, 32)
	rand.Read(sn)
	if _, err := c.Write(sn); err != nil {
		return nil, err
	}
	proof := make([]byte, 64)
	if _, err := io.ReadFull(c, proof); err != nil {
		return nil, err
	}
	cn := proof[:32]
	if !hmac.Equal(proof[32:], authMAC(secret, "client", sn, cn)) {
		c.Write([]byte{0x04})
		return nil, errors.New("the client's MAC is wrong")
	}
	if _, err := c.Write(append([]byte{0x00}, authMAC(secret, "server", cn, sn)...)); err != nil {
		return nil, err
	}
	return authMAC(secret, "session", sn, cn), nil
}

func messageKey(sessKey []byte, id uint64) []byte {
	return authMAC(sessKey, "message", binary.BigEndian.AppendUint64(nil, id), nil)
}

// readClientPreface reads the client's 8 bytes and says whether they are the
// version-1 client preface.
func readClientPreface(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(waitFrame))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, 8)
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("reading the client's preface: %w", err)
	}
	if !bytes.Equal(b, preface(0)) {
		return fmt.Errorf("the client's preface is % x, not % x", b, preface(0))
	}
	return nil
}

// readOpenStream reads a stream's handshake.
func readOpenStream(st net.Conn) (*bufio.Reader, *sessionpb.OpenStream, error) {
	br := bufio.NewReader(st)
	var req sessionpb.OpenStream
	st.SetReadDeadline(time.Now().Add(waitFrame))
	defer st.SetReadDeadline(time.Time{})
	if err := pbio.Read(br, &req, 64<<10); err != nil {
		return nil, nil, err
	}
	return br, &req, nil
}
