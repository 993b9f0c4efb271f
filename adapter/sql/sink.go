package dbadapter

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// sinkInterface inserts each connection's messages into t in batches. The
// connection's credit is renewed only after a batch's transaction has
// committed (ManualCredit), so a client's credit means "stored", and the
// adapter holds at most a credit window of messages per connection.
func (a *Adapter) sinkInterface(t *table, m *manifest.Manifest) iface.Interface {
	s, _ := a.cfg.sinkFor(t.Name)
	return iface.Interface{
		Manifest:     m,
		ManualCredit: true,
		OnConnect:    func(ctx context.Context, c *iface.Conn) { a.runSink(ctx, c, t, s) },
	}
}

// batchError says which message of a batch the database refused.
type batchError struct {
	index int
	err   *codes.RemoteError
}

func (a *Adapter) runSink(ctx context.Context, c *iface.Conn, t *table, s Sink) {
	// Messages taken are stored even when the connection ends meanwhile:
	// the client sent them, and its credit said they would be.
	store := a.ctx
	poll, cancel := context.WithCancel(ctx)
	cancel() // Recv with a done context takes what is there, without waiting
	batch := make([]*iface.Message, 0, s.Batch)
	for {
		m, err := c.Recv(ctx)
		if err != nil {
			return
		}
		batch = append(batch[:0], m)
		for len(batch) < s.Batch {
			m, err := c.Recv(poll)
			if err != nil {
				break
			}
			batch = append(batch, m)
		}
		if be := a.insertBatch(store, t, s, batch); be != nil {
			failed := batch[be.index]
			for i, m := range batch {
				if i == be.index {
					c.Refuse(m, be.err)
					continue
				}
				c.Refuse(m, &codes.RemoteError{Code: be.err.Code, Reason: fmt.Sprintf(
					"rolled back with its batch of %d (messages %d to %d): message %d failed: %s",
					len(batch), batch[0].Seq, batch[len(batch)-1].Seq, failed.Seq, be.err.Reason)})
			}
		} else {
			a.wake(t.Name)
		}
		c.Request(len(batch))
	}
}

// maxParams bounds the placeholders of one statement (SQLite allows
// 32766, PostgreSQL 65535).
const maxParams = 30000

// sinkRow is one message of a batch as columns and arguments.
type sinkRow struct {
	cols  string // the column names, joined: rows with the same go in one INSERT
	names []string
	args  []any
}

// insertBatch inserts batch in one transaction, all or nothing: runs of
// messages with the same columns as one multi-row INSERT each. A sink
// with a key inserts with ON CONFLICT (key) DO NOTHING: a message whose key
// is stored already is taken and not inserted again. When the database
// refuses the batch, findFailure says which message it refused.
func (a *Adapter) insertBatch(ctx context.Context, t *table, s Sink, batch []*iface.Message) *batchError {
	rows := make([]sinkRow, len(batch))
	for i, m := range batch {
		r, err := a.sinkRow(t, m)
		if err != nil {
			return &batchError{i, err}
		}
		rows[i] = r
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return &batchError{0, a.refusal(err, "beginning the batch's transaction")}
	}
	defer tx.Rollback()
	for start := 0; start < len(rows); {
		end := start + 1
		for end < len(rows) && rows[end].cols == rows[start].cols && (end-start+1)*len(rows[start].names) <= maxParams {
			end++
		}
		args := make([]any, 0, (end-start)*len(rows[start].names))
		for _, r := range rows[start:end] {
			args = append(args, r.args...)
		}
		if _, err := tx.ExecContext(ctx, a.insertSQL(t.Name, rows[start].names, end-start, s.Key), args...); err != nil {
			tx.Rollback()
			return a.findFailure(ctx, t, s, rows, err)
		}
		start = end
	}
	if err := tx.Commit(); err != nil {
		re := a.refusal(err, "committing the batch")
		if re.Code == codes.TransportError {
			// The database may have committed before the answer was lost.
			re.Reason += "; the batch may or may not be stored: send it again (with the sink's key a row stored already is not stored twice)"
		}
		return &batchError{len(batch) - 1, re}
	}
	return nil
}

// sinkRow reads one message of a sink.
func (a *Adapter) sinkRow(t *table, m *iface.Message) (sinkRow, *codes.RemoteError) {
	var row map[string]any
	if err := decodeJSON(m, &row); err != nil {
		return sinkRow{}, err.(*codes.RemoteError)
	}
	r := sinkRow{names: make([]string, 0, len(row))}
	for n := range row {
		r.names = append(r.names, n)
	}
	sort.Strings(r.names)
	r.args = make([]any, len(r.names))
	for j, n := range r.names {
		col, ok := t.column(n)
		if !ok { // the schema closes the object; the table changed since
			return sinkRow{}, invalid("%s has no column %s", t.Name, n)
		}
		x, err := toArg(col.Kind, row[n])
		if err != nil {
			return sinkRow{}, invalid("column %s: %v", n, err)
		}
		r.args[j] = x
	}
	r.cols = strings.Join(r.names, ",")
	return r, nil
}

// findFailure inserts rows one by one in a transaction it rolls back, to
// name the message the database refused (a multi-row INSERT's error does
// not say which row).
func (a *Adapter) findFailure(ctx context.Context, t *table, s Sink, rows []sinkRow, cause error) *batchError {
	if re := a.refusal(cause, t.Name); re.Code == codes.TransportError || re.Code == codes.Canceled {
		return &batchError{0, re} // not any one message's fault
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return &batchError{0, a.refusal(cause, t.Name)}
	}
	defer tx.Rollback()
	for i, r := range rows {
		if _, err := tx.ExecContext(ctx, a.insertSQL(t.Name, r.names, 1, s.Key), r.args...); err != nil {
			return &batchError{i, a.refusal(err, t.Name)}
		}
	}
	return &batchError{0, a.refusal(cause, t.Name)}
}

// insertSQL inserts n rows of cols into tbl.
func (a *Adapter) insertSQL(tbl string, cols []string, n int, key []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + a.ref(tbl))
	if len(cols) == 0 {
		b.WriteString(" DEFAULT VALUES")
	} else {
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = quoteIdent(c)
		}
		b.WriteString(" (" + strings.Join(quoted, ", ") + ") VALUES ")
		ph := make([]string, len(cols))
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			for i := range cols {
				ph[i] = a.d.placeholder(r*len(cols) + i + 1)
			}
			b.WriteString("(" + strings.Join(ph, ", ") + ")")
		}
	}
	if len(key) > 0 {
		quoted := make([]string, len(key))
		for i, k := range key {
			quoted[i] = quoteIdent(k)
		}
		b.WriteString(" ON CONFLICT (" + strings.Join(quoted, ", ") + ") DO NOTHING")
	}
	return b.String()
}
