package httpgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
)

// statuses is the one table from ifkit codes to HTTP statuses. A code it
// does not list (one a newer peer sends) is 502: the server behind the
// gateway failed in a way the gateway cannot name.
var statuses = map[codes.Code]int{
	codes.OK:                 http.StatusOK,
	codes.InvalidMessage:     http.StatusBadRequest,            // with the JSON pointer when known
	codes.MessageTooLarge:    http.StatusRequestEntityTooLarge, // the body is over flow.max_message_bytes
	codes.WrongDirection:     http.StatusMethodNotAllowed,      // also a wrong method on a route
	codes.UnknownInterface:   http.StatusNotFound,
	codes.UnknownType:        http.StatusNotFound,
	codes.NotFound:           http.StatusNotFound,
	codes.AuthFailed:         http.StatusForbidden, // the server refused the gateway's credentials
	codes.ManifestMismatch:   http.StatusConflict,
	codes.LimitExceeded:      http.StatusTooManyRequests, // also no credit under the error and drop_newest policies
	codes.Draining:           http.StatusServiceUnavailable,
	codes.Unimplemented:      http.StatusNotImplemented,
	codes.Canceled:           http.StatusGatewayTimeout, // also the gateway's call timeout
	codes.Internal:           http.StatusInternalServerError,
	codes.NormalClose:        http.StatusBadGateway, // the connection closed before the answer
	codes.ProtocolError:      http.StatusBadGateway,
	codes.CreditViolation:    http.StatusBadGateway,
	codes.UnsupportedCodec:   http.StatusBadGateway,
	codes.UnsupportedVersion: http.StatusBadGateway,
	codes.KeepaliveTimeout:   http.StatusBadGateway,
	codes.TransportError:     http.StatusBadGateway,      // the server is gone
	codes.InvalidFilter:      http.StatusBadRequest,      // a stream's ?filter= does not compile
	codes.SlowSubscriber:     http.StatusTooManyRequests, // a topic's reader fell behind under the error policy
}

// Status returns the HTTP status the gateway answers an ifkit code with.
func Status(c codes.Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusBadGateway
}

// Error is what the gateway answers a failed request with, as JSON:
// {"error":{...}}.
type Error struct {
	Code    codes.Code `json:"code"`
	Status  int        `json:"status"`
	Message string     `json:"message"`
	// Pointer is the JSON pointer to the failing part of the value, when
	// known (an invalid message).
	Pointer string `json:"pointer,omitempty"`
	// Line is the NDJSON line the error is about (1-based), on a POST of
	// NDJSON lines.
	Line int `json:"line,omitempty"`
	// Sent counts the messages sent before the error, on a POST of
	// NDJSON lines.
	Sent *int `json:"sent,omitempty"`
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

// errorf returns an *Error of code c.
func errorf(c codes.Code, format string, args ...any) *Error {
	return &Error{Code: c, Status: Status(c), Message: fmt.Sprintf(format, args...)}
}

// toError turns any error on the way to the ifkit server into the
// gateway's: the code a *codes.CloseError or *codes.RemoteError carries,
// and the codes of the local failures (a value that fails its type,
// a wrong direction, no credit, a timeout, a body over its limit).
func toError(err error) *Error {
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	var ce *codec.Error
	var mb *http.MaxBytesError
	var c codes.Code
	pointer := ""
	switch {
	case errors.As(err, &ce):
		c, pointer = codes.InvalidMessage, ce.Path
	case errors.As(err, &mb):
		c = codes.MessageTooLarge
	case errors.Is(err, iface.ErrWrongWay):
		c = codes.WrongDirection
	case errors.Is(err, iface.ErrNoCredit), errors.Is(err, iface.ErrDropped):
		c = codes.LimitExceeded
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		c = codes.Canceled
	default:
		c = codes.Of(err)
		if c == codes.OK {
			c = codes.Internal
		}
	}
	e := errorf(c, "%s", err.Error())
	e.Pointer = pointer
	return e
}

// writeError answers the request with err as JSON.
func writeError(w http.ResponseWriter, err error) {
	e := toError(err)
	if e.Code == codes.WrongDirection && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", "GET, POST")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	writeJSON(w, errorBody{e})
}

type errorBody struct {
	Error *Error `json:"error"`
}

// writeJSON writes v as one line of JSON, without HTML escaping.
func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
