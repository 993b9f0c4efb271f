package nats

import (
	"context"
	"errors"
	"fmt"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/codes"
)

// codeTable is the one table from NATS and JetStream failures to the
// ifkit codes a client is told: in a refusal of a published message, or
// in the reason a consuming connection ends with. The first match wins;
// a failure it does not list is internal.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{jetstream.ErrConsumerNotFound, codes.NotFound},
	{jetstream.ErrConsumerDeleted, codes.NotFound},
	{jetstream.ErrStreamNotFound, codes.NotFound},
	{jetstream.ErrNoStreamResponse, codes.NotFound}, // no stream stores the subject
	{natsgo.ErrMaxPayload, codes.MessageTooLarge},
	{natsgo.ErrNoResponders, codes.TransportError}, // JetStream is not there (restarting, or disabled)
	{natsgo.ErrConnectionClosed, codes.TransportError},
	{natsgo.ErrConnectionReconnecting, codes.TransportError},
	{natsgo.ErrDisconnected, codes.TransportError},
	{natsgo.ErrTimeout, codes.TransportError},
	{jetstream.ErrNoHeartbeat, codes.TransportError},
	{jetstream.ErrServerShutdown, codes.TransportError}, // restarting, or stopped
	{context.DeadlineExceeded, codes.TransportError},    // JetStream did not answer in time
	{context.Canceled, codes.Canceled},
}

// CodeOf returns the ifkit code the adapter reports a NATS or JetStream
// failure with (see the package documentation's table).
func CodeOf(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch {
		case api.Code == 404:
			return codes.NotFound
		case api.Code == 503:
			return codes.TransportError
		case api.Code == 400:
			return codes.InvalidMessage
		}
	}
	if c := codes.Of(err); c != codes.Internal {
		return c
	}
	return codes.Internal
}

// transient says whether the adapter waits out err (JetStream restarting,
// the connection reconnecting) rather than ending a connection with it.
func transient(err error) bool { return CodeOf(err) == codes.TransportError }

// refusal is the refusal of a published message that JetStream did not
// store.
func refusal(subject string, err error) *codes.RemoteError {
	return &codes.RemoteError{Code: CodeOf(err), Reason: fmt.Sprintf("JetStream did not store the message on %s: %v", subject, err)}
}

// resetError is a reset's refusal: the control stream answers with its code
// and reason.
func resetError(code codes.Code, reason string) error {
	return &codes.RemoteError{Code: code, Reason: reason}
}
