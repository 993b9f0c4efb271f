package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestFrameCutShort: a stream that ends inside a frame — in its header,
// right after it, or in its body, small or large — is io.ErrUnexpectedEOF
// (the connection then ends "in the middle of a frame"); one that ends
// between frames is io.EOF.
func TestFrameCutShort(t *testing.T) {
	frameOf := func(n int) []byte {
		b := make([]byte, frameHeaderLen+n)
		b[0] = FrameMessage
		binary.BigEndian.PutUint32(b[4:], uint32(n))
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"nothing", nil, io.EOF},
		{"half a header", frameOf(100)[:4], io.ErrUnexpectedEOF},
		{"a header, no body (small)", frameOf(100)[:frameHeaderLen], io.ErrUnexpectedEOF},
		{"a header, no body (5000)", frameOf(5000)[:frameHeaderLen], io.ErrUnexpectedEOF},
		{"a header, no body (20000)", frameOf(20000)[:frameHeaderLen], io.ErrUnexpectedEOF},
		{"half a body", frameOf(5000)[:frameHeaderLen+2500], io.ErrUnexpectedEOF},
		{"half a large body", frameOf(40000)[:frameHeaderLen+20000], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(bufio.NewReader(bytes.NewReader(tc.data)), 1<<20)
			var f frame
			if err := fr.read(&f); !errors.Is(err, tc.want) {
				t.Fatalf("read = %v, want %v", err, tc.want)
			}
		})
	}
}

// Issue 12, findings 2 and 5: a type id over 2^31 and an over-long varint
// are protocol errors that say so (they were a type id 0 and a "truncated
// frame").
func TestFrameFieldsOutOfRange(t *testing.T) {
	bigID := appendFrame(nil, &frame{kind: FrameMessage, seq: 1, typeID: 1, body: []byte("x")})
	// Re-encode with type id 2^31 + 1 (a 5-byte varint) in place of 1.
	head := binary.AppendUvarint([]byte{FrameMessage, 0, 0, 0, 0, 0, 0, 0}, 1)
	head = binary.AppendUvarint(head, 1<<31+1)
	head = binary.AppendUvarint(head, 0)
	head = append(head, 'x')
	binary.BigEndian.PutUint32(head[4:], uint32(len(head)-frameHeaderLen))
	overlong := []byte{FrameCredit, 0, 0, 0, 0, 0, 0, 11}
	overlong = append(overlong, bytes.Repeat([]byte{0xff}, 11)...)
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"type id 1 (valid)":   {bigID, ""},
		"type id 2^31+1":      {head, "type id 2147483649, over 2^31"},
		"an over-long varint": {overlong, "over-long"},
	} {
		var f frame
		err := newFrameReader(bufio.NewReader(bytes.NewReader(tc.in)), 1<<20).read(&f)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a malformed frame: %s", name, err, tc.want)
		}
	}
}
