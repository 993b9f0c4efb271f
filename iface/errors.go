package iface

import (
	"errors"
	"fmt"
)

// CloseError says why a connection ended: the code that crossed (or would
// have crossed) the wire, the reason text, and which side ended it. Every
// ended connection has one; nothing ends as a bare io.EOF.
//
// Match a code with errors.Is against the Err* values below:
//
//	if errors.Is(conn.Err(), iface.ErrCreditViolation) { ... }
type CloseError struct {
	Code   Code
	Reason string
	Remote bool  // the peer ended the connection (or broke the protocol)
	Cause  error // the local error behind a transport failure, if any
}

func (e *CloseError) Error() string {
	who := "closed locally"
	if e.Remote {
		who = "closed by peer"
	}
	msg := fmt.Sprintf("ifkit: connection %s: %s", who, e.Code)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the transport error behind the close, if any.
func (e *CloseError) Unwrap() error { return e.Cause }

// Is reports whether target is a *CloseError with the same code; a target
// without a reason matches any reason, so the Err* values match by code.
func (e *CloseError) Is(target error) bool {
	t, ok := target.(*CloseError)
	return ok && t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
}

// Values to match a connection's end with errors.Is, one per code.
var (
	ErrNormalClose      = &CloseError{Code: CodeNormalClose}
	ErrProtocol         = &CloseError{Code: CodeProtocolError}
	ErrCreditViolation  = &CloseError{Code: CodeCreditViolation}
	ErrInvalidMessage   = &CloseError{Code: CodeInvalidMessage}
	ErrMessageTooLarge  = &CloseError{Code: CodeMessageTooLarge}
	ErrWrongDirection   = &CloseError{Code: CodeWrongDirection}
	ErrUnknownInterface = &CloseError{Code: CodeUnknownInterface}
	ErrUnknownType      = &CloseError{Code: CodeUnknownType}
	ErrKeepaliveTimeout = &CloseError{Code: CodeKeepaliveTimeout}
	ErrTransport        = &CloseError{Code: CodeTransportError}
	ErrDraining         = &CloseError{Code: CodeDraining}
	ErrManifestMismatch = &CloseError{Code: CodeManifestMismatch}
	ErrAuth             = &CloseError{Code: CodeAuthFailed}
)

// Local errors: nothing crossed the wire.
var (
	// ErrWrongWay is returned by Send for a message type the local side may
	// not send: a client sending a server-to-client type, or the reverse.
	ErrWrongWay = errors.New("ifkit: wrong direction")
	// ErrNotRequest is returned by Call for a type that declares no reply.
	ErrNotRequest = errors.New("ifkit: not a request type")
)

// closeErrorFor builds the CloseError recorded for a connection that ended
// with code, locally.
func localClose(code Code, reason string, cause error) *CloseError {
	return &CloseError{Code: code, Reason: reason, Cause: cause}
}
