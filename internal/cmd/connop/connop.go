// Package connop implements `ifctl pause`, `resume`, `reset` and `close`:
// an operator's control operations on other clients' connections.
package connop

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Op is one of the four operations.
type Op string

// The operations, by the name of their command (and of the manifest's
// control list entry they need).
const (
	Pause  Op = "pause"
	Resume Op = "resume"
	Reset  Op = "reset"
	Close  Op = "close"
)

// DefaultReason is the reason close gives unless --reason says otherwise.
const DefaultReason = "closed by an operator (ifctl close)"

// Options are the inputs of the four commands.
type Options struct {
	IO       *cmdutil.IOStreams
	Op       Op
	Addr     string
	Iface    string
	IDs      []uint64
	All      bool   // every connection on Iface (ifctl conns' list)
	Position string // reset
	Reason   string // close
	Output   cmdutil.Format
	Conn     cmdutil.ConnFlags
	Admin    cmdutil.OperatorFlags
}

var help = map[Op]struct{ short, long, example, done string }{
	Pause: {
		"Pause connections: the server stops their data flow both ways (operator)",
		`Pause the connections CONN-ID... (or --all) on the interface IFACE at ADDR: the
server stops sending on them and grants their clients no more credit, until
ifctl resume (spec/PROTOCOL.md §7.6). Pausing a paused connection succeeds.`,
		`  ifctl pause unix:///tmp/kv.sock db.kv 7 9 --admin-secret-file /etc/ifkit/admin
  ifctl pause 127.0.0.1:7400 sensors.temperature --all --admin-secret-env IFKIT_ADMIN_SECRET`,
		"paused",
	},
	Resume: {
		"Resume paused connections (operator)",
		`Resume the connections CONN-ID... (or --all) on the interface IFACE at ADDR that
ifctl pause (or their own client) paused. Resuming a running connection
succeeds.`,
		`  ifctl resume unix:///tmp/kv.sock db.kv 7 9 --admin-secret-file /etc/ifkit/admin
  ifctl resume 127.0.0.1:7400 sensors.temperature --all --admin-secret-file admin.txt`,
		"resumed",
	},
	Reset: {
		"Reset connections' data location on the server side (operator)",
		`Run the interface's reset hook for the connections CONN-ID... (or --all) on the
interface IFACE at ADDR, with --position (interface-defined, e.g. an offset;
empty: the start). The interface must offer reset (its manifest's control list).`,
		`  ifctl reset unix:///tmp/kv.sock db.kv 7 --admin-secret-file /etc/ifkit/admin
  ifctl reset unix:///tmp/feed.sock orders.changes 3 --position 1200 --admin-secret-file admin.txt`,
		"reset",
	},
	Close: {
		"Close connections with a reason (operator)",
		`Close the connections CONN-ID... (or --all) on the interface IFACE at ADDR: the
server ends each with normal_close and --reason, which its client sees.`,
		`  ifctl close unix:///tmp/kv.sock db.kv 7 --reason "maintenance at 02:00" --admin-secret-file /etc/ifkit/admin

  # close every connection of a client named "loader"
  ifctl conns unix:///tmp/kv.sock db.kv --admin-secret-file admin.txt -o json |
      jq -r '.[] | select(.client == "loader") | .connection_id' |
      xargs ifctl close unix:///tmp/kv.sock db.kv --admin-secret-file admin.txt`,
		"closed",
	},
}

// NewCmd returns the command of op. run, when not nil, replaces Run (for
// tests).
func NewCmd(io *cmdutil.IOStreams, op Op, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io, Op: op}
	h := help[op]
	cmd := &cobra.Command{
		Use:   string(op) + " ADDR IFACE (CONN-ID... | --all)",
		Short: h.short,
		Long: h.long + `

The ids are those ifctl conns lists. Each connection is acted on in turn and
reported on stdout ("connection 7 on db.kv: ` + h.done + `"; with -o json one object per
line: {"connection_id":7,"interface":"db.kv","op":"` + string(op) + `","ok":true}); a
connection the server refuses is reported on stderr (and with "ok":false and
"code" and "error" in -o json), the others are still acted on, and ifctl exits
with the first refusal's code (64+N, see ifctl help exit-codes).

` + cmdutil.OperatorHelp + `

` + cmdutil.AddrHelp,
		Example:           h.example,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface = args[0], args[1]
			ids, err := cmdutil.ParseConnIDs(args[2:])
			if err != nil {
				return err
			}
			opts.IDs = ids
			switch {
			case len(ids) == 0 && !opts.All:
				return cmdutil.UsageError(fmt.Errorf("%s needs the connection ids (ifctl conns %s %s lists them) or --all", op, opts.Addr, opts.Iface))
			case len(ids) > 0 && opts.All:
				return cmdutil.UsageError(errors.New("give connection ids or --all, not both"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.All, "all", false, "every connection on IFACE, of every client")
	switch op {
	case Reset:
		fs.StringVar(&opts.Position, "position", "", "where to reset to (interface-defined; empty: the start)")
	case Close:
		fs.StringVar(&opts.Reason, "reason", DefaultReason, "the reason the clients see")
	}
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long (0: never)")
	cmdutil.AddOperatorFlags(cmd, &opts.Admin)
	return cmd
}

// result is one connection's outcome as -o json prints it.
type result struct {
	ConnectionID uint64 `json:"connection_id"`
	Interface    string `json:"interface"`
	Op           Op     `json:"op"`
	OK           bool   `json:"ok"`
	Code         string `json:"code,omitempty"`
	Error        string `json:"error,omitempty"`
}

// Run acts on each connection in turn and reports each.
func Run(ctx context.Context, opts *Options) error {
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	ctl, err := cmdutil.OperatorControl(ctx, c, opts.Addr, opts.Iface, &opts.Admin, 0)
	if err != nil {
		return err
	}
	defer ctl.Close()
	ids := opts.IDs
	if opts.All {
		list, err := ctl.Connections(ctx, opts.Iface)
		if err != nil {
			return cmdutil.ExplainOperator(err, opts.Addr)
		}
		for _, cn := range list {
			ids = append(ids, cn.Stats.ConnectionID)
		}
		if len(ids) == 0 {
			fmt.Fprintf(opts.IO.ErrOut, "no open connections on %s\n", cmdutil.Untrusted(opts.Iface))
			return nil
		}
	}
	var first error
	for _, id := range ids {
		err := act(ctx, opts, ctl.Conn(id))
		r := result{ConnectionID: id, Interface: opts.Iface, Op: opts.Op, OK: err == nil}
		if err != nil {
			err = cmdutil.ExplainOperator(err, opts.Addr)
			r.Code, r.Error = iface.CodeOf(err).String(), err.Error()
			if first == nil {
				first = err
			}
		}
		if werr := report(opts, r, err); werr != nil {
			return werr
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first != nil {
		// Each refusal is reported already: exit with the first one's code.
		return &cmdutil.ExitError{Code: cmdutil.ExitCode(first)}
	}
	return nil
}

func act(ctx context.Context, opts *Options, conn iface.ConnRef) error {
	switch opts.Op {
	case Pause:
		return conn.Pause(ctx)
	case Resume:
		return conn.Resume(ctx)
	case Reset:
		return conn.Reset(ctx, opts.Position)
	case Close:
		return conn.Close(ctx, opts.Reason)
	}
	return fmt.Errorf("unknown operation %q", opts.Op)
}

// report writes one connection's outcome: on stdout when it worked, on
// stderr when the server refused (both on stdout with -o json or yaml).
func report(opts *Options, r result, err error) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, r)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, r)
	}
	where := fmt.Sprintf("connection %d on %s", r.ConnectionID, cmdutil.Untrusted(r.Interface))
	if err != nil {
		_, werr := fmt.Fprintf(opts.IO.ErrOut, "ifctl: %s: %s\n", where, cmdutil.ErrorText(err))
		return werr
	}
	_, werr := fmt.Fprintf(opts.IO.Out, "%s: %s\n", where, help[opts.Op].done)
	return werr
}
