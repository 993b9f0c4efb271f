package dbadapter

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
)

// The feeds' modes (Config.Mode).
const (
	ModeAuto    = "auto"    // logical where the server allows it, else trigger
	ModeLogical = "logical" // PostgreSQL logical replication (pgoutput)
	ModeTrigger = "trigger" // a change table filled by triggers
)

// maxStatusInterval bounds how long a logical feed goes without telling
// the server where it is (the server ends a replication connection that
// says nothing for wal_sender_timeout, 60 s by default).
const maxStatusInterval = 10 * time.Second

// SlotName is the name of the replication slot, and of the publication,
// of table's logical feed: ifkit_DATABASE_NAME_TABLE, with the
// interfaces' name prefix's dots as _ and the database's name in lower
// case with anything but letters and digits as _ (ifkit_shop_db_orders for
// table orders of database shop served as db): slots are the whole
// server's, so two databases served with the same configuration do not
// share one. A name longer than PostgreSQL's 63 bytes is cut, with a hash
// of the whole.
func (a *Adapter) SlotName(table string) string {
	return slotName(a.dbName, a.cfg.Name, table)
}

func slotName(database, name, table string) string {
	var db strings.Builder
	for _, r := range strings.ToLower(database) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			db.WriteRune(r)
		} else {
			db.WriteByte('_')
		}
	}
	n := "ifkit_" + db.String() + "_" + strings.ReplaceAll(name, ".", "_") + "_" + table
	if len(n) > 63 {
		sum := sha256.Sum256([]byte(n))
		n = n[:54] + "_" + hex.EncodeToString(sum[:4])
	}
	return n
}

// logicalStatus says whether the server allows logical replication to
// this role, and why not.
func logicalStatus(ctx context.Context, db *sql.DB) (bool, string, error) {
	var level string
	if err := db.QueryRowContext(ctx, "SHOW wal_level").Scan(&level); err != nil {
		return false, "", err
	}
	if level != "logical" {
		return false, "the server's wal_level is " + level + ", and logical replication needs logical (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)", nil
	}
	var user string
	var may bool
	if err := db.QueryRowContext(ctx, "SELECT current_user, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&user, &may); err != nil {
		return false, "", err
	}
	if !may {
		return false, "the role " + user + " may not replicate (ALTER ROLE " + user + " REPLICATION)", nil
	}
	return true, "", nil
}

// installLogical makes what t's logical feed needs: REPLICA IDENTITY FULL
// (updates and deletes carry the whole old row, as the trigger feed's do),
// a publication of t's inserts, updates and deletes, and a replication
// slot (pgoutput), both named SlotName. Each is made only when missing.
func (a *Adapter) installLogical(ctx context.Context, t *table) error {
	name := a.SlotName(t.Name)
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, feedLockKey+1); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE "+a.ref(t.Name)+" REPLICA IDENTITY FULL"); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_publication WHERE pubname = $1`, name).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, "CREATE PUBLICATION "+quoteIdent(name)+" FOR TABLE "+a.ref(t.Name)+" WITH (publish = 'insert, update, delete')"); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// The slot after the publication: decoding reads the publication as
	// it was at each change, so it must exist before the slot's first.
	var plugin, dbname, current string
	err = a.db.QueryRowContext(ctx, `SELECT coalesce(plugin, ''), coalesce(database, ''), current_database() FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&plugin, &dbname, &current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = a.db.ExecContext(ctx, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, name)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42710" { // another adapter made it meanwhile
			err = nil
		}
		return err
	case err != nil:
		return err
	case plugin != "pgoutput" || dbname != current:
		return fmt.Errorf("the replication slot %s exists already for %s in database %s; the feed needs its own (pgoutput, database %s): drop it (SELECT pg_drop_replication_slot('%s')) or give the adapter another name", name, orDash(plugin), orDash(dbname), current, name)
	}
	return nil
}

// dropOrphans drops the publications and replication slots of feeds
// whose tables are gone (a slot keeps the server's log until it is read),
// trying again at the next schema poll while a slot is still in use.
func (a *Adapter) dropOrphans(ctx context.Context) {
	for name := range a.orphans {
		_, err := a.db.ExecContext(ctx, "DROP PUBLICATION IF EXISTS "+quoteIdent(name))
		if err == nil {
			_, err = a.db.ExecContext(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, name)
		}
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("dropping the replication slot of a dropped table failed; trying again", "slot", name, "err", err)
			}
			continue
		}
		a.log.Info("dropped the publication and replication slot of a dropped table", "slot", name)
		delete(a.orphans, name)
	}
}

// lsnPos is a logical feed's position: after the transaction that ended
// at lsn (idx 0), or after change idx (from 1) of the transaction whose
// commit record is at lsn.
type lsnPos struct {
	lsn pglogrepl.LSN
	idx int
}

func (p lsnPos) String() string {
	if p.idx == 0 {
		return p.lsn.String()
	}
	return p.lsn.String() + ":" + strconv.Itoa(p.idx)
}

// parseLSNPos reads a position a logical feed's message carried: X/Y or
// X/Y:N.
func parseLSNPos(s string) (lsnPos, error) {
	lsnText, idxText, mid := strings.Cut(s, ":")
	if !strings.Contains(lsnText, "/") {
		return lsnPos{}, errors.New("not an LSN")
	}
	lsn, err := pglogrepl.ParseLSN(lsnText)
	if err != nil {
		return lsnPos{}, err
	}
	p := lsnPos{lsn: lsn}
	if mid {
		n, err := strconv.Atoi(idxText)
		if err != nil || n < 1 {
			return lsnPos{}, errors.New("the change's number after : is not a positive integer")
		}
		p.idx = n
	}
	return p, nil
}

// slotConfirmed is the position the slot has confirmed: what comes before
// it is no longer kept.
func (a *Adapter) slotConfirmed(ctx context.Context, slot string) (pglogrepl.LSN, error) {
	var s sql.NullString
	err := a.db.QueryRowContext(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("the replication slot %s does not exist (dropped?); restart the adapter to make it again", slot)
	}
	if err != nil || !s.Valid {
		return 0, err
	}
	return pglogrepl.ParseLSN(s.String)
}

// logicalNow is the position of the latest change: the server's WAL insert
// position, which every commit yet to come lies after.
func (a *Adapter) logicalNow(ctx context.Context) (lsnPos, error) {
	var s string
	if err := a.db.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&s); err != nil {
		return lsnPos{}, err
	}
	lsn, err := pglogrepl.ParseLSN(s)
	return lsnPos{lsn: lsn}, err
}

// logicalPosition reads what reset was given for t's logical feed.
func (a *Adapter) logicalPosition(ctx context.Context, t *table, position string) (lsnPos, error) {
	p := strings.TrimSpace(position)
	switch p {
	case PositionNow, "":
		pos, err := a.logicalNow(ctx)
		if err != nil {
			return pos, a.refusal(err, "reset")
		}
		return pos, nil
	case PositionStart, "beginning":
		return lsnPos{}, nil // 0/0: the server starts at the slot's confirmed position
	}
	pos, err := parseLSNPos(p)
	if err != nil {
		if _, nerr := strconv.ParseInt(p, 10, 64); nerr == nil {
			return lsnPos{}, invalid("%q is a change table's position; this feed follows logical replication, whose positions are LSNs (X/Y or X/Y:N, as its messages carry), now or start", position)
		}
		return lsnPos{}, invalid("%q is not a position (%v): give the position of the last change you have (X/Y or X/Y:N, to go on after it), now or start", position, err)
	}
	// Before the slot's confirmed position, a transaction's end goes on
	// from there (nothing for the feed lies between that its reader did not
	// consume); a change inside a transaction is judged by the feed.
	return pos, nil
}

// errFeedReset ends one replication connection of a feed: a reset moves it.
var errFeedReset = errors.New("the feed was reset")

// slotReader is the connection reading a slot in this adapter.
type slotReader struct {
	c    *iface.Conn
	gone chan struct{} // closed when it lets go
}

// takeSlot makes c the reader of slot in this adapter. A reader whose
// connection has ended but whose feed has not let go yet is waited for (up
// to SlotWait); a live one is not: ok is false, with its connection id.
func (a *Adapter) takeSlot(ctx context.Context, slot string, c *iface.Conn) (uint64, bool) {
	timer := time.NewTimer(a.cfg.SlotWait)
	defer timer.Stop()
	for {
		a.mu.Lock()
		r := a.slots[slot]
		if r == nil {
			a.slots[slot] = &slotReader{c: c, gone: make(chan struct{})}
			a.mu.Unlock()
			return 0, true
		}
		a.mu.Unlock()
		if r.c.Context().Err() == nil {
			return r.c.ID(), false
		}
		select {
		case <-r.gone:
		case <-ctx.Done():
			return r.c.ID(), false
		case <-timer.C:
			return r.c.ID(), false
		}
	}
}

func (a *Adapter) releaseSlot(slot string, c *iface.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.slots[slot]; r != nil && r.c == c {
		close(r.gone)
		delete(a.slots, slot)
	}
}

// runLogicalFeed streams t's changes from its replication slot, each sent
// only once the client has credit for it, until the connection ends. A
// failure of the database ends the connection with its code and the
// position to go on from.
func (a *Adapter) runLogicalFeed(ctx context.Context, c *iface.Conn, t *table) {
	slot := a.SlotName(t.Name)
	if other, ok := a.takeSlot(ctx, slot, c); !ok {
		c.End(&codes.CloseError{Code: codes.LimitExceeded, Reason: fmt.Sprintf(
			"the feed of %s follows the replication slot %s, which has one reader at a time: connection %d reads it now", t.Name, slot, other)})
		return
	}
	defer a.releaseSlot(slot, c)
	st, err := a.feedOf(ctx, c, t)
	if err != nil {
		re := a.refusal(err, "starting the feed")
		c.End(&codes.CloseError{Code: re.Code, Reason: re.Reason})
		return
	}
	mt, _ := c.Manifest().Type(TypeChange)
	r := &replication{a: a, c: c, t: t, st: st, slot: slot, typ: &mt.Type,
		interval: min(a.cfg.FeedPoll, maxStatusInterval)}
	for {
		err := r.run(ctx)
		if errors.Is(err, errFeedReset) {
			r.applyReset(ctx)
			continue
		}
		if ctx.Err() != nil || c.Err() != nil {
			return
		}
		var ce *codes.CloseError
		if errors.As(err, &ce) {
			c.End(ce)
			return
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42704" { // undefined_object: the slot
			c.End(&codes.CloseError{Code: codes.Internal, Reason: fmt.Sprintf(
				"the change feed of %s: its replication slot %s no longer exists (dropped?): restart the adapter to make it again, from now", t.Name, slot)})
			return
		}
		re := a.refusal(err, "the change feed of "+t.Name+" (replication slot "+slot+")")
		c.End(&codes.CloseError{Code: re.Code, Reason: re.Reason + "; connect again and reset to the last position you have (the feed was at " + st.lpos.String() + ")"})
		return
	}
}

// replication is one logical feed connection's state across its
// replication connections.
type replication struct {
	a        *Adapter
	c        *iface.Conn
	t        *table
	st       *feedState
	slot     string
	typ      *codec.Type
	interval time.Duration

	sent   uint64     // messages sent to the client (numbered from 1, as PeerConsumed counts)
	prev   lsnPos     // where the feed was before the reset being judged
	answer chan error // the reset waiting for judgeReset, or nil
	// anchored: the client chose a position (reset) or has been sent a
	// change. Before, the connection's own start (now) is not confirmed:
	// the client may be about to reset to where it stopped last time.
	anchored bool
	acks     []ackMark // positions the slot may confirm once the client consumed up to seq
	flushed  pglogrepl.LSN
	buf      []byte
}

// ackMark: once the client has consumed seq messages, the slot may
// confirm lsn.
type ackMark struct {
	seq uint64
	lsn pglogrepl.LSN
}

// mark records that lsn may be confirmed once the client has consumed
// the messages sent so far.
func (r *replication) mark(lsn pglogrepl.LSN) {
	if n := len(r.acks); n > 0 && r.acks[n-1].seq == r.sent {
		r.acks[n-1].lsn = max(r.acks[n-1].lsn, lsn)
		return
	}
	r.acks = append(r.acks, ackMark{r.sent, lsn})
}

// confirmable is the latest position the client's consumption allows.
func (r *replication) confirmable() pglogrepl.LSN {
	consumed := r.c.PeerConsumed()
	i := 0
	for i < len(r.acks) && r.acks[i].seq <= consumed {
		r.flushed = max(r.flushed, r.acks[i].lsn)
		i++
	}
	r.acks = append(r.acks[:0], r.acks[i:]...)
	return r.flushed
}

// replConn opens a replication connection to the adapter's database.
func (a *Adapter) replConn(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgx.ParseConfig(a.dsn)
	if err != nil {
		return nil, err
	}
	pc := cfg.Config
	pc.RuntimeParams["replication"] = "database"
	// Values in the formats the feed reads: ISO dates in UTC, exact floats.
	pc.RuntimeParams["DateStyle"] = "ISO, YMD"
	pc.RuntimeParams["TimeZone"] = "UTC"
	pc.RuntimeParams["extra_float_digits"] = "3"
	pc.RuntimeParams["bytea_output"] = "hex"
	pc.RuntimeParams["application_name"] = "ifkit dbadapter feed"
	// A done context interrupts a read by a deadline and keeps the
	// connection: the feed stops waiting to tell the server where it is.
	pc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	return pgconn.ConnectConfig(ctx, &pc)
}

// start opens a replication connection and starts it at the feed's
// position, waiting up to SlotWait for a slot another reader still holds.
func (r *replication) start(ctx context.Context) (*pgconn.PgConn, error) {
	deadline := time.Now().Add(r.a.cfg.SlotWait)
	for {
		conn, err := r.a.replConn(ctx)
		if err != nil {
			return nil, err
		}
		err = pglogrepl.StartReplication(ctx, conn, r.slot, r.st.lpos.lsn, pglogrepl.StartReplicationOptions{
			PluginArgs: []string{"proto_version '1'", "publication_names '" + r.slot + "'"},
		})
		if err == nil {
			return conn, nil
		}
		conn.Close(context.Background())
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55006" || time.Now().After(deadline) { // 55006: the slot is active
			if pe != nil && pe.Code == "55006" {
				return nil, &codes.CloseError{Code: codes.LimitExceeded, Reason: fmt.Sprintf(
					"the replication slot %s has another reader (%s), still after %v (slot_wait): a logical feed has one reader at a time", r.slot, pe.Message, r.a.cfg.SlotWait)}
			}
			return nil, err
		}
		t := time.NewTimer(r.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// run follows one replication connection until a reset, the end of the
// client's connection or a failure.
func (r *replication) run(ctx context.Context) error {
	loop, stop := context.WithCancel(ctx)
	defer stop()
	r.st.mu.Lock()
	r.st.stopSend = stop
	r.st.mu.Unlock()
	if len(r.st.resets) > 0 {
		return errFeedReset
	}
	conn, err := r.start(loop)
	if err == nil {
		var ok bool
		if ok, err = r.judgeReset(loop); !ok && err == nil {
			conn.Close(context.Background())
			return errFeedReset // from where it was
		}
	}
	r.a.log.Debug("logical feed: replication started", "slot", r.slot, "conn", r.c.ID(), "at", r.st.lpos.String(), "err", err)
	if err != nil {
		if loop.Err() != nil && ctx.Err() == nil {
			return errFeedReset
		}
		return err
	}
	defer func() {
		// What the client consumed, told once more as the connection goes.
		if lsn := r.confirmable(); lsn > 0 && !conn.IsClosed() {
			pglogrepl.SendStandbyStatusUpdate(context.Background(), conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: lsn})
		}
		conn.Close(context.Background())
	}()
	skip := r.st.lpos
	d := walDecoder{t: r.t, rels: map[uint32]*relation{}}
	var pending *walChange
	nextStatus := time.Now()
	for {
		if err := r.checkReset(loop, ctx); err != nil {
			return err
		}
		if !time.Now().Before(nextStatus) {
			if err := pglogrepl.SendStandbyStatusUpdate(loop, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: r.confirmable()}); err != nil {
				return err
			}
			nextStatus = time.Now().Add(r.interval)
		}
		rctx, cancel := context.WithDeadline(loop, nextStatus)
		raw, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if loop.Err() != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errFeedReset
			}
			if pgconn.Timeout(err) && !conn.IsClosed() {
				continue
			}
			return err
		}
		var data []byte
		switch m := raw.(type) {
		case *pgproto3.CopyData:
			data = m.Data
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(m)
		default:
			continue
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
			if err != nil {
				return fmt.Errorf("the server's keepalive: %w", err)
			}
			if !d.inTxn && pending == nil && r.anchored {
				r.mark(k.ServerWALEnd) // nothing for the feed before it that is not sent
			}
			if k.ReplyRequested {
				nextStatus = time.Now()
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(data[1:])
			if err != nil {
				return fmt.Errorf("the server's WAL data: %w", err)
			}
			ev, err := d.decode(x.WALData)
			if err != nil {
				return &codes.CloseError{Code: codes.Internal, Reason: fmt.Sprintf("the change feed of %s: the server's replication message at %s: %v", r.t.Name, x.WALStart, err)}
			}
			switch {
			case ev.change != nil:
				ch := ev.change
				if ch.final < skip.lsn || (ch.final == skip.lsn && ch.idx <= skip.idx) {
					continue // before the position the feed starts after
				}
				if pending != nil {
					if err := r.send(loop, ctx, pending, lsnPos{pending.final, pending.idx}, pending.final); err != nil {
						return err
					}
				}
				pending = ch
			case ev.commit != nil:
				end := ev.commit.TransactionEndLSN
				if pending != nil {
					// The last change of its transaction: its position is
					// the transaction's end, so that going on after it
					// skips the whole transaction.
					if err := r.send(loop, ctx, pending, lsnPos{lsn: end}, end); err != nil {
						return err
					}
					pending = nil
				} else if end >= skip.lsn && r.anchored {
					r.mark(end)
				}
			}
		}
	}
}

// send sends one change with its position, waiting for credit but telling
// the server where the feed is meanwhile; confirm is what the slot may
// confirm once the client has consumed it.
func (r *replication) send(loop, ctx context.Context, ch *walChange, pos lsnPos, confirm pglogrepl.LSN) error {
	r.buf = ch.appendJSON(r.buf[:0], pos)
	if !ch.sure {
		if err := codec.CheckJSON(r.buf, r.typ); err != nil {
			return &codes.CloseError{Code: codes.Internal, Reason: fmt.Sprintf("the change at %s of %s does not fit the manifest: %v", pos, r.t.Name, err)}
		}
	}
	for {
		sctx, cancel := context.WithTimeout(loop, r.interval)
		sent, err := r.c.SendEncoded(sctx, TypeChange, json.RawMessage(r.buf), r.buf, false)
		cancel()
		if err == nil {
			if sent {
				r.sent++
			}
			r.anchored = true
			r.mark(confirm)
			r.st.lpos = pos
			return nil
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case loop.Err() != nil:
			return errFeedReset
		case errors.Is(err, context.DeadlineExceeded):
			// Still no credit: the server hears where the feed is (it
			// ends a replication connection that says nothing), and the
			// change waits on.
			continue
		}
		return err
	}
}

// checkReset returns errFeedReset when a reset is waiting or stopped the
// loop; run's caller applies it once the replication connection is closed.
func (r *replication) checkReset(loop, ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(r.st.resets) > 0 || loop.Err() != nil {
		return errFeedReset
	}
	return nil
}

// applyReset moves the feed to the reset's position: one it cannot be
// moved to is refused at once, the others are judged against the slot
// once the next replication connection has started (see run).
func (r *replication) applyReset(ctx context.Context) {
	var rs feedReset
	select {
	case rs = <-r.st.resets:
	default:
		return // the loop was stopped by a reset taken already
	}
	pos, err := r.a.logicalPosition(ctx, r.t, rs.position)
	if err != nil {
		rs.done <- err
		return
	}
	if r.answer != nil { // a reset not yet judged, overtaken by this one
		r.answer <- nil
	}
	r.prev, r.answer = r.st.lpos, rs.done
	r.st.lpos = pos
	r.anchored = true
}

// judgeReset answers the reset that moved the feed, now that the slot
// belongs to this connection's replication (the previous one has let go,
// having told the slot what the client consumed): a position inside a
// transaction the slot has confirmed past cannot be resumed exactly and is
// refused, and the feed goes on from where it was.
func (r *replication) judgeReset(ctx context.Context) (bool, error) {
	if r.answer == nil {
		return true, nil
	}
	pos := r.st.lpos
	f, err := r.a.slotConfirmed(ctx, r.slot)
	if err != nil {
		return false, err
	}
	answer := r.answer
	r.answer = nil
	if pos.idx > 0 && pos.lsn < f {
		r.st.lpos = r.prev
		answer <- invalid("position %s is inside a transaction the replication slot %s has gone past (it keeps changes from %s on): the rest of that transaction is no longer kept; reset to start or now", pos, r.slot, f)
		return false, nil
	}
	answer <- nil
	return true, nil
}
