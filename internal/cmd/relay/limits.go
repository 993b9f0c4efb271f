package relay

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// addLimitFlags adds the flags of the relay's limits and timeouts, starting
// from the library's defaults (so --help shows them).
func addLimitFlags(cmd *cobra.Command, opts *Options) {
	opts.Limits = iface.DefaultRelayLimits()
	opts.Config = iface.DefaultRelayConfig()
	l, c := &opts.Limits, &opts.Config
	fs := cmd.Flags()
	fs.IntVar(&l.MaxServers, "max-servers", l.MaxServers, "names registered at once (one per server connection); more are refused with limit_exceeded")
	fs.IntVar(&l.MaxStreamsPerServer, "max-streams-per-server", l.MaxStreamsPerServer, "client sessions relayed to one server at once")
	fs.IntVar(&l.MaxClients, "max-clients", l.MaxClients, "client sessions relayed at once, to every server and to the relay itself")
	fs.IntVar(&l.MaxHellos, "max-hellos", l.MaxHellos, "connections in their hello (and secret exchange) at once; past twice that, closed without an answer")
	fs.IntVar(&l.MaxHostHellos, "max-host-hellos", l.MaxHostHellos, "connections from one IP address in their hello at once")
	fs.IntVar(&l.MaxHostConns, "max-host-conns", l.MaxHostConns, "connections from one IP address at once, of every kind")
	fs.IntVar(&l.PipeBuffer, "pipe-buffer", l.PipeBuffer, "copy buffer of each direction of a relayed session, in bytes")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "cut off a peer that has not finished its hello and the secret exchange in this long")
	fs.DurationVar(&c.ConnectionWriteTimeout, "write-timeout", c.ConnectionWriteTimeout, "bound each write to a peer: a client that reads nothing for this long is cut off")
	fs.DurationVar(&c.KeepAliveInterval, "keepalive", c.KeepAliveInterval, "ping each server's connection this often; one that does not answer within --write-timeout is forgotten")
	fs.Uint32Var(&c.StreamWindow, "stream-window", c.StreamWindow, "bytes a server may send ahead on each relayed session (at least 262144)")
}

// checkLimits says which limit flag has a value that cannot work.
func checkLimits(opts *Options) error {
	l, c := opts.Limits, opts.Config
	for _, f := range []struct {
		flag string
		v    int
	}{
		{"--max-servers", l.MaxServers}, {"--max-streams-per-server", l.MaxStreamsPerServer},
		{"--max-clients", l.MaxClients}, {"--max-hellos", l.MaxHellos},
		{"--max-host-hellos", l.MaxHostHellos}, {"--max-host-conns", l.MaxHostConns},
	} {
		if f.v <= 0 {
			return cmdutil.UsageError(fmt.Errorf("%s is %d; it must be > 0", f.flag, f.v))
		}
	}
	var msg string
	switch {
	case l.PipeBuffer < 512 || l.PipeBuffer > 16<<20:
		msg = fmt.Sprintf("--pipe-buffer is %d; it must be from 512 to 16777216 bytes", l.PipeBuffer)
	case c.HandshakeTimeout <= 0:
		msg = fmt.Sprintf("--handshake-timeout is %s; it must be > 0", c.HandshakeTimeout)
	case c.ConnectionWriteTimeout <= 0:
		msg = fmt.Sprintf("--write-timeout is %s; it must be > 0", c.ConnectionWriteTimeout)
	case c.KeepAliveInterval <= 0:
		msg = fmt.Sprintf("--keepalive is %s; it must be > 0", c.KeepAliveInterval)
	case c.StreamWindow < 256<<10:
		msg = fmt.Sprintf("--stream-window is %d; it must be at least 262144 (256 KiB)", c.StreamWindow)
	}
	if msg != "" {
		return cmdutil.UsageError(errors.New(msg))
	}
	// Rules of the library's that no flag above states.
	if err := l.Validate(); err != nil {
		return cmdutil.UsageError(err)
	}
	if err := c.Validate(); err != nil {
		return cmdutil.UsageError(err)
	}
	return nil
}
