package iface

import (
	"bufio"
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
)

func FuzzReadPreface(f *testing.F) {
	f.Add(preface(prefaceOK))
	f.Add([]byte("IFKT\x02\x00\x00\x00"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n"))
	f.Add([]byte("IF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		status, err := readPreface(bytes.NewReader(data))
		if err == nil && (len(data) < prefaceLen || !bytes.Equal(data[:4], magic[:]) || data[4] != protocolVersion || status != data[5]) {
			t.Fatalf("accepted %q", data)
		}
	})
}

// fuzzMsg checks a length-delimited protobuf reader for one message type.
func fuzzMsg(f *testing.F, seeds []proto.Message, newMsg func() proto.Message) {
	for _, m := range seeds {
		var buf bytes.Buffer
		pbio.Write(&buf, m)
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}) // a length of 4 GiB
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMsg()
		if err := pbio.Read(bufio.NewReader(bytes.NewReader(data)), m, maxHandshakeBytes); err != nil {
			return
		}
		var buf bytes.Buffer
		if err := pbio.Write(&buf, m); err != nil {
			t.Fatal(err)
		}
		again := newMsg()
		if err := pbio.Read(bufio.NewReader(&buf), again, maxHandshakeBytes+64); err != nil || !proto.Equal(m, again) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzReadOpenStream(f *testing.F) {
	fuzzMsg(f, []proto.Message{
		&sessionpb.OpenStream{Interface: "db.kv", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"proto", "json"}, Credits: 64},
		&sessionpb.OpenStream{Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL, ConnectionId: 7},
	}, func() proto.Message { return &sessionpb.OpenStream{} })
}

func FuzzReadControlFrame(f *testing.F) {
	fuzzMsg(f, []proto.Message{
		&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: &controlpb.Request{Id: 1, Op: &controlpb.Request_Reset_{Reset_: &controlpb.Reset{Position: "42"}}}}},
		&controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Notification{Notification: &controlpb.Notification{Event: &controlpb.Notification_Draining{Draining: &controlpb.Draining{DeadlineUnixMs: 1000}}}}},
	}, func() proto.Message { return &controlpb.ControlFrame{} })
}

// FuzzReadRelayHello: a relay reads a hello from any peer; it never panics,
// and accepts only a well-formed one.
func FuzzReadRelayHello(f *testing.F) {
	f.Add([]byte("IFKR\x01\x01\x02kv"))
	f.Add([]byte("IFKR\x01\x03\x00"))
	f.Add([]byte("IFKR\x01\x02\xffshort"))
	f.Add([]byte("IFKR\x02\x02\x02kv"))
	f.Add([]byte("IFKT\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		role, name, _, err := readRelayHello(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(data) < 7 || string(data[:4]) != "IFKR" || data[4] != relayVersion || role != data[5] || name != string(data[7:7+int(data[6])]) {
			t.Fatalf("accepted %q as role %d name %q", data, role, name)
		}
	})
}
