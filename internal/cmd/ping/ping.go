// Package ping implements `ifctl ping`: measure round trips over the
// control sub-interface.
package ping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl ping`.
type Options struct {
	IO       *cmdutil.IOStreams
	Addr     string
	Iface    string // "" for the server as a whole
	Count    int
	Interval time.Duration
	Output   cmdutil.Format
	Conn     cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "ping ADDR [IFACE]",
		Short: "Check that a server answers, and how fast",
		Long: `Connect to ADDR and send -c pings over a control stream (the server's, or IFACE's
when named), -i apart, printing each round trip. Exit 0 means the server is up and
speaks ifkit.

` + cmdutil.AddrHelp,
		Example: `  ifctl ping unix:///tmp/ifkit.sock
  ifctl ping 127.0.0.1:7400 sensors.temperature -c 5 -i 200ms
  ifctl ping tls://gw.example.com:7400 --tls-ca ca.pem -o json`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			if len(args) > 1 {
				opts.Iface = args[1]
			}
			if opts.Count < 1 {
				return cmdutil.UsageError(errors.New("-c must be at least 1"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Count, "count", "c", 1, "pings to send")
	cmd.Flags().DurationVarP(&opts.Interval, "interval", "i", time.Second, "time between pings")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long (0: never)")
	return cmd
}

// pong is one answer in -o json|yaml.
type pong struct {
	Seq       int     `json:"seq"`
	Addr      string  `json:"addr"`
	Interface string  `json:"interface,omitempty"`
	RTTMillis float64 `json:"rtt_ms"`
}

// Run pings and prints the round trips.
func Run(ctx context.Context, opts *Options) error {
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	ctl, err := c.Control(ctx, opts.Iface)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer ctl.Close()
	addr := c.Addr().String()
	for i := 1; i <= opts.Count; i++ {
		if i > 1 {
			t := time.NewTimer(opts.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return cmdutil.Explain(ctx.Err(), opts.Addr)
			case <-t.C:
			}
		}
		rtt, err := ctl.Ping(ctx)
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		p := pong{Seq: i, Addr: addr, Interface: opts.Iface, RTTMillis: float64(rtt.Microseconds()) / 1000}
		switch opts.Output {
		case cmdutil.JSON:
			err = cmdutil.WriteJSONLine(opts.IO.Out, p)
		case cmdutil.YAML:
			err = cmdutil.WriteYAMLDoc(opts.IO.Out, p)
		default:
			who := addr
			if opts.Iface != "" {
				who += " " + opts.Iface
			}
			_, err = fmt.Fprintf(opts.IO.Out, "pong from %s: seq=%d time=%s\n", who, i, rtt.Round(time.Microsecond))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
