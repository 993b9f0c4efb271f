// Package call implements `ifctl call`: send a request and print its reply
// or stream of replies.
package call

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl call`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Iface  string
	Type   string
	Data   string // JSON, @file or @-
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "call ADDR IFACE TYPE [-d JSON|@file|@-]",
		Short: "Send a request and print its reply, or its stream of replies",
		Long: `Send one request of type TYPE to the interface IFACE at ADDR and print the answer:
one reply, or each reply of a stream until its end, one JSON value per line. The
request is checked against its type first (-d defaults to {}).

-o text prints "#seq Type value"; -o yaml one document per reply. --timeout
bounds the whole call.

` + cmdutil.AddrHelp,
		Example: `  ifctl call unix:///tmp/ifkit.sock db.kv Get -d '{"key":"config/greenhouse/north"}'
  ifctl call unix:///tmp/ifkit.sock db.kv Scan -d '{"start":"config/","end":"config0"}'
  ifctl call 127.0.0.1:7400 jobs.queue Submit -d @job.json -o yaml`,
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface, opts.Type = args[0], args[1], args[2]
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Data, "data", "d", "{}", "the request: JSON, @file or @-")
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.JSON)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long (0: never)")
	return cmd
}

// Run sends the request and prints the replies.
func Run(ctx context.Context, opts *Options) error {
	var req []byte
	var n int
	err := cmdutil.Values(opts.Data, opts.IO.In, func(line int, v []byte) error {
		n++
		req = v
		return nil
	})
	switch {
	case err != nil:
		return cmdutil.UsageError(fmt.Errorf("-d %s: %w", opts.Data, err))
	case n != 1:
		return cmdutil.UsageError(fmt.Errorf("call sends one request; -d holds %d values", n))
	case !json.Valid(req):
		var v any
		return cmdutil.Problem(fmt.Sprintf("-d: not JSON: %v", json.Unmarshal(req, &v)),
			"give one JSON value, quoted for the shell: -d '{\"key\":\"a\"}'")
	}
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	conn, err := cmdutil.ConnectTo(ctx, c, opts.Addr, opts.Iface)
	if err != nil {
		return err
	}
	defer conn.Close("ifctl call: done")
	m := conn.Manifest()
	t, err := cmdutil.ClientType(m, opts.Type, opts.Addr)
	if err != nil {
		return err
	}
	if t.Reply == nil {
		return cmdutil.Problem(fmt.Sprintf("%s %s is not a request: it declares no reply", m.Name, t.Name),
			fmt.Sprintf("send it with: ifctl send %s %s --type %s -d JSON", opts.Addr, m.Name, t.Name))
	}
	v, err := cmdutil.SendValue(t, conn.Codec().Name(), req)
	if err != nil {
		return cmdutil.Problem(fmt.Sprintf("-d: invalid %s: %v", t.Name, err),
			fmt.Sprintf("see %s's fields with: ifctl describe %s %s", t.Name, opts.Addr, m.Name))
	}
	if !t.Reply.Stream {
		reply, err := conn.Call(ctx, t.Name, v)
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		return write(opts, reply)
	}
	stream, err := conn.CallStream(ctx, t.Name, v)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer stream.Close()
	for {
		reply, err := stream.Recv(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		if err := write(opts, reply); err != nil {
			return err
		}
	}
}

func write(opts *Options, msg *iface.Message) error {
	v, err := cmdutil.MessageValue(msg)
	if err != nil {
		return fmt.Errorf("reply #%d (%s): %w", msg.Seq, msg.Type.Name, err)
	}
	return cmdutil.WriteRecord(opts.IO.Out, opts.Output, cmdutil.Record{Seq: msg.Seq, Type: msg.Type.Name, Value: v}, opts.Output != cmdutil.Text)
}
