// Package recv implements `ifctl recv`: print what an interface sends, as
// NDJSON.
package recv

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl recv`.
type Options struct {
	IO      *cmdutil.IOStreams
	Addr    string
	Iface   string
	Count   int    // stop after this many messages; 0: until the end
	Credits int    // credit window; 0: the manifest's flow.credits
	Values  bool   // print the values alone
	Filter  string // the subscription filter: CEL, or the structured form (JSON)
	Reset   string // a position to reset the server's data location to before anything is sent
	Params  string // the connection's parameters: JSON or @file
	Resume  bool   // a resumable connection
	Output  cmdutil.Format
	Conn    cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "recv ADDR IFACE [-n N] [--credits N] [--filter EXPR]",
		Short: "Print the messages an interface sends, as NDJSON",
		Long: `Connect to the interface IFACE at ADDR and print each message the server sends, one
JSON object per line: {"seq":N,"type":"T","value":{...}}. Protobuf messages are
decoded with the descriptors the server serves (no generated code needed); raw
bytes are printed as a base64 string. --values prints the values alone.

recv stops after -n messages, when the server closes the connection (exit 0 for
a normal close), at --timeout, or on Ctrl-C. With -n, a timeout before the n-th
message fails (exit 1).

--credits sets how many messages the server may send ahead of what recv has
printed (at most the manifest's flow.credits, the default). A worker that
handles 4 messages at a time grants 4.

--reset POSITION asks the server, through the control operation reset, to move
its data location (a change feed's position, an offset) before it sends
anything: recv grants no credit until the server has done it. What POSITION
means is the interface's (its description says); a database change feed
takes the position of the last change you have, now or start.

-o text prints "#seq Type value"; -o yaml one document per message.

` + cmdutil.FilterHelp + `

` + cmdutil.ParamsHelp + `

` + cmdutil.ResumeHelp + `

` + cmdutil.AddrHelp,
		Example: `  ifctl recv unix:///tmp/ifkit.sock sensors.temperature -n 3
  ifctl recv 127.0.0.1:7400 sensors.temperature --values | jq .celsius
  ifctl recv unix:///tmp/ifkit.sock jobs.queue --credits 4 --timeout 30s
  ifctl recv unix:///tmp/ifkit.sock sensors.temperature --filter 'zone == "north"'
  ifctl recv unix:///tmp/db.sock db.orders.changes --reset 41
  ifctl recv unix:///tmp/ifkit.sock events.topic --filter '{"field":"severity","in":["warning","critical"]}'
  ifctl recv unix:///tmp/ifkit.sock demo.counter --params '{"start":10,"step":5}' -n 3`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface = args[0], args[1]
			if opts.Count < 0 || opts.Credits < 0 {
				return cmdutil.UsageError(errors.New("-n and --credits must be >= 0"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Count, "count", "n", 0, "stop after N messages (0: until the end)")
	cmd.Flags().IntVar(&opts.Credits, "credits", 0, "messages the server may send ahead (0: the manifest's flow.credits)")
	cmd.Flags().BoolVar(&opts.Values, "values", false, "print each message's value alone")
	cmd.Flags().StringVar(&opts.Filter, "filter", "", "receive only the messages this filter selects (CEL, or structured JSON starting with {)")
	cmd.Flags().StringVar(&opts.Reset, "reset", "", "first reset the server's data location to this position (control operation reset)")
	cmdutil.AddParamsFlag(cmd, &opts.Params)
	cmdutil.AddResumeFlag(cmd, &opts.Resume)
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.JSON)
	cmdutil.AddConnFlags(cmd, &opts.Conn, 0, "stop after this long (0: never; connecting gives up after 10s)")
	return cmd
}

// Run receives and prints messages until the count, the end of the
// connection, the timeout or an interrupt.
func Run(ctx context.Context, opts *Options) error {
	co, err := cmdutil.ParamsOption(opts.Params)
	if err != nil {
		return err
	}
	if opts.Resume {
		co = append(co, iface.WithResume())
	}
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.Credits > 0 {
		co = append(co, iface.WithCredits(opts.Credits))
	}
	if opts.Filter != "" {
		co = append(co, iface.WithFilter(cmdutil.ParseFilter(opts.Filter)))
	}
	if opts.Reset != "" {
		co = append(co, iface.WithPullMode()) // no credit before the reset
	}
	rctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	conn, err := cmdutil.ConnectTo(rctx, c, opts.Addr, opts.Iface, co...)
	if err != nil {
		return err
	}
	if err := cmdutil.NeedServerSends(conn.Manifest(), opts.Addr); err != nil {
		conn.Close("ifctl recv: wrong direction")
		return err
	}
	window := 0
	if opts.Reset != "" {
		if window, err = reset(rctx, c, conn, opts); err != nil {
			conn.Close("ifctl recv: reset failed")
			return err
		}
	}
	progress := cmdutil.NewProgress(opts.IO.ErrOut)
	if cmdutil.IsTerminal(opts.IO.Out) {
		progress = cmdutil.NewProgress(nil) // the messages show themselves
	}
	got := 0
	for opts.Count == 0 || got < opts.Count {
		msg, err := conn.Recv(rctx)
		if err != nil {
			progress.Done()
			return ended(opts, conn, err, ctx, got)
		}
		v, err := msg.JSON()
		if err != nil {
			conn.Close("ifctl recv: cannot decode")
			return fmt.Errorf("message #%d (%s): %w", msg.Seq, msg.Type.Name, err)
		}
		got++
		if window > 0 {
			conn.Request(1) // pull mode after a reset: one credit back per message taken
		}
		if err := cmdutil.WriteRecord(opts.IO.Out, opts.Output, cmdutil.Record{Seq: msg.Seq, Type: msg.Type.Name, Value: v}, opts.Values); err != nil {
			conn.Close("ifctl recv: cannot write")
			return err
		}
		progress.Update("received %d", got)
	}
	progress.Done()
	return conn.Close(fmt.Sprintf("ifctl recv: got %d message(s)", got))
}

// ended says how receiving ended: an interrupt, a timeout without -n and a
// normal close by the server are successes.
func ended(opts *Options, conn *iface.Conn, err error, parent context.Context, got int) error {
	switch {
	case parent.Err() != nil: // interrupted
		conn.Close("ifctl recv: interrupted")
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		conn.Close("ifctl recv: timeout")
		if opts.Count > 0 {
			return cmdutil.Problem(fmt.Sprintf("received %d of %d message(s) within --timeout %s", got, opts.Count, opts.Conn.Timeout),
				"raise --timeout, or check that the server is sending")
		}
		return nil
	case errors.Is(err, iface.ErrNormalClose):
		var ce *iface.CloseError
		if errors.As(err, &ce) && ce.Reason != "" {
			fmt.Fprintf(opts.IO.ErrOut, "ifctl: the server closed the connection after %d message(s): %s\n", got, cmdutil.Untrusted(ce.Reason))
		}
		if opts.Count > 0 {
			return cmdutil.Problem(fmt.Sprintf("received %d of %d message(s): the server closed the connection", got, opts.Count))
		}
		return nil
	}
	return cmdutil.Explain(err, opts.Addr)
}

// reset resets the server's data location for conn to opts.Reset, then
// grants the credit window (recv connected in pull mode so that nothing
// comes before the reset), which it returns.
func reset(ctx context.Context, c *iface.Client, conn *iface.Conn, opts *Options) (int, error) {
	m := conn.Manifest()
	if !m.Offers(manifest.OpReset) {
		return 0, cmdutil.Problem(fmt.Sprintf("%s does not offer reset (its manifest's control list has no reset)", m.Name), "leave out --reset")
	}
	ctl, err := c.Control(ctx, m.Name, iface.AttachTo(conn))
	if err != nil {
		return 0, cmdutil.Explain(err, opts.Addr)
	}
	defer ctl.Close()
	if err := ctl.Reset(ctx, opts.Reset); err != nil {
		return 0, fmt.Errorf("--reset %s: %w", opts.Reset, err)
	}
	window := m.Flow.Credits
	if opts.Credits > 0 {
		window = min(opts.Credits, window)
	}
	conn.Request(window)
	return window, nil
}
