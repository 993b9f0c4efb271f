// Package send implements `ifctl send`: send one value, or a stream of
// NDJSON values, to an interface.
package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// Options are the inputs of `ifctl send`.
type Options struct {
	IO     *cmdutil.IOStreams
	Addr   string
	Iface  string
	Type   string // "" when the interface has one type clients send
	Data   string // JSON, @file or @-
	Params string // the connection's parameters: JSON or @file
	Resume bool   // a resumable connection
	Output cmdutil.Format
	Conn   cmdutil.ConnFlags
	// Settle is how long to wait after the last message for the server to
	// take them all, and report the ones it refuses, before closing.
	Settle time.Duration
}

// DefaultSettle is --settle's default.
const DefaultSettle = 250 * time.Millisecond

// settlePoll is how often the wait after the last message looks whether
// the server has taken every message.
const settlePoll = 5 * time.Millisecond

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "send ADDR IFACE [--type T] -d JSON|@file|@-",
		Short: "Send one message, or a stream of NDJSON messages, to an interface",
		Long: `Send messages to the interface IFACE at ADDR: the JSON value of -d, or one value per
line (NDJSON) from a file (@file) or from stdin (@-), sent as they are read, so a
stream can be piped in. Protobuf types are written in their JSON form (as
'ifctl describe' shows them) and converted with the served descriptors.

Each value is checked against its type before it is sent; the first that fails
stops the command and names its line and field. Sending waits for the server's
credits, as every client does; --timeout bounds connecting and each wait.

--type names the message type; it may be left out when the interface has a
single one-way type clients send. Request types (those with a reply) are sent
with 'ifctl call'.

The server may refuse a message after taking it (its handler fails): send
reports each refusal with its line and exits 64+code. A refusal can come after
the last message is sent, so send waits up to --settle for the server to take
every message before it closes the connection; a message refused later than
that is not reported.

On success send prints how many messages it sent (-o json for a script).

` + cmdutil.ParamsHelp + `

` + cmdutil.ResumeHelp + `

` + cmdutil.AddrHelp,
		Example: `  ifctl send unix:///tmp/ifkit.sock logs.sink -d '{"time":"2026-11-22T09:30:00Z","level":"info","message":"hello"}'
  ifctl send 127.0.0.1:7400 jobs.queue --type Ack -d '{"id":"job-1"}'
  tail -f app.ndjson | ifctl send unix:///tmp/ifkit.sock logs.sink -d @-
  ifctl send unix:///tmp/ifkit.sock logs.sink -d @records.ndjson -o json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: cmdutil.CompleteIfaces,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr, opts.Iface = args[0], args[1]
			if opts.Data == "" {
				return cmdutil.UsageError(errors.New("send needs -d JSON, -d @file or -d @- (NDJSON from stdin)"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Data, "data", "d", "", "the message: JSON, @file or @- (NDJSON, one value per line)")
	cmd.Flags().StringVar(&opts.Type, "type", "", "message type (needed when clients may send several)")
	cmd.Flags().DurationVar(&opts.Settle, "settle", DefaultSettle, "after the last message, wait up to this long for refusals")
	cmdutil.AddParamsFlag(cmd, &opts.Params)
	cmdutil.AddResumeFlag(cmd, &opts.Resume)
	cmdutil.AddOutputFlag(cmd, &opts.Output, cmdutil.Text)
	cmdutil.AddConnFlags(cmd, &opts.Conn, cmdutil.DefaultTimeout, "give up connecting, or waiting for credit for one message, after this long (0: never)")
	return cmd
}

// result is what send prints.
type result struct {
	Interface string         `json:"interface"`
	Sent      int            `json:"sent"`
	Types     map[string]int `json:"types"`
}

// Run sends the values and prints how many were sent.
func Run(ctx context.Context, opts *Options) error {
	params, err := cmdutil.ParamsOption(opts.Params)
	if err != nil {
		return err
	}
	if opts.Resume {
		params = append(params, iface.WithResume())
	}
	c, err := cmdutil.Dial(ctx, opts.Addr, &opts.Conn)
	if err != nil {
		return err
	}
	defer c.Close()
	// Refusals come back asynchronously; each names the sequence number
	// of the message, which maps to its input line.
	var (
		mu      sync.Mutex
		refused []*iface.RemoteError
	)
	onRefused := iface.WithOnRefused(func(_ *iface.Conn, e *iface.RemoteError) {
		mu.Lock()
		refused = append(refused, e)
		mu.Unlock()
	})
	cctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
	conn, err := cmdutil.ConnectTo(cctx, c, opts.Addr, opts.Iface, append(params, onRefused)...)
	cancel()
	if err != nil {
		return err
	}
	m := conn.Manifest()
	var fixed *manifest.MessageType
	if opts.Type != "" {
		if fixed, err = cmdutil.ClientType(m, opts.Type, opts.Addr); err != nil {
			conn.Close("ifctl send: wrong type")
			return err
		}
	} else if fixed, err = onlyType(m, opts.Addr); err != nil {
		conn.Close("ifctl send: no type")
		return err
	}
	if fixed.Reply != nil {
		conn.Close("ifctl send: a request")
		return cmdutil.Problem(fmt.Sprintf("%s is a request (answered by %s): send it with ifctl call, which waits for the answer", fixed.Name, fixed.Reply.Type),
			fmt.Sprintf("ifctl call %s %s %s -d JSON", opts.Addr, m.Name, fixed.Name))
	}

	res := result{Interface: m.Name, Types: map[string]int{}}
	lines := map[uint64]int{} // sequence number → input line
	where := source(opts.Data)
	progress := cmdutil.NewProgress(opts.IO.ErrOut)
	codecName := conn.Codec().Name()
	err = cmdutil.Values(opts.Data, opts.IO.In, func(line int, value []byte) error {
		if !json.Valid(value) {
			var v any
			jerr := json.Unmarshal(value, &v)
			return cmdutil.Problem(fmt.Sprintf("%s: not JSON: %v", where(line), jerr),
				"give one JSON value (or one per line, NDJSON), quoted for the shell: -d '{\"field\":1}'")
		}
		v, err := cmdutil.SendValue(fixed, codecName, value)
		if err != nil {
			return cmdutil.Problem(fmt.Sprintf("%s: invalid %s: %s", where(line), fixed.Name, fieldError(err)),
				fmt.Sprintf("see %s's fields with: ifctl describe %s %s", fixed.Name, opts.Addr, m.Name))
		}
		sctx, cancel := cmdutil.WithTimeout(ctx, opts.Conn.Timeout)
		defer cancel()
		if err := conn.Send(sctx, fixed.Name, v); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return cmdutil.Problem(fmt.Sprintf("%s: the server granted no credit for %s", where(line), opts.Conn.Timeout),
					"the server is not taking messages; check it, or raise --timeout")
			}
			return fmt.Errorf("%s: %w", where(line), cmdutil.Explain(err, opts.Addr))
		}
		res.Sent++
		res.Types[fixed.Name]++
		lines[uint64(res.Sent)] = line
		progress.Update("sent %d", res.Sent)
		return nil
	})
	progress.Done()
	if err == nil {
		settle(ctx, conn, uint64(res.Sent), opts.Settle)
	}
	// Close sends what is queued, then waits for the server to read it all.
	conn.Close("ifctl send: done")
	if err != nil {
		if res.Sent > 0 {
			fmt.Fprintf(opts.IO.ErrOut, "ifctl: sent %d message(s) before the error\n", res.Sent)
		}
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) > 0 {
		sort.Slice(refused, func(i, j int) bool { return refused[i].Seq < refused[j].Seq })
		for _, e := range refused {
			fmt.Fprintf(opts.IO.ErrOut, "ifctl: %s: the server refused it: %s: %s\n", where(lines[e.Seq]), e.Code, cmdutil.Untrusted(e.Reason))
		}
		return &cmdutil.ExitError{Code: cmdutil.ExitCode(refused[0])}
	}
	return print(opts, res)
}

func print(opts *Options, res result) error {
	switch opts.Output {
	case cmdutil.JSON:
		return cmdutil.WriteJSONLine(opts.IO.Out, res)
	case cmdutil.YAML:
		return cmdutil.WriteYAMLDoc(opts.IO.Out, res)
	}
	// One send sends one type (--type, or the interface's only one).
	typ := ""
	for t := range res.Types {
		typ = t + " "
	}
	plural := "s"
	if res.Sent == 1 {
		plural = ""
	}
	_, err := fmt.Fprintf(opts.IO.Out, "sent %d %smessage%s to %s\n", res.Sent, typ, plural, res.Interface)
	return err
}

// onlyType is the type to send when --type is not given: the single
// one-way type clients may send (requests go with ifctl call).
func onlyType(m *manifest.Manifest, addr string) (*manifest.MessageType, error) {
	if !m.Direction.Receives() {
		return cmdutil.ClientType(m, "", addr) // says wrong direction
	}
	var oneWay, requests []*manifest.MessageType
	for _, t := range m.Recv {
		if t.Reply == nil {
			oneWay = append(oneWay, t)
		} else {
			requests = append(requests, t)
		}
	}
	switch {
	case len(oneWay) == 1:
		return oneWay[0], nil
	case len(oneWay) == 0:
		return nil, cmdutil.Problem(fmt.Sprintf("every type %s takes is a request (%s): send it with ifctl call, which waits for the answer", cmdutil.Untrusted(m.Name), cmdutil.TypeNames(requests)),
			fmt.Sprintf("ifctl call %s %s %s -d JSON", addr, cmdutil.Untrusted(m.Name), cmdutil.Untrusted(requests[0].Name)))
	}
	return nil, cmdutil.UsageError(cmdutil.Problem(fmt.Sprintf("%s takes several one-way message types (%s): say which with --type", cmdutil.Untrusted(m.Name), cmdutil.TypeNames(oneWay)),
		fmt.Sprintf("ifctl send %s %s --type %s -d JSON", addr, cmdutil.Untrusted(m.Name), cmdutil.Untrusted(oneWay[0].Name))))
}

// source returns how a value's position is named in errors: "line N" of
// stdin or a file, or the -d value itself.
func source(data string) func(line int) string {
	switch {
	case data == "@-":
		return func(line int) string { return fmt.Sprintf("stdin line %d", line) }
	case strings.HasPrefix(data, "@"):
		return func(line int) string { return fmt.Sprintf("%s:%d", data[1:], line) }
	}
	return func(line int) string {
		if strings.Contains(data, "\n") {
			return fmt.Sprintf("-d line %d", line)
		}
		return "-d"
	}
}

// fieldError is a codec error without its codec and type prefix, which the
// caller has already said: "/celsius: expected number, but got string".
func fieldError(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": type "); i >= 0 {
		if j := strings.Index(s[i+len(": type "):], ": "); j >= 0 {
			return s[i+len(": type ")+j+2:]
		}
	}
	return s
}

// settle waits until the server has taken all sent messages (as far as its
// credit grants tell, which come in batches), d passes, or the connection
// ends. iface has no way to wait for the server's handlers: a server drops
// what it would still answer when the client closes.
func settle(ctx context.Context, conn *iface.Conn, sent uint64, d time.Duration) {
	if d <= 0 || sent == 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(settlePoll)
	defer tick.Stop()
	for conn.PeerConsumed() < sent {
		select {
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		case <-conn.Done():
			return
		case <-tick.C:
		}
	}
}
