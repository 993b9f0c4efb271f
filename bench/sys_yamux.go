package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/iface"
)

// yamuxSystem is the floor's reference: a bare yamux session per link with
// one stream, carrying framing.go's frames. It uses the yamux configuration
// ifkit itself uses (transportConfig: by default iface.DefaultConfig's 1 MiB
// stream window, keepalive on).
type yamuxSystem struct{}

func (yamuxSystem) Name() string { return "yamux" }

// transportConfig is the transport configuration of ifkit and bare yamux
// in this run: iface.DefaultConfig, with -stream-window applied. main sets
// it before anything runs.
var transportConfig = iface.DefaultConfig()

func yamuxConfig() *yamux.Config {
	ic := transportConfig
	c := yamux.DefaultConfig()
	c.MaxStreamWindowSize = ic.StreamWindow
	c.KeepAliveInterval = ic.KeepAliveInterval
	c.ConnectionWriteTimeout = ic.ConnectionWriteTimeout
	c.LogOutput = io.Discard
	return c
}

type yamuxServer struct {
	l       net.Listener
	dial    func(context.Context) (net.Conn, error)
	cleanup func()
	streams chan accepted
	wg      sync.WaitGroup
}

type accepted struct {
	sess   *yamux.Session
	stream *yamux.Stream
	err    error
}

func (yamuxSystem) Start(transport string) (server, error) {
	l, cleanup, err := listen(transport)
	if err != nil {
		return nil, err
	}
	s := &yamuxServer{l: l, dial: dialer(l), cleanup: cleanup, streams: make(chan accepted, 1)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *yamuxServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		sess, err := yamux.Server(maybeCoalesce(c), yamuxConfig())
		if err != nil {
			c.Close()
			s.streams <- accepted{err: err}
			continue
		}
		st, err := sess.AcceptStream()
		s.streams <- accepted{sess: sess, stream: st, err: err}
	}
}

func (s *yamuxServer) Open(ctx context.Context) (link, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := yamux.Client(maybeCoalesce(c), yamuxConfig())
	if err != nil {
		c.Close()
		return nil, err
	}
	st, err := sess.OpenStream()
	if err != nil {
		sess.Close()
		return nil, err
	}
	select {
	case a := <-s.streams:
		if a.err != nil {
			sess.Close()
			return nil, fmt.Errorf("yamux: server: %w", a.err)
		}
		return &yamuxLink{client: end{sess: sess, st: st}, server: end{sess: a.sess, st: a.stream}}, nil
	case <-ctx.Done():
		sess.Close()
		return nil, ctx.Err()
	}
}

func (s *yamuxServer) Close() error {
	err := s.l.Close()
	s.wg.Wait()
	s.cleanup()
	return err
}

// end is one end of a yamux link; its writer and reader are made when first
// used, so an idle link holds only the session and the stream.
type end struct {
	sess *yamux.Session
	st   *yamux.Stream
	w    *frameWriter
	r    *frameReader
}

func (e *end) writer() *frameWriter {
	if e.w == nil {
		e.w = newFrameWriter(e.st)
	}
	return e.w
}

func (e *end) reader() *frameReader {
	if e.r == nil {
		e.r = newFrameReader(e.st)
	}
	return e.r
}

type yamuxLink struct {
	client, server end
	echo           sync.WaitGroup
	echoing        bool
}

func (l *yamuxLink) Stream(ctx context.Context, payload []byte, n int) error {
	w, r := l.server.writer(), l.client.reader()
	sent := make(chan error, 1)
	go func() {
		for range n {
			if err := w.send(payload); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for range n {
		if _, err := r.read(); err != nil {
			return err
		}
	}
	return <-sent
}

func (l *yamuxLink) RoundTrip(ctx context.Context, payload []byte) error {
	if !l.echoing {
		// The server end answers each frame with a copy of its body.
		l.echoing = true
		r, w := l.server.reader(), l.server.writer()
		l.echo.Add(1)
		go func() {
			defer l.echo.Done()
			for {
				body, err := r.read()
				if err != nil {
					return
				}
				if w.send(append([]byte(nil), body...)) != nil {
					return
				}
			}
		}()
	}
	if err := l.client.writer().send(payload); err != nil {
		return err
	}
	body, err := l.client.reader().read()
	if err != nil {
		return err
	}
	if len(body) != len(payload) {
		return fmt.Errorf("yamux: reply of %d bytes to %d", len(body), len(payload))
	}
	return nil
}

func (l *yamuxLink) Close() error {
	for _, e := range []*end{&l.client, &l.server} {
		if e.w != nil {
			e.w.close()
		}
	}
	l.client.sess.Close()
	l.server.sess.Close()
	l.echo.Wait()
	return nil
}
