package dbadapter_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
)

// shop is the test table both backends share.
func shop(t *testing.T, b *backend) {
	b.exec(t,
		`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, item VARCHAR(40) NOT NULL, qty INTEGER NOT NULL DEFAULT 1, price REAL, paid BOOLEAN NOT NULL DEFAULT false, note TEXT, src TEXT, seq INTEGER, CHECK (qty > 0))`,
		`CREATE UNIQUE INDEX orders_src_seq ON orders (src, seq)`,
	)
}

func shopConfig() dbadapter.Config {
	return dbadapter.Config{
		Name: "shop",
		Queries: map[string]dbadapter.Query{
			"OrdersOf":  {SQL: "SELECT id, item, qty, price, paid, note FROM orders WHERE customer = :customer ORDER BY id", Params: map[string]string{"customer": "string"}},
			"AllOrders": {SQL: "SELECT id, customer, item FROM orders ORDER BY id"},
		},
		Statements: map[string]dbadapter.Query{
			"AddOrder":    {SQL: "INSERT INTO orders (customer, item, qty) VALUES (:customer, :item, :qty)", Params: map[string]string{"customer": "string", "item": "string?", "qty": "integer"}},
			"CancelOrder": {SQL: "DELETE FROM orders WHERE id = :id", Params: map[string]string{"id": "integer"}},
		},
		Sinks:      map[string]dbadapter.Sink{"orders": {Key: []string{"src", "seq"}, Batch: 16}},
		Feeds:      []string{"orders"},
		Credits:    8,
		SchemaPoll: 50 * time.Millisecond,
		FeedPoll:   50 * time.Millisecond,
	}
}

func TestManifestsFromTheSchema(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		s := serve(t, b, shopConfig())
		var names []string
		for _, m := range s.srv.Interfaces() {
			names = append(names, m.Name)
		}
		if got, want := strings.Join(names, " "), "shop shop.orders.changes shop.orders.sink"; got != want {
			t.Fatalf("interfaces %q, want %q", got, want)
		}
		sink := string(s.srv.Interfaces()[2].Canonical())
		for _, want := range []string{`"required":["customer","item","seq","src"]`, `"additionalProperties":false`, `"maxLength":40`, `"paid":{"description":"SQL type `} {
			if !strings.Contains(sink, want) {
				t.Errorf("the sink's manifest %s lacks %q", sink, want)
			}
		}
		main := s.srv.Interfaces()[0]
		q, _ := main.Type("OrdersOf")
		if q.Reply == nil || !q.Reply.Stream || q.Reply.Type != "OrdersOfRow" {
			t.Fatalf("OrdersOf's reply is %+v, want a stream of OrdersOfRow", q.Reply)
		}
		if rs := string(main.Canonical()); !strings.Contains(rs, `"id":{"description":"SQL type `) || !strings.Contains(rs, `"type":["integer","null"]`) {
			t.Errorf("the queries' manifest %s: want OrdersOfRow's id typed from its column, nullable", rs)
		}
	})
}

func TestQueriesAndStatements(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		s := serve(t, b, shopConfig())
		ctx := ctxT(t)
		c := connect(t, s, "shop")
		for i, item := range []string{"tomatoes", "basil", "soil"} {
			m, err := c.Call(ctx, "AddOrder", map[string]any{"customer": "ada", "item": item, "qty": i + 1})
			must(t, err)
			if v := decode(t, m); v["rows_affected"] != 1.0 {
				t.Fatalf("AddOrder answered %v", v)
			}
		}
		st, err := c.CallStream(ctx, "OrdersOf", map[string]any{"customer": "ada"})
		must(t, err)
		var items []string
		for {
			m, err := st.Recv(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			must(t, err)
			v := decode(t, m)
			items = append(items, fmt.Sprintf("%v:%v:%v:%v", v["item"], v["qty"], v["paid"], v["note"]))
		}
		if got := strings.Join(items, " "); got != "tomatoes:1:false:<nil> basil:2:false:<nil> soil:3:false:<nil>" {
			t.Fatalf("rows %s", got)
		}
		m, err := c.Call(ctx, "CancelOrder", map[string]any{"id": 2})
		must(t, err)
		if v := decode(t, m); v["rows_affected"] != 1.0 {
			t.Fatalf("CancelOrder answered %v", v)
		}
		if n := b.count(t, "SELECT count(*) FROM orders"); n != 2 {
			t.Fatalf("%d orders left, want 2", n)
		}
	})
}

// TestBadInput: each failure gets its code and the database's reason, and
// the connection (and the others) go on.
func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		s := serve(t, b, shopConfig())
		ctx := ctxT(t)
		c := connect(t, s, "shop")
		other := connect(t, s, "shop")

		// A parameter of the wrong type fails its type's schema before it is sent.
		if _, err := c.Call(ctx, "CancelOrder", map[string]any{"id": "two"}); err == nil || !strings.Contains(err.Error(), "id") {
			t.Fatalf("a string id: %v", err)
		}
		// A NOT NULL violation: the optional item is absent, the column is NOT NULL.
		_, err := c.Call(ctx, "AddOrder", map[string]any{"customer": "ada", "qty": 1})
		var re *iface.RemoteError
		if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage || !strings.Contains(re.Reason, "item") {
			t.Fatalf("a NULL item: %v, want invalid_message naming item", err)
		}
		// A CHECK violation.
		_, err = c.Call(ctx, "AddOrder", map[string]any{"customer": "ada", "item": "x", "qty": 0})
		if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage || !strings.Contains(strings.ToLower(re.Reason), "check") {
			t.Fatalf("qty 0: %v, want invalid_message naming the check", err)
		}
		// A statement the configuration does not offer is not a type here.
		if _, err := c.Call(ctx, "Exec", map[string]any{"sql": "DROP TABLE orders"}); err == nil {
			t.Fatal("raw SQL went through a configuration that does not allow it")
		}
		// Both connections still work.
		for _, conn := range []*iface.Conn{c, other} {
			if _, err := conn.Call(ctx, "AddOrder", map[string]any{"customer": "ada", "item": "x", "qty": 1}); err != nil {
				t.Fatalf("after the bad input: %v", err)
			}
		}
	})
}

// TestQueryFollowsCredit: the adapter sends a query's rows only as the
// client grants credit; the rest wait in the database's cursor.
func TestQueryFollowsCredit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		const rows = 500
		tx, err := b.db.Begin()
		must(t, err)
		for i := range rows {
			_, err := tx.Exec(fmt.Sprintf("INSERT INTO orders (customer, item) VALUES ('ada', 'item %d')", i))
			must(t, err)
		}
		must(t, tx.Commit())
		s := serve(t, b, shopConfig())
		ctx := ctxT(t)
		c := connect(t, s, "shop", iface.WithPullMode(), iface.WithCredits(8))
		st, err := c.CallStream(ctx, "AllOrders", map[string]any{})
		must(t, err)
		c.Request(3)
		for range 3 {
			_, err := st.Recv(ctx)
			must(t, err)
		}
		// Without more credit, nothing more comes (a Recv that gave up
		// would end the stream, so the counters tell).
		time.Sleep(200 * time.Millisecond)
		if got := c.Stats().ReceivedMessages; got != 3 {
			t.Fatalf("received %d rows with 3 credits", got)
		}
		got := 3
		for {
			c.Request(1)
			_, err := st.Recv(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("after %d rows: %v (client stats %+v)", got, err, c.Stats())
			}
			got++
		}
		if got != rows {
			t.Fatalf("got %d rows of %d", got, rows)
		}
	})
}

func TestRawAndTransactions(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		cfg := shopConfig()
		cfg.Raw, cfg.Transactions = true, true
		s := serve(t, b, cfg)
		ctx := ctxT(t)
		c := connect(t, s, "shop")
		ph := "?"
		if b.name == "postgres" {
			ph = "$1"
		}
		_, err := c.Call(ctx, "Begin", map[string]any{})
		must(t, err)
		_, err = c.Call(ctx, "Exec", map[string]any{"sql": "INSERT INTO orders (customer, item) VALUES (" + ph + ", 'tx')", "args": []any{"bob"}})
		must(t, err)
		if n := b.count(t, "SELECT count(*) FROM orders"); n != 0 {
			t.Fatalf("an uncommitted insert is visible outside: %d rows", n)
		}
		_, err = c.Call(ctx, "Begin", map[string]any{})
		var re *iface.RemoteError
		if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage {
			t.Fatalf("a second Begin: %v", err)
		}
		_, err = c.Call(ctx, "Commit", map[string]any{})
		must(t, err)
		st, err := c.CallStream(ctx, "Query", map[string]any{"sql": "SELECT customer, item FROM orders"})
		must(t, err)
		m, err := st.Recv(ctx)
		must(t, err)
		if v := decode(t, m); v["customer"] != "bob" || v["item"] != "tx" {
			t.Fatalf("raw query row %v", v)
		}
		// The end of a connection rolls its open transaction back.
		c2 := connect(t, s, "shop")
		_, err = c2.Call(ctx, "Begin", map[string]any{})
		must(t, err)
		_, err = c2.Call(ctx, "Exec", map[string]any{"sql": "DELETE FROM orders"})
		must(t, err)
		c2.Close("test: rolls back")
		eventually(t, "the rollback", func() error {
			if n := b.count(t, "SELECT count(*) FROM orders"); n != 1 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
		// SQL the database refuses.
		_, err = c.Call(ctx, "Exec", map[string]any{"sql": "INSERT INTO nowhere VALUES (1)"})
		if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage || !strings.Contains(re.Reason, "nowhere") {
			t.Fatalf("a missing table: %v", err)
		}
	})
}

// TestSink: batches, credit after commit, the key against re-sends, and a
// failed batch rolled back whole and reported while another connection
// goes on.
func TestSink(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		s := serve(t, b, shopConfig())
		ctx := ctxT(t)
		var mu sync.Mutex
		var refused []*iface.RemoteError
		c := connect(t, s, "shop.orders.sink", iface.WithOnRefused(func(_ *iface.Conn, e *iface.RemoteError) {
			mu.Lock()
			refused = append(refused, e)
			mu.Unlock()
		}))
		for i := 1; i <= 40; i++ {
			must(t, c.Send(ctx, "Row", map[string]any{"customer": "ada", "item": fmt.Sprint("i", i), "src": "c1", "seq": i}))
		}
		eventually(t, "40 rows", func() error {
			if n := b.count(t, "SELECT count(*) FROM orders"); n != 40 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
		// The same messages again (a client that re-sends after a reconnect): no duplicates.
		for i := 1; i <= 40; i++ {
			must(t, c.Send(ctx, "Row", map[string]any{"customer": "ada", "item": fmt.Sprint("i", i), "src": "c1", "seq": i}))
		}
		must(t, c.Send(ctx, "Row", map[string]any{"customer": "ada", "item": "last", "src": "c1", "seq": 41}))
		eventually(t, "41 rows", func() error {
			if n := b.count(t, "SELECT count(*) FROM orders"); n != 41 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
		// A batch with a CHECK violation: nothing of it is stored.
		other := connect(t, s, "shop.orders.sink")
		pause := connect(t, s, "shop")
		_ = pause
		msgs := []map[string]any{
			{"customer": "bob", "item": "a", "src": "c2", "seq": 1, "qty": 1},
			{"customer": "bob", "item": "b", "src": "c2", "seq": 2, "qty": 0}, // one INSERT of three rows: which one failed is found again
			{"customer": "bob", "item": "c", "src": "c2", "seq": 3, "qty": 1},
		}
		vs := make([]any, len(msgs))
		for i, m := range msgs {
			vs[i] = m
		}
		_, err := c.SendBatch(ctx, "Row", vs)
		must(t, err)
		must(t, other.Send(ctx, "Row", map[string]any{"customer": "eve", "item": "ok", "src": "c3", "seq": 1}))
		eventually(t, "the refusals", func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(refused) == 0 {
				return errors.New("none yet")
			}
			return nil
		})
		eventually(t, "the other connection's row", func() error {
			if n := b.count(t, "SELECT count(*) FROM orders WHERE src = 'c3'"); n != 1 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
		eventually(t, "three refusals", func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(refused) != 3 {
				return fmt.Errorf("%d", len(refused))
			}
			return nil
		})
		mu.Lock()
		for _, e := range refused {
			if e.Code != iface.CodeInvalidMessage {
				t.Errorf("refused with %v", e)
			}
		}
		if !strings.Contains(refused[1].Reason, "CHECK") && !strings.Contains(refused[1].Reason, "check") || !strings.Contains(refused[0].Reason, "rolled back with its batch") {
			t.Errorf("the failing message is not the second: %v", refused)
		}
		reasons := fmt.Sprint(refused)
		mu.Unlock()
		if !strings.Contains(strings.ToLower(reasons), "check") {
			t.Errorf("the refusals %s do not name the check constraint", reasons)
		}
		if n := b.count(t, "SELECT count(*) FROM orders WHERE src = 'c2'"); n != 0 {
			t.Fatalf("%d rows of the failed batch were stored", n)
		}
		// The connection goes on after the failed batch.
		must(t, c.Send(ctx, "Row", map[string]any{"customer": "bob", "item": "again", "src": "c2", "seq": 4}))
		eventually(t, "the row after the failed batch", func() error {
			if n := b.count(t, "SELECT count(*) FROM orders WHERE src = 'c2'"); n != 1 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
	})
}

// TestFeed: inserts, updates and deletes arrive in order with their
// positions, and reset moves the feed; on every backend and feed mode.
func TestFeed(t *testing.T) {
	eachFeedBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		s := serve(t, b, shopConfig())
		ctx := ctxT(t)
		c := connect(t, s, "shop.orders.changes")
		// A feed starts at the latest change when its goroutine starts,
		// which may be after connect returns: reset now makes it exact.
		ctl, err := s.cl.Control(ctx, "shop.orders.changes", iface.AttachTo(c))
		must(t, err)
		defer ctl.Close()
		must(t, ctl.Reset(ctx, "now"))
		b.exec(t, `INSERT INTO orders (customer, item, price) VALUES ('ada', 'tomatoes', 2.5)`,
			`UPDATE orders SET qty = 3, paid = true WHERE item = 'tomatoes'`,
			`DELETE FROM orders WHERE item = 'tomatoes'`)
		var got []string
		var positions []any
		for range 3 {
			m, err := c.Recv(ctx)
			must(t, err)
			v := decode(t, m)
			row := v["row"].(map[string]any)
			got = append(got, fmt.Sprintf("%v:%v:%v:%v", v["op"], row["qty"], row["paid"], row["price"]))
			positions = append(positions, v["position"])
		}
		if s := strings.Join(got, " "); s != "insert:1:false:2.5 update:3:true:2.5 delete:3:true:2.5" {
			t.Fatalf("changes %s", s)
		}
		if positions[0] == positions[1] || positions[1] == positions[2] {
			t.Fatalf("positions %v repeat", positions)
		}
		// reset to the first change's position: the two after it again.
		must(t, ctl.Reset(ctx, fmt.Sprint(positions[0])))
		for _, want := range positions[1:] {
			m, err := c.Recv(ctx)
			must(t, err)
			if p := decode(t, m)["position"]; p != want {
				t.Fatalf("after reset: position %v, want %v", p, want)
			}
		}
		// reset now, then only new changes.
		must(t, ctl.Reset(ctx, "now"))
		b.exec(t, `INSERT INTO orders (customer, item) VALUES ('bob', 'basil')`)
		m, err := c.Recv(ctx)
		must(t, err)
		if v := decode(t, m); v["op"] != "insert" || v["row"].(map[string]any)["item"] != "basil" {
			t.Fatalf("after reset now: %v", v)
		}
		err = ctl.Reset(ctx, "yesterday")
		var re *iface.RemoteError
		if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage {
			t.Fatalf("reset yesterday: %v", err)
		}
	})
}

// TestSchemaChanges: a table added, changed and dropped is announced on the
// control sub-interface.
func TestSchemaChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		cfg := dbadapter.DefaultConfig()
		cfg.SchemaPoll = 50 * time.Millisecond
		s := serve(t, b, cfg)
		ctx := ctxT(t)
		ctl, err := s.cl.Control(ctx, "")
		must(t, err)
		defer ctl.Close()
		b.exec(t, `CREATE TABLE plants (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
		next := func() control.Notification {
			select {
			case n := <-ctl.Notifications():
				return n
			case <-ctx.Done():
				t.Fatal("no notification")
			}
			return nil
		}
		n := next()
		if ic, ok := n.(*control.InterfacesChanged); !ok || strings.Join(ic.Added, " ") != "db.plants.sink" && strings.Join(ic.Added, " ") != "db.plants.changes" {
			t.Fatalf("after CREATE TABLE: %#v", n)
		}
		next() // the other of the two
		b.exec(t, `ALTER TABLE plants ADD COLUMN height REAL`)
		for range 2 {
			if mc, ok := next().(*control.ManifestChanged); !ok || !strings.HasPrefix(mc.Interface, "db.plants.") {
				t.Fatalf("after ALTER TABLE: %#v", mc)
			}
		}
		m, _ := s.srv.Interfaces()[len(s.srv.Interfaces())-1], 0
		_ = m
		b.exec(t, `DROP TABLE plants`)
		for range 2 {
			if ic, ok := next().(*control.InterfacesChanged); !ok || len(ic.Removed) != 1 {
				t.Fatalf("after DROP TABLE: %#v", ic)
			}
		}
		if s.a.FeedMode() == dbadapter.ModeLogical { // the dropped table's slot goes too
			eventually(t, "the dropped table's slot dropped", func() error {
				if n := b.count(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"+s.a.SlotName("plants")+"'"); n != 0 {
					return fmt.Errorf("%d slots", n)
				}
				return nil
			})
		}
	})
}

// TestSoakAcrossRestart: messages in = rows = messages out, on both
// backends, with the adapter closed and opened again in the middle: the
// client re-sends everything it had not seen acknowledged (PeerConsumed)
// and the key keeps re-sent rows from being stored twice; the feed is read
// in two parts, the second resumed with reset at the last position seen.
func TestSoakAcrossRestart(t *testing.T) {
	eachFeedBackend(t, func(t *testing.T, b *backend) {
		b.exec(t, `CREATE TABLE events (id INTEGER PRIMARY KEY, src TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT)`,
			`CREATE UNIQUE INDEX events_key ON events (src, seq)`)
		cfg := dbadapter.Config{Sinks: map[string]dbadapter.Sink{"events": {Key: []string{"src", "seq"}, Batch: 32}}, Feeds: []string{"events"}, Credits: 64}
		const n = 2000
		msg := func(i int) any { return map[string]any{"src": "soak", "seq": i, "body": fmt.Sprint("event ", i)} }
		ctx := ctxT(t)

		// First life: send everything, stop in the middle.
		s := serve(t, b, cfg)
		c := connect(t, s, "db.events.sink")
		for i := 1; i <= n/2; i++ {
			must(t, c.Send(ctx, "Row", msg(i)))
		}
		acked := c.PeerConsumed() // what the adapter confirmed stored, as far as the client knows
		t.Logf("%s: %d of %d confirmed stored before the restart; the rest is sent again", b.name, acked, n/2)
		s.close()
		// Second life: re-send from the first message not confirmed.
		s = serve(t, b, cfg)
		c = connect(t, s, "db.events.sink")
		for i := int(acked) + 1; i <= n; i++ {
			must(t, c.Send(ctx, "Row", msg(i)))
		}
		eventually(t, "every row", func() error {
			if got := b.count(t, "SELECT count(*) FROM events"); got != n {
				return fmt.Errorf("%d rows", got)
			}
			return nil
		})
		if d := b.count(t, "SELECT count(DISTINCT seq) FROM events"); d != n {
			t.Fatalf("%d distinct rows of %d", d, n)
		}

		seen := map[float64]bool{}
		read := func(s *served, from string, count int) any {
			f := connect(t, s, "db.events.changes", iface.WithPullMode())
			ctl, err := s.cl.Control(ctx, "db.events.changes", iface.AttachTo(f))
			must(t, err)
			defer ctl.Close()
			must(t, ctl.Reset(ctx, from))
			f.Request(64)
			var last any
			for range count {
				m, err := f.Recv(ctx)
				must(t, err)
				f.Request(1)
				v := decode(t, m)
				seq := v["row"].(map[string]any)["seq"].(float64)
				if seen[seq] {
					t.Fatalf("seq %v came twice", seq)
				}
				seen[seq] = true
				last = v["position"]
			}
			return last
		}
		last := read(s, dbadapter.PositionStart, n/2)
		s.close()
		s = serve(t, b, cfg)
		if f, ok := last.(float64); ok {
			last = int64(f)
		}
		read(s, fmt.Sprint(last), n-n/2)
		if len(seen) != n {
			t.Fatalf("the feed gave %d rows of %d", len(seen), n)
		}
	})
}

// TestRetention: the change table's old changes are pruned; a reset to a
// pruned position is refused with the reason, start goes to the oldest
// kept, and a feed that is caught up is not ended by pruning.
func TestRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *backend) {
		shop(t, b)
		cfg := shopConfig()
		cfg.Mode = dbadapter.ModeTrigger
		cfg.Retention = time.Second
		s := serve(t, b, cfg)
		ctx := ctxT(t)
		c := connect(t, s, "shop.orders.changes")
		ctl, err := s.cl.Control(ctx, "shop.orders.changes", iface.AttachTo(c))
		must(t, err)
		defer ctl.Close()
		must(t, ctl.Reset(ctx, "now"))
		// A reader that takes nothing while twenty changes come and go.
		slow := connect(t, s, "shop.orders.changes", iface.WithPullMode())
		slowCtl, err := s.cl.Control(ctx, "shop.orders.changes", iface.AttachTo(slow))
		must(t, err)
		defer slowCtl.Close()
		must(t, slowCtl.Reset(ctx, "now"))
		for i := range 20 {
			b.exec(t, fmt.Sprintf(`INSERT INTO orders (customer, item) VALUES ('eve', 'slow %d')`, i))
		}
		for range 20 {
			_, err := c.Recv(ctx)
			must(t, err)
		}
		b.exec(t, `INSERT INTO orders (customer, item) VALUES ('ada', 'old 1')`, `INSERT INTO orders (customer, item) VALUES ('ada', 'old 2')`)
		var positions []float64
		for range 2 {
			m, err := c.Recv(ctx)
			must(t, err)
			positions = append(positions, decode(t, m)["position"].(float64))
		}
		eventually(t, "the old changes pruned", func() error {
			var op string
			var id int64
			if err := b.db.QueryRow(`SELECT id, op FROM ifkit_changes ORDER BY id LIMIT 1`).Scan(&id, &op); err != nil {
				return err
			}
			if op != "pruned" || float64(id) < positions[1] {
				return fmt.Errorf("the first row is %d %s", id, op)
			}
			return nil
		})
		// The slow reader gets what its feed had read before the pruning (at
		// most a credit window), then is told it fell behind.
		got := 0
		for ; got <= 8; got++ {
			slow.Request(1)
			if _, err := slow.Recv(ctx); err != nil {
				break
			}
		}
		if got == 0 || got > 8 {
			t.Fatalf("the slow reader got %d changes before it was ended", got)
		}
		var ce *iface.CloseError
		if !errors.As(slow.Err(), &ce) || ce.Code != iface.CodeLimitExceeded || !strings.Contains(ce.Reason, "retention") {
			t.Fatalf("the slow reader: %v, want limit_exceeded saying it fell behind the retention", slow.Err())
		}
		err = ctl.Reset(ctx, fmt.Sprint(positions[0]))
		var re *iface.RemoteError
		if !errors.As(err, &re) || re.Code != iface.CodeInvalidMessage || !strings.Contains(re.Reason, "pruned") {
			t.Fatalf("reset to a pruned position: %v", err)
		}
		must(t, ctl.Reset(ctx, "start"))
		b.exec(t, `INSERT INTO orders (customer, item) VALUES ('bob', 'new')`)
		m, err := c.Recv(ctx)
		must(t, err)
		if v := decode(t, m); v["row"].(map[string]any)["item"] != "new" {
			t.Fatalf("after reset start: %v", v)
		}
		if c.Err() != nil {
			t.Fatalf("a feed that is caught up was ended: %v", c.Err())
		}
	})
}
