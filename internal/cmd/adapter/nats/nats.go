// Package nats implements `ifctl adapter nats`: JetStream streams and
// subjects served as ifkit interfaces (package adapter/nats), on an
// embedded NATS server unless --url names one.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	natsad "github.com/ifkit/ifkit/adapter/nats"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Defaults of the flags.
const (
	DefaultListen = "127.0.0.1:7420"
	DefaultGrace  = 5 * time.Second
	// connectTimeout bounds the first connection to --url.
	connectTimeout = 10 * time.Second
)

// Options are the inputs of `ifctl adapter nats`.
type Options struct {
	IO       *cmdutil.IOStreams
	URL      string // "" for an embedded server
	Listen   string
	Config   string // "" for the default configuration
	Store    string // the embedded server's folder; "" for a temporary one
	NATSPort int    // the embedded server's port; 0 picks one
	Grace    time.Duration
	Verbose  bool
	// Ready, when set, is called with the ifkit address and the NATS URL
	// once the adapter serves (tests use it instead of reading stdout).
	Ready func(addr, natsURL string)
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "nats [--url URL] [--listen ADDR] [--config FILE]",
		Short: "Serve NATS JetStream streams and subjects as ifkit interfaces",
		Long: `Serve JetStream through ifkit interfaces, typed by the configuration's JSON
Schemas and checked both ways: nothing that fails its type reaches the queue.

  consume   a send interface per durable pull consumer: the adapter fetches
            only as many messages as the client has granted credit for, and
            acknowledges each to JetStream once the client has consumed it;
            what a client leaves unconsumed is delivered again (at least
            once). Each message carries its stream sequence (seq), and the
            control operation reset moves the consumer: seq:N, time:RFC3339,
            first, last or new.
  publish   a recv interface per subject: a message's credit comes back once
            JetStream has stored it; its id (Nats-Msg-Id) is made of the
            fields msg_id names, so a re-sent message is stored once.
  topics    a send interface that every ifkit server configured with the
            subject shares: each message stored on it goes to every
            subscriber of every server.

Without --url the adapter starts a NATS server with JetStream in this process
(on 127.0.0.1, --nats-port), with its streams in --store or in a temporary
folder removed on exit. Without --config it serves:

` + indent(natsad.DefaultConfigYAML) + `
Errors reach clients as ifkit codes: no such stream or consumer is not_found,
JetStream away is transport_error (a consuming connection waits up to 30s for it
to come back), a message over the server's payload limit is message_too_large.

` + cmdutil.AddrHelp,
		Example: `  # an embedded JetStream with the default interfaces
  ifctl adapter nats --listen 127.0.0.1:7420 &
  ifctl describe 127.0.0.1:7420 events.publish
  echo '{"id":"evt-1","kind":"door.opened"}' | ifctl send 127.0.0.1:7420 events.publish -d @-
  ifctl recv 127.0.0.1:7420 events.feed -n 1

  # a NATS server or cluster of your own, and your streams and types
  ifctl adapter nats --url nats://127.0.0.1:4222 --config queue.yaml --listen unix:///tmp/queue.sock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.NATSPort < 0 || opts.NATSPort > 65535 {
				return cmdutil.UsageError(errors.New("--nats-port must be 0 to 65535"))
			}
			if opts.URL != "" && (opts.Store != "" || opts.NATSPort != 0) {
				return cmdutil.UsageError(errors.New("--store and --nats-port are for the embedded server; with --url the server is yours"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.URL, "url", "", "NATS server or cluster to use (nats://host:4222, comma-separated for several); none: an embedded one")
	fs.StringVar(&opts.Listen, "listen", DefaultListen, "ifkit address to serve the interfaces on")
	fs.StringVar(&opts.Config, "config", "", "configuration file: streams, types, consume, publish, topics (YAML or JSON)")
	fs.StringVar(&opts.Store, "store", "", "folder the embedded server keeps its streams in (kept); none: a temporary one, removed on exit")
	fs.IntVar(&opts.NATSPort, "nats-port", 0, "port the embedded server listens on, on 127.0.0.1 (0: one the system picks)")
	fs.DurationVar(&opts.Grace, "grace", DefaultGrace, "how long shutting down waits for connections to end")
	fs.BoolVarP(&opts.Verbose, "verbose", "v", false, "log JetStream outages and messages that fail their type")
	return cmd
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// Run serves until ctx is done (SIGINT, SIGTERM), then shuts down within
// --grace.
func Run(ctx context.Context, opts *Options) error {
	if _, err := iface.ParseAddr(opts.Listen); err != nil {
		return cmdutil.UsageError(err)
	}
	cfg := natsad.DefaultConfig()
	if opts.Config != "" {
		var err error
		if cfg, err = natsad.LoadConfig(opts.Config); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	url := opts.URL
	if url == "" {
		emb, err := natsad.StartEmbedded(opts.Store, opts.NATSPort)
		if err != nil {
			return cmdutil.Hint(err, "pick another --nats-port, or give --url of a running NATS server")
		}
		defer emb.Close()
		url = emb.URL()
		fmt.Fprintf(opts.IO.ErrOut, "embedded NATS server with JetStream on %s (streams in %s)\n", url, emb.Dir())
	}
	nc, err := natsgo.Connect(url, natsgo.Timeout(connectTimeout), natsgo.MaxReconnects(-1), natsgo.Name("ifctl adapter nats"))
	if err != nil {
		return cmdutil.Hint(fmt.Errorf("cannot connect to NATS at %s: %w", url, err), "start a NATS server with JetStream (nats-server -js), or leave out --url for an embedded one")
	}
	defer nc.Close()
	ad, err := natsad.New(ctx, nc, cfg, natsad.WithLogger(log))
	if err != nil {
		return cmdutil.Hint(err, "check that the server has JetStream enabled (nats-server -js)")
	}
	defer ad.Close()
	srv := iface.NewServer()
	if err := ad.Register(srv); err != nil {
		return err
	}
	for _, m := range ad.Manifests() {
		fmt.Fprintf(opts.IO.ErrOut, "serving %s (%s)\n", m.Name, m.Direction)
	}
	if err := cmdutil.ServeOn(ctx, opts.IO, srv, []string{opts.Listen}, opts.Grace, func(addrs []string) {
		if opts.Ready != nil {
			opts.Ready(addrs[0], url)
		}
	}); err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.ErrOut, "stopped")
	return nil
}
