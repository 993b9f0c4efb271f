package data

import (
	"context"
	"fmt"

	"github.com/ifkit/ifkit/manifest"
)

// Filter selects, at the sender, which messages a connection sends: the
// subscriber's filter (spec/PROTOCOL.md §4.8). Package filter compiles
// them. A message the filter does not select is never encoded, sent or
// given credit, and is counted in Stats.FilteredOut; replies are never
// filtered.
type Filter interface {
	// Match judges v, a message of type t as given to Send. It must be
	// safe for concurrent use and must not block.
	Match(t *manifest.MessageType, v any) Verdict
}

// Verdict is a Filter's judgement of one message.
type Verdict uint8

const (
	// Unfiltered: the filter does not apply to the message (another type);
	// it is sent and not counted.
	Unfiltered Verdict = iota
	// Matched: it is sent, and counted in Stats.Matched.
	Matched
	// FilteredOut: it is not sent, and counted in Stats.FilteredOut.
	FilteredOut
)

// filterBox holds a Filter in an atomic.Pointer.
type filterBox struct{ f Filter }

// SetFilter sets the filter of the messages this end sends (nil: none),
// taking effect from the next Send; a message already queued is not judged
// again. A server sets it from the handshake and the control operation
// filter.
func (c *Conn) SetFilter(f Filter) {
	if f == nil {
		c.filter.Store(nil)
		return
	}
	c.filter.Store(&filterBox{f})
}

// Filter returns the filter set by SetFilter, or nil.
func (c *Conn) Filter() Filter {
	if b := c.filter.Load(); b != nil {
		return b.f
	}
	return nil
}

// passes applies the filter to a message about to be sent, and counts.
func (c *Conn) passes(t *manifest.MessageType, v any) bool {
	b := c.filter.Load()
	if b == nil {
		return true
	}
	switch b.f.Match(t, v) {
	case Matched:
		c.matched.Add(1)
	case FilteredOut:
		c.filteredOut.Add(1)
		return false
	}
	return true
}

// SendEncoded sends a message of the named type that the caller has
// already encoded in this connection's codec as body (it is copied): a
// topic encodes a message once for all its subscribers. v is what the
// filter judges (the message as given, or what package filter shares among
// filters); sent is false, with no error, for a message it filters out.
// noWait fails with ErrNoCredit (or the flow policy's drop) instead of
// waiting for credit. The body is checked against flow.max_message_bytes,
// not against the type: the caller's encoder did that.
func (c *Conn) SendEncoded(ctx context.Context, typeName string, v any, body []byte, noWait bool) (sent bool, err error) {
	t, err := c.sendable(typeName)
	if err != nil {
		return false, err
	}
	if !c.passes(t, v) {
		return false, nil
	}
	if len(body) > c.maxBody {
		return false, fmt.Errorf("ifkit: send %s: the message is %d bytes; the manifest allows at most %d (flow.max_message_bytes)", typeName, len(body), c.maxBody)
	}
	m := c.out.newMsg()
	m.buf = append(m.buf[:0], body...)
	m.typeID, m.body = t.ID, m.buf
	if err := c.out.enqueue(ctx, m, noWait); err != nil {
		putOutMsg(m)
		return false, fmt.Errorf("ifkit: send %s: %w", typeName, err)
	}
	return true, nil
}

// sendEach is SendBatch with a filter: each message is judged and sent on
// its own. It returns how many were handled (sent or filtered out).
func (c *Conn) sendEach(ctx context.Context, typeName string, vs []any) (int, error) {
	for i, v := range vs {
		if err := c.send(ctx, typeName, v, 0, 0, false); err != nil {
			return i, err
		}
	}
	return len(vs), nil
}
