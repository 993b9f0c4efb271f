package iface

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// WithLogger logs the server's connections and refusals to l, as
// structured records (log/slog): "connection opened" (id, interface,
// client, codec, remote), "connection closed" (id, interface, code,
// reason, by: client or server; Warn unless normal_close), "refused" (remote, interface, code,
// reason; Warn) and "operator" (remote, interface, how: the operator scope
// granted). Text a peer chose (client names, reasons) is a value of its
// own, which the handler quotes. No secret, proof or message body is
// logged. Refusals are logged at most 10 a second; the next one logged
// after a burst carries the number left out ("suppressed").
func WithLogger(l *slog.Logger) ServerOption {
	return serverOption(func(s *Server) { s.log = l })
}

// Bounds on the refusal log: a peer opening thousands of streams for an
// interface the server does not host would otherwise write as many records.
const (
	refusalLogMax    = 10
	refusalLogWindow = time.Second
)

// refusalLimit lets refusalLogMax refusals a window be logged and counts
// the rest.
type refusalLimit struct {
	mu         sync.Mutex
	start      time.Time
	logged     int
	suppressed int
}

// allow reports whether a refusal may be logged now, and how many were
// left out before it.
func (r *refusalLimit) allow(now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.start) >= refusalLogWindow {
		r.start, r.logged = now, 0
	}
	if r.logged >= refusalLogMax {
		r.suppressed++
		return false, 0
	}
	r.logged++
	n := r.suppressed
	r.suppressed = 0
	return true, n
}

func (s *Server) logRefusal(r Refusal) {
	if s.log == nil {
		return
	}
	ok, suppressed := s.refusalLog.allow(time.Now())
	if !ok {
		return
	}
	attrs := []slog.Attr{slog.String("remote", r.Remote), slog.String("code", r.Code.String()), slog.String("reason", r.Reason)}
	if r.Interface != "" {
		attrs = append(attrs, slog.String("interface", r.Interface))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "refused", attrs...)
}

func (s *Server) logOpened(c *Conn, p *peer, client string) {
	if s.log == nil {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "connection opened",
		slog.Uint64("id", c.ID()), slog.String("interface", c.Manifest().Name),
		slog.String("client", client), slog.String("codec", c.Codec().Name()), slog.String("remote", p.remote))
}

func (s *Server) logDetached(c *Conn, cause *CloseError, grace time.Duration) {
	if s.log == nil {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "connection detached: its transport broke; kept for a resume",
		slog.Uint64("id", c.ID()), slog.String("interface", c.Manifest().Name),
		slog.String("cause", cause.Error()), slog.Duration("grace", grace))
}

func (s *Server) logResumed(c *Conn, p *peer) {
	if s.log == nil {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "connection resumed",
		slog.Uint64("id", c.ID()), slog.String("interface", c.Manifest().Name), slog.String("remote", p.remote))
}

func (s *Server) logClosed(c *Conn) {
	if s.log == nil {
		return
	}
	code, reason, by := CodeOK, "", "server"
	var ce *CloseError
	if errors.As(c.Err(), &ce) {
		code, reason = ce.Code, ce.Reason
		if ce.Remote {
			by = "client"
		}
	}
	level := slog.LevelInfo
	if code != CodeNormalClose {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(context.Background(), level, "connection closed",
		slog.Uint64("id", c.ID()), slog.String("interface", c.Manifest().Name),
		slog.String("code", code.String()), slog.String("reason", reason), slog.String("by", by))
}

func (s *Server) logOperator(remote, iface, how string) {
	if s.log == nil {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "operator",
		slog.String("remote", remote), slog.String("interface", iface), slog.String("how", how))
}
