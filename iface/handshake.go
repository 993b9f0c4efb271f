package iface

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/protobuf/proto"

	"github.com/ifkit/ifkit/internal/pbio"
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
const ErrNotIfkit errorString = "ifkit: not an ifkit peer"

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

// streamReadBuffer is each stream's handshake read buffer; the data or
// control stream's reader reads what it holds after the handshake, then lets
// it go.
const streamReadBuffer = 4 << 10

// encodeMsg returns m length-delimited, as pbio.Write writes it.
func encodeMsg(m proto.Message) []byte {
	var b bytes.Buffer
	pbio.Write(&b, m)
	return b.Bytes()
}
