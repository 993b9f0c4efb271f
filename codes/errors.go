package codes

import (
	"errors"
	"fmt"
)

// CloseError says why a connection (or a stream) ended: the code that
// crossed, or would have crossed, the wire, the reason text, and which side
// ended it. Every ended connection has one; nothing ends as a bare io.EOF.
//
//	if errors.Is(conn.Err(), codes.CreditViolation) { ... }
type CloseError struct {
	Code   Code
	Reason string
	Remote bool  // the peer ended it (or broke the protocol)
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

// Is reports whether target is the same code (a Code), or a *CloseError
// with the same code and, if it has one, the same reason.
func (e *CloseError) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return t == e.Code
	case *CloseError:
		return t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
	}
	return false
}

// RemoteError is the peer's refusal of one message or control request,
// sent without ending the connection: a message that failed its type's
// checks, a request whose handler failed, or a control operation the server
// would not do.
type RemoteError struct {
	Code   Code
	Reason string
	Seq    uint64 // the refused message's sequence number; 0 for a control request
}

func (e *RemoteError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("ifkit: the server refused the control request: %s: %s", e.Code, e.Reason)
	}
	return fmt.Sprintf("ifkit: peer refused message %d: %s: %s", e.Seq, e.Code, e.Reason)
}

// Is reports whether target is the refusal's code.
func (e *RemoteError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Of returns the code err carries: that of the first *CloseError or
// *RemoteError in its chain, OK for nil, and Internal for an error that
// carries none (a local failure such as a cancelled context).
func Of(err error) Code {
	if err == nil {
		return OK
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return Internal
}
