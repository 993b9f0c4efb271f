package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
)

// DefaultTimeout bounds a command that connects, asks and ends (list,
// describe, send, call, ping, stats) unless --timeout says otherwise, and
// the connecting of the commands that run until stopped (recv, watch).
const DefaultTimeout = 10 * time.Second

// diagnoseTimeout bounds the second look at an address that failed to
// connect, which finds out why.
const diagnoseTimeout = 2 * time.Second

// AddrHelp is the paragraph every connecting command's help ends with.
const AddrHelp = `ADDR is unix:///abs/path.sock, unix:rel.sock, tcp://host:port, host:port,
tls://host:port, or relay://host:port/NAME (the server registered as NAME with the
relay at host:port; relay+tls:// for TLS end to end, --relay-ca for TLS to the
relay itself, see ifctl relay); a comma-separated list means "any of these"
(tried in order).`

// ConnFlags are the flags every command that connects shares: how long to
// try, and how to prove who it is and check who the server is.
type ConnFlags struct {
	Timeout    time.Duration
	TLSCA      string // CA the server's certificate must chain to ("" for the system's)
	TLSCert    string // client certificate for mutual TLS
	TLSKey     string
	SecretFile string // shared secret the server requires (WithSecret)
	SecretEnv  string // the same, from an environment variable
	// RelaySecretFile holds the secret a relay requires (relay:// addresses).
	RelaySecretFile string
	// RelayCA, when set, reaches relays over TLS, their certificates
	// chaining to this CA.
	RelayCA string
	// Balance is how a comma-separated ADDR is used: first (failover in
	// order), round-robin or random (see BalanceHelp).
	Balance string
}

// BalanceHelp says what --balance does.
const BalanceHelp = `With a comma-separated ADDR, --balance chooses how the addresses are used:
first (the default) takes the first that answers, in order; random starts at a
random one (so that many invocations spread over the servers); round-robin takes
them in turn. ifctl call spreads its requests (-d @-, one per line) over the
addresses, a new connection per request, with round-robin or random.`

// BalancePolicy returns the --balance policy.
func (f *ConnFlags) BalancePolicy() (iface.Balance, error) {
	if f.Balance == "" {
		return iface.BalanceFirst, nil
	}
	b, err := iface.ParseBalance(f.Balance)
	if err != nil {
		return 0, UsageError(fmt.Errorf("--balance: %w", err))
	}
	return b, nil
}

// Balancer returns a balancer over addr with the flags' dial options.
func Balancer(addr string, f *ConnFlags) (*iface.Balancer, error) {
	policy, err := f.BalancePolicy()
	if err != nil {
		return nil, err
	}
	opts, err := f.dialOptions()
	if err != nil {
		return nil, err
	}
	b, err := iface.NewBalancer(addr, policy, opts...)
	if err != nil {
		return nil, UsageError(err)
	}
	return b, nil
}

// AddConnFlags adds --timeout (default def; what says what it bounds) and
// the security flags to cmd.
func AddConnFlags(cmd *cobra.Command, f *ConnFlags, def time.Duration, what string) {
	fs := cmd.Flags()
	fs.DurationVar(&f.Timeout, "timeout", def, what)
	fs.StringVar(&f.TLSCA, "tls-ca", "", "PEM file of the CA the server's certificate must chain to (tls:// addresses)")
	fs.StringVar(&f.TLSCert, "tls-cert", "", "PEM file of the client certificate (mutual TLS)")
	fs.StringVar(&f.TLSKey, "tls-key", "", "PEM file of the client certificate's key")
	fs.StringVar(&f.SecretFile, "secret-file", "", "file holding the shared secret the server requires")
	fs.StringVar(&f.SecretEnv, "secret-env", "", "environment variable holding the shared secret")
	fs.StringVar(&f.Balance, "balance", "first", "how a comma-separated ADDR is used: first, round-robin or random")
	fs.StringVar(&f.RelaySecretFile, "relay-secret-file", "", "file holding the shared secret of the relay (relay:// addresses)")
	fs.StringVar(&f.RelayCA, "relay-ca", "", "reach the relay of relay:// addresses over TLS, its certificate chaining to this PEM CA")
	for _, name := range []string{"tls-ca", "tls-cert", "tls-key", "secret-file", "relay-secret-file", "relay-ca"} {
		_ = cmd.MarkFlagFilename(name)
	}
}

// dialOptions turns the flags into iface's options. Its errors are usage
// errors: a file that cannot be read, half a certificate pair.
func (f *ConnFlags) dialOptions() ([]iface.DialOption, error) {
	opts := []iface.DialOption{iface.WithClientName("ifctl")}
	if f.TLSCA != "" || f.TLSCert != "" || f.TLSKey != "" {
		if (f.TLSCert == "") != (f.TLSKey == "") {
			return nil, UsageError(errors.New("--tls-cert and --tls-key go together"))
		}
		cfg, err := iface.ClientTLS(f.TLSCA, f.TLSCert, f.TLSKey)
		if err != nil {
			return nil, UsageError(err)
		}
		opts = append(opts, iface.WithTLS(cfg))
	}
	secret, err := ReadSecret(f.SecretFile, f.SecretEnv, "secret")
	if err != nil {
		return nil, err
	}
	if secret != nil {
		opts = append(opts, iface.WithSecret(secret))
	}
	relaySecret, err := ReadSecret(f.RelaySecretFile, "", "relay-secret")
	if err != nil {
		return nil, err
	}
	if relaySecret != nil {
		opts = append(opts, iface.WithRelaySecret(relaySecret))
	}
	if f.RelayCA != "" {
		cfg, err := iface.ClientTLS(f.RelayCA, "", "")
		if err != nil {
			return nil, UsageError(fmt.Errorf("--relay-ca: %w", err))
		}
		opts = append(opts, iface.WithRelayHopTLS(cfg))
	}
	return opts, nil
}

// ReadSecret reads the secret of the flags --NAME-file and --NAME-env (name
// "secret" or "admin-secret"), given in file or env, or returns nil when
// neither is; its errors are usage errors.
func ReadSecret(file, env, name string) ([]byte, error) {
	var secret []byte
	var err error
	flag := "--" + name + "-file"
	switch {
	case file != "" && env != "":
		return nil, UsageError(fmt.Errorf("give the %s once: --%s-file or --%s-env", strings.ReplaceAll(name, "-", " "), name, name))
	case file != "":
		secret, err = iface.SecretFromFile(file)
	case env != "":
		flag = "--" + name + "-env"
		secret, err = iface.SecretFromEnv(env)
	}
	if err != nil {
		return nil, UsageError(fmt.Errorf("%s: %w", flag, err))
	}
	return secret, nil
}

// WithTimeout returns ctx bounded by d, or ctx itself when d is 0.
func WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// Dial connects to addr (one address or a comma-separated failover list)
// within f.Timeout (DefaultTimeout when it is 0) and ctx. Its errors keep
// iface's (so ExitCode maps them) and add what a person should try: an
// address that does not parse is a usage error; a missing socket, a
// permission problem, nothing listening, no answer in time, a peer that
// is not an ifkit server or a refused secret each say so.
func Dial(ctx context.Context, addr string, f *ConnFlags) (*iface.Client, error) {
	addrs, err := iface.ParseAddrList(addr)
	if err != nil {
		return nil, UsageError(err)
	}
	opts, err := f.dialOptions()
	if err != nil {
		return nil, err
	}
	if policy, err := f.BalancePolicy(); err != nil {
		return nil, err
	} else if policy == iface.BalanceRandom {
		opts = append(opts, iface.WithFailover(1, 0, true))
	}
	timeout := f.Timeout
	if timeout <= 0 || timeout > DefaultTimeout {
		timeout = DefaultTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := iface.Dial(dctx, addr, opts...)
	if err == nil {
		return c, nil
	}
	switch {
	case errors.Is(err, iface.ErrNotIfkit):
		return nil, Hint(err, "the address answers, but not as an ifkit server: check the host and port (ifkit servers are started with 'ifctl serve' or iface.Server)")
	case errors.Is(err, iface.ErrAuth):
		// Said once, without the library's "connection closed by peer".
		msg := addr + ": " + iface.CodeAuthFailed.String()
		var ce *iface.CloseError
		if errors.As(err, &ce) && ce.Reason != "" {
			msg += ": " + Untrusted(ce.Reason)
		}
		if f.RelaySecretFile == "" && errors.Is(err, iface.ErrRelaySecretRequired) {
			return nil, Reword(err, msg, "pass the relay's shared secret with --relay-secret-file FILE")
		}
		if f.SecretFile == "" && f.SecretEnv == "" && errors.Is(err, iface.ErrSecretRequired) {
			return nil, Reword(err, msg, "pass the server's shared secret with --secret-file FILE or --secret-env NAME")
		}
		return nil, Reword(err, msg, "check the shared secret (--secret-file, --secret-env) or that your user may use the socket")
	case errors.Is(err, iface.ErrRelay):
		return nil, relayRefused(err, addrs)
	case ctx.Err() != nil:
		return nil, err // interrupted
	case dctx.Err() != nil:
		return nil, Hint(err, fmt.Sprintf("no answer within %s: check that the server is up and reachable, or raise --timeout", timeout))
	}
	var hints []string
	for _, a := range addrs {
		if h := diagnose(a); h != "" {
			hints = append(hints, h)
		}
	}
	return nil, Hint(err, hints...)
}

// relayRefused says what a relay's refusal means, and what to try.
func relayRefused(err error, addrs []iface.Addr) error {
	var re *iface.RelayError
	if !errors.As(err, &re) {
		return err
	}
	msg := fmt.Sprintf("the relay at %s refused: %s: %s", Untrusted(re.Relay), re.Code, Untrusted(re.Reason))
	relay := re.Relay
	for _, a := range addrs {
		if a.Network == "relay" {
			relay = a.Address // as the user wrote it
			break
		}
	}
	switch re.Code {
	case iface.CodeNotFound:
		return Reword(err, msg, "see the servers it relays to with: ifctl list relay://"+relay+"/")
	case iface.CodeLimitExceeded:
		return Reword(err, msg, "the relay is at one of its limits: try again later, or have its operator raise them (ifctl relay --help)")
	}
	return Reword(err, msg)
}

// Hint adds lines saying what to try to err, keeping its chain (so
// ExitCode still sees what it wraps).
func Hint(err error, try ...string) error {
	if len(try) == 0 {
		return err
	}
	return &hinted{err: err, try: try}
}

// Reword replaces err's text with msg and adds what to try, keeping its
// chain.
func Reword(err error, msg string, try ...string) error {
	return &hinted{msg: msg, err: err, try: try}
}

// Problem is an error of the command itself (exit code 1): what went
// wrong and what to try.
func Problem(msg string, try ...string) error { return &hinted{msg: msg, try: try} }

type hinted struct {
	msg string // replaces err's text when set
	err error
	try []string
}

func (h *hinted) Error() string {
	msg := h.msg
	if msg == "" {
		msg = h.err.Error()
	}
	if len(h.try) == 0 {
		return msg
	}
	return msg + "\n  try: " + strings.Join(h.try, "\n  try: ")
}

func (h *hinted) Unwrap() error { return h.err }

// diagnose looks at an address that could not be reached and says why, in
// words a person can act on. iface.Dial keeps only the text of the socket
// error, so the address is dialled once more (without sending anything) to
// get the error as a value.
func diagnose(a iface.Addr) string {
	if a.Network == "unix" {
		fi, err := os.Stat(a.Address)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Sprintf("there is no socket at %s: is the server running? Start one with: ifctl serve FILE --listen %s", a.Address, a)
		case errors.Is(err, os.ErrPermission):
			return fmt.Sprintf("permission denied looking at %s: run ifctl as a user who may enter its folder", a.Address)
		case err != nil:
			return fmt.Sprintf("cannot look at %s: %v", a.Address, err)
		case fi.Mode()&os.ModeSocket == 0:
			return fmt.Sprintf("%s exists but is not a socket: check the path", a.Address)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), diagnoseTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, a.Network, a.Address)
	if err == nil {
		conn.Close()
		return ""
	}
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Sprintf("permission denied on %s: ifkit sockets are owner-only (mode 0600); run ifctl as the user that runs the server", a.Address)
	case errors.Is(err, syscall.ECONNREFUSED) && a.Network == "unix":
		return fmt.Sprintf("%s is a socket nobody listens on: the server has exited; start it again", a.Address)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens on %s: check the port, or start a server with: ifctl serve FILE --listen %s", a.Address, a)
	}
	return ""
}

// Explain says in words a person can act on why the server refused or
// ended what a command asked, and what to try: an unknown interface, a
// server that is shutting down, an operation the interface does not offer,
// a failed secret, a timeout. The error's chain is kept, so ExitCode still
// sees the remote code.
func Explain(err error, addr string) error {
	var ce *iface.CloseError
	var re *iface.RemoteError
	var code iface.Code
	var reason string
	switch {
	case errors.As(err, &re):
		code, reason = re.Code, re.Reason
	case errors.As(err, &ce) && ce.Remote:
		code, reason = ce.Code, ce.Reason
	default:
		if errors.Is(err, context.DeadlineExceeded) {
			return Hint(fmt.Errorf("timed out: %w", err), "raise --timeout")
		}
		return err
	}
	msg := "the server refused: " + code.String()
	if ce != nil {
		msg = "the server closed the connection: " + code.String()
	}
	if reason != "" {
		msg += ": " + Untrusted(reason)
	}
	switch code {
	case iface.CodeUnknownInterface:
		return Reword(err, msg, "see the interfaces it serves with: ifctl list "+addr)
	case iface.CodeDraining:
		return Reword(err, msg, "the server is shutting down; try again once it is back")
	case iface.CodeUnimplemented:
		return Reword(err, msg, "see the control operations it offers with: ifctl describe "+addr+" IFACE")
	case iface.CodeAuthFailed:
		return Reword(err, msg, "check the shared secret (--secret-file, --secret-env)")
	case iface.CodeInvalidMessage:
		return Reword(err, msg, "see the message types and their fields with: ifctl describe "+addr+" IFACE")
	}
	return Reword(err, msg)
}
