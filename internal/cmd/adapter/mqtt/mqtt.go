// Package mqtt implements `ifctl adapter mqtt`: an MQTT 5 broker's topics
// served as ifkit interfaces (package adapter/mqtt).
package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	mqttad "github.com/ifkit/ifkit/adapter/mqtt"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Defaults of the flags.
const (
	DefaultBroker = "127.0.0.1:1883"
	DefaultListen = "127.0.0.1:7421"
	DefaultGrace  = 5 * time.Second
)

// Options are the inputs of `ifctl adapter mqtt`.
type Options struct {
	IO      *cmdutil.IOStreams
	Broker  string
	Listen  string
	Config  string
	Grace   time.Duration
	Verbose bool
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "mqtt [--broker HOST:PORT] [--listen ADDR] [--config FILE]",
		Short: "Serve an MQTT 5 broker's topics as ifkit interfaces",
		Long: `Serve MQTT topics through ifkit interfaces, typed by the configuration's JSON
Schemas and checked both ways, with QoS 1 mapped to credits:

  subscribe   a send interface per topic filter: each connection's MQTT session
              has the credit window as its Receive Maximum, and each message is
              acknowledged (PUBACK) once the client has consumed it; connections
              share one subscription unless exclusive: true.
  publish     a recv interface per topic: a message's credit comes back once the
              broker's PUBACK says it took it.

MQTT has no negative acknowledgement and no message ids: a message delivered to
a connection that ends before consuming it is not handed to another, and a
re-sent message is delivered twice (ifctl adapter nats does both).
Without --config it serves:

` + "  " + strings.ReplaceAll(strings.TrimSuffix(mqttad.DefaultConfigYAML, "\n"), "\n", "\n  ") + `

` + cmdutil.AddrHelp,
		Example: `  # the machine's Mosquitto, the default interfaces
  ifctl adapter mqtt --broker 127.0.0.1:1883 --listen 127.0.0.1:7421 &
  ifctl recv 127.0.0.1:7421 mqtt.feed -n 1 &
  ifctl send 127.0.0.1:7421 mqtt.publish -d '{"kind":"door.opened"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Broker, "broker", DefaultBroker, "MQTT 5 broker (host:port, TCP)")
	fs.StringVar(&opts.Listen, "listen", DefaultListen, "ifkit address to serve the interfaces on")
	fs.StringVar(&opts.Config, "config", "", "configuration file: types, subscribe, publish (YAML or JSON)")
	fs.DurationVar(&opts.Grace, "grace", DefaultGrace, "how long shutting down waits for connections to end")
	fs.BoolVarP(&opts.Verbose, "verbose", "v", false, "log sessions the broker ends and messages that fail their type")
	return cmd
}

// Run serves until ctx is done, then shuts down within --grace.
func Run(ctx context.Context, opts *Options) error {
	if _, err := iface.ParseAddr(opts.Listen); err != nil {
		return cmdutil.UsageError(err)
	}
	cfg := mqttad.DefaultConfig()
	if opts.Config != "" {
		var err error
		if cfg, err = mqttad.LoadConfig(opts.Config); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	ad, err := mqttad.New(ctx, opts.Broker, cfg, mqttad.WithLogger(log))
	if err != nil {
		return cmdutil.Hint(err, "start an MQTT 5 broker (mosquitto -p 1883), or give its address with --broker")
	}
	defer ad.Close()
	srv := iface.NewServer()
	if err := ad.Register(srv); err != nil {
		return err
	}
	for _, m := range ad.Manifests() {
		fmt.Fprintf(opts.IO.ErrOut, "serving %s (%s)\n", m.Name, m.Direction)
	}
	if err := cmdutil.ServeOn(ctx, opts.IO, srv, []string{opts.Listen}, opts.Grace, nil); err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.ErrOut, "stopped")
	return nil
}
