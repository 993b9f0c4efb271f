package dbadapter

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// Positions reset takes besides a change id.
const (
	PositionNow   = "now"   // the latest change: only what happens next
	PositionStart = "start" // before the first change kept
)

// feedState is one feed connection's position. Only the feed's goroutine
// moves it: a reset hands it the new position (resets) and waits until it
// has taken it, so every message sent after a reset returns comes from the
// new position.
type feedState struct {
	pos    int64  // the last change sent (or reset to); the feed's goroutine's
	lpos   lsnPos // the same for a logical feed
	resets chan feedReset
	// stopSend, when set, stops the send that waits for credit, so that a
	// reset does not wait for the client's credit.
	mu       sync.Mutex
	stopSend context.CancelFunc
}

type feedReset struct {
	pos      int64
	position string // a logical feed's, read by the feed's goroutine
	done     chan error
}

func (a *Adapter) feedInterface(t *table, m *manifest.Manifest) iface.Interface {
	run := a.runFeed
	if a.mode == ModeLogical {
		run = a.runLogicalFeed
	}
	return iface.Interface{
		Manifest:  m,
		OnConnect: func(ctx context.Context, c *iface.Conn) { run(ctx, c, t) },
		OnReset: func(ctx context.Context, c *iface.Conn, position string) error {
			return a.resetFeed(ctx, c, t, position)
		},
	}
}

// feedOf returns c's feed state, made at now when first needed (by the
// feed or by a reset that comes first).
func (a *Adapter) feedOf(ctx context.Context, c *iface.Conn, t *table) (*feedState, error) {
	a.mu.Lock()
	st := a.feeds[c]
	a.mu.Unlock()
	if st != nil {
		return st, nil
	}
	var now int64
	var lnow lsnPos
	var err error
	if a.mode == ModeLogical {
		lnow, err = a.logicalNow(ctx)
	} else {
		now, err = a.latest(ctx)
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.feeds[c]; st != nil {
		return st, nil
	}
	st = &feedState{pos: now, lpos: lnow, resets: make(chan feedReset, 1)}
	a.feeds[c] = st
	context.AfterFunc(c.Context(), func() {
		a.mu.Lock()
		delete(a.feeds, c)
		a.mu.Unlock()
	})
	return st, nil
}

// latest is the id of the latest change.
func (a *Adapter) latest(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	err := a.db.QueryRowContext(ctx, "SELECT MAX(id) FROM "+a.ref(a.cfg.ChangeTable)).Scan(&n)
	return n.Int64, err
}

// ref is a table's name in SQL: in the configured schema on PostgreSQL.
func (a *Adapter) ref(name string) string {
	if a.d.name() == "postgres" {
		return quoteIdent(a.cfg.Schema) + "." + quoteIdent(name)
	}
	return quoteIdent(name)
}

// resetFeed moves c's feed to position: a change id (the feed goes on
// after it), "now" or "start".
func (a *Adapter) resetFeed(ctx context.Context, c *iface.Conn, t *table, position string) error {
	var r feedReset
	if a.mode == ModeLogical {
		// Read by the feed once its replication connection has stopped and
		// told the slot what the client consumed: only then is the slot's
		// position the one to judge it against.
		r.position = position
	} else {
		pos, err := a.changePosition(ctx, position)
		if err != nil {
			return err
		}
		r.pos = pos
	}
	st, err := a.feedOf(ctx, c, t)
	if err != nil {
		return a.refusal(err, "reset")
	}
	r.done = make(chan error, 1)
	// Handed over first, then the feed's wait for credit stopped: a feed
	// that sets a new stopSend after this cancel looks at resets after
	// setting it, and finds r there.
	select {
	case st.resets <- r:
	case <-c.Context().Done():
		return &codes.RemoteError{Code: codes.NotFound, Reason: fmt.Sprintf("reset: the feed's connection ended: %v", c.Err())}
	case <-ctx.Done():
		return ctx.Err()
	}
	st.mu.Lock()
	if st.stopSend != nil {
		st.stopSend()
	}
	st.mu.Unlock()
	select {
	case err := <-r.done:
		return err
	case <-c.Context().Done(): // the feed ended before it took the reset
		return &codes.RemoteError{Code: codes.NotFound, Reason: fmt.Sprintf("reset: the feed's connection ended: %v", c.Err())}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// changePosition reads what reset was given for a trigger feed: a change
// id, "now" or "start".
func (a *Adapter) changePosition(ctx context.Context, position string) (int64, error) {
	var pos int64
	switch p := strings.TrimSpace(position); p {
	case PositionNow, "":
		n, err := a.latest(ctx)
		if err != nil {
			return 0, a.refusal(err, "reset")
		}
		pos = n
	case PositionStart, "beginning", "0":
		h, err := a.prunedHorizon(ctx)
		if err != nil {
			return 0, a.refusal(err, "reset")
		}
		pos = h
	default:
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			if strings.Contains(p, "/") {
				return 0, invalid("%q is a logical replication position; this feed reads the change table %s, whose positions are change ids (as its messages carry), now or start", position, a.cfg.ChangeTable)
			}
			return 0, invalid("%q is not a position: give the position of the last change you have (to go on after it), now or start", position)
		}
		h, err := a.prunedHorizon(ctx)
		if err != nil {
			return 0, a.refusal(err, "reset")
		}
		if n < h {
			return 0, invalid("position %d was pruned: the change table %s keeps the changes after %d (retention %v); reset to start for the oldest kept, or now", n, a.cfg.ChangeTable, h, a.cfg.Retention)
		}
		pos = n
	}
	return pos, nil
}

// change is one row of the change table.
type change struct {
	id  int64
	op  string
	row sql.NullString
	old sql.NullString
}

// runFeed sends t's changes after the connection's position, each sent
// only once the client has credit for it, until the connection ends.
func (a *Adapter) runFeed(ctx context.Context, c *iface.Conn, t *table) {
	st, err := a.feedOf(ctx, c, t)
	if err != nil {
		re := a.refusal(err, "starting the feed")
		c.End(&codes.CloseError{Code: re.Code, Reason: re.Reason})
		return
	}
	limit := a.cfg.Credits
	q := "SELECT id, op, row, old FROM " + a.ref(a.cfg.ChangeTable) + " WHERE tbl = " + a.d.placeholder(1) +
		" AND id > " + a.d.placeholder(2) + " ORDER BY id LIMIT " + strconv.Itoa(limit)
	if a.d.name() == "postgres" {
		q = strings.Replace(q, "row, old", "row::text, old::text", 1)
	}
	timer := time.NewTimer(a.cfg.FeedPoll)
	defer timer.Stop()
	var buf []byte
	apply := func(r feedReset) {
		a.log.Debug("trigger feed: reset", "conn", c.ID(), "from", st.pos, "to", r.pos)
		st.pos = r.pos
		r.done <- nil
	}
	for {
		woken := a.changes(t.Name)
		sendCtx, stop := context.WithCancel(ctx)
		st.mu.Lock()
		st.stopSend = stop
		st.mu.Unlock()
		select {
		case r := <-st.resets:
			apply(r)
		default:
		}
		if h := a.horizon.Load(); st.pos < h {
			a.log.Debug("trigger feed: behind", "conn", c.ID(), "pos", st.pos, "horizon", h)
			stop()
			c.End(&codes.CloseError{Code: codes.LimitExceeded, Reason: fmt.Sprintf(
				"the feed of %s fell behind the change table's retention (%v): it was at %d and the changes up to %d are pruned; connect again and reset to start (the oldest kept) or now", t.Name, a.cfg.Retention, st.pos, h)})
			return
		}
		// With retention, an idle feed moves its position up to the latest
		// change of any table, so that pruning other tables' changes does
		// not leave it behind (ids are given in commit order: what the read
		// after this one does not find for t up to it, there is not).
		var latest int64
		if a.cfg.Retention > 0 {
			latest, _ = a.latest(ctx)
		}
		batch, err := a.readChanges(ctx, q, t.Name, st.pos)
		if err == nil && len(batch) == 0 && latest > st.pos {
			st.pos = latest
		}
		if err != nil {
			if ctx.Err() != nil {
				stop()
				return
			}
			if re := a.refusal(err, "the change feed of "+t.Name); re.Code == codes.TransportError {
				stop()
				c.End(&codes.CloseError{Code: re.Code, Reason: fmt.Sprintf("%s; connect again and reset to the last position you have (the feed was at %d)", re.Reason, st.pos)})
				return
			}
			a.log.Warn("reading the change table failed; trying again", "table", t.Name, "err", err)
			batch = nil
		}
		reset := false
		for _, ch := range batch {
			select {
			case r := <-st.resets:
				apply(r)
				reset = true
			default:
			}
			if reset {
				break
			}
			buf = a.changeJSON(buf[:0], t, ch)
			if err := c.Send(sendCtx, TypeChange, json.RawMessage(buf)); err != nil {
				if errors.Is(err, context.Canceled) && ctx.Err() == nil {
					reset = true // a reset stopped the wait for credit: it comes next
					break
				}
				stop()
				if ctx.Err() == nil && codes.Of(err) == codes.Internal {
					c.End(&codes.CloseError{Code: codes.Internal, Reason: fmt.Sprintf("change %d of %s does not fit the manifest: %v", ch.id, t.Name, err)})
				}
				return
			}
			st.pos = ch.id
		}
		stop()
		if reset || len(batch) == limit {
			continue
		}
		timer.Reset(a.cfg.FeedPoll)
		select {
		case <-ctx.Done():
			return
		case <-woken:
		case r := <-st.resets:
			apply(r)
		case <-timer.C:
		}
	}
}

func (a *Adapter) readChanges(ctx context.Context, q, tbl string, pos int64) ([]change, error) {
	rows, err := a.db.QueryContext(ctx, q, tbl, pos)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var ch change
		if err := rows.Scan(&ch.id, &ch.op, &ch.row, &ch.old); err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

// changeJSON is the Change message of ch: its row's values as a query of
// the table would give them.
func (a *Adapter) changeJSON(buf []byte, t *table, ch change) []byte {
	buf = append(buf, `{"position":`...)
	buf = strconv.AppendInt(buf, ch.id, 10)
	buf = append(buf, `,"op":`...)
	buf = appendJSONString(buf, ch.op)
	buf = append(buf, `,"row":`...)
	buf = rowFromChange(buf, t, ch.row.String)
	if ch.old.Valid {
		buf = append(buf, `,"old":`...)
		buf = rowFromChange(buf, t, ch.old.String)
	}
	return append(buf, '}')
}

func rowFromChange(buf []byte, t *table, text string) []byte {
	var vals map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &vals) != nil {
		return append(buf, "{}"...)
	}
	buf = append(buf, '{')
	first := true
	for _, c := range t.Columns {
		v, ok := vals[c.Name]
		if !ok {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendJSONString(buf, c.Name)
		buf = append(buf, ':')
		buf = fromChange(buf, c.Kind, v)
	}
	return append(buf, '}')
}

// pruneRows bounds the rows one round of pruning looks at.
const pruneRows = 10000

// prune deletes the change table's changes older than Retention and
// leaves in the place of the last one deleted a row that marks the
// horizon (op "pruned", no table): positions up to it are no longer kept.
func (a *Adapter) prune(ctx context.Context) error {
	ct := a.ref(a.cfg.ChangeTable)
	secs := strconv.FormatInt(int64(a.cfg.Retention/time.Second), 10)
	for range 100 { // at most a million rows a round; the next round goes on
		h, err := a.prunedHorizon(ctx)
		if err != nil {
			return err
		}
		var upTo sql.NullInt64
		var seen int
		err = a.db.QueryRowContext(ctx, "SELECT MAX(CASE WHEN "+a.d.olderThan(secs)+" THEN id END), count(*) FROM (SELECT id, at FROM "+ct+
			" WHERE id > "+a.d.placeholder(1)+" ORDER BY id LIMIT "+strconv.Itoa(pruneRows)+") s", h).Scan(&upTo, &seen)
		if err != nil || !upTo.Valid {
			return err
		}
		tx, err := a.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+ct+" WHERE id <= "+a.d.placeholder(1), upTo.Int64); err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+ct+" (id, tbl, op) VALUES ("+a.d.placeholder(1)+", '', 'pruned')", upTo.Int64); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		a.horizon.Store(upTo.Int64)
		a.log.Info("pruned the change table", "change_table", a.cfg.ChangeTable, "up_to", upTo.Int64, "retention", a.cfg.Retention)
		if seen < pruneRows {
			return nil
		}
	}
	return nil
}

// prunedHorizon is the position the change table was pruned up to (0:
// never): its first row when that is the horizon's mark.
func (a *Adapter) prunedHorizon(ctx context.Context) (int64, error) {
	var id int64
	var op string
	err := a.db.QueryRowContext(ctx, "SELECT id, op FROM "+a.ref(a.cfg.ChangeTable)+" ORDER BY id LIMIT 1").Scan(&id, &op)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && op != "pruned") {
		return 0, nil
	}
	if err == nil {
		a.horizon.Store(id)
	}
	return id, err
}
