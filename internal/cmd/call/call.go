// Package call implements `ifctl call`: send a request and print its reply
// or stream of replies.
package call

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl call`.
type Options struct {
	IO      *cmdutil.IOStreams
	Addr    string
	Iface   string
	Type    string
	Data    string // JSON, @file or @- (NDJSON: one request per value)
	Collect bool   // print each request's replies as one JSON array
	Quiet   bool   // print no replies; the exit code tells
	OneWay  bool   // send the request one-way: no reply is asked for
	Params  string // the connection's parameters: JSON or @file
	Output  cmdutil.Format
	Conn    cmdutil.ConnFlags
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

-d @- reads the requests from stdin, and -d @file from a file: one JSON value
per line (NDJSON), each sent as its own request on one connection, in turn,
its replies printed before the next is sent. The first that fails stops the
command.

For scripts:
  --collect   print each request's replies as one JSON array on one line (a
              stream's replies together; [] for an empty stream)
  -q          print no replies: the exit code says whether the calls worked
  --oneway    send the request without asking for a reply (a one-way message;
              the server's handler runs, and nothing is printed)
  --timeout   bound the whole command, connecting included (exit 1 when it
              passes)

-o text prints "#seq Type value"; -o yaml one document per reply.

` + cmdutil.BalanceHelp + `

` + cmdutil.ParamsHelp + `

` + cmdutil.AddrHelp,
		Example: `  ifctl call unix:///tmp/ifkit.sock db.kv Get -d '{"key":"config/greenhouse/north"}'
  ifctl call unix:///tmp/ifkit.sock db.kv Scan -d '{"start":"config/","end":"config0"}' --collect
  printf '{"key":"a"}\n{"key":"b"}\n' | ifctl call unix:///tmp/ifkit.sock db.kv Get -d @-
  ifctl call unix:///tmp/ifkit.sock db.kv Get -d '{"key":"a"}' -q --timeout 2s && echo up
  ifctl call unix:///tmp/ifkit.sock db.kv Put -d '{"key":"a","value":"YQ=="}' --oneway
  ifctl call 127.0.0.1:7400 jobs.queue Submit -d @job.json -o yaml
  ifctl call 127.0.0.1:7400 db.kv Get -d '{"key":"a"}' --params @params.json
  ifctl call tcp://kv1:7400,tcp://kv2:7400 db.kv Get -d @keys.ndjson --balance round-robin`,
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface, opts.Type = args[0], args[1], args[2]
			switch {
			case opts.Collect && opts.OneWay:
				return cmdutil.UsageError(errors.New("--collect and --oneway do not go together: a one-way request has no replies"))
			case opts.Collect && opts.Output == cmdutil.Text:
				return cmdutil.UsageError(errors.New("--collect prints JSON or YAML; leave out -o text"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Data, "data", "d", "{}", "the request: JSON, @file or @- (NDJSON: one request per line)")
	fs.BoolVar(&opts.Collect, "collect", false, "print each request's replies as one JSON array")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "print no replies; the exit code tells")
	fs.BoolVar(&opts.OneWay, "oneway", false, "send the request one-way, asking for no reply")
	cmdutil.AddParamsFlag(cmd, &opts.Params)
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.JSON)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up after this long, connecting included (0: never)")
	return cmd
}

// Run sends the requests and prints the replies.
func Run(ctx context.Context, opts *Options) error {
	params, err := cmdutil.ParamsOption(opts.Params)
	if err != nil {
		return err
	}
	ctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	defer cancel()
	policy, err := opts.Conn.BalancePolicy()
	if err != nil {
		return err
	}
	if policy != iface.BalanceFirst && strings.Contains(opts.Addr, ",") {
		return runBalanced(ctx, opts, params)
	}
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	conn, err := cmdutil.ConnectTo(ctx, c, opts.Addr, opts.Iface, params...)
	if err != nil {
		return err
	}
	defer conn.Close("ifctl call: done")
	return calls(ctx, opts, conn, func() (*iface.Conn, error) { return conn, nil })
}

// runBalanced spreads the requests over the addresses (--balance): a new
// connection per request, on the address the policy picks.
func runBalanced(ctx context.Context, opts *Options, params []iface.ConnectOption) error {
	b, err := cmdutil.Balancer(opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer b.Close()
	connect := func() (*iface.Conn, error) {
		conn, err := b.Connect(ctx, opts.Iface, params...)
		if err != nil {
			return nil, cmdutil.Explain(err, opts.Addr)
		}
		return conn, nil
	}
	first, err := connect()
	if err != nil {
		return err
	}
	defer first.Close("ifctl call: done")
	used := false
	return calls(ctx, opts, first, func() (*iface.Conn, error) {
		if !used {
			used = true
			return first, nil
		}
		return connect()
	})
}

// calls checks the request type on conn's manifest, then sends each
// request of -d over the connection next returns and prints the replies.
func calls(ctx context.Context, opts *Options, conn *iface.Conn, next func() (*iface.Conn, error)) error {
	m := conn.Manifest()
	t, err := cmdutil.ClientType(m, opts.Type, opts.Addr)
	if err != nil {
		return err
	}
	if t.Reply == nil && !opts.OneWay {
		return cmdutil.Problem(fmt.Sprintf("%s %s is not a request: it declares no reply", m.Name, t.Name),
			fmt.Sprintf("send it with: ifctl send %s %s --type %s -d JSON", opts.Addr, m.Name, t.Name))
	}
	var n int
	var callErr error
	err = cmdutil.Values(opts.Data, opts.IO.In, func(line int, req []byte) error {
		n++
		c, err := next()
		if err != nil {
			callErr = err
			return err
		}
		callErr = one(ctx, opts, c, m, t, where(opts.Data, line), req)
		if c != conn {
			c.Close("ifctl call: done")
		}
		return callErr
	})
	switch {
	case err != nil && err == callErr:
		return err
	case err != nil:
		return cmdutil.Problem(fmt.Sprintf("-d %s: %v", opts.Data, err))
	case n == 0:
		return cmdutil.UsageError(fmt.Errorf("-d %s holds no request", opts.Data))
	}
	return nil
}

// where names a request's place in -d for errors: "-d" for an inline
// value, "-d line 3" for a line of stdin or a file.
func where(data string, line int) string {
	if len(data) > 0 && data[0] == '@' {
		return fmt.Sprintf("-d line %d", line)
	}
	return "-d"
}

// one sends one request and prints its replies.
func one(ctx context.Context, opts *Options, conn *iface.Conn, m *manifest.Manifest, t *manifest.MessageType, at string, req []byte) error {
	if !json.Valid(req) {
		var v any
		return cmdutil.Problem(fmt.Sprintf("%s: not JSON: %v", at, json.Unmarshal(req, &v)),
			"give one JSON value, quoted for the shell: -d '{\"key\":\"a\"}'")
	}
	v, err := cmdutil.SendValue(t, conn.Codec().Name(), req)
	if err != nil {
		return cmdutil.Problem(fmt.Sprintf("%s: invalid %s: %v", at, t.Name, err),
			fmt.Sprintf("see %s's fields with: ifctl describe %s %s", t.Name, opts.Addr, m.Name))
	}
	if opts.OneWay {
		if err := conn.Send(ctx, t.Name, v); err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		return nil
	}
	collected := []json.RawMessage{}
	emit := func(msg *iface.Message) error {
		if opts.Quiet {
			return nil
		}
		if !opts.Collect {
			return write(opts, msg)
		}
		v, err := msg.JSON()
		if err != nil {
			return fmt.Errorf("reply #%d (%s): %w", msg.Seq, msg.Type.Name, err)
		}
		collected = append(collected, v)
		return nil
	}
	if !t.Reply.Stream {
		reply, err := conn.Call(ctx, t.Name, v)
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		if err := emit(reply); err != nil {
			return err
		}
	} else if err := stream(ctx, opts, conn, t, v, emit); err != nil {
		return err
	}
	if !opts.Collect || opts.Quiet {
		return nil
	}
	if opts.Output == cmdutil.YAML {
		return cmdutil.WriteYAMLDoc(opts.IO.Out, collected)
	}
	return cmdutil.WriteJSONLine(opts.IO.Out, collected)
}

// stream sends a request answered by a stream and passes each reply to
// emit until the stream's end.
func stream(ctx context.Context, opts *Options, conn *iface.Conn, t *manifest.MessageType, v any, emit func(*iface.Message) error) error {
	s, err := conn.CallStream(ctx, t.Name, v)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer s.Close()
	for {
		reply, err := s.Recv(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return cmdutil.Explain(err, opts.Addr)
		}
		if err := emit(reply); err != nil {
			return err
		}
	}
}

func write(opts *Options, msg *iface.Message) error {
	v, err := msg.JSON()
	if err != nil {
		return fmt.Errorf("reply #%d (%s): %w", msg.Seq, msg.Type.Name, err)
	}
	return cmdutil.WriteRecord(opts.IO.Out, opts.Output, cmdutil.Record{Seq: msg.Seq, Type: msg.Type.Name, Value: v}, opts.Output != cmdutil.Text)
}
