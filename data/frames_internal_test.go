package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
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
