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
	stmts := map[string]string{}
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
		if be := a.insertBatch(store, t, s, batch, stmts); be != nil {
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

// insertBatch inserts batch in one transaction, all or nothing. A sink
// with a key inserts with ON CONFLICT (key) DO NOTHING: a message whose key
// is stored already is taken and not inserted again.
func (a *Adapter) insertBatch(ctx context.Context, t *table, s Sink, batch []*iface.Message, stmts map[string]string) *batchError {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return &batchError{0, a.refusal(err, "beginning the batch's transaction")}
	}
	defer tx.Rollback()
	for i, m := range batch {
		var row map[string]any
		if err := decodeJSON(m, &row); err != nil {
			return &batchError{i, err.(*codes.RemoteError)}
		}
		names := make([]string, 0, len(row))
		for n := range row {
			names = append(names, n)
		}
		sort.Strings(names)
		args := make([]any, len(names))
		for j, n := range names {
			col, ok := t.column(n)
			if !ok { // the schema closes the object; a table changed since
				return &batchError{i, invalid("%s has no column %s", t.Name, n)}
			}
			if args[j], err = toArg(col.Kind, row[n]); err != nil {
				return &batchError{i, invalid("column %s: %v", n, err)}
			}
		}
		key := strings.Join(names, ",")
		q, ok := stmts[key]
		if !ok {
			q = a.insertSQL(t.Name, names, s.Key)
			stmts[key] = q
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return &batchError{i, a.refusal(err, t.Name)}
		}
	}
	if err := tx.Commit(); err != nil {
		return &batchError{len(batch) - 1, a.refusal(err, "committing the batch")}
	}
	return nil
}

func (a *Adapter) insertSQL(tbl string, cols, key []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + quoteIdent(tbl))
	if len(cols) == 0 {
		b.WriteString(" DEFAULT VALUES")
	} else {
		quoted := make([]string, len(cols))
		ph := make([]string, len(cols))
		for i, c := range cols {
			quoted[i], ph[i] = quoteIdent(c), a.d.placeholder(i+1)
		}
		b.WriteString(" (" + strings.Join(quoted, ", ") + ") VALUES (" + strings.Join(ph, ", ") + ")")
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
