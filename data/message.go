package data

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/manifest"
)

// Message is one received message.
//
// A Message from Recv, a reply, or a queued handler is owned: it and its
// Data stay valid for as long as the program keeps them.
//
// A Message given to a RecvFunc function or an inline handler
// (Config.InlineHandlers) is borrowed: it and its Data are valid only until
// that call returns, after which the connection reuses both for the next
// message (that is what makes the path free of copies and allocations).
// Decode it, or Clone it to keep it. Borrowed reports which it is.
type Message struct {
	Type *manifest.MessageType // its type, from the manifest
	Seq  uint64                // its sequence number on the connection (1, 2, …)
	Data []byte                // its encoding in the connection's codec, already checked against Type

	conn     *Conn
	corr     uint64 // non-zero for a request or a reply
	reply    bool
	borrowed bool // valid only during the call it was given to
}

// Borrowed reports whether the message is valid only during the call it
// was given to (see Message).
func (m *Message) Borrowed() bool { return m.borrowed }

// Clone returns an owned copy of the message, with its own Data, that stays
// valid after a borrowed original is reused. Replies to the copy work as
// they would to the original (and wait for credit, since the copy is not
// used on the connection's reader).
func (m *Message) Clone() *Message {
	c := *m
	c.Data = append(make([]byte, 0, len(m.Data)), m.Data...)
	c.borrowed = false
	return &c
}

// Decode decodes the message into v: a proto.Message (generated or dynamic,
// see Type.New) for the proto and json codecs, a *json.RawMessage or any
// pointer encoding/json fills for json, a *[]byte for raw.
func (m *Message) Decode(v any) error {
	return m.conn.codec.Unmarshal(m.Data, &m.Type.Type, v)
}

// JSON returns the message's value as compact JSON, whatever the codec:
// the protobuf JSON mapping (default values included) for proto, the text
// itself for json, a base64 string of the bytes for raw. It is what tools
// that print or forward messages as JSON (ifctl, the HTTP gateway) show.
func (m *Message) JSON() (json.RawMessage, error) {
	var text []byte
	switch m.conn.codec.Name() {
	case codec.NameProto:
		pm := m.Type.New()
		if pm == nil {
			return nil, fmt.Errorf("ifkit: %s came as protobuf but has no protobuf definition to decode it with", m.Type.Name)
		}
		if err := m.Decode(pm); err != nil {
			return nil, err
		}
		b, err := protojson.MarshalOptions{EmitDefaultValues: true}.Marshal(pm)
		if err != nil {
			return nil, err
		}
		text = b
	case codec.NameJSON:
		text = m.Data
	default:
		return json.Marshal(m.Data) // a []byte marshals as base64
	}
	var buf bytes.Buffer // protojson varies its spacing on purpose; the text is as sent
	if err := json.Compact(&buf, text); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// IsRequest reports whether the sender expects a reply (the type declares
// one and the sender used Call or CallStream).
func (m *Message) IsRequest() bool { return m.corr != 0 && !m.reply }

// Reply sends v in answer to this request. For a type whose reply is a
// stream, call Reply for each item and then End. A Reply to a borrowed
// message runs on the connection's reader, which is the only way the peer's
// credit can arrive: where it would wait for credit it fails with an error
// matching ErrNoCredit instead (Clone the message and reply from another
// goroutine to wait).
func (m *Message) Reply(ctx context.Context, v any) error {
	if !m.IsRequest() {
		return fmt.Errorf("ifkit: %s message %d is not a request; only requests sent with Call get replies", m.Type.Name, m.Seq)
	}
	return m.conn.send(ctx, m.Type.Reply.Type, v, m.corr, FlagReply, m.borrowed)
}

// End ends the reply stream of this request.
func (m *Message) End(ctx context.Context) error {
	if !m.IsRequest() || !m.Type.Reply.Stream {
		return fmt.Errorf("ifkit: %s does not answer with a stream; use Reply", m.Type.Name)
	}
	return m.conn.out.putEnd(&outMsg{corr: m.corr})
}

// Conn returns the connection the message arrived on.
func (m *Message) Conn() *Conn { return m.conn }

// rxSlab allocates received messages in blocks, so that a stream of small
// messages costs one allocation per block rather than two per message. A
// Message the application keeps keeps its block alive (at most
// rxSlabBytes + rxSlabMessages Messages); the collector frees a block once
// none of its messages is referenced.
type rxSlab struct {
	bytes []byte
	msgs  []Message
}

const (
	rxSlabBytes    = 16 << 10
	rxSlabMessages = 64
	// rxSlabMaxBody is the largest body carved from a block; larger ones
	// get their own allocation.
	rxSlabMaxBody = 2 << 10
)

// message returns a zero Message.
func (s *rxSlab) message() *Message {
	if len(s.msgs) == 0 {
		s.msgs = make([]Message, rxSlabMessages)
	}
	m := &s.msgs[0]
	s.msgs = s.msgs[1:]
	return m
}

// keep returns a zero Message for body, which is in memory of its own that
// nothing else uses (a large body read straight from the stream): no copy.
func (s *rxSlab) keep(body []byte) (*Message, []byte) {
	return s.message(), body[:len(body):len(body)]
}

// alloc returns a zero Message and a copy of body for it.
func (s *rxSlab) alloc(body []byte) (*Message, []byte) {
	m := s.message()
	if len(body) > rxSlabMaxBody {
		return m, append([]byte(nil), body...)
	}
	if len(body) > cap(s.bytes)-len(s.bytes) {
		s.bytes = make([]byte, 0, rxSlabBytes)
	}
	start := len(s.bytes)
	s.bytes = append(s.bytes, body...)
	// The three-index slice keeps an append to Data from running into the
	// next message's bytes.
	return m, s.bytes[start:len(s.bytes):len(s.bytes)]
}
