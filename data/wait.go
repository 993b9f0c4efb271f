package data

import "context"

// WaitCredit waits until this end may send a message without waiting for
// credit: the peer has granted credit that no queued message will use. It
// returns how many messages may go at once, or ctx's error, or the
// connection's *codes.CloseError once it has ended. An adapter that takes
// messages from elsewhere (a queue) calls it before taking any, so that it
// takes only what the peer has room for.
func (c *Conn) WaitCredit(ctx context.Context) (int, error) {
	var n int64
	err := c.out.wait(ctx, func(o *outbox) bool {
		n = o.credits - int64(o.messages)
		return n > 0
	})
	return int(n), err
}

// WaitPeerConsumed waits until the peer has acknowledged consuming more
// than seen messages (PeerConsumed() > seen) and returns the new count, or
// ctx's error, or the connection's *codes.CloseError once it has ended
// (with the last count the peer sent). It wakes once per CREDIT frame, not per
// message.
func (c *Conn) WaitPeerConsumed(ctx context.Context, seen uint64) (uint64, error) {
	var n uint64
	err := c.out.wait(ctx, func(*outbox) bool {
		n = c.peerConsumed.Load()
		return n > seen
	})
	if err != nil {
		n = c.peerConsumed.Load()
	}
	return n, err
}

// wait waits until ready (called with o.mu held) is true, ctx is done or
// the outbox is closed. It is woken by every notify: a grant, a message
// queued or taken.
func (o *outbox) wait(ctx context.Context, ready func(*outbox) bool) error {
	o.mu.Lock()
	for {
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return err
		}
		if ready(o) {
			o.mu.Unlock()
			return nil
		}
		ch := o.waitChan()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.mu.Lock()
	}
}
