package data

import (
	"github.com/ifkit/ifkit/codes"

	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// This file is the seam between the connection engine and the data frame
// encoding; spec/PROTOCOL.md defines the layout.

const (
	frameHeaderLen = 8
	// frameOverhead bounds what a MESSAGE frame adds to its body: the header,
	// three varints and an authentication tag.
	frameOverhead = frameHeaderLen + 3*binary.MaxVarintLen64 + AuthTagLen
	// writeChunk is the most the writer coalesces into one write.
	writeChunk = 64 << 10
	// writeAlone: a body this large or larger is not copied into the
	// writer's buffer but written as it is, with its head in the room Send
	// left before it (msgHeadroom): one write per message, no copy.
	writeAlone = 16 << 10
	// msgHeadroom is the room before an encoded body for its frame's head
	// (at most frameOverhead bytes).
	msgHeadroom = frameOverhead
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
	code    codes.Code
	reason  []byte
	tag     []byte // MESSAGE with FlagAuth: its authentication tag
	body    []byte
	// CREDIT on a resumable connection: received counts the reliable
	// frames its sender received (hasReceived says it is there).
	received    uint64
	hasReceived bool
	// ownBody: body is in memory of its own that no later read reuses (a
	// large MESSAGE read straight from the stream), so the receiver may
	// keep it instead of copying it.
	ownBody bool
}

// appendMessageHead appends a MESSAGE frame's encoding without its body,
// which the caller writes right after: large bodies are not copied.
func appendMessageHead(dst []byte, f *frame) []byte {
	start := len(dst)
	dst = append(dst, FrameMessage, f.flags, 0, 0, 0, 0, 0, 0)
	dst = binary.AppendUvarint(dst, f.seq)
	dst = binary.AppendUvarint(dst, uint64(f.typeID))
	dst = binary.AppendUvarint(dst, f.corr)
	if f.flags&FlagAuth != 0 {
		dst = append(dst, f.tag...)
	}
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-frameHeaderLen+len(f.body)))
	return dst
}

// appendFrame appends f's encoding to dst.
func appendFrame(dst []byte, f *frame) []byte {
	if f.kind == FrameMessage {
		return append(appendMessageHead(dst, f), f.body...)
	}
	start := len(dst)
	dst = append(dst, f.kind, f.flags, 0, 0, 0, 0, 0, 0)
	switch f.kind {
	case FrameCredit:
		dst = binary.AppendUvarint(dst, f.credits)
		dst = binary.AppendUvarint(dst, f.seq)
		if f.hasReceived {
			dst = binary.AppendUvarint(dst, f.received)
		}
	case FrameError:
		dst = binary.AppendUvarint(dst, uint64(f.code))
		dst = binary.AppendUvarint(dst, f.seq)
		dst = append(dst, truncate(f.reason, maxReasonBytes)...)
	case FrameEnd:
		dst = binary.AppendUvarint(dst, f.corr)
	case FrameClose:
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

// Errors of the frame reader that are the peer's protocol violations.
const (
	// ErrFrameTooLarge marks a frame whose declared length exceeds the limit.
	ErrFrameTooLarge errorString = "frame too large"
	// ErrMalformed marks a frame that breaks the layout of spec/PROTOCOL.md §6.
	ErrMalformed errorString = "malformed frame"
)

const (
	// idleReadBuffer is what a frame reader reads into after it has used
	// up its buffer: an idle connection holds this much, not a full buffer.
	// Small messages that come one at a time (requests, replies, control
	// frames) fit in it, so they cost one read each; a read that fills it
	// moves to the large buffer.
	idleReadBuffer = 512
	// activeReadBuffer is the pooled buffer a frame reader takes while data
	// keeps coming, and returns once it has used up what it read.
	activeReadBuffer = 16 << 10
)

var readBuffers = sync.Pool{New: func() any { return new([activeReadBuffer]byte) }}

// bigBuffers recycles the buffers frame readers read large frames into
// when the frame is only lent (frameReader.lend), so that a stream of large
// messages allocates nothing and touches no fresh pages.
var bigBuffers sync.Pool

// maxBigBuffer bounds the buffers bigBuffers keeps.
const maxBigBuffer = 1<<20 + frameOverhead

// frameReader reads frames through a buffer, never allocating more than
// maxPayload for one. Its buffer is small while the stream is quiet: after
// it has used up what it read, it gives its large buffer back to a pool and
// waits for the next bytes with a small one, taking a large one again when
// a read fills the small one.
type frameReader struct {
	br         *bufio.Reader // the handshake's reader, read to its end first
	src        io.Reader     // then this (nil: br is the only source)
	maxPayload int
	buf        []byte                  // buffered bytes are buf[r:w]
	r, w       int                     //
	small      []byte                  // the idle buffer
	large      *[activeReadBuffer]byte // the pooled buffer, when buf is it
	// onMidFrame, if set, is told when the reader waits with part of a
	// frame read (true) and when that frame is complete (false).
	onMidFrame func(bool)
	waiting    bool // onMidFrame(true) was the last call
	// beforeRead, if set, is called before each read from the source.
	beforeRead func()
	// lend: the next frame's body is used only until the read after it, so
	// a frame too large for buf is read into big, which is reused, rather
	// than into memory of its own.
	lend bool
	big  *[]byte // from bigBuffers, while the reader holds one
}

// midFrame tells onMidFrame that the reader waits mid-frame, or no longer.
func (fr *frameReader) midFrame(on bool) {
	if fr.onMidFrame != nil && on != fr.waiting {
		fr.waiting = on
		fr.onMidFrame(on)
	}
}

// firstChunk is the most a frame reader allocates for a large frame before
// its bytes arrive; it doubles the buffer as they do (up to the frame's
// declared length, which is within the limit).
const firstChunk = 64 << 10

// readGrowing returns n bytes: those of have, then the rest from src,
// read into a buffer that starts at firstChunk and doubles as they come.
func readGrowing(src io.Reader, have []byte, n int) ([]byte, error) {
	p := make([]byte, 0, max(len(have), min(n, firstChunk)))
	p = append(p, have...)
	for len(p) < n {
		if len(p) == cap(p) {
			p = append(p, make([]byte, min(n-len(p), cap(p)))...)[:len(p)]
		}
		k, err := io.ReadFull(src, p[len(p):min(n, cap(p))])
		p = p[:len(p)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return p, nil
}

// newFrameReader reads from br, the reader the handshake used, so that no
// byte the peer sent right after its handshake is lost.
func newFrameReader(br *bufio.Reader, maxPayload int) *frameReader {
	small := make([]byte, idleReadBuffer)
	return &frameReader{br: br, maxPayload: maxPayload, small: small, buf: small}
}

// readFrom makes the frame reader read from src once br's buffered bytes
// are used up, and let go of br then.
func (fr *frameReader) readFrom(src io.Reader) { fr.src = src }

// source returns where the next bytes come from.
func (fr *frameReader) source() io.Reader {
	if fr.br != nil && fr.src != nil && fr.br.Buffered() == 0 {
		fr.br = nil
	}
	if fr.br != nil {
		return fr.br
	}
	return fr.src
}

// release gives the large buffer back; the reader must be empty.
func (fr *frameReader) release() {
	if fr.large != nil {
		readBuffers.Put(fr.large)
		fr.large = nil
	}
	if fr.big != nil {
		if cap(*fr.big) <= maxBigBuffer {
			bigBuffers.Put(fr.big)
		}
		fr.big = nil
	}
	fr.buf, fr.r, fr.w = fr.small, 0, 0
}

// readBig returns n bytes, those of have and then the rest from the
// source, in the reader's reused buffer for large frames: valid until the
// next read. A buffer too small is replaced by one read with readGrowing,
// so that a length alone still reserves at most firstChunk.
func (fr *frameReader) readBig(have []byte, n int) ([]byte, error) {
	if fr.big == nil {
		fr.big, _ = bigBuffers.Get().(*[]byte)
	}
	if fr.big == nil || cap(*fr.big) < n {
		p, err := readGrowing(fr.source(), have, n)
		if err != nil {
			return nil, err
		}
		if fr.big == nil {
			fr.big = new([]byte)
		}
		*fr.big = p[:0]
		return p, nil
	}
	p := (*fr.big)[:n]
	k := copy(p, have)
	if _, err := io.ReadFull(fr.source(), p[k:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p, nil
}

// shrink lets the source drop its buffer if it can and holds nothing (yamux
// keeps a stream's receive buffer otherwise). Not done after every burst:
// yamux would allocate a new one for each.
func (fr *frameReader) shrink() {
	if s, ok := fr.src.(interface{ Shrink() }); ok {
		s.Shrink()
	}
}

// grow moves the buffered bytes into a large buffer.
func (fr *frameReader) grow() {
	if fr.large == nil {
		fr.large = readBuffers.Get().(*[activeReadBuffer]byte)
		fr.w = copy(fr.large[:], fr.buf[fr.r:fr.w])
		fr.r, fr.buf = 0, fr.large[:]
	}
}

// fill reads until at least n bytes are buffered (n <= activeReadBuffer).
func (fr *frameReader) fill(n int) error {
	if fr.r == fr.w {
		fr.release() // about to wait for the peer: hold only the small buffer
	}
	if n > len(fr.buf) {
		fr.grow()
	}
	for fr.w-fr.r < n {
		if fr.r > 0 && len(fr.buf)-fr.r < n {
			fr.w = copy(fr.buf, fr.buf[fr.r:fr.w])
			fr.r = 0
		}
		if fr.w > fr.r {
			fr.midFrame(true) // part of a frame is here, the rest is not
		}
		if fr.beforeRead != nil {
			fr.beforeRead()
		}
		k, err := fr.source().Read(fr.buf[fr.w:])
		fr.w += k
		if fr.large == nil && fr.w == len(fr.buf) {
			fr.grow() // the small buffer filled up: more is likely waiting
		}
		if fr.w-fr.r >= n {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) && fr.w > fr.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// read reads the next frame into f. Errors wrapping ErrFrameTooLarge or
// ErrMalformed are the peer's protocol violations; others are transport
// errors (io.EOF included).
func (fr *frameReader) read(f *frame) error {
	if err := fr.fill(frameHeaderLen); err != nil {
		return err
	}
	hdr := fr.buf[fr.r : fr.r+frameHeaderLen]
	kind, flags := hdr[0], hdr[1]
	n := binary.BigEndian.Uint32(hdr[4:])
	if int64(n) > int64(fr.maxPayload) {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrFrameTooLarge, n, fr.maxPayload)
	}
	fr.r += frameHeaderLen
	var p []byte
	own := false
	if int(n) > fr.w-fr.r && int(n) <= activeReadBuffer/2 {
		// Read the rest of a frame that fits in the buffer into it, with
		// whatever follows it.
		fr.midFrame(true)
		if err := fr.fill(int(n)); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the header came, the body did not
			}
			return err
		}
	}
	if int(n) <= fr.w-fr.r {
		// The common case: the frame is in the read buffer; use it there
		// (it is valid until the next read) instead of copying it.
		p = fr.buf[fr.r : fr.r+int(n)]
		fr.r += int(n)
	} else {
		// A frame larger than the buffer is read into memory of its own,
		// which a MESSAGE's Message then keeps (one copy fewer than reading
		// it into a reused buffer and copying it out). The memory grows as
		// the bytes arrive: a length alone reserves at most firstChunk.
		fr.midFrame(true)
		if fr.beforeRead != nil {
			fr.beforeRead()
		}
		var err error
		if fr.lend {
			p, err = fr.readBig(fr.buf[fr.r:fr.w], int(n))
		} else {
			p, err = readGrowing(fr.source(), fr.buf[fr.r:fr.w], int(n))
		}
		if err != nil {
			return err
		}
		fr.r = fr.w
		own = kind == FrameMessage && !fr.lend
	}
	fr.midFrame(false)
	*f = frame{kind: kind, flags: flags}
	var ok bool
	switch f.kind {
	case FrameMessage:
		var id uint64
		if f.seq, p, ok = uvarint(p); ok {
			if id, p, ok = uvarint(p); ok {
				if id > 1<<31 {
					return fmt.Errorf("%w: MESSAGE with type id %d, over 2^31", ErrMalformed, id)
				}
				f.typeID = uint32(id)
				f.corr, p, ok = uvarint(p)
			}
		}
		if ok && f.flags&FlagAuth != 0 {
			if ok = len(p) >= AuthTagLen; ok {
				f.tag, p = p[:AuthTagLen], p[AuthTagLen:]
			}
		}
		f.body, f.ownBody = p, own
	case FrameCredit:
		if f.credits, p, ok = uvarint(p); ok {
			f.seq, p, ok = uvarint(p)
		}
		if ok && len(p) > 0 {
			// A resumable connection's acknowledgement (§4.10.3); other
			// bytes after the fields are ignored, as before it existed.
			f.received, _, f.hasReceived = uvarint(p)
		}
	case FrameError:
		var c uint64
		if c, p, ok = uvarint(p); ok {
			f.code = codes.Code(c)
			f.seq, p, ok = uvarint(p)
		}
		f.reason = p
	case FrameEnd:
		f.corr, _, ok = uvarint(p)
	case FrameClose:
		var c uint64
		c, p, ok = uvarint(p)
		f.code, f.reason = codes.Code(c), p
	default:
		return fmt.Errorf("%w: unknown frame type 0x%02x", ErrMalformed, f.kind)
	}
	if !ok {
		if _, n := binary.Uvarint(p); n < 0 {
			return fmt.Errorf("%w: a varint of frame type 0x%02x is over-long (more than 64 bits)", ErrMalformed, f.kind)
		}
		return fmt.Errorf("%w: truncated frame of type 0x%02x", ErrMalformed, f.kind)
	}
	return nil
}

// uvarint reads a varint of one or two bytes inline (type ids, corr 0,
// sequence numbers below 2^14 and credit counts), longer ones in
// uvarintLong.
func uvarint(p []byte) (uint64, []byte, bool) {
	if len(p) > 0 && p[0] < 0x80 {
		return uint64(p[0]), p[1:], true
	}
	if len(p) > 1 && p[1] < 0x80 && p[1] != 0 {
		return uint64(p[0]&0x7f) | uint64(p[1])<<7, p[2:], true
	}
	return uvarintLong(p)
}

func uvarintLong(p []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, p, false
	}
	return v, p[n:], true
}
