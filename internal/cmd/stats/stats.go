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
	Every  time.Duration // 0: once
	Count  int           // with Every: how many samples (0: until interrupted)
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "stats ADDR IFACE [--every D [-n N]]",
		Short: "Show a connection's counters and flow state, as the server sees them",
		Long: `Open a connection to the interface IFACE at ADDR, attach a control stream to it and
print the server's counters for it: messages and bytes each way, messages refused
and dropped, credits each side holds, messages queued, whether it is paused.

The protocol attaches a control stream only to a connection of the same client,
so these are the counters of ifctl's own connection, which reads nothing: against
a sending interface they show the flow control at work (the server sends up to the
credits ifctl granted, then queues or drops by its flow policy). --every samples
again every D, -n times (until Ctrl-C without -n).

` + cmdutil.AddrHelp,
		Example: `  ifctl stats unix:///tmp/ifkit.sock sensors.temperature
  ifctl stats 127.0.0.1:7400 sensors.temperature --every 1s -n 3
  ifctl stats unix:///tmp/ifkit.sock db.kv -o json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface = args[0], args[1]
			if opts.Every < 0 || opts.Count < 0 {
				return cmdutil.UsageError(errors.New("--every and -n must be >= 0"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Every, "every", 0, "sample again every D (0: once)")
	cmd.Flags().IntVarP(&opts.Count, "count", "n", 0, "with --every, stop after N samples (0: until interrupted)")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long (0: never); with --every it bounds each sample")
	return cmd
}

// Run prints the connection's stats once, or every opts.Every.
func Run(ctx context.Context, opts *Options) error {
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	cctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	conn, err := cmdutil.ConnectTo(cctx, c, opts.Addr, opts.Iface)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close("ifctl stats: done")
	cctx, cancel = cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	ctl, err := c.Control(cctx, opts.Iface, iface.AttachTo(conn))
	cancel()
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer ctl.Close()
	for n := 1; ; n++ {
		sctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
		st, err := ctl.Stats(sctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted
			}
			return cmdutil.Explain(err, opts.Addr)
		}
		if err := write(opts, st, n); err != nil {
			return err
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

// statsJSON is the connection's stats as -o json and yaml print them: the
// field names of spec/PROTOCOL.md's ConnStats, numbers as numbers.
type statsJSON struct {
	ConnectionID     uint64 `json:"connection_id"`
	Interface        string `json:"interface"`
	SentMessages     uint64 `json:"sent_messages"`
	ReceivedMessages uint64 `json:"received_messages"`
	SentBytes        uint64 `json:"sent_bytes"`
	ReceivedBytes    uint64 `json:"received_bytes"`
	Refused          uint64 `json:"refused"`
	Dropped          uint64 `json:"dropped"`
	CreditsHeld      int64  `json:"credits_held"`
	CreditsGranted   int64  `json:"credits_granted"`
	Queued           uint64 `json:"queued"`
	Paused           bool   `json:"paused"`
	UptimeMs         int64  `json:"uptime_ms"`
	AuthFailures     uint64 `json:"auth_failures"`
	Matched          uint64 `json:"matched"`
	FilteredOut      uint64 `json:"filtered_out"`
}

func write(opts *Options, st iface.ConnStats, n int) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, toJSON(st))
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, toJSON(st))
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
	fmt.Fprintf(tw, "credits\tthe server may send %d more; ifctl may send %d more\n", st.CreditsHeld, st.CreditsGranted)
	fmt.Fprintf(tw, "queued\t%d messages waiting for credit\n", st.Queued)
	paused := "no"
	if st.Paused {
		paused = "yes"
	}
	fmt.Fprintf(tw, "paused\t%s\n", paused)
	return tw.Flush()
}

func toJSON(st iface.ConnStats) statsJSON {
	return statsJSON{
		ConnectionID: st.ConnectionID, Interface: st.Interface,
		SentMessages: st.SentMessages, ReceivedMessages: st.ReceivedMessages,
		SentBytes: st.SentBytes, ReceivedBytes: st.ReceivedBytes,
		Refused: st.Refused, Dropped: st.Dropped,
		CreditsHeld: st.CreditsHeld, CreditsGranted: st.CreditsGranted,
		Queued: st.Queued, Paused: st.Paused,
		UptimeMs: st.Uptime.Milliseconds(), AuthFailures: st.AuthFailures,
		Matched: st.Matched, FilteredOut: st.FilteredOut,
	}
}
