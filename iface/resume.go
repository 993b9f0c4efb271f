package iface

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
)

// Resumable connections (spec/PROTOCOL.md §4.10): a connection opened with
// WithResume survives a broken transport. The server keeps it for
// Config.ResumeGrace; the client dials its address list again, with
// backoff, and resumes it on the new session with its token. The data
// layer (data.Conn's Resume) makes sure nothing is lost or repeated.

// resumeTokenLen is the length of a resume token: random, unguessable.
const resumeTokenLen = 16

// WithResume opens a resumable connection: when its transport breaks (a
// killed socket, a restarted relay, an address that went away), the client
// dials its address list again and resumes it, with nothing lost, repeated
// or out of order. Meanwhile Err matches ErrReconnecting, sends wait or
// fail as the flow policy says, and nothing arrives; if the connection
// cannot be resumed within the server's grace period it ends with
// transport_error, saying why. It needs a Client made by Dial (which knows
// the addresses to dial again), and a server that offers resume.
func WithResume() ConnectOption { return connectOption(func(o *connectOptions) { o.resume = true }) }

// ErrReconnecting matches what a resumable connection's Err returns while
// its transport is down.
const ErrReconnecting = data.ErrReconnecting

// resumableConn is a resumable connection the server holds: the token
// names it, reattached is closed when a client resumes it after a break.
type resumableConn struct {
	token      string
	reattached chan struct{}
	// resuming is held by the resume in progress: a client that tries
	// again before its first attempt's answer waits for it to finish.
	resuming sync.Mutex
}

// newResumeToken returns a fresh token.
func newResumeToken() []byte {
	b := make([]byte, resumeTokenLen)
	rand.Read(b)
	return b
}

// serverDetached runs when a resumable connection's transport broke (on a
// goroutine of the connection's): it keeps the connection for the grace
// period, then ends it unless a client resumed it.
func (s *Server) serverDetached(c *Conn, cause *CloseError) {
	s.mu.Lock()
	sc := s.conns[c.ID()]
	if sc == nil || sc.resume == nil {
		s.mu.Unlock()
		return
	}
	back := make(chan struct{})
	sc.resume.reattached = back
	draining := s.draining || s.closed
	s.mu.Unlock()
	if draining {
		c.End(localClose(CodeDraining, drainingDetached, nil))
		return
	}
	grace := s.cfg.ResumeGrace
	s.logDetached(c, cause, grace)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-back:
	case <-c.Done():
	case <-t.C:
		c.End(&CloseError{Code: CodeTransportError, Reason: fmt.Sprintf("the transport broke (%v) and the client did not resume the connection within the server's grace period (%v)", cause, grace), Cause: cause})
	}
}

// resumeData answers an OpenStream that resumes a connection.
func (s *Server) resumeData(sess *yamux.Session, key []byte, p *peer, st *yamux.Stream, br *bufio.Reader, open *sessionpb.OpenStream, i *Interface) {
	rs := open.GetResume()
	s.mu.Lock()
	var sc *servedConn
	if id, ok := s.resumeTokens[string(rs.GetToken())]; ok {
		sc = s.conns[id]
	}
	s.mu.Unlock()
	if sc == nil || sc.iface != i {
		s.refuse(st, open, CodeNotFound, fmt.Sprintf("no resumable connection on %s has this token: it ended, its grace period (%v) passed, or the server restarted", i.Manifest.Name, s.cfg.ResumeGrace))
		return
	}
	if sc.peer.authenticated && key == nil {
		s.refuse(st, open, CodeAuthFailed, "the connection was opened on a session authenticated with the shared secret; resume it on one too")
		return
	}
	conn := sc.conn
	sc.resume.resuming.Lock()
	defer sc.resume.resuming.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	// The old transport may still look alive here (the client saw the
	// break first): let go of it, so that what it received is final.
	if err := conn.Detach(ctx, localClose(CodeTransportError, "the client resumed the connection on another transport", nil)); err != nil {
		s.refuse(st, open, CodeNotFound, fmt.Sprintf("connection %d cannot be resumed: %v", conn.ID(), err))
		return
	}
	mine, err := conn.ResumeState()
	if err != nil {
		s.refuse(st, open, CodeNotFound, fmt.Sprintf("connection %d cannot be resumed: %v", conn.ID(), err))
		return
	}
	answer := encodeMsg(&sessionpb.OpenResult{
		Code:         uint32(CodeOK),
		ConnectionId: conn.ID(),
		Codec:        conn.Codec().Name(),
		ManifestHash: conn.Manifest().Hash(),
		Resume:       &sessionpb.ResumeState{Received: mine.Received, Granted: mine.Granted, Consumed: mine.Consumed},
	})
	peer := data.ResumeState{Received: rs.GetReceived(), Granted: rs.GetGranted(), Consumed: rs.GetConsumed()}
	st.SetDeadline(time.Time{})
	if err := conn.Resume(st, br, peer, sessionCause(sess), answer); err != nil {
		reason := fmt.Sprintf("the client's resume state does not fit the connection: %v", err)
		s.refuse(st, open, CodeProtocolError, reason)
		conn.End(localClose(CodeProtocolError, reason, nil))
		return
	}
	s.mu.Lock()
	sc.sess, sc.peer = sess, p
	back := sc.resume.reattached
	sc.resume.reattached = nil
	s.mu.Unlock()
	if back != nil {
		close(back)
	}
	s.logResumed(conn, p)
}

// resumer reconnects a client's resumable connection: it runs when the
// connection's transport broke, on a goroutine of the connection's.
type resumer struct {
	owner *Client // the Client that opened the connection
	iface string
	token []byte
	grace time.Duration
	mu    sync.Mutex
	cur   *Client // the session the connection is on now, when not the owner's
}

func (r *resumer) detached(conn *Conn, cause *CloseError) {
	deadline := time.Now().Add(r.grace)
	wait := 50 * time.Millisecond
	var last error
	for {
		if r.owner.closing.Load() {
			conn.End(localClose(CodeNormalClose, "the client closed", nil))
			return
		}
		ctx, cancel := context.WithDeadline(conn.Context(), deadline)
		err := r.attempt(ctx, conn)
		cancel()
		if err == nil {
			return
		}
		last = err
		var ce *CloseError
		if errors.As(err, &ce) && ce.Remote && ce.Code != CodeDraining && ce.Code != CodeLimitExceeded {
			// The server answered, and no: not_found, auth_failed, …
			conn.End(&CloseError{Code: ce.Code, Reason: "the connection could not be resumed: " + ce.Reason, Remote: true})
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			conn.End(&CloseError{Code: CodeTransportError, Reason: fmt.Sprintf("the transport broke (%v) and the connection could not be resumed within the server's grace period (%v): %v", cause, r.grace, last), Cause: cause})
			return
		}
		// Jittered, doubling, capped: many clients cut off at once do
		// not come back at once.
		d := min(wait/2+mrand.N(wait), left)
		wait = min(wait*2, 2*time.Second)
		select {
		case <-time.After(d):
		case <-conn.Done():
			return
		}
	}
}

// attempt dials a new session and resumes conn on it.
func (r *resumer) attempt(ctx context.Context, conn *Conn) error {
	cl, err := r.owner.redial(ctx)
	if err != nil {
		return err
	}
	mine, err := conn.ResumeState()
	if err != nil {
		cl.Close()
		return err
	}
	st, br, res, err := cl.open(ctx, &sessionpb.OpenStream{
		Interface: r.iface,
		Kind:      sessionpb.StreamKind_STREAM_KIND_DATA,
		Resume:    &sessionpb.ResumeState{Token: r.token, Received: mine.Received, Granted: mine.Granted, Consumed: mine.Consumed},
	})
	if err != nil {
		cl.Close()
		return err
	}
	theirs := res.GetResume()
	if theirs == nil || res.GetConnectionId() != conn.ID() {
		reason := fmt.Sprintf("the server answered the resume of connection %d without its resume state (connection %d)", conn.ID(), res.GetConnectionId())
		cl.decline(st, CodeProtocolError, reason)
		cl.Close()
		return &CloseError{Code: CodeProtocolError, Reason: reason, Remote: true}
	}
	peer := data.ResumeState{Received: theirs.GetReceived(), Granted: theirs.GetGranted(), Consumed: theirs.GetConsumed()}
	if err := conn.Resume(st, br, peer, sessionCause(cl.sess), nil); err != nil {
		reason := fmt.Sprintf("the server's resume state does not fit the connection: %v", err)
		cl.decline(st, CodeProtocolError, reason)
		cl.Close()
		return &CloseError{Code: CodeProtocolError, Reason: reason, Remote: true}
	}
	r.mu.Lock()
	old := r.cur
	r.cur = cl
	r.mu.Unlock()
	if old != nil {
		old.Close() // its session broke; it held nothing else
	}
	return nil
}

// closeAfter closes the session the connection is on, once the connection
// has ended and written its CLOSE, unless it is the owner's.
func (r *resumer) closeAfter(conn *Conn) {
	<-conn.Done()
	conn.Wait()
	r.mu.Lock()
	cl := r.cur
	r.cur = nil
	r.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// resumeOffered checks a server's answer to a resumable open.
func resumeOffered(res *sessionpb.OpenResult) error {
	if len(res.GetResumeToken()) != resumeTokenLen || res.GetResumeGraceMs() == 0 {
		return errors.New("the server does not offer resume (an older server, or one whose Config.ResumeGrace, ifctl serve --resume-grace, is 0)")
	}
	return nil
}

// resumeConfig fills the data configuration of a resumable client connection.
func (c *Client) resumeConfig(cfg *data.Config, iface string, res *sessionpb.OpenResult) *resumer {
	r := &resumer{owner: c, iface: iface, token: res.GetResumeToken(), grace: time.Duration(res.GetResumeGraceMs()) * time.Millisecond}
	cfg.Resumable, cfg.OnDetach = true, r.detached
	return r
}

// track remembers a resumable connection, so that Close ends it, and
// closes the session it moved to once it ends.
func (c *Client) track(conn *Conn, r *resumer) {
	c.resumablesMu.Lock()
	if c.resumables == nil {
		c.resumables = map[*Conn]struct{}{}
	}
	c.resumables[conn] = struct{}{}
	c.resumablesMu.Unlock()
	go func() {
		r.closeAfter(conn)
		c.resumablesMu.Lock()
		delete(c.resumables, conn)
		c.resumablesMu.Unlock()
	}()
}

// endResumables ends the client's resumable connections, wherever they
// are now, and waits (bounded by their CloseTimeout) for their CLOSE.
func (c *Client) endResumables() {
	c.resumablesMu.Lock()
	conns := make([]*Conn, 0, len(c.resumables))
	for conn := range c.resumables {
		conns = append(conns, conn)
	}
	c.resumablesMu.Unlock()
	for _, conn := range conns {
		conn.End(localClose(CodeNormalClose, "the client closed", nil))
	}
	for _, conn := range conns {
		conn.Wait()
	}
}
