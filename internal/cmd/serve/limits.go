package serve

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// minStreamWindow is the smallest --stream-window yamux accepts.
const minStreamWindow = 256 << 10

// addLimitFlags adds the flags of the server's limits and timeouts. Each
// sets a field of c, which starts as iface.DefaultConfig(), so --help shows
// the library's defaults.
func addLimitFlags(cmd *cobra.Command, c *iface.Config) {
	*c = iface.DefaultConfig()
	fs := cmd.Flags()
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "connections the server holds at once; more are refused with limit_exceeded (0: no bound)")
	fs.IntVar(&c.MaxStreams, "max-streams", c.MaxStreams, "streams one client socket (session) may have open; more are refused with limit_exceeded")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a client socket that has had no open stream for this long (0: never)")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", c.HandshakeTimeout, "cut off a client that has not finished the session preface or a stream's handshake in this long")
	fs.DurationVar(&c.KeepAliveInterval, "keepalive", c.KeepAliveInterval, "ping an idle session this often; one that does not answer within --write-timeout is cut off")
	fs.DurationVar(&c.ConnectionWriteTimeout, "write-timeout", c.ConnectionWriteTimeout, "bound each write to a client's socket: a client that reads nothing for this long is cut off")
	fs.DurationVar(&c.CloseTimeout, "close-timeout", c.CloseTimeout, "how long a closing connection waits for the client to close its side")
	fs.Uint32Var(&c.StreamWindow, "stream-window", c.StreamWindow, fmt.Sprintf("receive window of each stream, in bytes (at least %d)", minStreamWindow))
	fs.DurationVar(&c.ResumeGrace, "resume-grace", c.ResumeGrace, "keep a resumable connection (ifctl recv|send --resume) this long after its transport breaks, for its client to resume it (0: offer no resume)")
}

// checkLimits says which limit flag has a value that cannot work.
func checkLimits(c iface.Config) error {
	var msg string
	switch {
	case c.MaxConnections < 0:
		msg = fmt.Sprintf("--max-connections is %d; it must be >= 0 (0: no bound)", c.MaxConnections)
	case c.MaxStreams <= 0:
		msg = fmt.Sprintf("--max-streams is %d; it must be > 0", c.MaxStreams)
	case c.IdleTimeout < 0:
		msg = fmt.Sprintf("--idle-timeout is %s; it must be >= 0 (0: never)", c.IdleTimeout)
	case c.HandshakeTimeout <= 0:
		msg = fmt.Sprintf("--handshake-timeout is %s; it must be > 0", c.HandshakeTimeout)
	case c.KeepAliveInterval <= 0:
		msg = fmt.Sprintf("--keepalive is %s; it must be > 0", c.KeepAliveInterval)
	case c.ConnectionWriteTimeout <= 0:
		msg = fmt.Sprintf("--write-timeout is %s; it must be > 0", c.ConnectionWriteTimeout)
	case c.CloseTimeout <= 0:
		msg = fmt.Sprintf("--close-timeout is %s; it must be > 0", c.CloseTimeout)
	case c.ResumeGrace < 0:
		msg = fmt.Sprintf("--resume-grace is %s; it must be >= 0 (0: offer no resume)", c.ResumeGrace)
	case c.StreamWindow < minStreamWindow:
		msg = fmt.Sprintf("--stream-window is %d; it must be at least %d (256 KiB)", c.StreamWindow, minStreamWindow)
	}
	if msg != "" {
		return cmdutil.UsageError(errors.New(msg))
	}
	// A rule of Config's that no flag above states.
	if err := c.Validate(); err != nil {
		return cmdutil.UsageError(err)
	}
	return nil
}
