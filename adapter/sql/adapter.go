package dbadapter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// DefaultSQLiteFile is the database `ifctl adapter sql` serves without a DSN.
const DefaultSQLiteFile = "ifkit.db"

// dialect is what differs between the backends.
type dialect interface {
	name() string
	placeholder(n int) string
	kindOf(dbType string) kind
	// tables reads the schema: the tables served, and the names of those
	// skipped (not lower-case identifiers, so not interface names).
	tables(ctx context.Context, db *sql.DB, cfg *Config) ([]*table, []string, error)
	resultColumns(ctx context.Context, db *sql.DB, q string, nparams int) ([]column, error)
	installFeed(ctx context.Context, db *sql.DB, cfg *Config, t *table) error
	// olderThan is the condition on the change table's at column: older
	// than the placeholder's seconds.
	olderThan(secs string) string
	listen(ctx context.Context, wake func(table string)) error
	explain(err error) (codes.Code, string, bool)
}

// Adapter serves one database as ifkit interfaces. Make one with New,
// Register it on a server, and Close it after the server.
type Adapter struct {
	cfg    Config
	dsn    string
	pw     string // the DSN's password, never shown
	db     *sql.DB
	d      dialect
	log    *slog.Logger
	mode   string // the feeds': ModeLogical or ModeTrigger
	dbName string // PostgreSQL's current_database()

	mu       sync.Mutex
	cur      *build
	srv      *iface.Server
	served   map[string]string // interface name → manifest hash registered
	sessions map[*iface.Conn]*session
	feeds    map[*iface.Conn]*feedState
	slots    map[string]*slotReader   // a logical feed's slot → the connection reading it
	orphans  map[string]bool          // slots (and publications) of dropped tables, to drop; watch's
	changed  map[string]chan struct{} // per table ("" for any): closed when it may have changed
	horizon  atomic.Int64             // the change table's pruned horizon as this adapter last saw it

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open opens dsn for New: "" is the SQLite file DefaultSQLiteFile,
// postgres://… or postgresql://… (or key=value words, "host=… dbname=…")
// PostgreSQL through pgx, and anything else a SQLite file (sqlite:PATH,
// file:PATH or PATH).
func Open(dsn string) (*sql.DB, string, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"), strings.Contains(dsn, "host=") || strings.Contains(dsn, "dbname="):
		db, err := sql.Open("pgx", dsn)
		return db, "postgres", err
	case dsn == "":
		dsn = DefaultSQLiteFile
	}
	db, err := sql.Open("sqlite", sqliteDSN(strings.TrimPrefix(dsn, "sqlite:")))
	return db, "sqlite", err
}

// New opens dsn (see Open), reads its schema, installs the change
// triggers of the configured feeds and makes the manifests. cfg is
// checked (Validate) first.
func New(ctx context.Context, dsn string, cfg Config) (*Adapter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, backend, err := Open(dsn)
	if err != nil {
		return nil, err
	}
	a := &Adapter{cfg: cfg, dsn: dsn, db: db, log: slog.New(slog.DiscardHandler), served: map[string]string{}, mode: ModeTrigger,
		sessions: map[*iface.Conn]*session{}, feeds: map[*iface.Conn]*feedState{}, slots: map[string]*slotReader{}, orphans: map[string]bool{}, changed: map[string]chan struct{}{}}
	a.pw = dsnPassword(dsn)
	if cfg.Logger != nil {
		a.log = cfg.Logger
		if a.pw != "" {
			a.log = slog.New(&redactHandler{h: cfg.Logger.Handler(), pw: a.pw})
		}
	}
	if backend == "postgres" {
		a.d = postgresDB{dsn: dsn, feedWait: cfg.FeedPoll}
	} else {
		a.d = sqliteDB{}
		db.SetMaxOpenConns(16)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, redactErr(dsn, fmt.Errorf("the database %s: %w", Redact(dsn), err))
	}
	if err := a.chooseMode(ctx); err != nil {
		db.Close()
		return nil, redactErr(dsn, err)
	}
	b, err := a.read(ctx, nil)
	if err != nil {
		db.Close()
		return nil, redactErr(dsn, err)
	}
	a.cur = b
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// chooseMode sets the feeds' mode from Config.Mode and what the server
// allows.
func (a *Adapter) chooseMode(ctx context.Context) error {
	if a.cfg.Mode == ModeTrigger || len(a.cfg.Feeds) == 0 {
		return nil
	}
	if a.d.name() != "postgres" {
		if a.cfg.Mode == ModeLogical {
			return errors.New("mode logical: logical replication is PostgreSQL's; a SQLite database's feeds are trigger-fed (mode auto or trigger)")
		}
		return nil
	}
	if err := a.db.QueryRowContext(ctx, "SELECT current_database()").Scan(&a.dbName); err != nil {
		return fmt.Errorf("reading the database's name: %w", err)
	}
	ok, why, err := logicalStatus(ctx, a.db)
	switch {
	case err != nil:
		return fmt.Errorf("reading whether the server allows logical replication: %w", err)
	case ok:
		a.mode = ModeLogical
	case a.cfg.Mode == ModeLogical:
		return errors.New("mode logical: " + why + "; or give mode auto or trigger for the trigger-fed change table")
	default:
		a.log.Info("the change feeds use the trigger-fed change table: "+why, "change_table", a.cfg.ChangeTable)
	}
	return nil
}

// FeedMode says how the feeds follow changes: ModeLogical or ModeTrigger.
func (a *Adapter) FeedMode() string { return a.mode }

// Redact hides the password of a DSN, for logs and errors: the one of a
// URL's user (postgres://user:***@host), and password=… as a key=value
// word or a URL parameter.
func Redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			if colon := strings.Index(rest[:at], ":"); colon >= 0 {
				dsn = dsn[:i+3+colon] + ":***" + dsn[i+3+at:]
			}
		}
	}
	return passwordWordRe.ReplaceAllString(dsn, "${1}***")
}

// passwordWordRe finds password=VALUE in key=value DSNs ('quoted' values
// too) and in URL parameters.
var passwordWordRe = regexp.MustCompile(`((?:^|[\s?&])password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s&]*)`)

// dsnPassword is the password written in dsn, or "".
func dsnPassword(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				return pw
			}
			if pw := u.Query().Get("password"); pw != "" {
				return pw
			}
		}
	}
	if m := passwordWordRe.FindString(dsn); m != "" {
		_, v, _ := strings.Cut(m, "=")
		return strings.Trim(strings.TrimSpace(v), "'")
	}
	return ""
}

// redactErr is err with dsn's password, wherever a driver's message
// repeats it, replaced by ***.
func redactErr(dsn string, err error) error {
	pw := dsnPassword(dsn)
	if err == nil || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), pw, "***"), err: err}
}

// redactedError says what its cause says, less a password; errors.Is and
// As still see the cause.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactHandler is a log handler that writes *** where a message or a
// value would show the DSN's password.
type redactHandler struct {
	h  slog.Handler
	pw string
}

func (r *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }
func (r *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for i := range as {
		as[i] = r.attr(as[i])
	}
	return &redactHandler{h: r.h.WithAttrs(as), pw: r.pw}
}
func (r *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: r.h.WithGroup(name), pw: r.pw}
}

func (r *redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, strings.ReplaceAll(rec.Message, r.pw, "***"), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r *redactHandler) attr(a slog.Attr) slog.Attr {
	if s := a.Value.Resolve().String(); strings.Contains(s, r.pw) {
		return slog.String(a.Key, strings.ReplaceAll(s, r.pw, "***"))
	}
	return a
}

// Backend names the database: "sqlite" or "postgres".
func (a *Adapter) Backend() string { return a.d.name() }

// DB returns the database the adapter serves.
func (a *Adapter) DB() *sql.DB { return a.db }

// read reads the schema and makes what it serves; old is the previous
// reading (nil at first), whose feeds' triggers are kept when their table
// did not change.
func (a *Adapter) read(ctx context.Context, old *build) (*build, error) {
	tables, skipped, err := a.d.tables(ctx, a.db, &a.cfg)
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	if old == nil && len(skipped) > 0 {
		a.log.Warn("tables not served: their names are not lower-case SQL names, which interface names need", "tables", skipped)
	}
	b := &build{fp: fingerprint(tables), tables: map[string]*table{}, queries: map[string]*prepared{},
		sinks: map[string]*manifest.Manifest{}, feeds: map[string]*manifest.Manifest{}}
	for _, t := range tables {
		b.tables[t.Name] = t
	}
	for _, group := range []struct {
		qs   map[string]Query
		stmt bool
	}{{a.cfg.Queries, false}, {a.cfg.Statements, true}} {
		for name, q := range group.qs {
			p, err := a.prepare(ctx, name, q, group.stmt)
			if err != nil {
				return nil, err
			}
			b.queries[name] = p
		}
	}
	if b.mains, err = a.mainManifest(b.queries); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if s, ok := a.cfg.sinkFor(t.Name); ok {
			if len(s.Key) > 0 {
				for _, k := range s.Key {
					if _, ok := t.column(k); !ok {
						return nil, fmt.Errorf("sinks.%s.key: table %s has no column %s", t.Name, t.Name, k)
					}
				}
				if !t.hasUnique(s.Key) {
					return nil, fmt.Errorf("sinks.%s.key (%s): needs a unique index on exactly these columns, e.g. CREATE UNIQUE INDEX %s_key ON %s (%s)",
						t.Name, strings.Join(s.Key, ", "), t.Name, t.Name, strings.Join(s.Key, ", "))
				}
			}
			m, err := a.sinkManifest(t, s)
			if err != nil {
				return nil, err
			}
			b.sinks[t.Name] = m
		}
		if a.cfg.feeds(t.Name) {
			if ot := old.table(t.Name); ot == nil || fingerprint([]*table{ot}) != fingerprint([]*table{t}) {
				if a.mode == ModeLogical {
					if err := a.installLogical(ctx, t); err != nil {
						return nil, fmt.Errorf("making the publication and replication slot %s of %s: %w", a.SlotName(t.Name), t.Name, err)
					}
				} else if err := a.d.installFeed(ctx, a.db, &a.cfg, t); err != nil {
					return nil, fmt.Errorf("installing the change trigger of %s: %w", t.Name, err)
				}
			}
			m, err := a.feedManifest(t)
			if err != nil {
				return nil, err
			}
			b.feeds[t.Name] = m
		}
	}
	for name := range a.cfg.Sinks {
		if name != AllTables && b.tables[name] == nil && old == nil {
			a.log.Warn("a configured sink's table does not exist (yet)", "table", name)
		}
	}
	return b, nil
}

func (b *build) table(name string) *table {
	if b == nil {
		return nil
	}
	return b.tables[name]
}

// Interfaces returns what the adapter serves now.
func (a *Adapter) Interfaces() []iface.Interface {
	a.mu.Lock()
	b := a.cur
	a.mu.Unlock()
	return a.interfaces(b)
}

func (a *Adapter) interfaces(b *build) []iface.Interface {
	var out []iface.Interface
	if b.mains != nil {
		out = append(out, a.queryInterface(b))
	}
	for _, n := range sortedKeys(b.sinks) {
		out = append(out, a.sinkInterface(b.tables[n], b.sinks[n]))
	}
	for _, n := range sortedKeys(b.feeds) {
		out = append(out, a.feedInterface(b.tables[n], b.feeds[n]))
	}
	return out
}

// Register registers the interfaces on srv and, until Close, reads the
// schema every cfg.SchemaPoll: a table added, changed or dropped
// registers, registers again or unregisters its interfaces, which the
// server announces on its control streams (interfaces_changed,
// manifest_changed). On PostgreSQL it also listens for the feeds' NOTIFY.
func (a *Adapter) Register(srv *iface.Server) error {
	a.mu.Lock()
	if a.srv != nil {
		a.mu.Unlock()
		return errors.New("dbadapter: Register: already registered on a server")
	}
	a.srv = srv
	b := a.cur
	a.mu.Unlock()
	if err := a.apply(b); err != nil {
		return err
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.watch()
	}()
	go func() {
		defer a.wg.Done()
		a.d.listen(a.ctx, a.wake)
	}()
	return nil
}

// apply registers what b serves and unregisters what it no longer does.
func (a *Adapter) apply(b *build) error {
	want := map[string]bool{}
	for _, i := range a.interfaces(b) {
		name, hash := i.Manifest.Name, i.Manifest.Hash()
		want[name] = true
		if a.served[name] == hash {
			continue
		}
		if err := a.srv.Register(i); err != nil {
			return err
		}
		a.served[name] = hash
	}
	for name := range a.served {
		if !want[name] {
			a.srv.Unregister(name)
			delete(a.served, name)
		}
	}
	return nil
}

// watch reads the schema every SchemaPoll until Close.
func (a *Adapter) watch() {
	t := time.NewTicker(a.cfg.SchemaPoll)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		if a.cfg.Retention > 0 && a.mode == ModeTrigger && len(a.cfg.Feeds) > 0 {
			if err := a.prune(a.ctx); err != nil && a.ctx.Err() == nil {
				a.log.Warn("pruning the change table failed; trying again", "change_table", a.cfg.ChangeTable, "err", err)
			}
		}
		a.mu.Lock()
		old := a.cur
		a.mu.Unlock()
		b, err := a.read(a.ctx, old)
		if err != nil {
			if a.ctx.Err() == nil {
				a.log.Warn("reading the schema failed; serving the last reading", "err", err)
			}
			continue
		}
		if a.mode == ModeLogical {
			for name := range old.feeds {
				if b.feeds[name] == nil {
					a.orphans[a.SlotName(name)] = true // its table is gone: nothing will read the slot again
				}
			}
			a.dropOrphans(a.ctx)
		}
		if b.fp == old.fp && sameQueries(b, old) {
			continue
		}
		a.mu.Lock()
		a.cur = b
		a.mu.Unlock()
		if err := a.apply(b); err != nil {
			a.log.Warn("registering the changed interfaces failed", "err", err)
			continue
		}
		a.log.Info("the schema changed; manifests made again", "tables", len(b.tables))
	}
}

// sameQueries reports whether the queries' result columns are the same.
func sameQueries(x, y *build) bool {
	if x.mains == nil || y.mains == nil {
		return x.mains == y.mains
	}
	return x.mains.Hash() == y.mains.Hash()
}

// Refresh reads the schema now, as the poll would, and serves what
// changed.
func (a *Adapter) Refresh(ctx context.Context) error {
	a.mu.Lock()
	old, srv := a.cur, a.srv
	a.mu.Unlock()
	b, err := a.read(ctx, old)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.cur = b
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	return a.apply(b)
}

// wake tells the feeds of table ("" for every table) to look for changes.
func (a *Adapter) wake(table string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, ch := range a.changed {
		if table == "" || t == table {
			close(ch)
			delete(a.changed, t)
		}
	}
}

// changes returns a channel closed when table may have changed.
func (a *Adapter) changes(table string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch := a.changed[table]
	if ch == nil {
		ch = make(chan struct{})
		a.changed[table] = ch
	}
	return ch
}

// Close stops watching the schema and the feeds' notifications and closes
// the database. Close the server first: its connections' handlers use the
// database until they end.
func (a *Adapter) Close() error {
	a.cancel()
	a.wg.Wait()
	return a.db.Close()
}

// refusal is the one table from a database failure to the code a client
// is refused with (see the package documentation).
func (a *Adapter) refusal(err error, where string) *codes.RemoteError {
	var re *codes.RemoteError
	if errors.As(err, &re) {
		return re
	}
	code, reason, ok := a.d.explain(err)
	switch {
	case ok:
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code, reason = codes.Canceled, "cancelled: "+err.Error()
	case errors.Is(err, sql.ErrConnDone), errors.Is(err, sql.ErrTxDone):
		code, reason = codes.TransportError, "the database connection ended: "+err.Error()
	default:
		code, reason = codes.Internal, err.Error()
	}
	if where != "" {
		reason = where + ": " + reason
	}
	if a.pw != "" {
		reason = strings.ReplaceAll(reason, a.pw, "***")
	}
	return &codes.RemoteError{Code: code, Reason: reason}
}

func invalid(format string, args ...any) *codes.RemoteError {
	return &codes.RemoteError{Code: codes.InvalidMessage, Reason: fmt.Sprintf(format, args...)}
}
