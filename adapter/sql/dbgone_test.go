package dbadapter_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/iface"
)

// proxy is a TCP proxy between the adapter and PostgreSQL that the test
// cuts: every connection through it is closed, and new ones are closed as
// they come, until it is restored. PostgreSQL itself keeps running.
type proxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newProxy(t testing.TB, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// cut closes every connection through the proxy and refuses new ones.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestDatabaseGoesAway: the database becomes unreachable (the proxy between
// the adapter and PostgreSQL is cut) during a streamed query, a sink's batch
// and a feed. Each is told with transport_error and a reason; the batch is
// refused whole and nothing of it is stored; the other connections stay
// open; once the database is back, the adapter's pool connects again and
// every interface works.
func TestDatabaseGoesAway(t *testing.T) {
	for _, mode := range []string{dbadapter.ModeTrigger, dbadapter.ModeLogical} {
		t.Run(mode, func(t *testing.T) {
			b := postgresBackend(t)
			if mode == dbadapter.ModeLogical {
				b = logicalBackend(t)
			}
			shop(t, b)
			p := newProxy(t, "127.0.0.1:5432")
			b.dsn = strings.Replace(b.dsn, "127.0.0.1:5432", p.addr(), 1) + "&connect_timeout=5"
			cfg := shopConfig()
			cfg.Mode = mode
			cfg.Queries["Series"] = dbadapter.Query{SQL: "SELECT generate_series(1, 5000000) AS g, repeat('x', 200) AS pad"}
			cfg.Sinks["orders"] = dbadapter.Sink{Key: []string{"src", "seq"}, Batch: 64}
			s := serve(t, b, cfg)
			ctx := ctxT(t)

			// A stream that has started.
			q := connect(t, s, "shop", iface.WithPullMode())
			st, err := q.CallStream(ctx, "Series", map[string]any{})
			must(t, err)
			q.Request(8) // the window: the manifest's credits
			for range 8 {
				_, err := st.Recv(ctx)
				must(t, err)
			}
			// A feed that has delivered a change.
			f := connect(t, s, "shop.orders.changes")
			fctl, err := s.cl.Control(ctx, "shop.orders.changes", iface.AttachTo(f))
			must(t, err)
			defer fctl.Close()
			must(t, fctl.Reset(ctx, "now"))
			b.exec(t, `INSERT INTO orders (customer, item, src, seq) VALUES ('ada', 'before', 'direct', 1)`)
			m, err := f.Recv(ctx)
			must(t, err)
			feedPos := decode(t, m)["position"]
			// A batch held inside its transaction: the test's own connection
			// (not through the proxy) locks the table, so the sink's INSERT
			// waits for the lock when the proxy is cut.
			lock, err := b.db.BeginTx(ctx, nil)
			must(t, err)
			_, err = lock.Exec(`LOCK TABLE orders IN EXCLUSIVE MODE`)
			must(t, err)
			var mu sync.Mutex
			var refused []*iface.RemoteError
			sink := connect(t, s, "shop.orders.sink", iface.WithOnRefused(func(_ *iface.Conn, e *iface.RemoteError) {
				mu.Lock()
				refused = append(refused, e)
				mu.Unlock()
			}))
			other := connect(t, s, "shop.orders.sink")
			batch := make([]any, 3)
			for i := range batch {
				batch[i] = map[string]any{"customer": "bob", "item": fmt.Sprint("cut ", i), "src": "cut", "seq": i}
			}
			_, err = sink.SendBatch(ctx, "Row", batch)
			must(t, err)
			eventually(t, "the sink's INSERT waiting for the lock", func() error {
				if n := b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO%'`); n != 1 {
					return fmt.Errorf("%d waiting", n)
				}
				return nil
			})

			p.cut()
			must(t, lock.Rollback())

			// The stream ends with transport_error once the rows the
			// sockets held are read.
			var re *iface.RemoteError
			for got := 8; ; got++ {
				q.Request(1)
				_, err := st.Recv(ctx)
				if err == nil {
					continue
				}
				if !errors.As(err, &re) || re.Code != iface.CodeTransportError || !strings.Contains(re.Reason, "Series") || !strings.Contains(re.Reason, "database") {
					t.Fatalf("the stream after %d rows: %v, want transport_error saying the database went away", got, err)
				}
				t.Logf("the stream: %s", re.Reason)
				break
			}
			// The batch: refused whole, the cause named.
			eventually(t, "the batch's refusals", func() error {
				mu.Lock()
				defer mu.Unlock()
				if len(refused) != 3 {
					return fmt.Errorf("%d refusals", len(refused))
				}
				return nil
			})
			mu.Lock()
			for i, e := range refused {
				if e.Code != iface.CodeTransportError {
					t.Errorf("message %d of the batch refused with %v, want transport_error", i, e)
				}
			}
			t.Logf("the batch: %s / %s", refused[0].Reason, refused[1].Reason)
			mu.Unlock()
			// The feed: ended with transport_error and where it was.
			select {
			case <-f.Done():
			case <-ctx.Done():
				t.Fatal("the feed goes on while the database is away")
			}
			var ce *iface.CloseError
			if !errors.As(f.Err(), &ce) || ce.Code != iface.CodeTransportError || !strings.Contains(ce.Reason, fmt.Sprint(feedPos)) {
				t.Fatalf("the feed ended with %v, want transport_error naming its position %v", f.Err(), feedPos)
			}
			t.Logf("the feed: %s", ce.Reason)
			// The others are still open.
			for _, c := range []*iface.Conn{q, sink, other} {
				if c.Err() != nil {
					t.Fatalf("a connection ended with the database: %v", c.Err())
				}
			}
			if n := b.count(t, `SELECT count(*) FROM orders WHERE src = 'cut'`); n != 0 {
				t.Fatalf("%d rows of the failed batch were stored", n)
			}

			// The database is back: everything works again.
			p.restore()
			eventually(t, "a statement after the database came back", func() error {
				q.Request(1) // pull mode: credit for the answer
				_, err := q.Call(ctx, "AddOrder", map[string]any{"customer": "eve", "item": "after", "qty": 1})
				return err
			})
			f2 := connect(t, s, "shop.orders.changes")
			f2ctl, err := s.cl.Control(ctx, "shop.orders.changes", iface.AttachTo(f2))
			must(t, err)
			defer f2ctl.Close()
			must(t, f2ctl.Reset(ctx, fmt.Sprint(feedPos)))
			_, err = other.SendBatch(ctx, "Row", batch) // the failed batch, sent again
			must(t, err)
			want := []string{"after", "cut 0", "cut 1", "cut 2"}
			for _, w := range want {
				m, err := f2.Recv(ctx)
				must(t, err)
				if got := decode(t, m)["row"].(map[string]any)["item"]; got != w {
					t.Fatalf("the feed after the database came back: %v, want %s", got, w)
				}
			}
			if n := b.count(t, `SELECT count(*) FROM orders WHERE src = 'cut'`); n != 3 {
				t.Fatalf("%d rows of the batch sent again", n)
			}
		})
	}
}
