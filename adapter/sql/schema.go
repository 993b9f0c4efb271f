package dbadapter

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// kind is what a column holds, as the manifests' JSON Schemas say it.
type kind int

const (
	kindAny     kind = iota // unknown: any JSON value
	kindString              // text
	kindInteger             // an integer
	kindNumber              // a floating-point number
	kindDecimal             // an exact number (PostgreSQL numeric): a JSON number
	kindBoolean             // true or false (0 or 1 in SQLite)
	kindBytes               // bytes, base64 in JSON
	kindTime                // a timestamp, RFC 3339 in JSON
	kindDate                // a date, YYYY-MM-DD
	kindJSON                // a JSON document
	kindUUID                // a UUID string
)

// column is one column of a table or of a query's result.
type column struct {
	Name    string
	DBType  string // the type as the database names it
	Kind    kind
	NotNull bool
	// Generated: the database fills it when an insert leaves it out (a
	// default, a serial or identity column, SQLite's INTEGER PRIMARY KEY).
	Generated bool
	MaxLength int      // of varchar(n), when known
	Float32   bool     // a single-precision float (real, float4): written with float32's shortest digits
	Min, Max  *int64   // of small integer types
	Enum      []string // of an enumerated type
}

// table is one table as the adapter serves it.
type table struct {
	Name    string
	Columns []column
	// Unique lists the column sets of its unique indexes and constraints
	// (the primary key among them).
	Unique [][]string
}

func (t *table) column(name string) (column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return column{}, false
}

// hasUnique reports whether cols (in any order) are exactly the columns of
// one of t's unique indexes.
func (t *table) hasUnique(cols []string) bool {
	for _, u := range t.Unique {
		if len(u) != len(cols) {
			continue
		}
		match := true
		for _, c := range cols {
			found := false
			for _, x := range u {
				found = found || x == c
			}
			match = match && found
		}
		if match {
			return true
		}
	}
	return false
}

// fingerprint identifies a schema: it changes when a table, a column, a
// type, a nullability or a unique index does.
func fingerprint(tables []*table) string {
	b, _ := json.Marshal(tables)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// int ranges of the small PostgreSQL integer types.
var (
	int16Min, int16Max = int64(-1 << 15), int64(1<<15 - 1)
	int32Min, int32Max = int64(-1 << 31), int64(1<<31 - 1)
)

// schema returns the JSON Schema of a value of c; nullable adds null.
func (c column) schema(nullable bool) map[string]any {
	s := map[string]any{}
	typ := ""
	switch c.Kind {
	case kindString:
		typ = "string"
		if c.MaxLength > 0 {
			s["maxLength"] = c.MaxLength
		}
		if len(c.Enum) > 0 {
			s["enum"] = c.Enum
		}
	case kindUUID:
		typ, s["format"] = "string", "uuid"
	case kindInteger:
		typ = "integer"
		if c.Min != nil {
			s["minimum"], s["maximum"] = *c.Min, *c.Max
		}
	case kindNumber, kindDecimal:
		typ = "number"
	case kindBoolean:
		typ = "boolean"
	case kindBytes:
		typ, s["contentEncoding"] = "string", "base64"
	case kindTime:
		typ, s["format"] = "string", "date-time"
	case kindDate:
		typ, s["format"] = "string", "date"
	}
	if c.DBType != "" {
		s["description"] = "SQL type " + c.DBType
	}
	if typ == "" {
		return s // any JSON value, null included
	}
	if nullable {
		s["type"] = []any{typ, "null"}
		if e, ok := s["enum"].([]string); ok {
			vals := make([]any, 0, len(e)+1)
			for _, v := range e {
				vals = append(vals, v)
			}
			s["enum"] = append(vals, nil)
		}
	} else {
		s["type"] = typ
	}
	return s
}

// objectSchema is the JSON Schema of an object with these columns.
// required lists the members it must have; closed refuses others.
func objectSchema(title string, cols []column, required []string, closed bool) map[string]any {
	props := map[string]any{}
	for _, c := range cols {
		props[c.Name] = c.schema(!c.NotNull)
	}
	s := map[string]any{"type": "object", "properties": props}
	if title != "" {
		s["title"] = title
	}
	if len(required) > 0 {
		s["required"] = required
	}
	if closed {
		s["additionalProperties"] = false
	}
	return s
}

// sqliteKind reads a SQLite declared type by SQLite's affinity rules
// (https://sqlite.org/datatype3.html §3.1), with BOOLEAN, DATE, TIME and
// JSON recognised as what people mean by them.
func sqliteKind(decl string) kind {
	d := strings.ToLower(decl)
	switch {
	case d == "":
		return kindAny
	case strings.Contains(d, "bool"):
		return kindBoolean
	case strings.Contains(d, "int"):
		return kindInteger
	case strings.Contains(d, "char"), strings.Contains(d, "clob"), strings.Contains(d, "text"):
		return kindString
	case strings.Contains(d, "blob"):
		return kindBytes
	case strings.Contains(d, "real"), strings.Contains(d, "floa"), strings.Contains(d, "doub"):
		return kindNumber
	case strings.Contains(d, "json"):
		return kindJSON
	case strings.Contains(d, "date"), strings.Contains(d, "time"):
		return kindString // SQLite keeps what it is given: no format is promised
	case strings.Contains(d, "uuid"):
		return kindString
	}
	return kindNumber // NUMERIC affinity
}

// postgresKind reads a PostgreSQL type name (pg_type.typname).
func postgresKind(typname string) kind {
	switch typname {
	case "int2", "int4", "int8", "oid":
		return kindInteger
	case "float4", "float8":
		return kindNumber
	case "numeric":
		return kindDecimal
	case "bool":
		return kindBoolean
	case "text", "varchar", "bpchar", "name", "citext", "char":
		return kindString
	case "bytea":
		return kindBytes
	case "timestamp", "timestamptz":
		return kindTime
	case "date":
		return kindDate
	case "json", "jsonb":
		return kindJSON
	case "uuid":
		return kindUUID
	case "time", "timetz", "interval", "inet", "cidr", "macaddr", "money", "xml":
		return kindString
	}
	return kindAny
}

// postgresColumn fills the ranges of the types that have them.
func postgresColumn(c column, typname string) column {
	switch typname {
	case "int2":
		c.Min, c.Max = &int16Min, &int16Max
	case "int4":
		c.Min, c.Max = &int32Min, &int32Max
	case "float4":
		c.Float32 = true
	}
	return c
}

// quoteIdent quotes a name for SQL.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// quoteString quotes a string literal for SQL.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func describeColumns(cols []column) string {
	var b strings.Builder
	for _, c := range cols {
		fmt.Fprintf(&b, "\n| `%s` | %s | %s |", c.Name, orDash(c.DBType), nullText(c))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func nullText(c column) string {
	switch {
	case c.NotNull && c.Generated:
		return "not null, filled by the database when left out"
	case c.NotNull:
		return "not null"
	case c.Generated:
		return "has a default"
	}
	return "nullable"
}
