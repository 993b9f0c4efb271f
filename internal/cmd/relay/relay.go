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
	// TLSCert and TLSKey serve tls:// listeners.
	TLSCert, TLSKey string
	// Limits bound what the relay holds for its peers; Config its
	// timeouts (both start as the library's defaults).
	Limits iface.RelayLimits
	Config iface.Config
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

With --listen tls://ADDR (and --tls-cert, --tls-key) servers and clients reach
the relay itself over TLS, verifying its certificate (--relay-ca on their side),
whether or not the sessions inside are under TLS end to end.

relay://RELAY:7500/ (no name) is the relay itself: ifctl list on it prints the
servers registered, ifctl ls their interfaces too, and ifctl watch each
server_learned and server_forgotten as they come and go. Registrations,
departures and refusals are logged on stderr (refusals at most 10 a second).

A hostile or broken peer cannot make the relay hold more than its limits: the
--max-* flags below bound servers, client sessions and hellos (each refusal
answers limit_exceeded and a reason), --handshake-timeout the hello and the
secret exchange (slow-loris), --write-timeout each write to a client that reads
nothing, --pipe-buffer and --stream-window the bytes in transit per relayed
session. A name is first come, first served: a server registering a name
another holds is refused, unless the holder does not answer a ping within half
--handshake-timeout (its connection is gone): the newcomer then takes it over.
A server that opens a stream itself is cut off. One peer's refusal or cut-off
never touches the sessions of others.

Each connection takes a file descriptor: the limits hold the relay to at most
2 × --max-hellos + --max-servers + --max-clients of them (5632 with the
defaults); give the process an open-file limit above that (ulimit -n). Out of
them anyway, the relay pauses accepting (up to 1 s) and logs it, and goes on.`,
		Example: `  ifctl relay --listen 0.0.0.0:7500 --secret-file /etc/ifkit/relay-secret
  ifctl relay --listen tls://0.0.0.0:7500 --tls-cert relay.pem --tls-key relay.key
  ifctl list relay://relay.example.com:7500/ --relay-secret-file relay-secret
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
	fs.StringArrayVar(&opts.Listen, "listen", nil, "address to listen on: host:port, tcp://host:port or tls://host:port (repeatable)")
	fs.StringVar(&opts.SecretFile, "secret-file", "", "require servers and clients to prove the shared secret in this file")
	fs.StringVar(&opts.SecretEnv, "secret-env", "", "require servers and clients to prove the shared secret in this environment variable")
	fs.StringVar(&opts.TLSCert, "tls-cert", "", "PEM certificate of the tls:// listeners")
	fs.StringVar(&opts.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	addLimitFlags(cmd, opts)
	for _, name := range []string{"secret-file", "tls-cert", "tls-key"} {
		_ = cmd.MarkFlagFilename(name)
	}
	return cmd
}

// Run relays until ctx is done.
func Run(ctx context.Context, opts *Options) error {
	var lo []iface.ListenOption
	anyTLS := false
	for _, a := range opts.Listen {
		addr, err := iface.ParseAddr(a)
		if err != nil {
			return cmdutil.UsageError(err)
		}
		if addr.Network != "tcp" {
			return cmdutil.UsageError(fmt.Errorf("--listen %s: a relay listens on TCP (host:port, tcp://host:port or tls://host:port)", a))
		}
		anyTLS = anyTLS || addr.TLS
	}
	switch {
	case (opts.TLSCert == "") != (opts.TLSKey == ""):
		return cmdutil.UsageError(errors.New("--tls-cert and --tls-key go together"))
	case anyTLS && opts.TLSCert == "":
		return cmdutil.UsageError(errors.New("a tls:// --listen needs --tls-cert and --tls-key"))
	case opts.TLSCert != "":
		if !anyTLS {
			return cmdutil.UsageError(errors.New("--tls-cert is for tls:// listeners: --listen tls://HOST:PORT"))
		}
		cfg, err := iface.ServerTLS(opts.TLSCert, opts.TLSKey, "")
		if err != nil {
			return cmdutil.UsageError(err)
		}
		lo = append(lo, iface.WithServerTLS(cfg))
	}
	if err := checkLimits(opts); err != nil {
		return err
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
	ro := []iface.RelayOption{iface.WithRelayLimits(opts.Limits), iface.WithConfig(opts.Config), iface.WithRelayLog(func(e iface.RelayEvent) {
		if e.Suppressed > 0 {
			logf("… and %d more refusals not logged (at most 10 are logged per second)", e.Suppressed)
		}
		switch e.Kind {
		case "refused":
			who := cmdutil.Untrusted(e.Remote)
			if e.Name != "" {
				who += " (" + cmdutil.Untrusted(e.Name) + ")"
			}
			logf("refused %s: %s: %s", who, e.Code, cmdutil.Untrusted(e.Reason))
		case "forgotten":
			logf("forgotten %s (%s): %s", cmdutil.Untrusted(e.Name), cmdutil.Untrusted(e.Remote), cmdutil.Untrusted(e.Reason))
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
		l, err := iface.Listen(ctx, a, lo...)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w", a, err)
		}
		scheme := "tcp://"
		if addr, _ := iface.ParseAddr(a); addr.TLS {
			scheme = "tls://"
		}
		addrs = append(addrs, scheme+l.Addr().String())
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
