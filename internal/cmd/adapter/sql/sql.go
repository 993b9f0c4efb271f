// Package sqlcmd implements `ifctl adapter sql`: a database served as ifkit
// interfaces (package adapter/sql).
package sqlcmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// Defaults of the flags.
const (
	DefaultListen = "unix:ifkit-db.sock"
	DefaultGrace  = 5 * time.Second
)

// Options are the inputs of `ifctl adapter sql`.
type Options struct {
	IO     *cmdutil.IOStreams
	DSN    string
	Listen []string
	Config string // a configuration file; "" for dbadapter.DefaultConfig
	// Mode and Retention, when set, override the configuration's mode and
	// retention.
	Mode      string
	Retention time.Duration
	Grace     time.Duration
	Verbose   bool
	// Ready, when set, is called with the listeners' addresses once they
	// all listen (tests use it instead of reading stdout).
	Ready func(addrs []string)
}

// NewCmd returns the command. run, when not nil, replaces Run (for tests).
func NewCmd(io *cmdutil.IOStreams, run func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: io}
	cmd := &cobra.Command{
		Use:   "sql [--dsn DSN] [--listen ADDR] [--config FILE]",
		Short: "Serve a PostgreSQL or SQLite database as interfaces: queries, sinks, change feeds",
		Long: `Serve one database as ifkit interfaces whose manifests are made from its schema
(column types, NOT NULL, varchar lengths, enums), and made again when the schema
changes: control streams are told (ifctl watch shows interfaces_changed and
manifest_changed).

Without --dsn it serves the SQLite file ./` + dbadapter.DefaultSQLiteFile + ` (made if missing; no server
needed). --dsn postgres://user@host/db serves PostgreSQL; sqlite:PATH another file.

Without --config every table T gets
  NAME.T.sink      (recv) send rows as messages; inserted in batches, one
                   transaction each; credit comes back once a batch committed
  NAME.T.changes   (send) its inserts, updates and deletes with their positions;
                   reset moves the feed (ifctl recv --reset POSITION|now|start)
where NAME is db. A configuration file (YAML) adds named queries (a request
answered by a stream of rows, read as the client grants credit), statements
(answered by the rows affected), and, only when it says so, raw SQL (Query,
Exec) and transactions scoped to a connection (Begin, Commit, Rollback):

  name: shop
  queries:
    OrdersOf:
      sql: SELECT id, item, qty FROM orders WHERE customer = :customer ORDER BY id
      params: {customer: string}
  statements:
    CancelOrder:
      sql: DELETE FROM orders WHERE id = :id
      params: {id: integer}           # string, integer, number, boolean; "?" = optional
  sinks:
    orders: {key: [src, seq], batch: 256}   # key: a re-sent row is not stored twice
  feeds: [orders]                     # "*" for every table
  mode: auto                          # the feeds: auto, logical or trigger
  retention: 168h                     # trigger mode: prune older changes (0: keep all)
  raw: false
  transactions: false

A failure is refused with a code and the database's reason: invalid_message for
what the database refuses (NOT NULL, unique, check: the column or constraint is
named), transport_error when it is unreachable, canceled, limit_exceeded (busy).
A sink's failed batch is rolled back whole and each of its messages refused.

Change feeds follow the table by PostgreSQL's logical replication where the
server allows it (wal_level = logical and a role that may replicate), else by
triggers that fill a change table (` + dbadapter.DefaultChangeTable + `; always on SQLite); --mode or the
file's mode: auto (the default), logical or trigger.
  logical   a publication and a replication slot per feed, both named
            ifkit_DATABASE_NAME_TABLE; the table is set to REPLICA IDENTITY FULL.
            Positions are log positions: X/Y (a transaction's last change) or
            X/Y:N (its Nth change). The slot is told a position only once the
            client's credit says it consumed the change, so a client that
            reconnects and resets to the last position it has loses nothing;
            reset start goes to the oldest the slot keeps. One reader per slot.
            A slot keeps the server's log until read: drop the slot of a feed
            you stop serving (SELECT pg_drop_replication_slot('ifkit_…')).
  trigger   positions are the change table's ids. --retention 168h (or the
            file's retention) prunes changes older than that: a reset to a
            pruned position is refused, a reader that falls behind is ended.
A feed whose database goes away ends with transport_error and its position;
a sink's batch is refused whole; the pool connects again when it is back.

` + cmdutil.AddrHelp,
		Example: `  # the embedded default: a SQLite file, no server
  sqlite3 shop.db 'CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL DEFAULT 1)'
  ifctl adapter sql --dsn shop.db --listen unix:///tmp/db.sock &
  ifctl list unix:///tmp/db.sock
  ifctl describe unix:///tmp/db.sock db.orders.sink
  ifctl send unix:///tmp/db.sock db.orders.sink -d '{"item":"basil","qty":2}'
  ifctl recv unix:///tmp/db.sock db.orders.changes --reset start

  # PostgreSQL, with named queries
  ifctl adapter sql --dsn postgres://postgres@127.0.0.1/shop --config shop.yaml --listen 127.0.0.1:7410 &
  ifctl call 127.0.0.1:7410 shop OrdersOf -d '{"customer":"ada"}'
  ifctl recv 127.0.0.1:7410 shop.orders.changes --reset 0/1A2B3C8:2   # resume after that change`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(opts.Listen) == 0 {
				opts.Listen = []string{DefaultListen}
			}
			if run != nil {
				return run(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.DSN, "dsn", "", "the database: postgres://… for PostgreSQL, sqlite:PATH or PATH for a SQLite file (default ./"+dbadapter.DefaultSQLiteFile+")")
	fs.StringArrayVar(&opts.Listen, "listen", nil, "address to serve on (repeatable; default "+DefaultListen+")")
	fs.StringVar(&opts.Config, "config", "", "configuration file (YAML): queries, statements, sinks, feeds, raw, transactions")
	fs.StringVar(&opts.Mode, "mode", "", "how the change feeds follow the tables: auto (logical replication where PostgreSQL allows it), logical or trigger (default: the configuration's, auto)")
	fs.DurationVar(&opts.Retention, "retention", 0, "trigger mode: prune changes older than this from the change table (default: the configuration's, 0 keeps all)")
	fs.DurationVar(&opts.Grace, "grace", DefaultGrace, "how long shutting down waits for connections to end")
	fs.BoolVarP(&opts.Verbose, "verbose", "v", false, "log schema changes")
	return cmd
}

// Run serves until ctx is done (SIGINT, SIGTERM), then shuts down within
// opts.Grace.
func Run(ctx context.Context, opts *Options) error {
	for _, a := range opts.Listen {
		if _, err := iface.ParseAddr(a); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	cfg := dbadapter.DefaultConfig()
	if opts.Config != "" {
		data, err := os.ReadFile(opts.Config)
		if err != nil {
			return cmdutil.Hint(fmt.Errorf("cannot read the configuration: %w", err), "check the --config path")
		}
		if cfg, err = dbadapter.ParseConfig(opts.Config, data); err != nil {
			return err
		}
	}
	if opts.Mode != "" || opts.Retention != 0 {
		if opts.Mode != "" {
			cfg.Mode = opts.Mode
		}
		if opts.Retention != 0 {
			cfg.Retention = opts.Retention
		}
		if err := cfg.Validate(); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	level := slog.LevelWarn
	if opts.Verbose {
		level = slog.LevelInfo
	}
	cfg.Logger = slog.New(slog.NewTextHandler(opts.IO.ErrOut, &slog.HandlerOptions{Level: level}))
	a, err := dbadapter.New(ctx, opts.DSN, cfg)
	if err != nil {
		return cmdutil.Hint(err, dsnHint(opts.DSN))
	}
	defer a.Close()
	srv := iface.NewServer(iface.WithCodecs(dbadapter.Codecs()))
	if err := a.Register(srv); err != nil {
		return err
	}
	var names []string
	for _, m := range srv.Interfaces() {
		names = append(names, m.Name)
	}
	what := strings.Join(names, ", ")
	if what == "" {
		what = "nothing yet (no table; create one and its interfaces appear)"
	}
	feeds := ""
	if len(cfg.Feeds) > 0 {
		feeds = ", feeds: " + a.FeedMode()
	}
	fmt.Fprintf(opts.IO.ErrOut, "ifctl: serving %s (%s%s): %s\n", dsnText(opts.DSN), a.Backend(), feeds, what)
	return cmdutil.ServeOn(ctx, opts.IO, srv, opts.Listen, opts.Grace, opts.Ready)
}

func dsnText(dsn string) string {
	if dsn == "" {
		return "./" + dbadapter.DefaultSQLiteFile
	}
	return dbadapter.Redact(dsn)
}

func dsnHint(dsn string) string {
	if strings.HasPrefix(dsn, "postgres") || strings.Contains(dsn, "host=") {
		return "check that PostgreSQL runs and the DSN's user, host and database are right (psql with the same DSN tells)"
	}
	return "check the --config file against the schema; 'ifctl adapter sql --help' shows the format"
}
