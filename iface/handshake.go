package iface

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"
)

// The session preface (spec/PROTOCOL.md §3): 8 bytes each way before yamux.
const (
	prefaceLen      = 8
	protocolVersion = 1

	prefaceOK          = 0x00
	prefaceBadVersion  = 0x01
	prefaceRefused     = 0x02
	prefaceNotAllowed  = 0x05     // a Unix peer not on the allow-list
	maxHandshakeBytes  = 64 << 10 // an OpenStream or OpenResult, manifest excluded
	maxOpenResultBytes = 32 << 20 // an OpenResult carrying a canonical manifest
)

var magic = [4]byte{'I', 'F', 'K', 'T'}

// ErrNotIfkit is returned when the peer does not speak ifkit at all.
var ErrNotIfkit = errors.New("not an ifkit peer")

// errBadVersion is a preface of another protocol version.
var errBadVersion = errors.New("another ifkit protocol version")

func preface(status byte) []byte {
	return []byte{magic[0], magic[1], magic[2], magic[3], protocolVersion, status, 0, 0}
}

// checkPreface reads and checks a peer's preface. It returns the status
// byte (meaningful in a server's answer).
func readPreface(r io.Reader) (byte, error) {
	var p [prefaceLen]byte
	n, err := io.ReadFull(r, p[:])
	if n > 0 && !startsWithMagic(p[:n]) {
		return 0, fmt.Errorf("%w (it sent %s)", ErrNotIfkit, printable(p[:n]))
	}
	if err != nil {
		return 0, fmt.Errorf("reading the ifkit preface: %w", err)
	}
	if p[4] != protocolVersion {
		return p[5], fmt.Errorf("%w: the peer speaks ifkit protocol version %d; this side speaks %d", errBadVersion, p[4], protocolVersion)
	}
	return p[5], nil
}

func startsWithMagic(b []byte) bool {
	for i := 0; i < len(b) && i < len(magic); i++ {
		if b[i] != magic[i] {
			return false
		}
	}
	return true
}

// printable shows the start of what a non-ifkit peer sent, for the error.
func printable(b []byte) string {
	if strings.IndexFunc(string(b), func(r rune) bool { return !unicode.IsPrint(r) && r != '\r' && r != '\n' }) < 0 {
		return strconv.Quote(string(b)) + " — perhaps an HTTP or other text server"
	}
	return fmt.Sprintf("% x", b)
}

// writeMsg writes m preceded by its length as a uvarint.
func writeMsg(w io.Writer, m proto.Message) error {
	body, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	buf := binary.AppendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen64), uint64(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// isTimeoutErr says whether err is a deadline passing.
func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readMsg reads one length-delimited message into m, refusing a length over
// max before allocating.
func readMsg(r *bufio.Reader, m proto.Message, max int) error {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) || isTimeoutErr(err) {
			return err
		}
		return fmt.Errorf("%w: bad message length: %v", errMalformed, err)
	}
	if n > uint64(max) {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", errFrameTooLarge, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := proto.Unmarshal(body, m); err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	return nil
}
