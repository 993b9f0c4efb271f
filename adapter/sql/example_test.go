package dbadapter_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/iface"
)

// A SQLite file served with a named query: the query's rows stream back
// as typed messages.
func Example() {
	dir, _ := os.MkdirTemp("", "dbadapter")
	defer os.RemoveAll(dir)
	dsn := "sqlite:" + filepath.Join(dir, "shop.db")
	db, _, _ := dbadapter.Open(dsn)
	db.Exec(`CREATE TABLE plants (id INTEGER PRIMARY KEY, name TEXT NOT NULL, height REAL)`)
	db.Exec(`INSERT INTO plants (name, height) VALUES ('basil', 0.3), ('tomato', 1.2)`)
	db.Close()

	ctx := context.Background()
	a, err := dbadapter.New(ctx, dsn, dbadapter.Config{
		Name:    "garden",
		Queries: map[string]dbadapter.Query{"Taller": {SQL: "SELECT name, height FROM plants WHERE height > :min ORDER BY name", Params: map[string]string{"min": "number"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	srv := iface.NewServer()
	a.Register(srv)
	defer srv.Close()
	mem := iface.NewMemNetwork()
	l, _ := iface.Listen(ctx, "mem://garden", iface.WithMemNetwork(mem))
	go srv.Serve(l)

	cl, _ := iface.Dial(ctx, "mem://garden", iface.WithMemNetwork(mem))
	defer cl.Close()
	conn, _ := cl.Connect(ctx, "garden")
	defer conn.Close("done")
	rows, _ := conn.CallStream(ctx, "Taller", map[string]any{"min": 0.1})
	for {
		m, err := rows.Recv(ctx)
		if err == io.EOF {
			break
		}
		v, _ := m.JSON()
		fmt.Println(m.Type.Name, string(v))
	}
	// Output:
	// TallerRow {"name":"basil","height":0.3}
	// TallerRow {"name":"tomato","height":1.2}
}
