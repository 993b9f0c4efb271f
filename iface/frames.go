package iface

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// This file is the seam between the connection engine and the data frame
// encoding; spec/PROTOCOL.md defines the layout.

const (
	frameMessage = 0x01
	frameCredit  = 0x02
	frameError   = 0x03
	frameEnd     = 0x04
	frameClose   = 0x05

	flagReply = 0x01
	// flagAuth marks a MESSAGE that carries an authentication tag (the
	// interface declares message_auth).
	flagAuth = 0x02
	// authTagLen is the length of a message's tag: HMAC-SHA256, truncated.
	authTagLen = 16

	frameHeaderLen = 8
	// frameOverhead bounds what a MESSAGE frame adds to its body: the header,
	// three varints and an authentication tag.
	frameOverhead = frameHeaderLen + 3*binary.MaxVarintLen64 + authTagLen
	// streamReadBuffer is each stream's read buffer. Small on purpose: it
	// is held by every idle connection, and payloads larger than it are read
	// straight into the frame buffer.
	streamReadBuffer = 4 << 10
	// writeChunk is the most the writer coalesces into one write; a body
	// this large or larger is written on its own, without a copy.
	writeChunk = 64 << 10
	// maxReasonBytes bounds the reason text of ERROR and CLOSE frames.
	maxReasonBytes = 1024
)

// frame is one decoded data frame. body and reason alias the reader's
// buffer until the next read.
type frame struct {
	kind    uint8
	flags   uint8
	seq     uint64 // MESSAGE: its sequence number; CREDIT: consumed up to; ERROR: refused message
	typeID  uint32
	corr    uint64
	credits uint64
	code    Code
	reason  []byte
	tag     []byte // MESSAGE with flagAuth: its authentication tag
	body    []byte
	// ownBody: body is in memory of its own that no later read reuses (a
	// large MESSAGE read straight from the stream), so the receiver may
	// keep it instead of copying it.
	ownBody bool
}

// appendMessageHead appends a MESSAGE frame's encoding without its body,
// which the caller writes right after: large bodies are not copied.
func appendMessageHead(dst []byte, f *frame) []byte {
	start := len(dst)
	dst = append(dst, frameMessage, f.flags, 0, 0, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, f.seq)
	dst = binary.AppendUvarint(dst, uint64(f.typeID))
	dst = binary.AppendUvarint(dst, f.corr)
	if f.flags&flagAuth != 0 {
		dst = append(dst, f.tag...)
	}
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-frameHeaderLen+len(f.body)))
	return dst
}

// appendFrame appends f's encoding to dst.
func appendFrame(dst []byte, f *frame) []byte {
	if f.kind == frameMessage {
		return append(appendMessageHead(dst, f), f.body...)
	}
	start := len(dst)
	dst = append(dst, f.kind, f.flags, 0, 0, 0, 0, 0, 0)
	switch f.kind {
	case frameCredit:
		dst = binary.AppendUvarint(dst, f.credits)
		dst = binary.AppendUvarint(dst, f.seq)
	case frameError:
		dst = binary.AppendUvarint(dst, uint64(f.code))
		dst = binary.AppendUvarint(dst, f.seq)
		dst = append(dst, truncate(f.reason, maxReasonBytes)...)
	case frameEnd:
		dst = binary.AppendUvarint(dst, f.corr)
	case frameClose:
		dst = binary.AppendUvarint(dst, uint64(f.code))
		dst = append(dst, truncate(f.reason, maxReasonBytes)...)
	}
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-frameHeaderLen))
	return dst
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// errFrameTooLarge marks a frame whose declared length exceeds the limit.
var errFrameTooLarge = errors.New("frame too large")

// frameReader reads frames through a buffer, never allocating more than
// maxPayload for one.
type frameReader struct {
	r          *bufio.Reader
	maxPayload int
	buf        []byte
}

// newFrameReader reads from br, the reader the handshake used, so that no
// byte the peer sent right after its handshake is lost.
func newFrameReader(br *bufio.Reader, maxPayload int) *frameReader {
	return &frameReader{r: br, maxPayload: maxPayload}
}

// read reads the next frame into f. Errors wrapping errFrameTooLarge or
// errMalformed are the peer's protocol violations; others are transport
// errors (io.EOF included).
func (fr *frameReader) read(f *frame) error {
	hdr, err := fr.r.Peek(frameHeaderLen)
	if err != nil {
		if len(hdr) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	kind, flags := hdr[0], hdr[1]
	n := binary.BigEndian.Uint32(hdr[4:])
	if int64(n) > int64(fr.maxPayload) {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", errFrameTooLarge, n, fr.maxPayload)
	}
	fr.r.Discard(frameHeaderLen)
	var p []byte
	own := false
	if int(n) <= fr.r.Buffered() {
		// The common case: the frame is in the read buffer; use it there
		// (it is valid until the next read) instead of copying it.
		p, _ = fr.r.Peek(int(n))
		fr.r.Discard(int(n))
	} else {
		if kind == frameMessage && int(n) > rxSlabMaxBody {
			// A large message is read into memory of its own, which its
			// Message then keeps: one copy fewer than reading it into a
			// reused buffer and copying it out (n is within maxPayload).
			p, own = make([]byte, n), true
		} else {
			if cap(fr.buf) < int(n) {
				fr.buf = make([]byte, n)
			}
			p = fr.buf[:n]
		}
		if _, err := io.ReadFull(fr.r, p); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	*f = frame{kind: kind, flags: flags}
	var ok bool
	switch f.kind {
	case frameMessage:
		var id uint64
		if f.seq, p, ok = uvarint(p); ok {
			if id, p, ok = uvarint(p); ok && id <= 1<<31 {
				f.typeID = uint32(id)
				f.corr, p, ok = uvarint(p)
			}
		}
		if ok && f.flags&flagAuth != 0 {
			if ok = len(p) >= authTagLen; ok {
				f.tag, p = p[:authTagLen], p[authTagLen:]
			}
		}
		f.body, f.ownBody = p, own
	case frameCredit:
		if f.credits, p, ok = uvarint(p); ok {
			f.seq, p, ok = uvarint(p)
		}
	case frameError:
		var c uint64
		if c, p, ok = uvarint(p); ok {
			f.code = Code(c)
			f.seq, p, ok = uvarint(p)
		}
		f.reason = p
	case frameEnd:
		f.corr, _, ok = uvarint(p)
	case frameClose:
		var c uint64
		c, p, ok = uvarint(p)
		f.code, f.reason = Code(c), p
	default:
		return fmt.Errorf("%w: unknown frame type 0x%02x", errMalformed, f.kind)
	}
	if !ok {
		return fmt.Errorf("%w: truncated frame of type 0x%02x", errMalformed, f.kind)
	}
	return nil
}

var errMalformed = errors.New("malformed frame")

func uvarint(p []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, p, false
	}
	return v, p[n:], true
}
