// Package gateway implements `ifctl gateway`: every interface of an ifkit
// server on HTTP (package adapter/httpgw).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/ifkit/ifkit/adapter/httpgw"
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

// Options are the inputs of `ifctl gateway`.
type Options struct {
	IO           *cmdutil.IOStreams
	Addr         string
	HTTP         string // address the HTTP server listens on
	Credits      int
	CallTimeout  time.Duration
	WriteTimeout time.Duration
	Grace        time.Duration
	CORS         []string // origins whose web pages may use the gateway
	Verbose      bool
	Conn         cmdutil.ConnFlags
	// Ready, when set, is called with the gateway's base URL once it
	// listens (tests use it instead of reading stdout).
	Ready func(url string)
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "gateway ADDR [--http HOST:PORT]",
		Short: "Put every interface at ADDR on HTTP: JSON, NDJSON, SSE, WebSocket, OpenAPI",
		Long: `Serve every interface of the ifkit server at ADDR over HTTP, with routes derived
from the live manifests: no code generation, no configuration. Interfaces the
server registers, changes or removes later appear, change and go on the gateway.

  GET  /                        the interfaces, with their routes (JSON)
  GET  /NAME                    one interface's routes
  GET  /NAME/manifest           its manifest (canonical JSON; ETag: the hash)
  GET  /NAME/openapi.json       OpenAPI 3.1 (JSON Schema as is, protobuf through protojson)
  GET  /NAME/asyncapi.json      AsyncAPI 3.0 of its streams
  GET  /NAME/stream             what the server sends: NDJSON, or SSE with
                                Accept: text/event-stream, or a WebSocket (which
                                also sends {"type":T,"value":V} to the server,
                                and {"control":"stats"|"pause"|"resume"|"filter"}
                                for the stream's own connection);
                                ?n=N stops after N, ?credits=N sets the window,
                                ?filter=CEL has the server send only what it selects
  POST /NAME/TYPE               a message: a request's reply as JSON; a stream
                                request's replies as NDJSON or SSE; a one-way
                                type's body of one JSON value or NDJSON lines
                                (Content-Type: application/x-ndjson), each
                                sent as it is read
  POST /NAME/TYPE?validate      check a value as the POST would; send nothing
  GET  /_events                 connections opening and ending (with the
                                reason), interfaces changing: NDJSON or SSE

Credits follow the HTTP client: a stream is read from the server one credit per
message the client has taken (plus --credits ahead), so a client that stops
reading stops the sender. A POST of NDJSON reads its next line only once the
server has credit for it.

Errors are JSON, {"error":{"code":"invalid_message","status":400,"message":...,
"pointer":"/celsius"}}, with the ifkit code and a status from one table:
invalid_message and invalid_filter 400, message_too_large 413, unknown_interface
and unknown_type 404, wrong_direction 405, limit_exceeded (no credit under the
error policy) 429, auth_failed 403, draining 503, a call that timed out 504,
internal 500, the server gone 502 (the gateway dials again).

The gateway is an ifkit client: --tls-*, --secret-file and address lists work
as in every ifctl command. It has no authentication of its own: anyone who can
reach --http can use the interfaces with the gateway's credentials, so it
listens on 127.0.0.1 unless told otherwise, and answers no cross-origin request
from a browser unless --cors names the page's origin.

` + cmdutil.AddrHelp,
		Example: `  # a mock sensor stream, on HTTP
  ifctl serve testdata/manifests/*.yaml --listen unix:///tmp/ifkit.sock --mock &
  ifctl gateway unix:///tmp/ifkit.sock --http 127.0.0.1:8080 &
  curl -N localhost:8080/sensors.temperature/stream?n=3

  # list, describe, call, stream, send
  curl localhost:8080/
  curl localhost:8080/db.kv/openapi.json
  curl -d '{"key":"config/greenhouse/north"}' localhost:8080/db.kv/Get
  curl -N -H 'Accept: text/event-stream' -d '{"start":"config/"}' localhost:8080/db.kv/Scan
  tail -f app.ndjson | curl -X POST -T- -H 'Content-Type: application/x-ndjson' localhost:8080/logs.sink/Record

  # a server behind TLS and a shared secret
  ifctl gateway tls://10.0.0.5:7401 --tls-ca ca.pem --secret-file /etc/ifkit/secret`,
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
	fs.StringVar(&opts.HTTP, "http", DefaultHTTP, "address the HTTP server listens on (host:port; port 0 picks one)")
	fs.IntVar(&opts.Credits, "credits", httpgw.DefaultStreamCredits, "messages a stream's server may send ahead of the HTTP client")
	fs.DurationVar(&opts.CallTimeout, "call-timeout", httpgw.DefaultCallTimeout, "how long a request waits for its reply (0: as long as the HTTP client)")
	fs.DurationVar(&opts.WriteTimeout, "write-timeout", httpgw.DefaultWriteTimeout, "cut off a stream's HTTP client that takes nothing for this long (0: never)")
	fs.DurationVar(&opts.Grace, "grace", DefaultGrace, "how long shutting down waits for HTTP requests to end")
	fs.StringArrayVar(&opts.CORS, "cors", nil, "let web pages of this origin (https://app.example, or *) use the gateway from a browser (repeatable)")
	fs.BoolVarP(&opts.Verbose, "verbose", "v", false, "log interfaces as they come and go, and each session")
	cmdutil.AddConnFlags(cmd, &opts.Conn, 0, "how long each dial to ADDR may take (0: 10s)")
	return cmd
}

// Run serves until ctx is done (SIGINT, SIGTERM), then closes the streams,
// waits up to --grace for requests to end and stops.
func Run(ctx context.Context, opts *Options) error {
	if _, err := iface.ParseAddrList(opts.Addr); err != nil {
		return cmdutil.UsageError(err)
	}
	host, _, err := net.SplitHostPort(opts.HTTP)
	if err != nil {
		return cmdutil.UsageError(fmt.Errorf("--http %q: give host:port, e.g. 127.0.0.1:8080", opts.HTTP))
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	dial := func(ctx context.Context) (*iface.Client, error) { return cmdutil.Dial(ctx, opts.Addr, &opts.Conn) }
	gw, err := httpgw.New(ctx, dial,
		httpgw.WithStreamCredits(opts.Credits),
		httpgw.WithCallTimeout(opts.CallTimeout),
		httpgw.WithWriteTimeout(opts.WriteTimeout),
		httpgw.WithCORS(opts.CORS...),
		httpgw.WithLogger(log))
	if err != nil {
		return cmdutil.Explain(err, opts.Addr)
	}
	defer gw.Close()
	l, err := net.Listen("tcp", opts.HTTP)
	if err != nil {
		return cmdutil.Hint(fmt.Errorf("cannot listen on %s: %w", opts.HTTP, err), "pick another --http address, or stop what listens there")
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		fmt.Fprintf(opts.IO.ErrOut, "ifctl: warning: --http %s is reachable from other hosts, and the gateway has no authentication of its own\n", opts.HTTP)
	}
	url := "http://" + l.Addr().String()
	hs := &http.Server{Handler: gw, ReadHeaderTimeout: readHeaderTimeout}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()
	fmt.Fprintf(opts.IO.Out, "gateway for %s on %s\n", opts.Addr, url)
	if opts.Ready != nil {
		opts.Ready(url)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		gw.Close()
		return err
	}
	// Streams end first (they would hold Shutdown for ever), then the
	// requests still under way get --grace.
	gw.Close()
	sctx, cancel := context.WithTimeout(context.Background(), opts.Grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-served
	return nil
}
