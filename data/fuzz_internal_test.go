package data

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/ifkit/ifkit/codes"
)

// FuzzReadFrame checks the data frame decoder: it never panics, never
// accepts a payload over its limit, and what it decodes re-encodes to a
// frame that decodes the same.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range []*frame{
		{kind: FrameMessage, seq: 1, typeID: 2, corr: 3, body: []byte(`{"a":1}`)},
		{kind: FrameMessage, flags: FlagReply, seq: 1 << 40, typeID: 1, corr: 9},
		{kind: FrameMessage, flags: FlagAuth, seq: 2, typeID: 1, tag: bytes.Repeat([]byte{0xa5}, AuthTagLen), body: []byte("signed")},
		{kind: FrameCredit, credits: 256, seq: 17},
		{kind: FrameError, code: codes.InvalidMessage, seq: 4, reason: []byte("bad")},
		{kind: FrameEnd, corr: 5},
		{kind: FrameClose, code: codes.NormalClose, reason: []byte("bye")},
	} {
		f.Add(appendFrame(nil, fr))
	}
	f.Add([]byte{FrameMessage, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{FrameCredit, 0, 0, 0, 0, 0, 0, 1, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		fr := newFrameReader(bufio.NewReader(bytes.NewReader(data)), limit)
		for {
			var got frame
			if err := fr.read(&got); err != nil {
				return
			}
			if len(got.body) > limit || len(got.reason) > limit {
				t.Fatalf("payload over the limit accepted: %d", len(got.body))
			}
			enc := appendFrame(nil, &got)
			var again frame
			if err := newFrameReader(bufio.NewReader(bytes.NewReader(enc)), limit).read(&again); err != nil {
				t.Fatalf("re-encoded frame does not decode: %v", err)
			}
			if again.kind != got.kind || again.seq != got.seq || again.typeID != got.typeID || again.corr != got.corr ||
				again.credits != got.credits || again.code != got.code || !bytes.Equal(again.body, got.body) ||
				!bytes.Equal(again.tag, got.tag) {
				t.Fatalf("round trip changed the frame: %+v → %+v", got, again)
			}
		}
	})
}

// chunked hands out its bytes a few at a time, as a socket may.
type chunked struct {
	data  []byte
	sizes []byte
	k     int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(c.sizes) > 0 {
		n = int(c.sizes[c.k%len(c.sizes)])%64 + 1
		c.k++
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// readAllFrames decodes frames until an error, keeping copies.
func readAllFrames(fr *frameReader) ([]frame, error) {
	var out []frame
	for {
		var f frame
		if err := fr.read(&f); err != nil {
			return out, err
		}
		f.body, f.reason, f.tag = bytes.Clone(f.body), bytes.Clone(f.reason), bytes.Clone(f.tag)
		f.ownBody = false
		out = append(out, f)
	}
}

// FuzzReadFrameStream checks the frame reader the way a connection uses
// it: the first bytes from the handshake's buffered reader, the rest from
// the stream in chunks of any size. It must decode exactly what it decodes
// from one contiguous buffer, and end with the same error.
func FuzzReadFrameStream(f *testing.F) {
	var two []byte
	two = appendFrame(two, &frame{kind: FrameMessage, seq: 1, typeID: 2, body: bytes.Repeat([]byte("x"), 3000)})
	two = appendFrame(two, &frame{kind: FrameCredit, credits: 5, seq: 1})
	f.Add(two, uint16(10), []byte{3, 200, 7})
	f.Add(appendFrame(nil, &frame{kind: FrameClose, code: codes.NormalClose, reason: []byte("bye")}), uint16(0), []byte{1})
	f.Add(two[:20], uint16(8), []byte{0})
	f.Fuzz(func(t *testing.T, data []byte, split uint16, sizes []byte) {
		const limit = 8192
		want, wantErr := readAllFrames(newFrameReader(bufio.NewReader(bytes.NewReader(data)), limit))
		// What the handshake's reader had read past the handshake: bytes
		// it holds buffered, read before anything from the stream.
		at := min(int(split), len(data), 4<<10)
		br := bufio.NewReaderSize(bytes.NewReader(data[:at]), 4<<10)
		br.Peek(at)
		fr := newFrameReader(br, limit)
		fr.readFrom(&chunked{data: data[at:], sizes: sizes})
		got, gotErr := readAllFrames(fr)
		if len(got) != len(want) {
			t.Fatalf("%d frames in chunks, %d in one piece", len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.kind != w.kind || g.flags != w.flags || g.seq != w.seq || g.typeID != w.typeID || g.corr != w.corr ||
				g.credits != w.credits || g.code != w.code || !bytes.Equal(g.body, w.body) || !bytes.Equal(g.reason, w.reason) || !bytes.Equal(g.tag, w.tag) {
				t.Fatalf("frame %d differs: %+v in chunks, %+v in one piece", i, g, w)
			}
		}
		if (gotErr == io.EOF) != (wantErr == io.EOF) || (gotErr == io.ErrUnexpectedEOF) != (wantErr == io.ErrUnexpectedEOF) {
			t.Fatalf("ends with %v in chunks, %v in one piece", gotErr, wantErr)
		}
	})
}

// FuzzReadPreface checks the session preface reader.
