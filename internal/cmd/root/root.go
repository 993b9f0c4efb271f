// Package root assembles the ifctl command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	adaptermqtt "github.com/ifkit/ifkit/internal/cmd/adapter/mqtt"
	adapternats "github.com/ifkit/ifkit/internal/cmd/adapter/nats"
	sqlcmd "github.com/ifkit/ifkit/internal/cmd/adapter/sql"
	"github.com/ifkit/ifkit/internal/cmd/bench"
	"github.com/ifkit/ifkit/internal/cmd/call"
	"github.com/ifkit/ifkit/internal/cmd/connop"
	"github.com/ifkit/ifkit/internal/cmd/conns"
	"github.com/ifkit/ifkit/internal/cmd/demo"
	"github.com/ifkit/ifkit/internal/cmd/describe"
	"github.com/ifkit/ifkit/internal/cmd/gateway"
	"github.com/ifkit/ifkit/internal/cmd/gen/golang"
	"github.com/ifkit/ifkit/internal/cmd/lab"
	"github.com/ifkit/ifkit/internal/cmd/list"
	"github.com/ifkit/ifkit/internal/cmd/ls"
	"github.com/ifkit/ifkit/internal/cmd/manifest/diff"
	"github.com/ifkit/ifkit/internal/cmd/manifest/hash"
	"github.com/ifkit/ifkit/internal/cmd/manifest/show"
	"github.com/ifkit/ifkit/internal/cmd/manifest/validate"
	"github.com/ifkit/ifkit/internal/cmd/ping"
	"github.com/ifkit/ifkit/internal/cmd/recv"
	"github.com/ifkit/ifkit/internal/cmd/relay"
	"github.com/ifkit/ifkit/internal/cmd/send"
	"github.com/ifkit/ifkit/internal/cmd/serve"
	"github.com/ifkit/ifkit/internal/cmd/stats"
	"github.com/ifkit/ifkit/internal/cmd/watch"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// New returns the ifctl root command writing to io.
func New(io *cmdutil.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "ifctl",
		Short: "Check, serve, introspect and talk to ifkit interfaces",
		Long: `ifctl works with ifkit interfaces: self-describing, typed message streams with
flow control on Unix and TCP sockets. A person who finds an ifkit socket can learn
what it speaks and talk to it without writing code:

  ifctl serve FILE... --listen ADDR --mock    host interfaces from manifests (mock data, echo)
  ifctl list ADDR                             the interfaces a server hosts
  ifctl ls [DIR]                              the ifkit sockets on this host (a registry folder)
  ifctl describe ADDR IFACE                   an interface's types, fields, flow and control
  ifctl recv ADDR IFACE                       print what it sends, as NDJSON
  ifctl send ADDR IFACE -d JSON|@file|@-      send it messages, checked first
  ifctl call ADDR IFACE TYPE -d JSON          a request and its reply (or stream of replies)
  ifctl ping ADDR | stats ADDR IFACE | watch ADDR
  ifctl bench ADDR IFACE                      throughput or round-trip latency
  ifctl gateway ADDR --http HOST:PORT         every interface on HTTP (JSON, SSE, WebSocket, OpenAPI)
  ifctl adapter sql [--dsn DSN] --listen ADDR  a database as interfaces (SQLite file by default)
  ifctl lab ADDR [--http HOST:PORT]           a web page for every interface: docs, forms, tail, credits
  ifctl adapter nats [--url URL]              NATS JetStream as interfaces (embedded by default)
  ifctl adapter mqtt [--broker HOST:PORT]     an MQTT 5 broker's topics as interfaces
  ifctl manifest validate|show|hash FILE      check manifests offline
  ifctl manifest diff OLD NEW                 what changed, and whether it breaks peers
  ifctl gen go MANIFEST... --out DIR          typed Go client and server stubs
  ifctl relay --listen ADDR                   reach servers behind firewalls by name (relay://ADDR/NAME)

ADDR is unix:///abs/path.sock, unix:rel.sock, tcp://host:port, host:port,
tls://host:port or relay://host:port/NAME; a comma-separated list means "any of
these" (failover, or spread over them with --balance).

Data goes to stdout, diagnostics to stderr. See 'ifctl help exit-codes'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.UsageError(err) })

	mf := &cobra.Command{
		Use:   "manifest",
		Short: "Validate manifests, show their canonical form and hash, compare versions",
	}
	gen := &cobra.Command{
		Use:   "gen",
		Short: "Write code from manifests",
	}
	gen.AddCommand(golang.NewCmd(io, nil))
	adapter := &cobra.Command{
		Use:   "adapter",
		Short: "Serve a database or a message queue as ifkit interfaces",
	}
	adapter.AddCommand(sqlcmd.NewCmd(io, nil), adapternats.NewCmd(io, nil), adaptermqtt.NewCmd(io, nil))
	mf.AddCommand(validate.NewCmd(io, nil), show.NewCmd(io, nil), hash.NewCmd(io, nil), diff.NewCmd(io, nil))
	root.AddCommand(mf, gen, adapter,
		serve.NewCmd(io, nil),
		list.NewCmd(io, nil), ls.NewCmd(io, nil), describe.NewCmd(io, nil),
		send.NewCmd(io, nil), recv.NewCmd(io, nil), call.NewCmd(io, nil),
		ping.NewCmd(io, nil), stats.NewCmd(io, nil), watch.NewCmd(io, nil), relay.NewCmd(io, nil),
		conns.NewCmd(io, nil),
		connop.NewCmd(io, connop.Pause, nil), connop.NewCmd(io, connop.Resume, nil),
		connop.NewCmd(io, connop.Reset, nil), connop.NewCmd(io, connop.Close, nil),
		bench.NewCmd(io, nil),
		gateway.NewCmd(io, nil),
		lab.NewCmd(io, nil),
		demo.NewCmd(io, nil))
	// A command without Run is a help topic: `ifctl help exit-codes`.
	root.AddCommand(&cobra.Command{Use: "exit-codes", Short: "What ifctl's exit codes mean", Long: cmdutil.ExitCodesHelp})
	return root
}

// Execute runs ifctl with args and returns the process exit code. Errors are
// printed on io.ErrOut.
func Execute(io *cmdutil.IOStreams, args []string) int {
	cmd := New(io)
	cmd.SetArgs(args)
	// Cobra does not type its own errors (unknown command, wrong number of
	// arguments); they all happen before a command runs, so whether the
	// command started tells a usage error from a failure.
	started := false
	cmd.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	// SIGINT and SIGTERM cancel the command's context: serve shuts down
	// gracefully, recv and watch stop and exit 0. A second signal kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }() // restore the default for the second
	failed, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return cmdutil.ExitOK
	}
	if !started {
		err = cmdutil.UsageError(err)
	}
	var ee *cmdutil.ExitError
	// ErrorText: a reason the server sent is printed inert.
	switch {
	case errors.As(err, &ee) && ee.Err == nil:
		// the command reported the details itself
	case cmdutil.ExitCode(err) == cmdutil.ExitUsage:
		if failed != nil && failed != cmd && failed.Runnable() {
			fmt.Fprintf(io.ErrOut, "ifctl: %s\nUsage: %s\nRun '%s --help' for usage.\n", cmdutil.ErrorText(err), failed.UseLine(), failed.CommandPath())
		} else {
			fmt.Fprintf(io.ErrOut, "ifctl: %s\nRun 'ifctl --help' for usage.\n", cmdutil.ErrorText(err))
		}
	default:
		fmt.Fprintf(io.ErrOut, "ifctl: %s\n", cmdutil.ErrorText(err))
	}
	return cmdutil.ExitCode(err)
}
