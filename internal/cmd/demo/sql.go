package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/iface"
)

// database serves a SQLite file in dir with adapter/sql, as `ifctl
// adapter sql` does, and uses its sink, a query, its change feed and a
// refusal by the database.
func database(ctx context.Context, out io.Writer, dir string) error {
	heading(out, "9. A database as interfaces (embedded SQLite, ifctl adapter sql, adapter/sql)")
	dsn := filepath.Join(dir, "garden.db")
	db, _, err := dbadapter.Open(dsn)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `CREATE TABLE plants (id INTEGER PRIMARY KEY, name TEXT NOT NULL, height REAL CHECK (height >= 0))`)
	db.Close()
	if err != nil {
		return err
	}
	cfg := dbadapter.DefaultConfig()
	cfg.Name = "garden"
	cfg.Queries = map[string]dbadapter.Query{"Taller": {SQL: "SELECT name, height FROM plants WHERE height > :min ORDER BY height", Params: map[string]string{"min": "number"}}}
	a, err := dbadapter.New(ctx, dsn, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	srv := iface.NewServer()
	if err := a.Register(srv); err != nil {
		return err
	}
	addr := "unix://" + filepath.Join(dir, "garden.sock")
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() { srv.Close(); <-served }()
	var names []string
	for _, m := range srv.Interfaces() {
		names = append(names, m.Name)
	}
	fmt.Fprintf(out, "   CREATE TABLE plants (id INTEGER PRIMARY KEY, name TEXT NOT NULL, height REAL CHECK (height >= 0))\n")
	fmt.Fprintf(out, "   the adapter serves %s on %s\n", strings.Join(names, ", "), addr)
	cl, err := iface.Dial(ctx, addr, iface.WithClientName("ifctl demo"))
	if err != nil {
		return err
	}
	defer cl.Close()

	refused := make(chan *iface.RemoteError, 1)
	sink, err := cl.Connect(ctx, "garden.plants.sink", iface.WithOnRefused(func(_ *iface.Conn, e *iface.RemoteError) {
		select {
		case refused <- e:
		default:
		}
	}))
	if err != nil {
		return err
	}
	defer sink.Close("demo step done")
	fmt.Fprintf(out, "   its Row type, from the schema: %s\n", rowFields(sink.Manifest().Canonical()))
	rows := []any{
		map[string]any{"name": "basil", "height": 0.3},
		map[string]any{"name": "tomato", "height": 1.2},
		map[string]any{"name": "sunflower", "height": 2.1},
	}
	if _, err := sink.SendBatch(ctx, "Row", rows); err != nil {
		return err
	}
	fmt.Fprintf(out, "   sink: sent %d rows; its credit comes back only once their batch has committed\n", len(rows))

	feed, err := cl.Connect(ctx, "garden.plants.changes", iface.WithPullMode())
	if err != nil {
		return err
	}
	defer feed.Close("demo step done")
	ctl, err := cl.Control(ctx, "garden.plants.changes", iface.AttachTo(feed))
	if err != nil {
		return err
	}
	defer ctl.Close()
	if err := ctl.Reset(ctx, dbadapter.PositionStart); err != nil {
		return err
	}
	feed.Request(len(rows))
	var changes []string
	for range rows {
		m, err := feed.Recv(ctx)
		if err != nil {
			return fmt.Errorf("the change feed: %w", err)
		}
		var ch struct {
			Position int64
			Op       string
			Row      struct{ Name string }
		}
		if err := m.Decode(&ch); err != nil {
			return err
		}
		changes = append(changes, fmt.Sprintf("#%d %s %s", ch.Position, ch.Op, ch.Row.Name))
	}
	fmt.Fprintf(out, "   change feed after reset start: %s\n", strings.Join(changes, ", "))

	q, err := cl.Connect(ctx, "garden")
	if err != nil {
		return err
	}
	defer q.Close("demo step done")
	st, err := q.CallStream(ctx, "Taller", map[string]any{"min": 0.5})
	if err != nil {
		return err
	}
	var taller []string
	for {
		m, err := st.Recv(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		v, _ := m.JSON()
		taller = append(taller, string(v))
	}
	fmt.Fprintf(out, "   query Taller {\"min\":0.5}, rows streamed at the client's credit: %s\n", strings.Join(taller, " "))

	if err := sink.Send(ctx, "Row", map[string]any{"name": "cactus", "height": -1}); err != nil {
		return err
	}
	select {
	case e := <-refused:
		fmt.Fprintf(out, "   a row the database refuses (height -1): %s: %s\n", e.Code, e.Reason)
	case <-ctx.Done():
		return errors.New("the sink did not refuse a row that breaks the CHECK constraint")
	}
	return nil
}

// rowFields lists the members of the sink's Row schema and their types,
// from its canonical manifest.
func rowFields(canonical []byte) string {
	var m struct {
		Messages struct {
			Recv map[string]struct {
				Schema struct {
					Properties map[string]struct {
						Type any `json:"type"`
					} `json:"properties"`
					Required []string `json:"required"`
				} `json:"schema"`
			} `json:"recv"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(canonical, &m); err != nil {
		return "?"
	}
	s := m.Messages.Recv["Row"].Schema
	var parts []string
	for _, name := range []string{"id", "name", "height"} {
		p := s.Properties[name]
		t := fmt.Sprint(p.Type)
		if list, ok := p.Type.([]any); ok {
			var ts []string
			for _, x := range list {
				ts = append(ts, fmt.Sprint(x))
			}
			t = strings.Join(ts, "|")
		}
		for _, r := range s.Required {
			if r == name {
				t += " (required)"
			}
		}
		parts = append(parts, name+" "+t)
	}
	return strings.Join(parts, ", ")
}
