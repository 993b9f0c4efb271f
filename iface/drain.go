package iface

import (
	"time"

	"github.com/ifkit/ifkit/control"
)

// Drain begins a graceful shutdown without waiting: the server stops
// accepting sessions and streams and tells control streams it is draining,
// with deadline as the time it expects to be gone (zero: not said). A
// program that closes connections itself when it stops (ifctl serve's
// mock senders) calls Drain first, so that clients hear the notice before
// their connections end, then Shutdown, which waits for them. Calls after
// the first, and Shutdown after Drain, do not notify again.
func (s *Server) Drain(deadline time.Time) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	s.draining = true
	for l := range s.listeners {
		l.Close()
	}
	var detached []*Conn
	for _, sc := range s.conns {
		if sc.resume != nil && sc.resume.reattached != nil {
			detached = append(detached, sc.conn)
		}
	}
	s.mu.Unlock()
	s.hub.Notify(&control.Draining{Deadline: deadline})
	// A draining server refuses resumes: a detached connection is over.
	for _, c := range detached {
		c.End(localClose(CodeDraining, drainingDetached, nil))
	}
}

const drainingDetached = "the server is shutting down, and its transport had broken: it cannot be resumed"
