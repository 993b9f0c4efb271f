// Package lab implements `ifctl lab`: the lab bench, a web page for every
// interface of an ifkit server (package adapter/httpgw/lab), and Start,
// which `ifctl serve --lab` uses for the same page beside its server.
package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/adapter/httpgw/lab"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Defaults of the flags.
const (
	DefaultHTTP  = "127.0.0.1:8080"
	DefaultGrace = 5 * time.Second
	// readHeaderTimeout bounds how long an HTTP client may take to send a
	// request's head (slowloris).
	readHeaderTimeout = 10 * time.Second
)

// Options are the inputs of `ifctl lab`.
type Options struct {
	IO      *cmdutil.IOStreams
	Addr    string
	HTTP    HTTP
	Credits int
	Grace   time.Duration
	Verbose bool
	Conn    cmdutil.ConnFlags
	// Ready, when set, is called with the page's URL once it listens
	// (tests use it instead of reading stdout).
	Ready func(url string)
}

// HTTP is where the page is served and how it is protected.
type HTTP struct {
	Addr             string // host:port
	TLSCert, TLSKey  string // PEM files: serve HTTPS
	SecretFile       string // the secret the page asks for
	SecretEnv        string
	secretFromServer []byte // serve --lab: the server's own secret
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "lab ADDR [--http 127.0.0.1:8080]",
		Short: "A web page for every interface at ADDR: docs, forms, live tail, credits, connections",
		Long: `Serve the lab bench: one web page for every interface of the ifkit server at ADDR,
following the server as interfaces come, change and go.

For each interface the page shows its documentation from the live manifest (title,
Markdown description, direction, message types with their fields, descriptions and
examples, flow limits, control operations, the content hash); a form for every type
the server receives, built from its schema (JSON Schema, or the protobuf message's
JSON mapping), pre-filled from the examples and checked as you type by the same code
the server runs, so that an invalid value shows the server's reason; the reply of a
call, or a stream's replies as they arrive; a live tail of what the server sends,
with a filter (CEL, checked by the server), pause and resume, a bounded history, the
stream's credit window (granted, in flight, queued) and a plot of a numeric field.
A side panel lists the server's open connections and, for each one that ends, its
code and reason.

Every message goes through the HTTP gateway of 'ifctl gateway', under /gw on the same
address; the page's script and style are built into ifctl: nothing is fetched from
the internet.

The page listens on 127.0.0.1 unless --http says otherwise. An address other hosts
can reach needs HTTPS (--http-tls-cert, --http-tls-key) and a secret the page asks
for (--http-secret-file or --http-secret-env): the page then gets a cookie derived
from the secret, never the secret, nor the one ifctl proves to the server.

` + cmdutil.AddrHelp,
		Example: `  # every example interface with mock data, and the lab bench on it
  ifctl serve internal/examples/manifests/*.yaml --listen unix:///tmp/ifkit.sock --mock &
  ifctl lab unix:///tmp/ifkit.sock
  # then open http://127.0.0.1:8080

  # the same page from serve itself
  ifctl serve internal/examples/manifests/*.yaml --listen unix:///tmp/ifkit.sock --mock --lab 127.0.0.1:8080

  # on the network: HTTPS and a secret the page asks for
  ifctl lab tls://10.0.0.5:7401 --tls-ca ca.pem --secret-file /etc/ifkit/secret \
      --http 0.0.0.0:8443 --http-tls-cert lab.pem --http-tls-key lab.key --http-secret-file lab.secret`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			if opts.Credits < 0 {
				return cmdutil.UsageError(errors.New("--credits must be >= 0"))
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.HTTP.Addr, "http", DefaultHTTP, "address the page listens on (host:port; port 0 picks one)")
	fs.StringVar(&opts.HTTP.TLSCert, "http-tls-cert", "", "PEM certificate: serve the page over HTTPS")
	fs.StringVar(&opts.HTTP.TLSKey, "http-tls-key", "", "PEM key of --http-tls-cert")
	fs.StringVar(&opts.HTTP.SecretFile, "http-secret-file", "", "file holding the secret the page asks for")
	fs.StringVar(&opts.HTTP.SecretEnv, "http-secret-env", "", "environment variable holding the secret the page asks for")
	fs.IntVar(&opts.Credits, "credits", httpgw.DefaultStreamCredits, "messages a stream's server may send ahead of the page")
	fs.DurationVar(&opts.Grace, "grace", DefaultGrace, "how long shutting down waits for HTTP requests to end")
	fs.BoolVarP(&opts.Verbose, "verbose", "v", false, "log interfaces as they come and go, and each session")
	for _, name := range []string{"http-tls-cert", "http-tls-key", "http-secret-file"} {
		_ = cmd.MarkFlagFilename(name)
	}
	cmdutil.AddConnFlags(cmd, &opts.Conn, 0, "how long each dial to ADDR may take (0: 10s)")
	return cmd
}

// Run serves the page until ctx is done (SIGINT, SIGTERM).
func Run(ctx context.Context, opts *Options) error {
	if _, err := iface.ParseAddrList(opts.Addr); err != nil {
		return cmdutil.UsageError(err)
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	dial := func(ctx context.Context) (*iface.Client, error) { return cmdutil.Dial(ctx, opts.Addr, &opts.Conn) }
	b, err := Start(ctx, dial, opts.Addr, opts.HTTP, opts.Credits, log)
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	fmt.Fprintf(opts.IO.Out, "lab bench for %s on %s\n", opts.Addr, b.URL)
	if opts.Ready != nil {
		opts.Ready(b.URL)
	}
	select {
	case <-ctx.Done():
	case <-b.Done():
		b.Stop(0)
		return b.Err()
	}
	b.Stop(opts.Grace)
	return nil
}

// WithServerSecret makes the page ask for secret unless h names a secret
// of its own (serve --lab: the server's --secret-file).
func (h HTTP) WithServerSecret(secret []byte) HTTP {
	h.secretFromServer = secret
	return h
}

// Bench is a running lab bench: its gateway and its HTTP server.
type Bench struct {
	URL    string // http://host:port or https://host:port
	lab    *lab.Lab
	hs     *http.Server
	served chan struct{} // closed when the HTTP server has stopped
	err    error         // why it stopped, once served is closed
}

// Start checks h (an address other hosts can reach needs TLS and a
// secret), starts the lab's gateway to the server dial reaches and serves
// the page on h.Addr. Stop it when done.
func Start(ctx context.Context, dial httpgw.Dialer, server string, h HTTP, credits int, log *slog.Logger) (*Bench, error) {
	tlsCfg, secret, err := h.check()
	if err != nil {
		return nil, err
	}
	opts := []lab.Option{lab.WithServerName(server), lab.WithGatewayOptions(httpgw.WithLogger(log))}
	if credits > 0 {
		opts = append(opts, lab.WithGatewayOptions(httpgw.WithStreamCredits(credits)))
	}
	if secret != nil {
		opts = append(opts, lab.WithSecret(secret))
	}
	l, err := lab.New(ctx, dial, opts...)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", h.Addr)
	if err != nil {
		l.Close()
		return nil, cmdutil.Hint(fmt.Errorf("cannot listen on %s: %w", h.Addr, err), "pick another --http address, or stop what listens there")
	}
	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	b := &Bench{URL: scheme + "://" + ln.Addr().String(), lab: l, served: make(chan struct{}),
		hs: &http.Server{Handler: l, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() {
		if err := b.hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			b.err = err
		}
		close(b.served)
	}()
	return b, nil
}

// Done is closed when the HTTP server has stopped: by Stop, or by itself
// (then Err says why).
func (b *Bench) Done() <-chan struct{} { return b.served }

// Err is why the HTTP server stopped by itself, once Done is closed.
func (b *Bench) Err() error { return b.err }

// Stop ends the page's streams and calls first (they would hold the
// shutdown for ever), then gives the requests under way up to grace, and
// returns once the server and the gateway have stopped.
func (b *Bench) Stop(grace time.Duration) {
	b.lab.Close()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := b.hs.Shutdown(ctx); err != nil {
		b.hs.Close()
	}
	<-b.served
}

// check returns the TLS configuration and the secret h asks for, and
// refuses an address other hosts can reach without both.
func (h HTTP) check() (*tls.Config, []byte, error) {
	host, _, err := net.SplitHostPort(h.Addr)
	if err != nil {
		return nil, nil, cmdutil.UsageError(fmt.Errorf("--http %q: give host:port, e.g. 127.0.0.1:8080", h.Addr))
	}
	var cfg *tls.Config
	if h.TLSCert != "" || h.TLSKey != "" {
		if h.TLSCert == "" || h.TLSKey == "" {
			return nil, nil, cmdutil.UsageError(errors.New("the lab's TLS certificate and key go together"))
		}
		cert, err := tls.LoadX509KeyPair(h.TLSCert, h.TLSKey)
		if err != nil {
			return nil, nil, cmdutil.UsageError(fmt.Errorf("the lab's TLS certificate: %w", err))
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	secret := h.secretFromServer
	switch {
	case h.SecretFile != "" && h.SecretEnv != "":
		return nil, nil, cmdutil.UsageError(errors.New("give the lab's secret once: a file or an environment variable"))
	case h.SecretFile != "":
		secret, err = iface.SecretFromFile(h.SecretFile)
	case h.SecretEnv != "":
		secret, err = iface.SecretFromEnv(h.SecretEnv)
	}
	if err != nil {
		return nil, nil, cmdutil.UsageError(err)
	}
	if !loopback(host) && (cfg == nil || len(secret) == 0) {
		return nil, nil, cmdutil.UsageError(fmt.Errorf("the lab's address %s is reachable from other hosts: it needs HTTPS and a secret (ifctl lab: --http-tls-cert, --http-tls-key and --http-secret-file or --http-secret-env; ifctl serve --lab: --tls-cert, --tls-key and --secret-file or --secret-env), or listen on 127.0.0.1", h.Addr))
	}
	return cfg, secret, nil
}

// loopback tells whether host is reachable only from this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
