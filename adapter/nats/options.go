package nats

import (
	"log/slog"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// DefaultOutage is how long a consuming connection waits for JetStream
// to come back (a restart, a reconnect) before it ends with
// transport_error.
const DefaultOutage = 30 * time.Second

// Option configures New.
type Option interface{ apply(*options) }

type options struct {
	log    *slog.Logger
	msgID  MsgIDFunc
	outage time.Duration
}

func defaultOptions() options {
	return options{log: slog.New(slog.DiscardHandler), outage: DefaultOutage}
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger logs what the adapter does on its own: JetStream outages and
// reconnects, messages that fail their type and are terminated.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.log = l
		}
	})
}

// WithOutage sets how long a consuming connection waits for JetStream to
// answer again before it ends with transport_error (default DefaultOutage).
func WithOutage(d time.Duration) Option {
	return optionFunc(func(o *options) {
		if d > 0 {
			o.outage = d
		}
	})
}

// A MsgIDFunc returns the id (Nats-Msg-Id) of a message published on a
// publish interface, "" for none: JetStream stores a message whose id it
// has seen within the stream's duplicate window only once. It runs after
// the message passed its type's checks; an error refuses the message.
//
// Without one, the id is made of the fields the configuration's msg_id
// names. The ifkit protocol has no client identity that outlives a
// connection yet; when it has one (a client key and a sequence that a
// client re-sends after a reconnect), it feeds this same hook.
type MsgIDFunc func(e *Publish, c *iface.Conn, m *iface.Message) (string, error)

// WithMsgID sets how published messages get their ids.
func WithMsgID(f MsgIDFunc) Option { return optionFunc(func(o *options) { o.msgID = f }) }
