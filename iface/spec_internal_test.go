package iface

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
)

// TestSpecAppendix checks the hex of spec/PROTOCOL.md's Appendix A against
// what the implementation writes for the same values, so that the spec a
// client in another language is written from cannot drift from the code.
// Each vector names the annotation its hex stands on (or, when the
// annotation has a line of its own, the line after the hex).
func TestSpecAppendix(t *testing.T) {
	raw, err := os.ReadFile("../spec/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	spec := string(raw)
	appendix := spec[strings.Index(spec, "## Appendix A"):]

	secret := []byte("0123456789abcdef0123456789abcdef")
	serverNonce, clientNonce := seq(0x00, 32), seq(0x20, 32)
	sessKey := sessionKey(secret, serverNonce, clientNonce)
	msgKey := messageKey(sessKey, 1)
	authed := &data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 1, TypeID: 1, Body: []byte("hi")}
	authed.Tag = data.Tag(msgKey, false, authed)
	fromServer := data.Tag(msgKey, true, &data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 1, TypeID: 1, Body: []byte("hi")})
	reading1 := unhex(t, "11 00 00 00 00 00 80 35 40 22 05 6e 6f 72 74 68 0a 02 70 31")
	reading2 := unhex(t, "0a 02 70 32 11 00 00 00 00 00 00 02 c0")
	frame := func(f *data.Frame) []byte { return data.AppendFrame(nil, f) }
	ctl := func(f *controlpb.ControlFrame) []byte { return encodeMsg(f) }

	for _, v := range []struct {
		section, anchor string
		lines           int // lines of hex from the anchor's line (or the line before it)
		want            []byte
	}{
		{"A.1", "client:", 1, preface(prefaceOK)},
		{"A.1", "server, ok:", 1, preface(prefaceOK)},
		{"A.1", "server, auth required:", 1, preface(prefaceAuthRequired)},
		{"A.1", "server, refused (draining):", 1, preface(prefaceRefused)},
		{"A.2", `HMAC(secret, "ifkit-auth-v1 client"`, 1, authMAC(secret, "client", serverNonce, clientNonce)},
		{"A.2", `HMAC(secret, "ifkit-auth-v1 server"`, 1, authMAC(secret, "server", clientNonce, serverNonce)},
		{"A.2", "session_key    =", 1, sessKey},
		{"A.2", "message_key(1) =", 1, msgKey},
		{"A.4", "MESSAGE, flags 0, length 23", 5, frame(&data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: 1, Body: reading1})},
		{"A.4", "MESSAGE, flags 0, length 16", 3, frame(&data.Frame{Kind: data.FrameMessage, Seq: 2, TypeID: 1, Body: reading2})},
		{"A.5", "CREDIT, length 2, credits 2, consumed 2", 1, frame(&data.Frame{Kind: data.FrameCredit, Credits: 2, Seq: 2})},
		{"A.6", "LD(ControlFrame{request{id 1, ping{}}})", 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: &controlpb.Request{Id: 1, Op: &controlpb.Request_Ping{Ping: &controlpb.Ping{}}}}})},
		{"A.6", "LD(ControlFrame{response{id 1, pong \"\"}})", 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Response{Response: &controlpb.Response{Id: 1, Result: &controlpb.Response_Pong{Pong: []byte{}}}}})},
		{"A.6", `request{id 1, ping{payload "hi"}}`, 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: &controlpb.Request{Id: 1, Op: &controlpb.Request_Ping{Ping: &controlpb.Ping{Payload: []byte("hi")}}}}})},
		{"A.6", `response{id 1, pong "hi"}`, 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Response{Response: &controlpb.Response{Id: 1, Result: &controlpb.Response_Pong{Pong: []byte("hi")}}}})},
		{"A.6", "request{id 2, pause{}}", 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: &controlpb.Request{Id: 2, Op: &controlpb.Request_Pause{Pause: &controlpb.Pause{}}}}})},
		{"A.6", "response{id 2} (code 0, no result)", 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Response{Response: &controlpb.Response{Id: 2}}})},
		{"A.6", "notification{draining{deadline_unix_ms 1795000000000}}", 1, ctl(&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Notification{Notification: &controlpb.Notification{Event: &controlpb.Notification_Draining{Draining: &controlpb.Draining{DeadlineUnixMs: 1795000000000}}}}})},
		{"A.7", "CLOSE, length 5, code 1 (normal_close)", 1, frame(&data.Frame{Kind: data.FrameClose, Code: codes.NormalClose, Reason: []byte("done")})},
		{"A.8", "tag        ", 1, authed.Tag},
		{"A.8", "MESSAGE, flags AUTH, length 21", 4, frame(authed)},
		{"A.8", "has the tag", 1, fromServer},
		{"A.9", "MESSAGE, length 15: seq 300", 1, frame(&data.Frame{Kind: data.FrameMessage, Seq: 300, TypeID: 2, Corr: 7, Body: []byte(`{"key":"a"}`)})},
		{"A.9", "MESSAGE, flags REPLY, length 5", 1, frame(&data.Frame{Kind: data.FrameMessage, Flags: data.FlagReply, Seq: 5, TypeID: 3, Corr: 7, Body: []byte(`{}`)})},
		{"A.9", "END, length 1: corr 7", 1, frame(&data.Frame{Kind: data.FrameEnd, Corr: 7})},
		{"A.9", "ERROR, length 5: code 4", 1, frame(&data.Frame{Kind: data.FrameError, Code: codes.InvalidMessage, Seq: 4, Reason: []byte("bad")})},
		{"A.9", "CREDIT, length 3: credits 256", 1, frame(&data.Frame{Kind: data.FrameCredit, Credits: 256, Seq: 17})},
		{"A.10", "LD(OpenStream{interface", 1, encodeMsg(&sessionpb.OpenStream{Interface: "demo.counter", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Resume: &sessionpb.ResumeState{Token: seq(0, 16), Received: 7, Granted: 16, Consumed: 5}})},
		{"A.10", "CREDIT, length 3: credits 0, consumed 5, received 7", 1, frame(&data.Frame{Kind: data.FrameCredit, Seq: 5, Received: 7, HasReceived: true})},
	} {
		got := specHex(t, appendix, v.section, v.anchor, v.lines)
		if !bytes.Equal(got, v.want) {
			t.Errorf("%s %q:\n spec % x\n code % x", v.section, v.anchor, got, v.want)
		}
	}
}

// hexRun is two or more hex bytes apart, or one long hex string.
var hexRun = regexp.MustCompile("(?:^|[\\s`])((?:[0-9a-f]{2}(?: |$|`)){2,}|[0-9a-f]{32,})")

// specHex returns the bytes of lines of hex in a section of the appendix,
// starting at the line holding anchor, or, when the anchor's own line holds
// no hex, at the line before it if that one does, else the line after.
func specHex(t *testing.T, appendix, section, anchor string, lines int) []byte {
	t.Helper()
	start := strings.Index(appendix, "### "+section+" ")
	if start < 0 {
		t.Fatalf("spec: no section %s in Appendix A", section)
	}
	text := appendix[start:]
	if end := strings.Index(text[4:], "\n### "); end >= 0 {
		text = text[:end+4]
	}
	all := strings.Split(text, "\n")
	for i, line := range all {
		if !strings.Contains(line, anchor) {
			continue
		}
		if hexOf(line) == nil {
			if i > 0 && hexOf(all[i-1]) != nil {
				i-- // the annotation is on the line after its hex
			} else {
				i++ // the hex is on the line after its annotation
			}
		}
		var out []byte
		for _, l := range all[i:min(i+lines, len(all))] {
			h := hexOf(l)
			if h == nil {
				t.Fatalf("spec %s %q: the line %q holds no hex", section, anchor, l)
			}
			out = append(out, h...)
		}
		return out
	}
	t.Fatalf("spec %s: no line holds %q", section, anchor)
	return nil
}

// hexOf returns the first run of hex bytes on a line, or nil; a lone byte
// ("consumed 17", "`01`") is prose, not hex.
func hexOf(line string) []byte {
	m := hexRun.FindStringSubmatch(line)
	if m == nil {
		return nil
	}
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "`", "").Replace(m[1]))
	if err != nil {
		return nil
	}
	return b
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// goAwaySeen records whether a yamux Go Away came in over a connection.
type goAwaySeen struct {
	net.Conn
	mu   sync.Mutex
	read []byte
}

func (g *goAwaySeen) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	g.mu.Lock()
	g.read = append(g.read, p[:n]...)
	g.mu.Unlock()
	return n, err
}

// sawGoAway walks the yamux frames read after the preface.
func (g *goAwaySeen) sawGoAway() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.read[min(len(g.read), prefaceLen):]
	for len(b) >= 12 {
		typ, length := b[1], binary.BigEndian.Uint32(b[8:12])
		if typ == 3 {
			return true
		}
		b = b[12:]
		if typ == 0 {
			b = b[min(len(b), int(length)):]
		}
	}
	return false
}

// Issue 12, finding 3: closing a session sends a yamux Go Away (§3.6,
// §11.4, §11.5), which yamux's Session.Close alone does not.
func TestServerCloseSendsGoAway(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s, l, _ := badPeerServerOn(t, DefaultConfig(), network)
			var seen *goAwaySeen
			c := &Client{common: defaultCommon(), manifests: NewManifestCache(), dialRaw: func(ctx context.Context, a Addr, tc *tls.Config) (net.Conn, error) {
				raw, err := dialAddr(ctx, a, tc)
				if err == nil {
					seen = &goAwaySeen{Conn: raw}
					return seen, nil
				}
				return nil, err
			}}
			a, _ := ParseAddr(l.Addr().Network() + "://" + l.Addr().String())
			if err := c.dial(ctxT(t), a); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Connect(ctxT(t), "logs.sink"); err != nil {
				t.Fatal(err)
			}
			s.Close()
			<-c.Done()
			if !seen.sawGoAway() {
				t.Fatal("the server closed the session without a yamux Go Away")
			}
		})
	}
}
