package dbadapter_test

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/iface"
)

// feedConn is a pull-mode connection to a feed and its control stream.
func feedConn(t *testing.T, s *served, name string) (*iface.Conn, *iface.Control) {
	t.Helper()
	ctx := ctxT(t)
	c := connect(t, s, name, iface.WithPullMode(), iface.WithCredits(64))
	ctl, err := s.cl.Control(ctx, name, iface.AttachTo(c))
	must(t, err)
	t.Cleanup(func() { ctl.Close() })
	return c, ctl
}

func slotLSN(t *testing.T, b *backend, slot string) pglogrepl.LSN {
	t.Helper()
	var s string
	if err := b.db.QueryRow(`SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&s); err != nil {
		t.Fatalf("the slot %s: %v", slot, err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	must(t, err)
	return lsn
}

func positionLSN(t *testing.T, p any) pglogrepl.LSN {
	t.Helper()
	s, _ := p.(string)
	lsnText, _, _ := strings.Cut(s, ":")
	lsn, err := pglogrepl.ParseLSN(lsnText)
	if err != nil {
		t.Fatalf("position %v: %v", p, err)
	}
	return lsn
}

// TestLogicalFeed: positions inside and at the end of a transaction, the
// slot confirmed only as far as the client consumed, resuming in the middle
// of a transaction on a new connection without loss or duplicates, and the
// positions reset refuses.
func TestLogicalFeed(t *testing.T) {
	b := logicalBackend(t)
	shop(t, b)
	cfg := shopConfig()
	cfg.FeedPoll = 20 * time.Millisecond // the status interval too
	s := serve(t, b, cfg)
	ctx := ctxT(t)
	slot := s.a.SlotName("orders")
	var dbname string
	must(t, b.db.QueryRow("SELECT current_database()").Scan(&dbname))
	if s.a.FeedMode() != dbadapter.ModeLogical || slot != "ifkit_"+dbname+"_shop_orders" {
		t.Fatalf("mode %s, slot %s", s.a.FeedMode(), slot)
	}
	c, ctl := feedConn(t, s, "shop.orders.changes")
	must(t, ctl.Reset(ctx, "now"))
	before := slotLSN(t, b, slot)

	// One transaction of five inserts, then one of one.
	tx, err := b.db.Begin()
	must(t, err)
	for i := 1; i <= 5; i++ {
		_, err := tx.Exec(`INSERT INTO orders (customer, item) VALUES ('ada', $1)`, fmt.Sprint("t1-", i))
		must(t, err)
	}
	must(t, tx.Commit())
	b.exec(t, `INSERT INTO orders (customer, item) VALUES ('bob', 't2-1')`)

	c.Request(2)
	var positions []any
	var items []string
	for range 2 {
		m, err := c.Recv(ctx)
		must(t, err)
		v := decode(t, m)
		positions = append(positions, v["position"])
		items = append(items, v["row"].(map[string]any)["item"].(string))
	}
	if p := fmt.Sprint(positions[1]); !strings.HasSuffix(p, ":2") {
		t.Fatalf("the second change of a transaction of five is at %s, want X/Y:2", p)
	}
	// The slot may confirm at most the transaction's commit: it is
	// replayed from there, and the client's position says where in it.
	time.Sleep(200 * time.Millisecond)
	if got, max := slotLSN(t, b, slot), positionLSN(t, positions[1]); got > max {
		t.Fatalf("the slot confirmed %s after the client consumed the change at %v", got, positions[1])
	} else if got < before {
		t.Fatalf("the slot went back: %s before %s", got, before)
	}

	// A new connection resumes after the second change: the three others
	// and the next transaction, each once.
	c.Close("resume elsewhere")
	// The server may not have heard of the close yet when the next
	// connection opens: that one is refused as a second reader, and the
	// client tries again (an ended reader's feed is waited for).
	var c2 *iface.Conn
	var ctl2 *iface.Control
	eventually(t, "a new reader of the slot", func() error {
		c2 = connect(t, s, "shop.orders.changes", iface.WithPullMode(), iface.WithCredits(64))
		ctl, err := s.cl.Control(ctx, "shop.orders.changes", iface.AttachTo(c2))
		if err != nil {
			<-c2.Done()
			return fmt.Errorf("%v (the connection: %v)", err, c2.Err())
		}
		t.Cleanup(func() { ctl.Close() })
		ctl2 = ctl
		if err := ctl2.Reset(ctx, fmt.Sprint(positions[1])); err != nil {
			t.Logf("reset %v: %v", positions[1], err)
			c2.Close("try again")
			return err
		}
		return nil
	})
	c2.Request(10)
	for range 4 {
		m, err := c2.Recv(ctx)
		must(t, err)
		v := decode(t, m)
		positions = append(positions, v["position"])
		items = append(items, v["row"].(map[string]any)["item"].(string))
	}
	if got := strings.Join(items, " "); got != "t1-1 t1-2 t1-3 t1-4 t1-5 t2-1" {
		t.Fatalf("items %s", got)
	}
	if p := fmt.Sprint(positions[4]); strings.Contains(p, ":") {
		t.Fatalf("the last change of its transaction is at %s, want the transaction's end (X/Y)", p)
	}
	// Everything consumed: once the client's next grant says so (a grant
	// carries what it consumed), the slot confirms the last transaction's
	// end (or later: nothing else is for this feed).
	c2.Request(1)
	last := positionLSN(t, positions[5])
	eventually(t, "the slot to confirm the consumed changes", func() error {
		if got := slotLSN(t, b, slot); got < last {
			return fmt.Errorf("confirmed %s, the last change consumed ends at %s", got, last)
		}
		return nil
	})
	// A second reader of the same slot is told why it cannot be one.
	other := connect(t, s, "shop.orders.changes")
	select {
	case <-other.Done():
	case <-ctx.Done():
		t.Fatal("a second reader of the slot was not ended")
	}
	var ce *iface.CloseError
	if err := other.Err(); !errors.As(err, &ce) || ce.Code != iface.CodeLimitExceeded || !strings.Contains(ce.Reason, slot) {
		t.Fatalf("a second reader: %v, want limit_exceeded naming the slot", err)
	}

	// Positions reset refuses: inside a transaction the slot has gone
	// past, and a change table's id.
	var re *iface.RemoteError
	err = ctl2.Reset(ctx, fmt.Sprint(positions[0]))
	if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage || !strings.Contains(re.Reason, "gone past") {
		t.Fatalf("reset inside a transaction the slot has confirmed: %v", err)
	}
	err = ctl2.Reset(ctx, "42")
	if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage || !strings.Contains(re.Reason, "LSN") {
		t.Fatalf("reset 42: %v", err)
	}
	// start is the slot's confirmed position: nothing old comes again.
	must(t, ctl2.Reset(ctx, "start"))
	b.exec(t, `UPDATE orders SET qty = 2 WHERE item = 't2-1'`)
	m, err := c2.Recv(ctx)
	must(t, err)
	if v := decode(t, m); v["op"] != "update" || v["old"].(map[string]any)["qty"] != 1.0 || v["row"].(map[string]any)["qty"] != 2.0 {
		t.Fatalf("after reset start: %v", v)
	}
}

// TestFeedRowsMatchQueries: the feed's row of every column type is the
// row a query of the table gives, in both PostgreSQL feed modes.
func TestFeedRowsMatchQueries(t *testing.T) {
	t.Run("trigger", func(t *testing.T) {
		b := postgresBackend(t)
		b.mode = dbadapter.ModeTrigger
		feedRowsMatchQueries(t, b)
	})
	t.Run("logical", func(t *testing.T) { feedRowsMatchQueries(t, logicalBackend(t)) })
}

func feedRowsMatchQueries(t *testing.T, b *backend) {
	b.exec(t, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
		`CREATE TABLE kinds (id bigserial PRIMARY KEY, i2 smallint, i4 integer NOT NULL, f8 double precision, f4 real, n numeric(10,3), b boolean,
			t text, v varchar(8), c char(3), by bytea, ts timestamp, tz timestamptz, d date, j jsonb, js json, u uuid, m mood, iv interval, arr integer[])`)
	cfg := dbadapter.Config{Feeds: []string{"kinds"}, Raw: true, FeedPoll: 20 * time.Millisecond}
	s := serve(t, b, cfg)
	ctx := ctxT(t)
	c, ctl := feedConn(t, s, "db.kinds.changes")
	must(t, ctl.Reset(ctx, "now"))
	b.exec(t, `INSERT INTO kinds (i2, i4, f8, f4, n, b, t, v, c, by, ts, tz, d, j, js, u, m, iv, arr) VALUES
		(-7, 2147483647, 2.5, 0.1, 12.345, true, 'tomato "red"', 'basil', 'ab', '\xdeadbeef', '2026-12-01 10:11:12.345678', '2026-12-01 10:11:12+02', '2026-12-01',
		 '{"a": [1, 2]}', '{"b": 1}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', '1 day', '{1,2}')`,
		`INSERT INTO kinds (i4, f8) VALUES (0, 'NaN')`)
	q := connect(t, s, "db")
	st, err := q.CallStream(ctx, "Query", map[string]any{"sql": "SELECT * FROM kinds ORDER BY id"})
	must(t, err)
	c.Request(2)
	for i := 0; ; i++ {
		m, err := st.Recv(ctx)
		if errors.Is(err, io.EOF) {
			if i != 2 {
				t.Fatalf("%d rows", i)
			}
			break
		}
		must(t, err)
		want := decode(t, m)
		ch, err := c.Recv(ctx)
		must(t, err)
		got := decode(t, ch)["row"].(map[string]any)
		if b.mode == dbadapter.ModeTrigger {
			// An array column is any JSON: to_jsonb gives a JSON array, a
			// query PostgreSQL's text form ({1,2}).
			delete(got, "arr")
			delete(want, "arr")
		}
		if !reflect.DeepEqual(got, want) {
			for k := range want {
				if !reflect.DeepEqual(got[k], want[k]) {
					t.Errorf("row %d column %s: the feed gives %#v, a query %#v", i+1, k, got[k], want[k])
				}
			}
		}
	}
}
