package dbadapter

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
)

// prepared is a configured query or statement, bound for the backend.
type prepared struct {
	name   string
	q      Query
	stmt   bool
	sql    string   // with the backend's placeholders
	params []param  // in placeholder order
	cols   []column // a query's result columns
}

type param struct {
	name     string
	kind     kind
	optional bool
}

func (a *Adapter) prepare(ctx context.Context, name string, q Query, stmt bool) (*prepared, error) {
	where := "queries." + name
	if stmt {
		where = "statements." + name
	}
	text, names, err := bindParams(q.SQL, a.d.placeholder)
	if err != nil {
		return nil, fmt.Errorf("%s.sql: %w", where, err)
	}
	p := &prepared{name: name, q: q, stmt: stmt, sql: text}
	for _, n := range names {
		k, opt, _ := parseParamType(q.Params[n]) // Validate checked them
		p.params = append(p.params, param{name: n, kind: k, optional: opt})
	}
	if !stmt {
		if p.cols, err = a.d.resultColumns(ctx, a.db, text, len(names)); err != nil {
			return nil, fmt.Errorf("%s.sql: the database refuses it: %w", where, err)
		}
		if len(p.cols) == 0 {
			return nil, fmt.Errorf("%s.sql: returns no columns; a statement belongs under statements", where)
		}
	}
	return p, nil
}

// paramSchema is the JSON Schema of the request: its parameters.
func (p *prepared) paramSchema() map[string]any {
	props := map[string]any{}
	var required []string
	declared := sortedKeys(p.q.Params)
	for _, n := range declared {
		k, opt, _ := parseParamType(p.q.Params[n])
		props[n] = column{Kind: k}.schema(opt)
		if !opt {
			required = append(required, n)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// args reads a request's parameters in placeholder order.
func (p *prepared) args(msg *iface.Message) ([]any, error) {
	var v map[string]any
	if err := decodeJSON(msg, &v); err != nil {
		return nil, err
	}
	out := make([]any, len(p.params))
	for i, pa := range p.params {
		x, err := toArg(pa.kind, v[pa.name])
		if err != nil {
			return nil, invalid("%s.%s: %v", p.name, pa.name, err)
		}
		out[i] = x
	}
	return out, nil
}

// decodeJSON decodes a message's JSON with numbers kept exact.
func decodeJSON(msg *iface.Message, v any) error {
	raw, err := msg.JSON()
	if err != nil {
		return invalid("%s: %v", msg.Type.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return invalid("%s: %v", msg.Type.Name, err)
	}
	return nil
}

// session is one connection's state on the queries' interface: its open
// transaction.
type session struct {
	tx *sql.Tx
}

// sessionOf returns c's session, made when first needed and forgotten when
// c ends. Handlers of one connection run one at a time, so a session is
// used by one goroutine at a time.
func (a *Adapter) sessionOf(c *iface.Conn) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c]
	if s == nil {
		s = &session{}
		a.sessions[c] = s
		context.AfterFunc(c.Context(), func() {
			a.mu.Lock()
			delete(a.sessions, c)
			a.mu.Unlock()
		})
	}
	return s
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (a *Adapter) querier(c *iface.Conn) querier {
	if s := a.sessionOf(c); s.tx != nil {
		return s.tx
	}
	return a.db
}

func (a *Adapter) queryInterface(b *build) iface.Interface {
	h := map[string]iface.Handler{}
	for name, p := range b.queries {
		if p.stmt {
			h[name] = a.statementHandler(p)
		} else {
			h[name] = a.queryHandler(p)
		}
	}
	if a.cfg.Raw {
		h[TypeQuery] = a.rawQuery
		h[TypeExec] = a.rawExec
	}
	if a.cfg.Transactions {
		h[TypeBegin], h[TypeCommit], h[TypeRollback] = a.begin, a.commit, a.rollback
	}
	return iface.Interface{Manifest: b.mains, Handlers: h}
}

// queryHandler streams a query's rows, each read from the cursor only once
// the client has credit for it: Reply waits for credit, so a slow client
// holds the cursor where it is and the adapter holds one row.
func (a *Adapter) queryHandler(p *prepared) iface.Handler {
	return func(ctx context.Context, msg *iface.Message) error {
		args, err := p.args(msg)
		if err != nil {
			return err
		}
		rows, err := a.querier(msg.Conn()).QueryContext(ctx, p.sql, args...)
		if err != nil {
			return a.refusal(err, p.name)
		}
		return a.stream(ctx, msg, rows, p.cols, p.name)
	}
}

// stream sends rows as replies to msg, then the end of the stream.
func (a *Adapter) stream(ctx context.Context, msg *iface.Message, rows *sql.Rows, cols []column, what string) error {
	defer rows.Close()
	got, err := columnsOf(rows, a.d.kindOf)
	if err != nil {
		return a.refusal(err, what)
	}
	anyRow := cols == nil      // raw SQL: a RawRow is any object
	if len(cols) != len(got) { // raw SQL, or a schema that changed under the query
		cols = got
	}
	plan := newRowPlan(cols, anyRow)
	_, checked := msg.Conn().Codec().(checkedJSONCodec)
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var buf []byte
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return a.refusal(err, what)
		}
		n++
		var sure bool
		buf, sure = plan.append(buf[:0], vals)
		var v any = json.RawMessage(buf)
		if sure && checked {
			v = checkedJSON(buf)
		}
		if err := msg.Reply(ctx, v); err != nil {
			if code := codes.Of(err); code != codes.Internal || ctx.Err() != nil {
				return err // the connection ended or the request was cancelled
			}
			return &codes.RemoteError{Code: codes.Internal, Reason: fmt.Sprintf("%s: row %d does not fit its type (%v)", what, n, err)}
		}
	}
	if err := rows.Err(); err != nil {
		return a.refusal(err, what)
	}
	return msg.End(ctx)
}

func (a *Adapter) statementHandler(p *prepared) iface.Handler {
	return func(ctx context.Context, msg *iface.Message) error {
		args, err := p.args(msg)
		if err != nil {
			return err
		}
		return a.exec(ctx, msg, p.sql, args, p.name)
	}
}

func (a *Adapter) exec(ctx context.Context, msg *iface.Message, q string, args []any, what string) error {
	res, err := a.querier(msg.Conn()).ExecContext(ctx, q, args...)
	if err != nil {
		return a.refusal(err, what)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return a.refusal(err, what)
	}
	a.wake("")
	return msg.Reply(ctx, json.RawMessage(`{"rows_affected":`+strconv.FormatInt(n, 10)+`}`))
}

// raw is the request of Query and Exec.
type raw struct {
	SQL  string `json:"sql"`
	Args []any  `json:"args"`
}

func (a *Adapter) rawArgs(msg *iface.Message) (raw, error) {
	var r raw
	if err := decodeJSON(msg, &r); err != nil {
		return r, err
	}
	for i, v := range r.Args {
		x, err := toArg(kindAny, v)
		if err != nil {
			return r, invalid("%s.args[%d]: %v", msg.Type.Name, i, err)
		}
		r.Args[i] = x
	}
	return r, nil
}

func (a *Adapter) rawQuery(ctx context.Context, msg *iface.Message) error {
	r, err := a.rawArgs(msg)
	if err != nil {
		return err
	}
	rows, err := a.querier(msg.Conn()).QueryContext(ctx, r.SQL, r.Args...)
	if err != nil {
		return a.refusal(err, TypeQuery)
	}
	return a.stream(ctx, msg, rows, nil, TypeQuery)
}

func (a *Adapter) rawExec(ctx context.Context, msg *iface.Message) error {
	r, err := a.rawArgs(msg)
	if err != nil {
		return err
	}
	return a.exec(ctx, msg, r.SQL, r.Args, TypeExec)
}

// begin opens a transaction bound to the connection: the end of the
// connection (its context) rolls it back.
func (a *Adapter) begin(ctx context.Context, msg *iface.Message) error {
	s := a.sessionOf(msg.Conn())
	if s.tx != nil {
		return invalid("Begin: a transaction is already open on this connection; Commit or Rollback it first")
	}
	tx, err := a.db.BeginTx(msg.Conn().Context(), nil)
	if err != nil {
		return a.refusal(err, TypeBegin)
	}
	s.tx = tx
	return msg.Reply(ctx, json.RawMessage(`{"open":true}`))
}

func (a *Adapter) commit(ctx context.Context, msg *iface.Message) error {
	return a.finish(ctx, msg, TypeCommit, (*sql.Tx).Commit)
}

func (a *Adapter) rollback(ctx context.Context, msg *iface.Message) error {
	return a.finish(ctx, msg, TypeRollback, (*sql.Tx).Rollback)
}

func (a *Adapter) finish(ctx context.Context, msg *iface.Message, what string, end func(*sql.Tx) error) error {
	s := a.sessionOf(msg.Conn())
	if s.tx == nil {
		return invalid("%s: no transaction is open on this connection; Begin one first", what)
	}
	tx := s.tx
	s.tx = nil
	if err := end(tx); err != nil {
		return a.refusal(err, what)
	}
	a.wake("")
	return msg.Reply(ctx, json.RawMessage(`{"open":false}`))
}
