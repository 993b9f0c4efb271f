package codes

import (
	"fmt"
	"strings"
)

// Code is one of the reasons that cross the wire. The numbers never change
// meaning; a peer may send one this version does not know (String then
// writes code(N)).
//
// A Code is also an error value, so that errors.Is(err, codes.X) reports
// whether err carries code X (see CloseError.Is and RemoteError.Is); being a
// constant, it cannot be reassigned as an exported error variable could.
type Code uint32

// The codes, as spec/PROTOCOL.md §9 numbers them.
const (
	OK                 Code = 0  // success (stream accepted)
	NormalClose        Code = 1  // the connection was closed on purpose
	ProtocolError      Code = 2  // the peer broke the protocol (bad frame, sequence gap)
	CreditViolation    Code = 3  // the peer sent a message without credit
	InvalidMessage     Code = 4  // a message failed its type's checks
	MessageTooLarge    Code = 5  // a message exceeded flow.max_message_bytes
	WrongDirection     Code = 6  // a message type the sender may not send
	UnknownInterface   Code = 7  // no such interface on this server
	UnknownType        Code = 8  // no such message type id
	UnsupportedCodec   Code = 9  // no codec in common
	UnsupportedVersion Code = 10 // no protocol version in common
	ManifestMismatch   Code = 11 // the manifest hash differs from the one required
	NotFound           Code = 12 // no such connection (attaching a control stream)
	AuthFailed         Code = 13 // authentication failed
	KeepaliveTimeout   Code = 14 // the peer stopped answering keepalives
	TransportError     Code = 15 // the socket failed or ended without a CLOSE
	Draining           Code = 16 // the server is shutting down
	LimitExceeded      Code = 17 // a server limit (connections, streams) was reached
	Unimplemented      Code = 18 // the operation is not offered
	Canceled           Code = 19 // the request was cancelled
	Internal           Code = 20 // a handler or the server failed
	InvalidFilter      Code = 21 // a subscriber's filter does not compile (spec/PROTOCOL.md §4.8)
	SlowSubscriber     Code = 22 // a topic's subscriber had no credit under on_exhausted: error
	count                   = 23
)

var names = [count]string{
	"ok", "normal_close", "protocol_error", "credit_violation", "invalid_message",
	"message_too_large", "wrong_direction", "unknown_interface", "unknown_type",
	"unsupported_codec", "unsupported_version", "manifest_mismatch", "not_found",
	"auth_failed", "keepalive_timeout", "transport_error", "draining",
	"limit_exceeded", "unimplemented", "canceled", "internal", "invalid_filter",
	"slow_subscriber",
}

// All returns every code this version knows, in numeric order.
func All() []Code {
	out := make([]Code, count)
	for i := range out {
		out[i] = Code(i)
	}
	return out
}

// String returns the code's snake_case name (credit_violation), or code(N)
// for a number this version does not know.
func (c Code) String() string {
	if c < count {
		return names[c]
	}
	return fmt.Sprintf("code(%d)", uint32(c))
}

// Error returns the code's name: a Code is an error only to be matched
// with errors.Is.
func (c Code) Error() string { return c.String() }

// Known reports whether c is a code this version defines.
func (c Code) Known() bool { return c < count }

// Parse reads a code's name as String writes it (code(N) included).
func Parse(s string) (Code, error) {
	for i, n := range names {
		if n == s {
			return Code(i), nil
		}
	}
	var n uint32
	if _, err := fmt.Sscanf(s, "code(%d)", &n); err == nil && fmt.Sprintf("code(%d)", n) == s {
		return Code(n), nil
	}
	return 0, fmt.Errorf("ifkit: unknown code %q; codes are %s", s, strings.Join(names[:], ", "))
}

// MarshalText writes the code's name, so a Code is a name in JSON.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads a name MarshalText wrote.
func (c *Code) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err == nil {
		*c = v
	}
	return err
}
