package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// The bare-yamux reference sends ifkit's MESSAGE frame layout
// (spec/PROTOCOL.md): an 8-byte header (kind, flags, two reserved bytes,
// big-endian uint32 length of the rest), then the sequence number, type id
// and correlation id as uvarints, then the body. It is written the way a
// competent user would: each end has a queue (a channel) drained by one
// writer goroutine into a 64 KiB bufio.Writer that is flushed when the queue
// is empty; the reader reads through a 64 KiB bufio.Reader into one reused
// body buffer. No credits, no checks, no codec: the payload is the body.

const (
	frameBuffer = 64 << 10 // bufio.Writer and bufio.Reader size
	frameQueue  = 256      // the writer's queue, like ifkit's default credits
)

// frameWriter queues bodies for one writer goroutine.
type frameWriter struct {
	q    chan []byte
	w    *bufio.Writer
	err  error // set by the writer before done is closed
	done chan struct{}
	once sync.Once
}

func newFrameWriter(w io.Writer) *frameWriter {
	fw := &frameWriter{q: make(chan []byte, frameQueue), w: bufio.NewWriterSize(w, frameBuffer), done: make(chan struct{})}
	go fw.run()
	return fw
}

func (fw *frameWriter) run() {
	defer close(fw.done)
	var head [8 + 3*binary.MaxVarintLen64]byte
	var seq uint64
	for body := range fw.q {
		seq++
		h := append(head[:0], 0x01, 0, 0, 0, 0, 0, 0, 0)
		h = binary.AppendUvarint(h, seq)
		h = binary.AppendUvarint(h, 1) // type id
		h = binary.AppendUvarint(h, 0) // correlation id
		binary.BigEndian.PutUint32(h[4:], uint32(len(h)-8+len(body)))
		if _, err := fw.w.Write(h); err != nil {
			fw.err = err
			return
		}
		if _, err := fw.w.Write(body); err != nil {
			fw.err = err
			return
		}
		if len(fw.q) == 0 {
			if err := fw.w.Flush(); err != nil {
				fw.err = err
				return
			}
		}
	}
}

// send queues body; the caller must not change it afterwards.
func (fw *frameWriter) send(body []byte) error {
	select {
	case fw.q <- body:
		return nil
	case <-fw.done:
		return fw.err
	}
}

// close stops the writer after it has written what is queued.
func (fw *frameWriter) close() {
	fw.once.Do(func() { close(fw.q) })
	<-fw.done
}

// frameReader reads frames into one reused buffer.
type frameReader struct {
	r    *bufio.Reader
	head [8]byte
	buf  []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, frameBuffer)}
}

// read returns the next frame's body, valid until the next read.
func (fr *frameReader) read() ([]byte, error) {
	if _, err := io.ReadFull(fr.r, fr.head[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(fr.head[4:]))
	if n > 1<<20+64 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	if cap(fr.buf) < n {
		fr.buf = make([]byte, n)
	}
	rest := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, rest); err != nil {
		return nil, err
	}
	for range 3 { // sequence number, type id, correlation id
		_, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, fmt.Errorf("bad frame head")
		}
		rest = rest[k:]
	}
	return rest, nil
}
