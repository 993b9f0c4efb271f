package data

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// call is one request in flight, waiting for its reply or replies.
type call struct {
	request string        // the request's type name
	reply   string        // the type its replies must have
	replies chan *Message // buffered: the credit window bounds replies held
	mu      sync.Mutex
	err     error // set once: why no more replies will come (io.EOF at END)
	ended   chan struct{}
	once    sync.Once
}

func newCall(request, reply string, room int) *call {
	return &call{request: request, reply: reply, replies: make(chan *Message, room), ended: make(chan struct{})}
}

// deliver hands a reply to the caller; false if the call has ended.
func (cl *call) deliver(m *Message) bool {
	select {
	case <-cl.ended:
		return false
	default:
	}
	select {
	case cl.replies <- m:
		return true
	default:
		return false // cannot happen within credit; treated as a late reply
	}
}

func (cl *call) fail(err error) {
	cl.once.Do(func() {
		cl.mu.Lock()
		cl.err = err
		cl.mu.Unlock()
		close(cl.ended)
	})
}

func (cl *call) finish() { cl.fail(io.EOF) }

// next returns the next reply, or the reason there are no more.
func (cl *call) next(ctx context.Context, c *Conn) (*Message, error) {
	select {
	case m := <-cl.replies:
		c.consumed()
		return m, nil
	default:
	}
	select {
	case m := <-cl.replies:
		c.consumed()
		return m, nil
	case <-cl.ended:
		select {
		case m := <-cl.replies: // replies that came before the END
			c.consumed()
			return m, nil
		default:
		}
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return nil, cl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startCall sends a request and registers the call for its replies.
func (c *Conn) startCall(ctx context.Context, typeName string, req any, stream bool) (*call, uint64, error) {
	t, err := c.sendable(typeName)
	if err != nil {
		return nil, 0, err
	}
	if t.Reply == nil {
		return nil, 0, fmt.Errorf("%w: %s declares no reply in %s; use Send", ErrNotRequest, typeName, c.man.Name)
	}
	if t.Reply.Stream != stream {
		if stream {
			return nil, 0, fmt.Errorf("ifkit: %s is answered with one %s; use Call", typeName, t.Reply.Type)
		}
		return nil, 0, fmt.Errorf("ifkit: %s is answered with a stream of %s; use CallStream", typeName, t.Reply.Type)
	}
	corr := c.nextCorr.Add(1)
	room := 1 // one reply, or a stream of them within the credit window
	if stream {
		room = int(c.in.window)
	}
	cl := newCall(typeName, t.Reply.Type, room)
	c.callsMu.Lock()
	c.calls[corr] = cl
	c.callsMu.Unlock()
	if err := c.send(ctx, typeName, req, corr, 0, false); err != nil {
		c.forget(corr)
		return nil, 0, err
	}
	if c.isDone() {
		cl.fail(c.err) // ended while sending: the end's sweep may have missed us
	}
	return cl, corr, nil
}

func (c *Conn) forget(corr uint64) {
	c.callsMu.Lock()
	delete(c.calls, corr)
	for seq, cc := range c.seqCalls {
		if cc == corr {
			delete(c.seqCalls, seq)
		}
	}
	c.callsMu.Unlock()
}

// Call sends a request of the named type and waits for its single reply.
// A refusal by the peer is a *codes.RemoteError; the end of the connection its
// *codes.CloseError.
func (c *Conn) Call(ctx context.Context, typeName string, req any) (*Message, error) {
	cl, corr, err := c.startCall(ctx, typeName, req, false)
	if err != nil {
		return nil, err
	}
	defer c.forget(corr)
	m, err := cl.next(ctx, c)
	if err == io.EOF {
		err = fmt.Errorf("ifkit: %s: the peer ended the reply without answering", typeName)
	}
	return m, err
}

// ReplyStream is the stream of replies to one request sent with CallStream.
type ReplyStream struct {
	conn *Conn
	call *call
	corr uint64
}

// CallStream sends a request whose type is answered by a stream of replies.
func (c *Conn) CallStream(ctx context.Context, typeName string, req any) (*ReplyStream, error) {
	cl, corr, err := c.startCall(ctx, typeName, req, true)
	if err != nil {
		return nil, err
	}
	return &ReplyStream{conn: c, call: cl, corr: corr}, nil
}

// Recv returns the next reply, io.EOF after the last one.
func (s *ReplyStream) Recv(ctx context.Context) (*Message, error) {
	m, err := s.call.next(ctx, s.conn)
	if err != nil {
		s.conn.forget(s.corr)
	}
	return m, err
}

// Close gives up on the remaining replies; those still arriving are dropped.
func (s *ReplyStream) Close() {
	s.call.fail(io.EOF)
	s.conn.forget(s.corr)
	for {
		select {
		case <-s.call.replies:
			s.conn.consumed()
		default:
			return
		}
	}
}
