package dbadapter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"modernc.org/sqlite"

	"github.com/ifkit/ifkit/codes"
)

// sqliteDB is the embedded backend (modernc.org/sqlite, no cgo).
type sqliteDB struct{}

// sqliteDSN makes the driver's DSN of a file name: WAL (readers do not
// block the writer), a busy timeout (writers wait for each other rather
// than fail), foreign keys on, and transactions that take the write lock
// when they begin (a reader turned writer cannot deadlock).
func sqliteDSN(path string) string {
	if !strings.HasPrefix(path, "file:") {
		path = "file:" + path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

func (sqliteDB) name() string { return "sqlite" }
func (sqliteDB) olderThan(secs string) string {
	return "coalesce(at, 0) < CAST(strftime('%s', 'now') AS INTEGER) - " + secs
}
func (sqliteDB) placeholder(n int) string  { return "?" + strconv.Itoa(n) }
func (sqliteDB) kindOf(dbType string) kind { return sqliteKind(dbType) }

func (d sqliteDB) tables(ctx context.Context, db *sql.DB, cfg *Config) ([]*table, []string, error) {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var out []*table
	var skipped []string
	for _, n := range names {
		if n == cfg.ChangeTable {
			continue
		}
		if !identRe.MatchString(n) {
			skipped = append(skipped, n)
			continue
		}
		t, err := d.table(ctx, db, n)
		if err != nil {
			return nil, nil, fmt.Errorf("table %s: %w", n, err)
		}
		out = append(out, t)
	}
	return out, skipped, nil
}

func (sqliteDB) table(ctx context.Context, db *sql.DB, name string) (*table, error) {
	t := &table{Name: name}
	rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value IS NOT NULL, pk FROM pragma_table_info(?1)`, name)
	if err != nil {
		return nil, err
	}
	var pk []string
	rowid := ""
	for rows.Next() {
		var c column
		var pkPos int
		if err := rows.Scan(&c.Name, &c.DBType, &c.NotNull, &c.Generated, &pkPos); err != nil {
			rows.Close()
			return nil, err
		}
		c.Kind = sqliteKind(c.DBType)
		if c.Kind == kindString {
			c.MaxLength = declLength(c.DBType)
		}
		if pkPos > 0 {
			pk = append(pk, c.Name)
			if strings.EqualFold(c.DBType, "integer") {
				rowid = c.Name
			}
		}
		t.Columns = append(t.Columns, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pk) == 1 && rowid != "" { // an INTEGER PRIMARY KEY is the rowid: filled when left out, never null
		for i := range t.Columns {
			if t.Columns[i].Name == rowid {
				t.Columns[i].Generated, t.Columns[i].NotNull = true, true
			}
		}
		t.Unique = append(t.Unique, pk)
	}
	idx, err := db.QueryContext(ctx, `SELECT name FROM pragma_index_list(?1) WHERE "unique" AND NOT partial ORDER BY name`, name)
	if err != nil {
		return nil, err
	}
	var indexes []string
	for idx.Next() {
		var n string
		if err := idx.Scan(&n); err != nil {
			idx.Close()
			return nil, err
		}
		indexes = append(indexes, n)
	}
	idx.Close()
	for _, n := range indexes {
		cols, err := db.QueryContext(ctx, `SELECT name FROM pragma_index_info(?1) ORDER BY seqno`, n)
		if err != nil {
			return nil, err
		}
		var u []string
		for cols.Next() {
			var c sql.NullString
			if err := cols.Scan(&c); err != nil {
				cols.Close()
				return nil, err
			}
			u = append(u, c.String)
		}
		cols.Close()
		t.Unique = append(t.Unique, u)
	}
	return t, nil
}

// resultColumns prepares q wrapped in a SELECT that returns no row, for
// its columns' names and declared types.
func (sqliteDB) resultColumns(ctx context.Context, db *sql.DB, q string, nparams int) ([]column, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM ("+trimSQL(q)+") LIMIT 0", make([]any, nparams)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return columnsOf(rows, sqliteKind)
}

// installFeed creates the change table and t's triggers, again each time
// (the triggers list t's columns).
func (sqliteDB) installFeed(ctx context.Context, db *sql.DB, cfg *Config, t *table) error {
	ct := quoteIdent(cfg.ChangeTable)
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + ct + ` (id INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, op TEXT NOT NULL, row TEXT, old TEXT, at INTEGER)`,
		`CREATE INDEX IF NOT EXISTS ` + quoteIdent(cfg.ChangeTable+"_tbl") + ` ON ` + ct + ` (tbl, id)`,
	}
	var hasAt int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?1) WHERE name = 'at'`, cfg.ChangeTable).Scan(&hasAt); err != nil {
		return err
	}
	if n := 0; hasAt == 0 {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = ?1`, cfg.ChangeTable).Scan(&n); err != nil {
			return err
		}
		if n > 0 { // made by an adapter before retention
			stmts = append(stmts, `ALTER TABLE `+ct+` ADD COLUMN at INTEGER`)
		}
	}
	object := func(rec string) string {
		parts := make([]string, 0, 2*len(t.Columns))
		for _, c := range t.Columns {
			v := rec + "." + quoteIdent(c.Name)
			parts = append(parts, quoteString(c.Name), "CASE typeof("+v+") WHEN 'blob' THEN hex("+v+") ELSE "+v+" END")
		}
		return "json_object(" + strings.Join(parts, ", ") + ")"
	}
	for _, op := range []struct{ event, row, old string }{
		{"INSERT", object("NEW"), "NULL"},
		{"UPDATE", object("NEW"), object("OLD")},
		{"DELETE", object("OLD"), "NULL"},
	} {
		name := quoteIdent("ifkit_" + t.Name + "_" + strings.ToLower(op.event))
		stmts = append(stmts, `DROP TRIGGER IF EXISTS `+name,
			`CREATE TRIGGER `+name+` AFTER `+op.event+` ON `+quoteIdent(t.Name)+` BEGIN INSERT INTO `+ct+
				` (tbl, op, row, old, at) VALUES (`+quoteString(t.Name)+`, '`+strings.ToLower(op.event)+`', `+op.row+`, `+op.old+`, CAST(strftime('%s', 'now') AS INTEGER)); END`)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (sqliteDB) listen(context.Context, func(string)) error { return nil }

// explain maps a SQLite failure to a code and says what failed.
func (sqliteDB) explain(err error) (codes.Code, string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return 0, "", false
	}
	msg := strings.TrimSuffix(se.Error(), fmt.Sprintf(" (%d)", se.Code()))
	msg = strings.TrimPrefix(msg, "constraint failed: ") // the driver's prefix to SQLite's own "UNIQUE constraint failed: t.c"
	switch se.Code() & 0xff {
	case 19, 20, 1, 25: // CONSTRAINT, MISMATCH, ERROR (SQL the database refuses), RANGE
		return codes.InvalidMessage, msg, true
	case 5, 6, 13: // BUSY, LOCKED, FULL
		return codes.LimitExceeded, msg, true
	case 9: // INTERRUPT
		return codes.Canceled, msg, true
	case 8, 23: // READONLY, AUTH
		return codes.Unimplemented, msg, true
	case 10, 11, 14, 26: // IOERR, CORRUPT, CANTOPEN, NOTADB
		return codes.TransportError, "the database file failed: " + msg, true
	}
	return codes.Internal, msg, true
}

// trimSQL drops a statement's trailing semicolons and space.
func trimSQL(q string) string {
	return strings.TrimRight(strings.TrimSpace(q), "; \t\r\n")
}

// columnsOf reads the result columns of rows.
func columnsOf(rows *sql.Rows, kindOf func(string) kind) ([]column, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	cols := make([]column, len(types))
	for i, ct := range types {
		cols[i] = column{Name: ct.Name(), DBType: strings.ToLower(ct.DatabaseTypeName()), Kind: kindOf(ct.DatabaseTypeName()),
			Float32: strings.EqualFold(ct.DatabaseTypeName(), "float4")}
	}
	return cols, nil
}

// declLength is n of a declared type VARCHAR(n), or 0. SQLite does not
// enforce it, but it is what the schema's author meant.
func declLength(decl string) int {
	open, end := strings.IndexByte(decl, '('), strings.IndexByte(decl, ')')
	if open < 0 || end < open {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(decl[open+1 : end]))
	if err != nil || n < 0 {
		return 0
	}
	return n
}
