package iface

import (
	"fmt"
	"strings"
)

// Code is the closed set of reasons that cross the wire: why a stream was
// refused, a message refused, or a connection closed. spec/PROTOCOL.md lists
// them with their numbers; the numbers never change meaning.
type Code uint32

// The codes.
const (
	CodeOK                 Code = 0  // success (stream accepted)
	CodeNormalClose        Code = 1  // the connection was closed on purpose
	CodeProtocolError      Code = 2  // the peer broke the protocol (bad frame, sequence gap)
	CodeCreditViolation    Code = 3  // the peer sent a message without credit
	CodeInvalidMessage     Code = 4  // a message failed its type's checks
	CodeMessageTooLarge    Code = 5  // a message exceeded flow.max_message_bytes
	CodeWrongDirection     Code = 6  // a message type the sender may not send
	CodeUnknownInterface   Code = 7  // no such interface on this server
	CodeUnknownType        Code = 8  // no such message type id
	CodeUnsupportedCodec   Code = 9  // no codec in common
	CodeUnsupportedVersion Code = 10 // no protocol version in common
	CodeManifestMismatch   Code = 11 // the manifest hash differs from the one required
	CodeNotFound           Code = 12 // no such connection (attaching a control stream)
	CodeAuthFailed         Code = 13 // authentication failed
	CodeKeepaliveTimeout   Code = 14 // the peer stopped answering keepalives
	CodeTransportError     Code = 15 // the socket failed or ended without a CLOSE
	CodeDraining           Code = 16 // the server is shutting down
	CodeLimitExceeded      Code = 17 // a server limit (connections, streams) was reached
	CodeUnimplemented      Code = 18 // the operation is not offered
	CodeCanceled           Code = 19 // the request was cancelled
	CodeInternal           Code = 20 // a handler or the server failed
	codeCount                   = 21
)

var codeNames = [codeCount]string{
	"ok", "normal_close", "protocol_error", "credit_violation", "invalid_message",
	"message_too_large", "wrong_direction", "unknown_interface", "unknown_type",
	"unsupported_codec", "unsupported_version", "manifest_mismatch", "not_found",
	"auth_failed", "keepalive_timeout", "transport_error", "draining",
	"limit_exceeded", "unimplemented", "canceled", "internal",
}

// String returns the code's snake_case name (credit_violation), or code(N)
// for a number this version does not know.
func (c Code) String() string {
	if c < codeCount {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint32(c))
}

// ParseCode reads a code's name as String writes it.
func ParseCode(s string) (Code, error) {
	for i, n := range codeNames {
		if n == s {
			return Code(i), nil
		}
	}
	return 0, fmt.Errorf("unknown code %q; codes are %s", s, strings.Join(codeNames[:], ", "))
}
