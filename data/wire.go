package data

import (
	"bufio"
	"fmt"

	"github.com/ifkit/ifkit/codes"
)

// The frame kinds and MESSAGE flags of spec/PROTOCOL.md §6.
const (
	FrameMessage = 0x01
	FrameCredit  = 0x02
	FrameError   = 0x03
	FrameEnd     = 0x04
	FrameClose   = 0x05

	FlagReply = 0x01 // the MESSAGE answers a request
	FlagAuth  = 0x02 // the MESSAGE carries an authentication tag
	// AuthTagLen is the length of a message's tag: HMAC-SHA256, truncated.
	AuthTagLen = 16
)

// Frame is one data frame with its fields as spec/PROTOCOL.md §6 lays them
// out, for programs and tests that speak the protocol by hand (a peer in
// another language checks its encoding against AppendFrame; a test plays a
// misbehaving peer). A Conn does not use it: it encodes and decodes in
// place.
type Frame struct {
	Kind    byte
	Flags   byte
	Seq     uint64 // MESSAGE: its sequence number; CREDIT: consumed up to; ERROR: the refused message
	TypeID  uint32 // MESSAGE
	Corr    uint64 // MESSAGE, END: the correlation id
	Credits uint64 // CREDIT
	Code    codes.Code
	Reason  []byte // ERROR, CLOSE
	Tag     []byte // MESSAGE with FlagAuth: AuthTagLen bytes
	Body    []byte // MESSAGE
	// CREDIT on a resumable connection (spec/PROTOCOL.md §4.10.1): the
	// reliable frames its sender received; HasReceived says it is there.
	Received    uint64
	HasReceived bool
}

func (f *Frame) internal() *frame {
	return &frame{kind: f.Kind, flags: f.Flags, seq: f.Seq, typeID: f.TypeID, corr: f.Corr, credits: f.Credits, code: f.Code, reason: f.Reason, tag: f.Tag, body: f.Body, received: f.Received, hasReceived: f.HasReceived}
}

// AppendFrame appends f's encoding to dst. Reasons longer than 1024 bytes
// are cut to 1024, as a Conn sends them.
func AppendFrame(dst []byte, f *Frame) []byte { return appendFrame(dst, f.internal()) }

// FrameReader reads frames from a stream, as a Conn does.
type FrameReader struct{ fr *frameReader }

// NewFrameReader reads frames from r, refusing any frame whose length is
// over maxLen before reading its body.
func NewFrameReader(r *bufio.Reader, maxLen int) *FrameReader {
	return &FrameReader{newFrameReader(r, maxLen)}
}

// Read reads the next frame. Its byte slices are copies the caller keeps.
// A frame that breaks the layout is an error wrapping ErrMalformed (or
// ErrFrameTooLarge); the stream's own errors (io.EOF, io.ErrUnexpectedEOF
// mid-frame) are returned as they are.
func (r *FrameReader) Read() (*Frame, error) {
	var f frame
	if err := r.fr.read(&f); err != nil {
		return nil, err
	}
	return &Frame{
		Kind: f.kind, Flags: f.flags, Seq: f.seq, TypeID: f.typeID, Corr: f.corr, Credits: f.credits, Code: f.code,
		Reason: clone(f.reason), Tag: clone(f.tag), Body: clone(f.body), Received: f.received, HasReceived: f.hasReceived,
	}, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// String describes the frame for test failures and logs.
func (f *Frame) String() string {
	switch f.Kind {
	case FrameMessage:
		return fmt.Sprintf("MESSAGE seq=%d type=%d corr=%d flags=%#x body=%dB", f.Seq, f.TypeID, f.Corr, f.Flags, len(f.Body))
	case FrameCredit:
		if f.HasReceived {
			return fmt.Sprintf("CREDIT credits=%d consumed=%d received=%d", f.Credits, f.Seq, f.Received)
		}
		return fmt.Sprintf("CREDIT credits=%d consumed=%d", f.Credits, f.Seq)
	case FrameError:
		return fmt.Sprintf("ERROR %s seq=%d %q", f.Code, f.Seq, f.Reason)
	case FrameEnd:
		return fmt.Sprintf("END corr=%d", f.Corr)
	case FrameClose:
		return fmt.Sprintf("CLOSE %s %q", f.Code, f.Reason)
	}
	return fmt.Sprintf("frame kind %#x", f.Kind)
}
