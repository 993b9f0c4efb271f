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
