// Package pbio reads and writes the length-delimited protobuf messages of
// ifkit's stream handshake and control streams (spec/PROTOCOL.md §4, §10): a
// uvarint length, then that many bytes of one message.
package pbio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"google.golang.org/protobuf/proto"
)

// Errors Read wraps: the peer's protocol violations, as opposed to the
// transport errors (io.EOF, deadlines) it returns as they are.
var (
	ErrTooLarge  = errors.New("message too large")
	ErrMalformed = errors.New("malformed message")
)

// firstChunk is the most Read allocates before the bytes of a message have
// arrived; it grows the buffer as they do, so a length prefix alone never
// reserves more than this (a peer that declares 32 MiB and sends nothing
// holds 64 KiB of the server's memory, not 32 MiB).
const firstChunk = 64 << 10

// Write writes m preceded by its length as a uvarint, in one write.
func Write(w io.Writer, m proto.Message) error {
	body, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	buf := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// Read reads one length-delimited message into m, refusing a length over
// max before reading its body, and allocating as the body arrives.
func Read(r *bufio.Reader, m proto.Message, max int) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) || IsTimeout(err) {
			return err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return err
		}
		return fmt.Errorf("%w: bad length prefix: %v", ErrMalformed, err)
	}
	if n > uint64(max) {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrTooLarge, n, max)
	}
	body, err := readBody(r, int(n))
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// readBody reads n bytes, doubling its buffer from firstChunk as they come.
func readBody(r io.Reader, n int) ([]byte, error) {
	body := make([]byte, 0, min(n, firstChunk))
	for len(body) < n {
		if len(body) == cap(body) {
			body = append(body, make([]byte, min(n-len(body), cap(body)))...)[:len(body)]
		}
		k, err := io.ReadFull(r, body[len(body):min(n, cap(body))])
		body = body[:len(body)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return body, nil
}

// IsTimeout says whether err is a deadline passing.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
