package iface

import (
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/data"
)

// The types of the data and control planes, under the names this package's
// API has always used: a program that uses only iface needs no other import.
type (
	// Conn is one connection's data sub-interface; see data.Conn.
	Conn = data.Conn
	// Message is one received message; see data.Message.
	Message = data.Message
	// Handler handles one received message; see data.Handler.
	Handler = data.Handler
	// ReplyStream is the stream of replies to one CallStream request.
	ReplyStream = data.ReplyStream
	// Control is a client's control stream; see control.Client.
	Control = control.Client
	// InterfaceInfo describes one hosted interface (Control.List).
	InterfaceInfo = control.InterfaceInfo
	// ConnStats are a connection's counters (Control.Stats).
	ConnStats = control.ConnStats
	// ConnRef is one connection as a control stream acts on it
	// (Control.Conn).
	ConnRef = control.ConnRef
	// Connection is a live connection as an operator lists it
	// (Server.Connections, Control.Connections).
	Connection = control.Connection
	// ServerStats are a server's counters per interface and message type
	// (Server.Stats, Control.ServerStats).
	ServerStats = control.ServerStats
	// TypeStats count one received type's handler calls (ServerStats).
	TypeStats = control.TypeStats
	// Notification is one server-pushed event (Control.Notifications);
	// its variants are in package control.
	Notification = control.Notification
	// Code is the closed set of reasons that cross the wire; see package codes.
	Code = codes.Code
	// CloseError says why a connection ended; see codes.CloseError.
	CloseError = codes.CloseError
	// RemoteError is the peer's refusal of one message or control request.
	RemoteError = codes.RemoteError
)

// The codes, as spec/PROTOCOL.md §9 numbers them (see package codes).
const (
	CodeOK                 = codes.OK
	CodeNormalClose        = codes.NormalClose
	CodeProtocolError      = codes.ProtocolError
	CodeCreditViolation    = codes.CreditViolation
	CodeInvalidMessage     = codes.InvalidMessage
	CodeMessageTooLarge    = codes.MessageTooLarge
	CodeWrongDirection     = codes.WrongDirection
	CodeUnknownInterface   = codes.UnknownInterface
	CodeUnknownType        = codes.UnknownType
	CodeUnsupportedCodec   = codes.UnsupportedCodec
	CodeUnsupportedVersion = codes.UnsupportedVersion
	CodeManifestMismatch   = codes.ManifestMismatch
	CodeNotFound           = codes.NotFound
	CodeAuthFailed         = codes.AuthFailed
	CodeKeepaliveTimeout   = codes.KeepaliveTimeout
	CodeTransportError     = codes.TransportError
	CodeDraining           = codes.Draining
	CodeLimitExceeded      = codes.LimitExceeded
	CodeUnimplemented      = codes.Unimplemented
	CodeCanceled           = codes.Canceled
	CodeInternal           = codes.Internal
	CodeInvalidFilter      = codes.InvalidFilter
	CodeSlowSubscriber     = codes.SlowSubscriber
)

// CodeOf returns the code err carries (that of the first *CloseError or
// *RemoteError in its chain), OK for nil and internal for an error without
// one, so callers never match error text:
//
//	if iface.CodeOf(conn.Err()) == iface.CodeKeepaliveTimeout { reconnect() }
func CodeOf(err error) Code { return codes.Of(err) }

// ParseCode reads a code's name as Code.String writes it.
func ParseCode(s string) (Code, error) { return codes.Parse(s) }

// Values to match a connection's end with errors.Is. They are codes, and
// constants: errors.Is(conn.Err(), iface.ErrCreditViolation) is the same as
// CodeOf(conn.Err()) == CodeCreditViolation.
const (
	ErrNormalClose      = codes.NormalClose
	ErrProtocol         = codes.ProtocolError
	ErrCreditViolation  = codes.CreditViolation
	ErrInvalidMessage   = codes.InvalidMessage
	ErrMessageTooLarge  = codes.MessageTooLarge
	ErrWrongDirection   = codes.WrongDirection
	ErrUnknownInterface = codes.UnknownInterface
	ErrUnknownType      = codes.UnknownType
	ErrKeepaliveTimeout = codes.KeepaliveTimeout
	ErrTransport        = codes.TransportError
	ErrDraining         = codes.Draining
	ErrManifestMismatch = codes.ManifestMismatch
	ErrAuth             = codes.AuthFailed
)

// Local errors: nothing crossed the wire (see package data).
const (
	ErrWrongWay   = data.ErrWrongWay
	ErrNotRequest = data.ErrNotRequest
	ErrNoCredit   = data.ErrNoCredit
	ErrDropped    = data.ErrDropped
)

// errorString is the type of this package's own sentinel errors: constants,
// so no program can replace one.
type errorString string

func (e errorString) Error() string { return string(e) }

// localClose builds the CloseError recorded for a connection that ended
// with code, locally.
func localClose(code Code, reason string, cause error) *CloseError {
	return &CloseError{Code: code, Reason: reason, Cause: cause}
}
