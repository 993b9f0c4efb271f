// Package serve implements `ifctl serve`: host interfaces from manifest
// files, optionally with mock data or an echo.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmd/lab"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// DefaultGrace bounds a graceful shutdown unless --grace says otherwise.
const DefaultGrace = 5 * time.Second

// Options are the inputs of `ifctl serve`.
type Options struct {
	IO     *cmdutil.IOStreams
	Files  []string
	Listen []string
	Mock   bool
	Echo   bool
	Quiet  bool // log connections and refusals, not every message received
	Rate   Rate
	Grace  time.Duration
	// Limits are the server's limits and timeouts (--max-connections, ...);
	// the zero Config means iface.DefaultConfig().
	Limits iface.Config
	// Security: a tls:// address needs TLSCert and TLSKey; TLSClientCA
	// makes it mutual TLS; a secret makes every client prove it.
	TLSCert, TLSKey, TLSClientCA string
	SecretFile, SecretEnv        string
	// The operator scope: an admin secret, and the client certificate
	// names of operators (spec/PROTOCOL.md §10.4).
	AdminSecretFile, AdminSecretEnv string
	OperatorCertNames               []string
	// Lab, when set, is the host:port of a lab bench page (ifctl lab)
	// for the interfaces served, beside the server.
	Lab string
	// Registry is a folder where each Unix socket is linked while it is
	// served, for ifctl ls ("" for none).
	Registry string
	// Metrics is an address to serve Prometheus metrics on, at /metrics
	// ("" for none).
	Metrics string
	// LogFormat is plain (lines for people; also ""), text or json (slog
	// records).
	LogFormat string
	// Relay, when set, is a relay (tcp://host:port, tls://host:port) to
	// serve through as Name: see relay.go.
	Relay, Name string
	RelayOpts   RelayOptions
	// Ready, when set, is called with the listeners' addresses once they
	// all listen (tests use it instead of reading stdout).
	Ready func(addrs []string)
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io, Rate: Rate{N: 1, Per: time.Second}}
	cmd := &cobra.Command{
		Use:   "serve FILE... --listen ADDR",
		Short: "Host interfaces from manifest files, with mock data or an echo",
		Long: `Host the interfaces described by manifest files on one or more addresses, so that
clients (and ifctl) can connect, introspect them and exchange messages.

Without --mock or --echo the server accepts connections and logs the messages
clients send, sends nothing, and refuses requests with code internal.

  --mock   send messages of each send type that is not a reply to every connection,
           at --rate (the manifest's examples in turn; without examples, values made
           from the type's JSON Schema or protobuf definition), and answer each
           request with its reply type's first example (a stream reply: every
           example, then the end)
  --echo   on duplex interfaces, send each received message back as the send type
           with the same protobuf message (or the only send type that is not a
           reply), and answer a request with its own value when that is a valid reply

Each address is printed on stdout as "listening on ADDR" once it accepts
connections (tcp://127.0.0.1:0 picks a free port; the line tells which).
Connections, the messages received and why connections ended are logged on
stderr. Text a client chose (a close reason, an interface name) is logged as it
is when plain, and quoted ("a\nb", "\x1b[31m") when it holds line breaks or
control characters, so it cannot forge a log line. Refused sessions and streams
are logged at most 10 a second, then counted in one line. SIGINT or SIGTERM
stops the server gracefully: it tells control streams it is draining, then
closes its connections normally (clients see normal_close) and waits up to
--grace before cutting off what remains.

SIGHUP reloads the manifest files: an interface that is new is added, one whose
manifest changed is registered again (open connections keep the old manifest,
new ones get the new), and one no file describes any more is removed, ending
its connections with unknown_interface. Control streams are told (ifctl watch
shows interfaces_changed and manifest_changed). A file that no longer loads
keeps serving what it served, and the log says why.

An interface with message_auth needs --secret-file or --secret-env: its data
streams open only on sessions authenticated with the shared secret.

--admin-secret-file or --admin-secret-env set the admin secret, a secret of its
own (not the shared one): a control stream that proves it is an operator's, which
may list every client's connections (ifctl conns), pause, resume, reset and
close any of them and read the server's counters (ifctl stats --server).
--operator-cert-name NAME (with --tls-client-ca) makes a client certificate whose
subject common name or DNS name is NAME an operator's, with no secret. Without
either, each client acts only on its own connections. Secrets are read from files
or the environment, never from the command line, and never logged.

--max-connections, --max-streams, --idle-timeout and the timeouts bound what
clients may hold; their defaults are iface.DefaultConfig's (spec/PROTOCOL.md §5).

ADDR is unix:///abs/path.sock, unix:rel.sock, tcp://host:port, host:port or
tls://host:port (with --tls-cert and --tls-key). A Unix socket is owner-only
(mode 0600) from the moment it appears, whatever the umask.

--metrics ADDR serves Prometheus metrics over HTTP at http://ADDR/metrics (the
line "metrics on URL" on stdout says where; port 0 picks a free one):
connections open, opened and ended by code, messages and bytes each way, refused,
dropped, credit stalls, sessions and streams refused by code, and each handler's
calls, errors and latency per message type, by interface (ifkit_server_*), with
the Go runtime's and the process's. They are read from the server's counters at
each scrape.

--log-format text or json logs slog records instead of lines for people:
"connection opened" (id, interface, client, codec, remote), "connection closed"
(id, interface, code, reason, by), "refused" (remote, interface, code, reason),
"operator" (the operator scope granted), and serve's own events as messages.
Client-chosen text is an attribute the handler quotes or escapes; no secret,
proof or message body is logged.

` + relayHelp,
		Example: `  # a sensor stream with mock readings, twice a second
  ifctl serve testdata/manifests/sensors.temperature.yaml --listen unix:///tmp/sensors.sock --mock --rate 2/s

  # every example interface on one TCP port, answering requests and echoing
  ifctl serve testdata/manifests/*.yaml --listen 127.0.0.1:7400 --mock --echo

  # findable with ifctl ls while it runs
  mkdir -p /tmp/ifkit-registry
  ifctl serve testdata/manifests/db.kv.yaml --listen unix:///tmp/kv.sock --mock --registry /tmp/ifkit-registry

  # edit the manifests, then pick the changes up without a restart
  kill -HUP $(pgrep -f 'ifctl serve')

  # metrics for Prometheus, and a JSON log
  ifctl serve testdata/manifests/db.kv.yaml --listen unix:///tmp/kv.sock --mock \
      --metrics 127.0.0.1:9464 --log-format json 2> serve.log
  curl -s 127.0.0.1:9464/metrics | grep ifkit_server_connections_open
  # from behind a firewall: dial out to a relay, which clients reach as relay://relay:7500/kv
  ifctl serve kv.yaml --relay tcp://relay.example.com:7500 --name kv --relay-secret-file relay-secret
  ifctl serve kv.yaml --relay tcp://relay.example.com:7500 --name kv.example.com \
      --tls-cert kv.pem --tls-key kv.key --relay-tls     # relay+tls://: the relay sees ciphertext only

  # TLS with client certificates, and a shared secret
  ifctl serve kv.yaml --listen tls://0.0.0.0:7401 --tls-cert srv.pem --tls-key srv.key \
      --tls-client-ca ca.pem --secret-file /etc/ifkit/secret

  # operators: whoever proves the admin secret, or holds the certificate "ops"
  openssl rand -hex 32 > /etc/ifkit/admin && chmod 600 /etc/ifkit/admin
  ifctl serve kv.yaml --listen tls://0.0.0.0:7401 --tls-cert srv.pem --tls-key srv.key \
      --tls-client-ca ca.pem --admin-secret-file /etc/ifkit/admin --operator-cert-name ops
  ifctl conns tls://srv:7401 --tls-ca ca.pem --tls-cert ops.pem --tls-key ops.key`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if len(opts.Listen) == 0 && opts.Relay == "" {
				return cmdutil.UsageError(errors.New("serve needs --listen ADDR (e.g. --listen unix:///tmp/ifkit.sock or --listen 127.0.0.1:7400), or --relay ADDR --name NAME"))
			}
			if err := opts.checkRelayFlags(); err != nil {
				return err
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.Listen, "listen", nil, "address to listen on (repeatable)")
	fs.BoolVar(&opts.Mock, "mock", false, "send schema-valid messages and answer requests")
	fs.BoolVar(&opts.Echo, "echo", false, "send back what duplex interfaces receive")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "log connections and refusals, not each message received")
	fs.Var(&opts.Rate, "rate", "with --mock, messages per connection: N/s, N/m, N/h (0: as fast as credits allow)")
	fs.DurationVar(&opts.Grace, "grace", DefaultGrace, "how long a graceful shutdown waits for connections to end")
	addLimitFlags(cmd, &opts.Limits)
	fs.StringVar(&opts.TLSCert, "tls-cert", "", "PEM certificate of a tls:// listener")
	fs.StringVar(&opts.TLSKey, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&opts.TLSClientCA, "tls-client-ca", "", "PEM CA client certificates must chain to (mutual TLS)")
	fs.StringVar(&opts.SecretFile, "secret-file", "", "require clients to prove the shared secret in this file")
	fs.StringVar(&opts.SecretEnv, "secret-env", "", "require clients to prove the shared secret in this environment variable")
	fs.StringVar(&opts.AdminSecretFile, "admin-secret-file", "", "let control streams that prove the admin secret in this file act on every connection (operators)")
	fs.StringVar(&opts.AdminSecretEnv, "admin-secret-env", "", "the admin secret, from this environment variable")
	fs.StringArrayVar(&opts.OperatorCertNames, "operator-cert-name", nil, "client certificates with this common or DNS name are operators' (repeatable; needs --tls-client-ca)")
	fs.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics on this HTTP address, at /metrics (e.g. 127.0.0.1:9464)")
	fs.StringVar(&opts.LogFormat, "log-format", logPlain, "the log on stderr: plain (lines for people), text (key=value records) or json (one JSON record a line)")
	addRelayFlags(cmd, opts)
	fs.StringVar(&opts.Lab, "lab", "", "also serve the lab bench page (as ifctl lab) on this host:port, e.g. 127.0.0.1:8080")
	fs.StringVar(&opts.Registry, "registry", "", "link each Unix socket into this folder while serving, for ifctl ls (e.g. "+cmdutil.RegistryDir()+")")
	for _, name := range []string{"tls-cert", "tls-key", "tls-client-ca", "secret-file", "admin-secret-file"} {
		_ = cmd.MarkFlagFilename(name)
	}
	_ = cmd.MarkFlagFilename("", "yaml", "yml", "json")
	return cmd
}

// security returns the server and listener options the flags ask for,
// and the shared secret (nil for none).
func (opts *Options) security() ([]iface.ServerOption, []iface.ListenOption, []byte, error) {
	var so []iface.ServerOption
	var lo []iface.ListenOption
	if opts.TLSCert != "" || opts.TLSKey != "" || opts.TLSClientCA != "" {
		if opts.TLSCert == "" || opts.TLSKey == "" {
			return nil, nil, nil, cmdutil.UsageError(errors.New("--tls-cert and --tls-key go together"))
		}
		cfg, err := iface.ServerTLS(opts.TLSCert, opts.TLSKey, opts.TLSClientCA)
		if err != nil {
			return nil, nil, nil, cmdutil.UsageError(err)
		}
		lo = append(lo, iface.WithServerTLS(cfg))
	}
	secret, err := cmdutil.ReadSecret(opts.SecretFile, opts.SecretEnv, "secret")
	if err != nil {
		return nil, nil, nil, err
	}
	if secret != nil {
		so = append(so, iface.WithSecret(secret))
	}
	admin, err := cmdutil.ReadSecret(opts.AdminSecretFile, opts.AdminSecretEnv, "admin-secret")
	if err != nil {
		return nil, nil, nil, err
	}
	if admin != nil {
		if secret != nil && string(admin) == string(secret) {
			return nil, nil, nil, cmdutil.UsageError(errors.New("the admin secret is the shared secret: every client knows that one; give operators a secret of their own"))
		}
		so = append(so, iface.WithAdminSecret(admin))
	}
	if len(opts.OperatorCertNames) > 0 {
		if opts.TLSClientCA == "" {
			return nil, nil, nil, cmdutil.UsageError(errors.New("--operator-cert-name needs --tls-client-ca: only a certificate the server verifies can name an operator"))
		}
		so = append(so, iface.WithOperatorCertNames(opts.OperatorCertNames...))
	}
	return so, lo, secret, nil
}

// Run serves until ctx is done, then shuts down gracefully within
// opts.Grace.
func Run(ctx context.Context, opts *Options) error {
	for _, a := range opts.Listen {
		if _, err := iface.ParseAddr(a); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	if opts.Limits == (iface.Config{}) {
		opts.Limits = iface.DefaultConfig()
	}
	if err := checkLimits(opts.Limits); err != nil {
		return err
	}
	serverOpts, listenOpts, secret, err := opts.security()
	if err != nil {
		return err
	}
	serverOpts = append(serverOpts, iface.WithConfig(opts.Limits))
	structured, err := newSlog(opts.LogFormat, opts.IO.ErrOut)
	if err != nil {
		return err
	}
	log := &logger{w: opts.IO.ErrOut, slog: structured}
	// stopping is cancelled when the server starts to shut down: mock
	// senders stop and connections are closed normally.
	stopping, stop := context.WithCancel(context.Background())
	defer stop()
	life := &lifecycle{stopping: stopping}
	refusals := newRefusalLog(log, refusalLogMax, refusalLogWindow)
	if structured != nil {
		serverOpts = append(serverOpts, iface.WithLogger(structured))
	} else {
		serverOpts = append(serverOpts, iface.WithOnRefusal(refusals.refused))
	}
	if opts.Registry != "" {
		serverOpts = append(serverOpts, iface.WithRegistry(opts.Registry))
	}
	srv := iface.NewServer(serverOpts...)
	h := &hosted{srv: srv, opts: opts, log: log, life: life}
	files, errs := h.load(ctx)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(opts.IO.ErrOut, cmdutil.ErrorText(err))
		}
		return cmdutil.Failed()
	}
	if err := h.apply(files); err != nil {
		return err
	}
	ms := make([]*manifest.Manifest, 0, len(files))
	for _, f := range opts.Files {
		ms = append(ms, files[f])
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	var addrs []string
	for _, a := range opts.Listen {
		l, err := iface.Listen(ctx, a, listenOpts...)
		if err != nil {
			closeAll()
			return cmdutil.Hint(fmt.Errorf("cannot listen on %s: %w", a, err), listenHint(a, err))
		}
		listeners = append(listeners, l)
		addrs = append(addrs, listenAddr(a, l))
	}
	var prom *metricsServer
	if opts.Metrics != "" {
		if prom, err = serveMetrics(opts.Metrics, srv); err != nil {
			closeAll()
			return err
		}
		defer prom.stop()
	}
	var wg sync.WaitGroup
	serveErrs := make(chan error, len(listeners)+1)
	if opts.Relay != "" {
		ro, err := opts.relayOptions(log)
		if err != nil {
			closeAll()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.ServeRelay(context.Background(), opts.Relay, opts.Name, ro...); !errors.Is(err, iface.ErrServerClosed) {
				serveErrs <- fmt.Errorf("serving through the relay %s: %w", opts.Relay, err)
			}
		}()
	}
	for _, l := range listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, iface.ErrServerClosed) {
				serveErrs <- err
			}
		}()
	}
	var bench *lab.Bench
	if opts.Lab != "" {
		if bench, err = startLab(ctx, srv, &wg, opts, secret, log); err != nil {
			closeAll()
			srv.Close()
			wg.Wait()
			return err
		}
	}
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, m.Name+" "+m.Version)
	}
	log.printf("serving %s", strings.Join(names, ", "))
	for _, a := range addrs {
		fmt.Fprintf(opts.IO.Out, "listening on %s\n", a)
	}
	if prom != nil {
		fmt.Fprintf(opts.IO.Out, "metrics on %s\n", prom.url)
	}
	if opts.Relay != "" {
		fmt.Fprintf(opts.IO.Out, "relayed as %s\n", opts.relayURL())
	}
	if bench != nil {
		fmt.Fprintf(opts.IO.Out, "lab bench on %s\n", bench.URL)
	}
	if opts.Ready != nil {
		opts.Ready(addrs)
	}
	var serveErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case serveErr = <-serveErrs:
			log.printf("stopping: %v", serveErr)
			break wait
		case <-hup:
			log.printf("SIGHUP: reloading %s", strings.Join(opts.Files, ", "))
			h.reload(ctx)
		}
	}
	if bench != nil {
		bench.Stop(opts.Grace) // its gateway's connections end first, normally
	}
	log.printf("shutting down: telling clients it is draining, closing connections, waiting up to %s", opts.Grace)
	sctx, cancel := context.WithTimeout(context.Background(), opts.Grace)
	defer cancel()
	// The draining notice first, so that clients can use it to hand over
	// before serve closes their connections.
	deadline, _ := sctx.Deadline()
	srv.Drain(deadline)
	stop()
	select {
	case <-life.stop():
	case <-sctx.Done():
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.printf("grace period over: cut off the remaining connections")
	}
	wg.Wait()
	refusals.flush()
	log.printf("stopped")
	return serveErr
}

// startLab serves the lab bench on opts.Lab: its gateway dials srv over
// an in-process listener of its own (with the server's secret), so that
// it needs no socket, and its page is protected as ifctl lab's is, with
// the server's --tls-cert, --tls-key and secret.
func startLab(ctx context.Context, srv *iface.Server, wg *sync.WaitGroup, opts *Options, secret []byte, log *logger) (*lab.Bench, error) {
	mem := iface.NewMemNetwork()
	l, err := iface.Listen(ctx, "mem://lab", iface.WithMemNetwork(mem))
	if err != nil {
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		srv.Serve(l) // ends with the server's shutdown
	}()
	dialOpts := []iface.DialOption{iface.WithMemNetwork(mem), iface.WithClientName("ifctl lab")}
	if secret != nil {
		dialOpts = append(dialOpts, iface.WithSecret(secret))
	}
	dial := func(ctx context.Context) (*iface.Client, error) { return iface.Dial(ctx, "mem://lab", dialOpts...) }
	h := lab.HTTP{Addr: opts.Lab, TLSCert: opts.TLSCert, TLSKey: opts.TLSKey}.WithServerSecret(secret)
	slogger := slog.New(slog.NewTextHandler(logWriter{log}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := lab.Start(ctx, dial, "ifctl serve", h, 0, slogger)
	if err != nil {
		l.Close()
		return nil, err
	}
	return b, nil
}

// logWriter passes what a slog handler writes to serve's log, a line at a
// time.
type logWriter struct{ l *logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.printf("lab: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// listenHint says what to try when an address cannot be listened on.
func listenHint(addr string, err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "another process listens there: pick another address, or stop it"
	case errors.Is(err, os.ErrPermission):
		return "permission denied: pick a folder you may write to, or a port above 1023"
	case errors.Is(err, os.ErrNotExist):
		return "the socket's folder does not exist: create it first"
	case strings.HasPrefix(addr, "tls://"):
		return "a tls:// address needs --tls-cert and --tls-key"
	}
	return "check the address"
}

// listenAddr is the address a listener accepts on, in ifkit form: the port
// a ":0" address got, the path of a socket.
func listenAddr(asked string, l net.Listener) string {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		if strings.HasPrefix(asked, "tls://") {
			return "tls://" + a.String()
		}
		return "tcp://" + a.String()
	}
	if a, err := iface.ParseAddr(asked); err == nil {
		return a.String()
	}
	return asked
}

// logger writes serve's log to stderr: timestamped lines, one at a time,
// or (--log-format text, json) slog records. Text a peer chose is passed to
// it through cmdutil.Untrusted; as a last guard, a line that still holds a
// newline or a control character is quoted whole, so one call is always
// one line.
type logger struct {
	mu sync.Mutex
	w  io.Writer
	// slog, when set, takes every line as a record's message; the
	// connections and refusals are then logged by the server itself
	// (iface.WithLogger), with their fields as attributes.
	slog *slog.Logger
}

func (l *logger) printf(format string, args ...any) {
	line := cmdutil.Untrusted(fmt.Sprintf(format, args...))
	if l.slog != nil {
		l.slog.Info(line)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s %s\n", time.Now().Format("15:04:05.000"), line)
}

// connf logs a connection's opening or end, unless the server logs them
// itself as records.
func (l *logger) connf(format string, args ...any) {
	if l.slog == nil {
		l.printf(format, args...)
	}
}

// Log formats of --log-format.
const (
	logPlain = "plain" // timestamped lines for people (the default)
	logText  = "text"  // slog's key=value records
	logJSON  = "json"  // slog's JSON records, one a line
)

// newSlog returns the slog logger of format, or nil for plain lines.
func newSlog(format string, w io.Writer) (*slog.Logger, error) {
	switch format {
	case logPlain, "":
		return nil, nil
	case logText:
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case logJSON:
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, cmdutil.UsageError(fmt.Errorf("--log-format %q: want plain, text or json", format))
}

// Rate is how many messages per period --mock sends on each connection.
type Rate struct {
	N   int
	Per time.Duration
}

// Interval is the time between two messages; 0 means no pause.
func (r Rate) Interval() time.Duration {
	if r.N <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.N)
}

func (r *Rate) String() string {
	if r.N <= 0 {
		return "0"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return fmt.Sprintf("%d/%s", r.N, unit)
}

// Set implements pflag.Value: N/s, N/m, N/h, or N (per second).
func (r *Rate) Set(s string) error {
	num, unit, found := strings.Cut(s, "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return fmt.Errorf("rate %q: want N/s, N/m or N/h with N >= 0 (0: no limit)", s)
	}
	per := time.Second
	if found {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return fmt.Errorf("rate %q: unit must be s, m or h", s)
		}
	}
	r.N, r.Per = n, per
	return nil
}

// Type implements pflag.Value.
func (r *Rate) Type() string { return "rate" }
