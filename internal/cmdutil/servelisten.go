package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// ServeOn is the tail of the commands that serve an iface.Server (the
// adapters): it listens on every address in listen, prints "listening on
// ADDR" for each on io.Out (with the port picked for :0), calls ready (when
// not nil) with those addresses, and serves until ctx ends or a listener
// fails; then it shuts srv down within grace. A failed listen closes the
// ones opened before it and says which address failed.
func ServeOn(ctx context.Context, io *IOStreams, srv *iface.Server, listen []string, grace time.Duration, ready func(addrs []string)) error {
	var listeners []net.Listener
	var addrs []string
	for _, addr := range listen {
		l, err := iface.Listen(ctx, addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return Hint(fmt.Errorf("cannot listen on %s: %w", addr, err), "pick another --listen address, or stop what listens there")
		}
		listeners = append(listeners, l)
		addrs = append(addrs, shownAddr(addr, l))
	}
	served := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { served <- srv.Serve(l) }()
	}
	for _, addr := range addrs {
		fmt.Fprintf(io.Out, "listening on %s\n", addr)
	}
	if ready != nil {
		ready(addrs)
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	srv.Shutdown(sctx)
	waiting := len(listeners)
	if serveErr != nil {
		waiting--
	}
	for range waiting {
		<-served
	}
	if serveErr != nil && !errors.Is(serveErr, iface.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// shownAddr is the address a client dials: the port the system picked
// for tcp :0, and the canonical form of what was asked otherwise.
func shownAddr(asked string, l net.Listener) string {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		return "tcp://" + a.String()
	}
	if a, err := iface.ParseAddr(asked); err == nil {
		return a.String()
	}
	return asked
}
