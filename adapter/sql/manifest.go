package dbadapter

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ifkit/ifkit/manifest"
)

// The message type names the adapter defines.
const (
	TypeResult   = "Result"   // a statement's answer: rows affected
	TypeQuery    = "Query"    // raw SQL answered by rows
	TypeExec     = "Exec"     // raw SQL answered by a Result
	TypeRawRow   = "RawRow"   // a row of raw SQL
	TypeBegin    = "Begin"    // open a transaction on the connection
	TypeCommit   = "Commit"   // commit it
	TypeRollback = "Rollback" // roll it back
	TypeTx       = "Tx"       // the answer to Begin, Commit and Rollback
	TypeRow      = "Row"      // a sink's message: one row of its table
	TypeChange   = "Change"   // a feed's message: one change of its table
)

// Interface names of a table's sink and feed.
func sinkName(cfg *Config, t string) string { return cfg.Name + "." + t + ".sink" }
func feedName(cfg *Config, t string) string { return cfg.Name + "." + t + ".changes" }

// build is what one reading of the schema serves: the manifests, by
// interface name, with what their handlers need.
type build struct {
	fp      string
	tables  map[string]*table
	queries map[string]*prepared // by type name
	mains   *manifest.Manifest   // the queries' interface; nil when it has no types
	sinks   map[string]*manifest.Manifest
	feeds   map[string]*manifest.Manifest
}

func (a *Adapter) flow() map[string]any {
	return map[string]any{"credits": a.cfg.Credits, "max_message_bytes": a.cfg.MaxMessageBytes, "on_exhausted": "block"}
}

func (a *Adapter) parse(name string, doc map[string]any) (*manifest.Manifest, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(name+".json", data)
	if err != nil {
		return nil, fmt.Errorf("the manifest made for %s does not load (a bug in the adapter): %w", name, err)
	}
	return m, nil
}

// mainManifest is the manifest of the queries' interface.
func (a *Adapter) mainManifest(queries map[string]*prepared) (*manifest.Manifest, error) {
	recv, send := map[string]any{}, map[string]any{}
	var desc strings.Builder
	fmt.Fprintf(&desc, "Queries and statements on a %s database, from the adapter's configuration.\n\n", a.d.name())
	result := map[string]any{"type": "object", "required": []string{"rows_affected"}, "properties": map[string]any{
		"rows_affected": map[string]any{"type": "integer", "minimum": 0, "description": "rows the statement inserted, updated or deleted"},
	}}
	names := sortedKeys(queries)
	for _, n := range names {
		p := queries[n]
		t := map[string]any{"schema": p.paramSchema()}
		d := p.q.Description
		if d != "" {
			d += "\n\n"
		}
		t["description"] = d + "```sql\n" + strings.TrimSpace(p.q.SQL) + "\n```"
		if p.stmt {
			t["reply"] = map[string]any{"type": TypeResult}
			send[TypeResult] = map[string]any{"description": "What a statement did.", "schema": result}
			fmt.Fprintf(&desc, "- `%s`: a statement, answered by one `Result`\n", n)
		} else {
			t["reply"] = map[string]any{"type": n + "Row", "stream": true}
			send[n+"Row"] = map[string]any{"description": "One row of " + n + ".", "schema": objectSchema(n+"Row", p.cols, nil, false)}
			fmt.Fprintf(&desc, "- `%s`: a query, answered by a stream of `%sRow`, read from the database as the client grants credit\n", n, n)
		}
		recv[n] = t
	}
	args := map[string]any{"type": "array", "description": "the values of the SQL's placeholders (? in SQLite, $1 in PostgreSQL), in order", "maxItems": 1000}
	raw := func(what string) map[string]any {
		return map[string]any{"type": "object", "required": []string{"sql"}, "additionalProperties": false, "properties": map[string]any{
			"sql": map[string]any{"type": "string", "minLength": 1, "description": what}, "args": args,
		}}
	}
	if a.cfg.Raw {
		recv[TypeQuery] = map[string]any{"description": "Any SQL that returns rows (the configuration allows raw SQL).", "schema": raw("the SQL"), "reply": map[string]any{"type": TypeRawRow, "stream": true}}
		recv[TypeExec] = map[string]any{"description": "Any SQL statement (the configuration allows raw SQL).", "schema": raw("the SQL"), "reply": map[string]any{"type": TypeResult}}
		send[TypeRawRow] = map[string]any{"description": "One row of a Query: its columns by name.", "schema": map[string]any{"type": "object"}}
		send[TypeResult] = map[string]any{"description": "What a statement did.", "schema": result}
		desc.WriteString("- `Query` and `Exec`: raw SQL, allowed by the configuration\n")
	}
	if a.cfg.Transactions {
		empty := map[string]any{"type": "object", "additionalProperties": false}
		tx := map[string]any{"description": "Whether a transaction is open on the connection.", "schema": map[string]any{"type": "object", "required": []string{"open"}, "properties": map[string]any{"open": map[string]any{"type": "boolean"}}}}
		for _, n := range []string{TypeBegin, TypeCommit, TypeRollback} {
			recv[n] = map[string]any{"schema": empty, "reply": map[string]any{"type": TypeTx}}
		}
		recv[TypeBegin].(map[string]any)["description"] = "Open a transaction: the connection's queries and statements run in it until Commit or Rollback. The end of the connection rolls it back."
		recv[TypeCommit].(map[string]any)["description"] = "Commit the connection's transaction."
		recv[TypeRollback].(map[string]any)["description"] = "Roll the connection's transaction back."
		send[TypeTx] = tx
		desc.WriteString("- `Begin`, `Commit`, `Rollback`: a transaction scoped to the connection\n")
	}
	if len(recv) == 0 {
		return nil, nil
	}
	desc.WriteString("\nA failure is refused with a code and the database's reason (the column, the constraint): invalid_message for values the database refuses, transport_error when the database is unreachable, canceled when the request was cancelled.")
	return a.parse(a.cfg.Name, map[string]any{
		"ifkit": 1, "name": a.cfg.Name, "version": "1.0.0", "title": "SQL queries and statements (" + a.d.name() + ")",
		"description": desc.String(), "direction": "duplex", "codecs": []string{"json"},
		"messages": map[string]any{"recv": recv, "send": send}, "flow": a.flow(),
		"control":  []string{"ping", "stats", "pause", "resume", "close"},
		"metadata": map[string]any{"adapter": "sql", "backend": a.d.name()},
	})
}

// rowSchema is the JSON Schema of a row of t as the database holds it.
func rowSchema(t *table) map[string]any {
	var required []string
	for _, c := range t.Columns {
		if c.NotNull {
			required = append(required, c.Name)
		}
	}
	return objectSchema("", t.Columns, required, false)
}

func (a *Adapter) sinkManifest(t *table, s Sink) (*manifest.Manifest, error) {
	var required []string
	for _, c := range t.Columns {
		if c.NotNull && !c.Generated {
			required = append(required, c.Name)
		}
	}
	for _, k := range s.Key {
		if !contains(required, k) {
			required = append(required, k)
		}
	}
	sort.Strings(required)
	desc := fmt.Sprintf("Rows for table `%s`: each message is inserted as one row, in batches of up to %d messages, one transaction per batch. Credit comes back only once a batch is committed, so credit means stored.\n\nA batch the database refuses (a NOT NULL or unique constraint) is rolled back whole: the message that failed is refused with invalid_message and the column or constraint, the others of its batch with the same reason; nothing of it is stored.\n\n| column | SQL type | |\n|---|---|---|%s",
		t.Name, s.Batch, describeColumns(t.Columns))
	if len(s.Key) > 0 {
		desc += fmt.Sprintf("\n\nIdempotent: a message whose key (%s) is already in the table is not inserted again, so a client may re-send what it is not sure was stored.", strings.Join(s.Key, ", "))
	}
	return a.parse(sinkName(&a.cfg, t.Name), map[string]any{
		"ifkit": 1, "name": sinkName(&a.cfg, t.Name), "version": "1.0.0", "title": "Insert rows into " + t.Name,
		"description": desc, "direction": "recv", "codecs": []string{"json"},
		"messages": map[string]any{"recv": map[string]any{TypeRow: map[string]any{
			"description": "One row of " + t.Name + ".",
			"schema":      objectSchema(t.Name, t.Columns, required, true),
		}}},
		"flow": a.flow(), "control": []string{"ping", "stats", "pause", "resume", "close"},
		"metadata": map[string]any{"adapter": "sql", "backend": a.d.name(), "table": t.Name, "key": s.Key, "batch": s.Batch},
	})
}

func (a *Adapter) feedManifest(t *table) (*manifest.Manifest, error) {
	change := map[string]any{
		"type": "object", "required": []string{"position", "op", "row"},
		"properties": map[string]any{
			"position": map[string]any{"type": "integer", "minimum": 1, "description": "the change's id: reset to it to go on after this change"},
			"op":       map[string]any{"enum": []string{"insert", "update", "delete"}},
			"row":      rowSchema(t),
			"old":      rowSchema(t),
		},
	}
	change["properties"].(map[string]any)["row"].(map[string]any)["description"] = "the row after an insert or update; the deleted row for a delete"
	change["properties"].(map[string]any)["old"].(map[string]any)["description"] = "the row before an update"
	meta := map[string]any{"adapter": "sql", "backend": a.d.name(), "table": t.Name, "mode": a.mode}
	var desc string
	if a.mode == ModeLogical {
		slot := a.SlotName(t.Name)
		change["properties"].(map[string]any)["position"] = map[string]any{"type": "string", "pattern": `^[0-9A-F]{1,8}/[0-9A-F]{1,8}(:[1-9][0-9]*)?$`,
			"description": "where the change lies in the server's log: X/Y (the end of its transaction: the transaction's last change) or X/Y:N (its Nth change, X/Y the transaction's commit); reset to it to go on after this change"}
		desc = fmt.Sprintf("The changes of table `%s`: inserts, updates and deletes, in commit order, as they happen, from PostgreSQL's logical replication (pgoutput: publication and replication slot `%s`).\n\nA connection starts at now (the server's log position when its feed starts, just after the connection opens; reset now to be exact). Every message carries its `position`; the control operation `reset` moves the feed: `reset X/Y` or `reset X/Y:N` goes on after that change (resume where you stopped), `reset now` skips to the latest change, `reset start` goes back to the oldest the slot keeps. The slot keeps what its reader has not consumed: the server is told a position only once the client's credit says it consumed the change, so a connection that ends loses nothing; a position older than the slot's is refused when it lies inside a transaction. The slot has one reader at a time.\n\n| column | SQL type | |\n|---|---|---|%s",
			t.Name, slot, describeColumns(t.Columns))
		meta["slot"], meta["publication"] = slot, slot
	} else {
		retention := "every change is kept"
		if a.cfg.Retention > 0 {
			retention = fmt.Sprintf("changes older than %v are pruned, and a reset to a position before those kept is refused", a.cfg.Retention)
		}
		desc = fmt.Sprintf("The changes of table `%s`: inserts, updates and deletes, in commit order, as they happen (a trigger fills the change table `%s`; %s).\n\nA connection starts at now (the latest change when its feed starts, just after the connection opens; reset now to be exact). Every message carries its `position`; the control operation `reset` moves the feed: `reset N` goes on after the change at position N (resume where you stopped), `reset now` skips to the latest change, `reset start` goes back to the first one kept.\n\n| column | SQL type | |\n|---|---|---|%s",
			t.Name, a.cfg.ChangeTable, retention, describeColumns(t.Columns))
		meta["change_table"] = a.cfg.ChangeTable
		if a.cfg.Retention > 0 {
			meta["retention"] = a.cfg.Retention.String()
		}
	}
	return a.parse(feedName(&a.cfg, t.Name), map[string]any{
		"ifkit": 1, "name": feedName(&a.cfg, t.Name), "version": "1.0.0", "title": "Changes of " + t.Name,
		"description": desc, "direction": "send", "codecs": []string{"json"},
		"messages": map[string]any{"send": map[string]any{TypeChange: map[string]any{
			"description": "One insert, update or delete of a row of " + t.Name + ".", "schema": change, "filter_fields": []string{"op"},
		}}},
		"flow": a.flow(), "control": []string{"ping", "stats", "pause", "resume", "reset", "close"},
		"metadata": meta,
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
