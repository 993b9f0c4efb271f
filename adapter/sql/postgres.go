package dbadapter

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ifkit/ifkit/codes"
)

// postgresDB is the PostgreSQL backend (jackc/pgx/v5).
type postgresDB struct {
	dsn      string
	feedWait time.Duration // between attempts to LISTEN again
}

// feedLockKey is the advisory lock the change triggers take: it orders the
// change table's ids by commit (a transaction that writes a change holds
// it until it commits), so a feed that has read up to id N never meets an
// id below N later. It serialises the writers of fed tables.
const feedLockKey = 0x1f4b_5ad0

// notifyChannel is the NOTIFY channel the triggers wake the feeds with;
// the payload is the table name.
const notifyChannel = "ifkit_changes"

func (postgresDB) name() string { return "postgres" }
func (postgresDB) olderThan(secs string) string {
	return "at < now() - make_interval(secs => " + secs + ")"
}
func (postgresDB) placeholder(n int) string  { return "$" + strconv.Itoa(n) }
func (postgresDB) kindOf(dbType string) kind { return postgresKind(strings.ToLower(dbType)) }

func (d postgresDB) tables(ctx context.Context, db *sql.DB, cfg *Config) ([]*table, []string, error) {
	rows, err := db.QueryContext(ctx, `
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
       t.typtype = 'e', a.atttypid,
       CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 ELSE 0 END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
ORDER BY c.relname, a.attnum`, cfg.Schema)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*table{}
	var out []*table
	var skipped []string
	type pending struct {
		t   *table
		i   int
		oid uint32
	}
	var enums []pending
	for rows.Next() {
		var tname, typname string
		var c column
		var isEnum bool
		var oid uint32
		if err := rows.Scan(&tname, &c.Name, &c.DBType, &typname, &c.NotNull, &c.Generated, &isEnum, &oid, &c.MaxLength); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if tname == cfg.ChangeTable {
			continue
		}
		if !identRe.MatchString(tname) {
			if len(skipped) == 0 || skipped[len(skipped)-1] != tname {
				skipped = append(skipped, tname)
			}
			continue
		}
		c.Kind = postgresKind(typname)
		c.DBType = strings.Replace(c.DBType, "character varying", "varchar", 1)
		c = postgresColumn(c, typname)
		t := byName[tname]
		if t == nil {
			t = &table{Name: tname}
			byName[tname] = t
			out = append(out, t)
		}
		if isEnum {
			c.Kind = kindString
			enums = append(enums, pending{t, len(t.Columns), oid})
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for _, e := range enums {
		labels, err := d.enumLabels(ctx, db, e.oid)
		if err != nil {
			return nil, nil, err
		}
		e.t.Columns[e.i].Enum = labels
	}
	uq, err := db.QueryContext(ctx, `
SELECT c.relname, string_agg(a.attname, ',' ORDER BY k.ord)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE n.nspname = $1 AND i.indisunique AND i.indpred IS NULL
GROUP BY i.indexrelid, c.relname
ORDER BY c.relname, 2`, cfg.Schema)
	if err != nil {
		return nil, nil, err
	}
	defer uq.Close()
	for uq.Next() {
		var tname, cols string
		if err := uq.Scan(&tname, &cols); err != nil {
			return nil, nil, err
		}
		if t := byName[tname]; t != nil {
			t.Unique = append(t.Unique, strings.Split(cols, ","))
		}
	}
	return out, skipped, uq.Err()
}

func (postgresDB) enumLabels(ctx context.Context, db *sql.DB, oid uint32) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT enumlabel FROM pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder`, oid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// resultColumns prepares q (unnamed, not executed) for its result columns.
func (postgresDB) resultColumns(ctx context.Context, db *sql.DB, q string, _ int) ([]column, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var cols []column
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		sd, err := pc.Prepare(ctx, "", q)
		if err != nil {
			return err
		}
		for _, f := range sd.Fields {
			var typname string
			var isEnum bool
			if err := pc.QueryRow(ctx, `SELECT typname, typtype = 'e' FROM pg_type WHERE oid = $1`, f.DataTypeOID).Scan(&typname, &isEnum); err != nil {
				return err
			}
			k := postgresKind(typname)
			if isEnum {
				k = kindString
			}
			cols = append(cols, postgresColumn(column{Name: f.Name, DBType: typname, Kind: k}, typname))
		}
		return nil
	})
	return cols, err
}

func (d postgresDB) installFeed(ctx context.Context, db *sql.DB, cfg *Config, t *table) error {
	s := quoteIdent(cfg.Schema)
	ct := s + "." + quoteIdent(cfg.ChangeTable)
	fn := s + "." + quoteIdent(cfg.ChangeTable+"_capture")
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + ct + ` (id bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, row jsonb, old jsonb, at timestamptz NOT NULL DEFAULT now())`,
		`ALTER TABLE ` + ct + ` ADD COLUMN IF NOT EXISTS at timestamptz NOT NULL DEFAULT now()`, // made by an adapter before retention
		`CREATE INDEX IF NOT EXISTS ` + quoteIdent(cfg.ChangeTable+"_tbl") + ` ON ` + ct + ` (tbl, id)`,
		`CREATE OR REPLACE FUNCTION ` + fn + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(` + strconv.Itoa(feedLockKey) + `);
  IF TG_OP = 'DELETE' THEN
    INSERT INTO ` + ct + ` (tbl, op, row) VALUES (TG_TABLE_NAME, 'delete', to_jsonb(OLD));
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO ` + ct + ` (tbl, op, row, old) VALUES (TG_TABLE_NAME, 'update', to_jsonb(NEW), to_jsonb(OLD));
  ELSE
    INSERT INTO ` + ct + ` (tbl, op, row) VALUES (TG_TABLE_NAME, 'insert', to_jsonb(NEW));
  END IF;
  PERFORM pg_notify('` + notifyChannel + `', TG_TABLE_NAME);
  RETURN NULL;
END $$`,
		`CREATE OR REPLACE TRIGGER ` + quoteIdent("ifkit_"+t.Name+"_changes") + ` AFTER INSERT OR UPDATE OR DELETE ON ` +
			s + "." + quoteIdent(t.Name) + ` FOR EACH ROW EXECUTE FUNCTION ` + fn + `()`,
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Two adapters starting on one database must not interleave their DDL.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, feedLockKey+1); err != nil {
		return err
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// listen wakes the feeds of the table each NOTIFY names, until ctx is
// done; it connects again (after feedWait) when its connection fails.
func (d postgresDB) listen(ctx context.Context, wake func(table string)) error {
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, d.dsn)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
			for err == nil {
				var n *pgconn.Notification
				n, err = conn.WaitForNotification(ctx)
				if err == nil {
					wake(n.Payload)
				}
			}
			conn.Close(context.Background())
		}
		wake("") // a notice may have been missed: every feed looks again
		select {
		case <-ctx.Done():
		case <-time.After(d.feedWait):
		}
	}
	return nil
}

// explain maps a PostgreSQL failure to a code and says what failed: the
// column or constraint, and the server's detail.
func (postgresDB) explain(err error) (codes.Code, string, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := pe.Message
		switch {
		case pe.ColumnName != "" && !strings.Contains(msg, pe.ColumnName):
			msg += " (column " + pe.ColumnName + ")"
		case pe.ConstraintName != "" && !strings.Contains(msg, pe.ConstraintName):
			msg += " (constraint " + pe.ConstraintName + ")"
		}
		if pe.Detail != "" {
			msg += ": " + pe.Detail
		}
		msg += " [SQLSTATE " + pe.Code + "]"
		switch {
		case strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "42"), strings.HasPrefix(pe.Code, "2F"):
			return codes.InvalidMessage, msg, true
		case pe.Code == "57014":
			return codes.Canceled, msg, true
		case strings.HasPrefix(pe.Code, "53"), strings.HasPrefix(pe.Code, "54"):
			return codes.LimitExceeded, msg, true
		case pe.Code == "25006", strings.HasPrefix(pe.Code, "28"):
			return codes.Unimplemented, msg, true
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"):
			return codes.TransportError, "the database went away: " + msg, true
		}
		return codes.Internal, msg, true
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return codes.TransportError, "the database is unreachable: " + err.Error(), true
	case errors.As(err, &ne) || connectionLost(err):
		return codes.TransportError, "the database went away (its connection ended): " + err.Error(), true
	case pgconn.SafeToRetry(err):
		return codes.TransportError, "the database is unreachable: " + err.Error(), true
	}
	return 0, "", false
}

// connectionLost reports whether err says the connection to the server
// ended: the socket closed or reset under a query.
func connectionLost(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, driver.ErrBadConn)
}
