package serve

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// RelayOptions are the flags of serving through a relay (--relay ADDR
// --name NAME).
type RelayOptions struct {
	// SecretFile holds the relay's shared secret.
	SecretFile string
	// CA, when set, verifies the relay's certificate: the relay is then
	// reached over TLS (as with a tls:// --relay).
	CA string
	// TLS serves the sessions through the relay under TLS end to end with
	// --tls-cert (clients use relay+tls://).
	TLS bool
	// Backoff and BackoffMax are the first and the longest wait before
	// registering again after the relay was lost or could not be reached.
	Backoff, BackoffMax time.Duration
}

// relayHelp is serve's help about --relay.
const relayHelp = `--relay ADDR --name NAME serves from behind a firewall: serve dials out to the
relay at ADDR (tcp://host:port, or tls://host:port to reach it over TLS, with
--relay-ca to verify its certificate), registers NAME, and serves every client
session the relay carries (clients use relay://HOST:PORT/NAME; see ifctl relay).
When the relay goes (restarted, the network cut) serve logs it and registers
again, waiting --relay-backoff, then twice as long each time up to
--relay-backoff-max, each wait drawn at random from its upper half. It gives up
(and exits 1) only when retrying cannot help: the relay's secret refused, the
address not a relay, or NAME held by another server that answers, on the first
registration.`

func addRelayFlags(cmd *cobra.Command, opts *Options) {
	fs := cmd.Flags()
	ro := &opts.RelayOpts
	fs.StringVar(&opts.Relay, "relay", "", "also serve through the relay at this `ADDR` (tcp://host:port, tls://host:port), dialing out to it (see ifctl relay)")
	fs.StringVar(&opts.Name, "name", "", "the name clients reach this server by through --relay (relay://ADDR/NAME)")
	fs.StringVar(&ro.SecretFile, "relay-secret-file", "", "prove the relay's shared secret in this file")
	fs.StringVar(&ro.CA, "relay-ca", "", "reach --relay over TLS, verifying its certificate with this PEM CA")
	fs.BoolVar(&ro.TLS, "relay-tls", false, "serve the sessions through --relay under TLS end to end with --tls-cert (clients use relay+tls://)")
	fs.DurationVar(&ro.Backoff, "relay-backoff", 100*time.Millisecond, "the first wait before registering with --relay again after losing it")
	fs.DurationVar(&ro.BackoffMax, "relay-backoff-max", 5*time.Second, "the longest wait before registering with --relay again")
	for _, name := range []string{"relay-secret-file", "relay-ca"} {
		_ = cmd.MarkFlagFilename(name)
	}
}

// checkRelayFlags says which relay flag is missing or wrong.
func (opts *Options) checkRelayFlags() error {
	ro := opts.RelayOpts
	var msg string
	switch {
	case (opts.Relay == "") != (opts.Name == ""):
		msg = "--relay and --name go together: the relay's address, and the name clients reach this server by"
	case opts.Relay == "" && (ro.TLS || ro.CA != "" || ro.SecretFile != ""):
		msg = "--relay-tls, --relay-ca and --relay-secret-file need --relay ADDR --name NAME"
	case ro.TLS && opts.TLSCert == "":
		msg = "--relay-tls needs --tls-cert/--tls-key (the certificate clients check through relay+tls://)"
	case ro.Backoff <= 0:
		msg = fmt.Sprintf("--relay-backoff is %s; it must be > 0", ro.Backoff)
	case ro.BackoffMax < ro.Backoff:
		msg = fmt.Sprintf("--relay-backoff-max is %s; it must be at least --relay-backoff (%s)", ro.BackoffMax, ro.Backoff)
	}
	if msg != "" {
		return cmdutil.UsageError(errors.New(msg))
	}
	return nil
}

// relayURL is the address clients reach the server by.
func (opts *Options) relayURL() string {
	a, err := iface.ParseAddr(opts.Relay)
	if err != nil {
		return opts.Relay
	}
	scheme := "relay://"
	if opts.RelayOpts.TLS {
		scheme = "relay+tls://"
	}
	u := scheme + a.Address + "/" + opts.Name
	if a.TLS || opts.RelayOpts.CA != "" {
		u += " (the relay over TLS: clients pass --relay-ca)"
	}
	return u
}

// relayOptions returns ServeRelay's options: the relay's secret, TLS to the
// relay and end to end, the back-off, and a log line as the registration
// comes and goes.
func (opts *Options) relayOptions(log *logger) ([]iface.RelayServeOption, error) {
	ro := opts.RelayOpts
	name := cmdutil.Untrusted(opts.Name)
	registered := false // the state before, for the log: calls come one at a time
	out := []iface.RelayServeOption{
		iface.WithRelayBackoff(ro.Backoff, ro.BackoffMax),
		iface.WithRelayState(func(st iface.RelayState) {
			lost := registered && !st.Registered // the first failure since a registration
			registered = st.Registered
			switch {
			case st.Registered && st.Again:
				log.printf("relay: registered with %s again as %s", opts.Relay, name)
			case st.Registered:
				log.printf("relay: registered with %s as %s: clients reach it as %s", opts.Relay, name, opts.relayURL())
			case st.Retry > 0 && lost:
				log.printf("relay: lost %s: %v; registering again in %s", opts.Relay, st.Err, st.Retry.Round(time.Millisecond))
			case st.Retry > 0:
				log.printf("relay: not registered with %s: %v; trying again in %s", opts.Relay, st.Err, st.Retry.Round(time.Millisecond))
			default:
				log.printf("relay: not registered with %s: %v; giving up", opts.Relay, st.Err)
			}
		}),
	}
	secret, err := cmdutil.ReadSecret(ro.SecretFile, "", "relay-secret")
	if err != nil {
		return nil, err
	}
	if secret != nil {
		out = append(out, iface.WithRelaySecret(secret))
	}
	if ro.CA != "" {
		cfg, err := iface.ClientTLS(ro.CA, "", "")
		if err != nil {
			return nil, cmdutil.UsageError(fmt.Errorf("--relay-ca: %w", err))
		}
		out = append(out, iface.WithRelayHopTLS(cfg))
	}
	if ro.TLS {
		cfg, err := iface.ServerTLS(opts.TLSCert, opts.TLSKey, opts.TLSClientCA)
		if err != nil {
			return nil, cmdutil.UsageError(err)
		}
		out = append(out, iface.WithRelayTLS(cfg))
	}
	return out, nil
}
