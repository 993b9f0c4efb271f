// Package stats implements `ifctl stats`: a connection's counters as the
// server sees them.
package stats

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl stats`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Iface  string
	ConnID uint64        // another client's connection (the operator scope); 0: ifctl's own
	Server bool          // the interface's counters over all connections, per type (the operator scope)
	Every  time.Duration // 0: once
	Count  int           // with Every: how many samples (0: until interrupted)
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
	Admin  cmdutil.OperatorFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "stats ADDR IFACE [CONN-ID | --server] [--every D [-n N]]",
		Short: "Show a connection's counters and flow state, or an interface's per message type",
		Long: `Open a connection to the interface IFACE at ADDR, attach a control stream to it and
print the server's counters for it: messages and bytes each way, messages refused
and dropped, credits each side holds, messages queued, sends that found no credit,
whether it is paused.

The protocol attaches a control stream only to a connection of the same client,
so these are the counters of ifctl's own connection, which reads nothing: against
a sending interface they show the flow control at work (the server sends up to the
credits ifctl granted, then queues or drops by its flow policy). --every samples
again every D, -n times (until Ctrl-C without -n).

With the operator scope (below), CONN-ID shows the counters of any client's
connection (ifctl conns lists them), and --server the interface's counters since
the server started, over its open and ended connections: connections open and
opened, end codes, traffic, and per received message type the handler's calls,
errors, average and total time and last error (as NATS micro counts an
endpoint's requests).

` + cmdutil.OperatorHelp + `

` + cmdutil.AddrHelp,
		Example: `  ifctl stats unix:///tmp/ifkit.sock sensors.temperature
  ifctl stats 127.0.0.1:7400 sensors.temperature --every 1s -n 3
  ifctl stats unix:///tmp/ifkit.sock db.kv -o json

  # as an operator: another client's connection, and the interface per type
  ifctl stats unix:///tmp/kv.sock db.kv 7 --admin-secret-file /etc/ifkit/admin
  ifctl stats unix:///tmp/kv.sock db.kv --server --admin-secret-file /etc/ifkit/admin -o json`,
		Args:              cobra.RangeArgs(2, 3),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface = args[0], args[1]
			if opts.Every < 0 || opts.Count < 0 {
				return cmdutil.UsageError(errors.New("--every and -n must be >= 0"))
			}
			if len(args) == 3 {
				if opts.Server {
					return cmdutil.UsageError(errors.New("give a CONN-ID or --server, not both"))
				}
				ids, err := cmdutil.ParseConnIDs(args[2:])
				if err != nil {
					return err
				}
				opts.ConnID = ids[0]
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Server, "server", false, "the interface's counters over all connections, per message type (operator)")
	cmd.Flags().DurationVar(&opts.Every, "every", 0, "sample again every D (0: once)")
	cmd.Flags().IntVarP(&opts.Count, "count", "n", 0, "with --every, stop after N samples (0: until interrupted)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long (0: never); with --every it bounds each sample")
	cmdutil.AddOperatorFlags(cmd, &opts.Admin)
	return cmd
}

// Run prints the stats once, or every opts.Every.
func Run(ctx context.Context, opts *Options) error {
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	var ctl *iface.Control
	explain := cmdutil.Explain
	if opts.Server || opts.ConnID != 0 {
		explain = cmdutil.ExplainOperator
		if ctl, err = cmdutil.OperatorControl(ctx, c, opts.Addr, opts.Iface, &opts.Admin, opts.Conn.Timeout); err != nil {
			return err
		}
	} else {
		cctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
		conn, err := cmdutil.ConnectTo(cctx, c, opts.Addr, opts.Iface)
		cancel()
		if err != nil {
			return err
		}
		defer conn.Close("ifctl stats: done")
		cctx, cancel = cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
		ctl, err = c.Control(cctx, opts.Iface, iface.AttachTo(conn))
		cancel()
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
	}
	defer ctl.Close()
	for n := 1; ; n++ {
		sctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
		err := sample(sctx, opts, ctl, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted
			}
			return explain(err, opts.Addr)
		}
		if opts.Every == 0 || (opts.Count > 0 && n >= opts.Count) {
			return nil
		}
		t := time.NewTimer(opts.Every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// sample reads the stats once and prints them; only the server's answer
// fails it (an error of writing the output is returned as it is).
func sample(ctx context.Context, opts *Options, ctl *iface.Control, n int) error {
	if opts.Server {
		st, err := ctl.ServerStats(ctx, opts.Iface)
		if err != nil {
			return err
		}
		return writeServer(opts, st, n)
	}
	st, err := ctl.Conn(opts.ConnID).Stats(ctx)
	if err != nil {
		return err
	}
	return write(opts, st, n)
}

func write(opts *Options, st iface.ConnStats, n int) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, cmdutil.StatsToJSON(st))
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, cmdutil.StatsToJSON(st))
	}
	w := opts.IO.Out
	if n > 1 {
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "connection\t%d on %s, open %s\n", st.ConnectionID, cmdutil.Untrusted(st.Interface), st.Uptime.Round(time.Millisecond))
	fmt.Fprintf(tw, "server sent\t%d messages, %d bytes\n", st.SentMessages, st.SentBytes)
	fmt.Fprintf(tw, "server received\t%d messages, %d bytes\n", st.ReceivedMessages, st.ReceivedBytes)
	fmt.Fprintf(tw, "refused\t%d received messages (invalid)\n", st.Refused)
	if st.AuthFailures > 0 {
		fmt.Fprintf(tw, "auth failures\t%d received messages\n", st.AuthFailures)
	}
	fmt.Fprintf(tw, "dropped\t%d messages (flow policy)\n", st.Dropped)
	if st.Matched > 0 || st.FilteredOut > 0 {
		fmt.Fprintf(tw, "filter\t%d messages matched and sent, %d filtered out (never sent)\n", st.Matched, st.FilteredOut)
	}
	who := "ifctl"
	if opts.ConnID != 0 {
		who = "the client"
	}
	fmt.Fprintf(tw, "credits\tthe server may send %d more; %s may send %d more\n", st.CreditsHeld, who, st.CreditsGranted)
	fmt.Fprintf(tw, "queued\t%d messages waiting for credit\n", st.Queued)
	if st.CreditStalls > 0 {
		fmt.Fprintf(tw, "credit stalls\t%d sends found no credit\n", st.CreditStalls)
	}
	paused := "no"
	if st.Paused {
		paused = "yes"
	}
	fmt.Fprintf(tw, "paused\t%s\n", paused)
	return tw.Flush()
}
