package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// publishIface is one publish entry: a subject served as a recv interface.
type publishIface struct {
	a *Adapter
	e Publish
	m *manifest.Manifest
}

func (p *publishIface) iface() iface.Interface {
	return iface.Interface{
		Manifest: p.m,
		// One handler per connection at a time, each returning once
		// JetStream has stored its message: the message's credit goes
		// back to the client only then, so credit means "stored".
		CatchAll: p.publish,
	}
}

// publish publishes one message, which has passed its type's checks, and
// waits for JetStream's acknowledgement; a refusal carries the reason it
// was not stored.
func (p *publishIface) publish(_ context.Context, m *iface.Message) error {
	id, err := p.msgID(m)
	if err != nil {
		p.a.st.refused.Add(1)
		return err
	}
	msg := &natsgo.Msg{Subject: p.e.Subject, Data: m.Data}
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	// Not the connection's context: a message that arrived is published
	// even if its client closes at once after sending it.
	ctx, cancel := context.WithTimeout(p.a.ctx, p.e.PublishTimeout.or(DefaultPublishTimeout))
	defer cancel()
	ack, err := p.a.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		p.a.st.refused.Add(1)
		return refusal(p.e.Subject, err)
	}
	if ack.Duplicate {
		p.a.st.duplicates.Add(1)
	} else {
		p.a.st.published.Add(1)
	}
	return nil
}

// maxMsgID bounds a message id made of fields.
const maxMsgID = 1024

// msgID returns m's id: the WithMsgID hook's, else the values of the
// msg_id fields, each as its JSON text (a string without its quotes),
// joined by '/', after the interface's name.
func (p *publishIface) msgID(m *iface.Message) (string, error) {
	if p.a.o.msgID != nil {
		return p.a.o.msgID(&p.e, m.Conn(), m)
	}
	if len(p.e.MsgID) == 0 {
		return "", nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &fields); err != nil {
		return "", &codes.RemoteError{Code: codes.InvalidMessage, Reason: fmt.Sprintf("msg_id needs a JSON object, with fields %s", strings.Join(p.e.MsgID, ", "))}
	}
	var b strings.Builder
	b.WriteString(p.e.Interface)
	for _, f := range p.e.MsgID {
		v, ok := fields[f]
		if !ok || string(v) == "null" {
			return "", &codes.RemoteError{Code: codes.InvalidMessage, Reason: fmt.Sprintf("field %q is missing: %s makes each message's id (msg_id) of %s", f, p.e.Interface, strings.Join(p.e.MsgID, ", "))}
		}
		b.WriteByte('/')
		var s string
		if json.Unmarshal(v, &s) == nil {
			b.WriteString(s)
		} else {
			b.Write(v)
		}
	}
	if b.Len() > maxMsgID {
		return "", &codes.RemoteError{Code: codes.InvalidMessage, Reason: fmt.Sprintf("the message id made of %s is %d bytes; at most %d", strings.Join(p.e.MsgID, ", "), b.Len(), maxMsgID)}
	}
	return b.String(), nil
}
