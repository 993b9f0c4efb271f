// Package relay implements `ifctl relay`: a relay that lets clients reach
// servers behind firewalls by name (spec/PROTOCOL.md §2.5).
package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Options are the inputs of `ifctl relay`.
type Options struct {
	IO                    *cmdutil.IOStreams
	Listen                []string
	SecretFile, SecretEnv string
	// Ready, when set, is called with the listeners' addresses once they
	// all listen (tests use it instead of reading stdout).
	Ready func(addrs []string)
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "relay --listen ADDR",
		Short: "Relay clients to servers that dial out to it (servers behind firewalls)",
		Long: `Run a relay on ADDR. A server that clients cannot dial (behind a firewall, in
another network) dials out to the relay and registers a name:

  ifctl serve FILE... --relay tcp://RELAY:7500 --name NAME

and clients reach it through the relay by that name, with every command:

  ifctl list relay://RELAY:7500/NAME
  ifctl call relay://RELAY:7500/NAME db.kv Get -d '{"key":"a"}'

The relay carries bytes only: the session inside is the client's with the
server, with the server's own secret, and with relay+tls://RELAY:7500/NAME it is
under TLS end to end (the server serves with --tls-cert and --relay-tls), so the
relay sees ciphertext only. With --secret-file every server and client must
prove the relay's secret first (--relay-secret-file on their side).

relay://RELAY:7500/ (no name) is the relay itself: ifctl watch on it prints the
servers registered and each server_learned and server_forgotten as they come and
go. Registrations, departures and refusals are logged on stderr.`,
		Example: `  ifctl relay --listen 0.0.0.0:7500 --secret-file /etc/ifkit/relay-secret
  ifctl serve kv.yaml --listen unix:///tmp/kv.sock --relay tcp://relay.example.com:7500 --name kv --relay-secret-file relay-secret
  ifctl describe relay://relay.example.com:7500/kv --relay-secret-file relay-secret
  ifctl watch relay://relay.example.com:7500/ --relay-secret-file relay-secret`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(opts.Listen) == 0 {
				return cmdutil.UsageError(errors.New("relay needs --listen ADDR (e.g. --listen 0.0.0.0:7500)"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.Listen, "listen", nil, "TCP address to listen on (repeatable)")
	fs.StringVar(&opts.SecretFile, "secret-file", "", "require servers and clients to prove the shared secret in this file")
	fs.StringVar(&opts.SecretEnv, "secret-env", "", "require servers and clients to prove the shared secret in this environment variable")
	_ = cmd.MarkFlagFilename("secret-file")
	return cmd
}

// Run relays until ctx is done.
func Run(ctx context.Context, opts *Options) error {
	for _, a := range opts.Listen {
		addr, err := iface.ParseAddr(a)
		if err != nil {
			return cmdutil.UsageError(err)
		}
		if addr.Network != "tcp" || addr.TLS {
			return cmdutil.UsageError(fmt.Errorf("--listen %s: a relay listens on TCP (host:port or tcp://host:port)", a))
		}
	}
	secret, err := cmdutil.ReadSecret(opts.SecretFile, opts.SecretEnv, "secret")
	if err != nil {
		return err
	}
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(opts.IO.ErrOut, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	ro := []iface.RelayOption{iface.WithRelayLog(func(e iface.RelayEvent) {
		switch e.Kind {
		case "refused":
			logf("refused %s %s: %s", cmdutil.Untrusted(e.Remote), cmdutil.Untrusted(e.Name), cmdutil.Untrusted(e.Reason))
		default:
			logf("%s %s (%s)", e.Kind, cmdutil.Untrusted(e.Name), cmdutil.Untrusted(e.Remote))
		}
	})}
	if secret != nil {
		ro = append(ro, iface.WithSecret(secret))
	}
	r := iface.NewRelay(ro...)
	defer r.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, len(opts.Listen))
	var addrs []string
	for _, a := range opts.Listen {
		l, err := iface.Listen(ctx, a)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w", a, err)
		}
		addrs = append(addrs, "tcp://"+l.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Serve(l); err != nil && !errors.Is(err, iface.ErrServerClosed) {
				errs <- err
			}
		}()
	}
	for _, a := range addrs {
		fmt.Fprintf(opts.IO.Out, "listening on %s\n", a)
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}
	select {
	case <-ctx.Done():
		logf("stopped")
		r.Close()
		return nil
	case err := <-errs:
		r.Close()
		return err
	}
}
