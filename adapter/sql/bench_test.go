package dbadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
)

// The benchmarks stream and insert benchRows rows through the adapter and
// directly with pgx (and COPY), reporting rows/s; BENCHMARKS.md has a run.
// CI never runs them (go test without -bench).
//
//	go test ./adapter/sql -run '^$' -bench . -benchtime 5x
const benchRows = 20000

func benchTable(b *testing.B, be *backend) {
	be.exec(b, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, price REAL, src TEXT, seq INTEGER)`)
}

func fillItems(b *testing.B, be *backend) {
	tx, err := be.db.Begin()
	must(b, err)
	for i := range benchRows {
		_, err := tx.Exec(fmt.Sprintf("INSERT INTO items (name, qty, price) VALUES ('item %d', %d, %d.5)", i, i%100, i))
		must(b, err)
	}
	must(b, tx.Commit())
}

func rowsPerSecond(b *testing.B, rows int) {
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkQueryStream(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			be := sqliteBackend(b)
			if name == "postgres" {
				be = postgresBackend(b)
			}
			benchTable(b, be)
			fillItems(b, be)
			q := "SELECT id, name, qty, price FROM items ORDER BY id"
			b.Run("adapter", func(b *testing.B) {
				s := serve(b, be, dbadapter.Config{Queries: map[string]dbadapter.Query{"All": {SQL: q}}, Credits: 256})
				c := connect(b, s, "db")
				ctx := context.Background()
				b.ResetTimer()
				for range b.N {
					st, err := c.CallStream(ctx, "All", map[string]any{})
					must(b, err)
					n := 0
					for {
						if _, err := st.Recv(ctx); errors.Is(err, io.EOF) {
							break
						} else if err != nil {
							b.Fatal(err)
						}
						n++
					}
					if n != benchRows {
						b.Fatalf("%d rows", n)
					}
				}
				rowsPerSecond(b, benchRows)
			})
			b.Run("database-sql", func(b *testing.B) {
				for range b.N {
					rows, err := be.db.Query(q)
					must(b, err)
					vals := make([]any, 4)
					ptrs := []any{&vals[0], &vals[1], &vals[2], &vals[3]}
					for rows.Next() {
						must(b, rows.Scan(ptrs...))
					}
					rows.Close()
				}
				rowsPerSecond(b, benchRows)
			})
			if name != "postgres" {
				return
			}
			b.Run("pgx", func(b *testing.B) {
				conn, err := pgx.Connect(context.Background(), be.dsn)
				must(b, err)
				defer conn.Close(context.Background())
				b.ResetTimer()
				for range b.N {
					rows, err := conn.Query(context.Background(), q)
					must(b, err)
					for rows.Next() {
						if _, err := rows.Values(); err != nil {
							b.Fatal(err)
						}
					}
					rows.Close()
				}
				rowsPerSecond(b, benchRows)
			})
		})
	}
}

func BenchmarkSinkInsert(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			be := sqliteBackend(b)
			if name == "postgres" {
				be = postgresBackend(b)
			}
			benchTable(b, be)
			row := func(i int) map[string]any {
				return map[string]any{"name": fmt.Sprint("item ", i), "qty": i % 100, "price": float64(i) + 0.5}
			}
			b.Run("adapter", func(b *testing.B) {
				s := serve(b, be, dbadapter.Config{Sinks: map[string]dbadapter.Sink{"items": {Batch: 256}}, Credits: 512})
				c := connect(b, s, "db.items.sink")
				ctx := context.Background()
				vs := make([]any, benchRows)
				for i := range vs {
					vs[i] = row(i)
				}
				b.ResetTimer()
				sent := uint64(0)
				for range b.N {
					_, err := c.SendBatch(ctx, "Row", vs)
					must(b, err)
					sent += benchRows
					for c.PeerConsumed() < sent { // the last batch's grant says it committed
						time.Sleep(100 * time.Microsecond)
					}
				}
				rowsPerSecond(b, benchRows)
			})
			if name != "postgres" {
				return
			}
			conn, err := pgx.Connect(context.Background(), be.dsn)
			must(b, err)
			defer conn.Close(context.Background())
			ctx := context.Background()
			b.Run("pgx-batch", func(b *testing.B) { // the sink's work done by hand: batches of 256 in one transaction each
				for range b.N {
					for start := 0; start < benchRows; start += 256 {
						tx, err := conn.Begin(ctx)
						must(b, err)
						var batch pgx.Batch
						for i := start; i < min(start+256, benchRows); i++ {
							batch.Queue("INSERT INTO items (name, qty, price) VALUES ($1, $2, $3)", fmt.Sprint("item ", i), i%100, float64(i)+0.5)
						}
						must(b, tx.SendBatch(ctx, &batch).Close())
						must(b, tx.Commit(ctx))
					}
				}
				rowsPerSecond(b, benchRows)
			})
			b.Run("copy", func(b *testing.B) {
				for range b.N {
					src := make([][]any, benchRows)
					for i := range src {
						src[i] = []any{fmt.Sprint("item ", i), int64(i % 100), float64(i) + 0.5}
					}
					_, err := conn.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"name", "qty", "price"}, pgx.CopyFromRows(src))
					must(b, err)
				}
				rowsPerSecond(b, benchRows)
			})
		})
	}
}
