package dbadapter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of the configuration.
const (
	DefaultName            = "db"
	DefaultCredits         = 64
	DefaultMaxMessageBytes = 1 << 20
	DefaultBatch           = 256
	DefaultSchemaPoll      = 2 * time.Second
	DefaultFeedPoll        = time.Second
	DefaultChangeTable     = "ifkit_changes"
	DefaultSlotWait        = 10 * time.Second
	// MaxConfigBytes bounds a configuration file.
	MaxConfigBytes = 1 << 20
	// AllTables in Sinks or Feeds stands for every table of the schema.
	AllTables = "*"
)

// Config says what the adapter serves from one database. The zero Config
// serves nothing but is valid; DefaultConfig is what `ifctl adapter sql`
// serves without --config: a sink and a change feed for every table.
type Config struct {
	// Name is the interfaces' name prefix: the queries' interface is Name,
	// a table's sink Name.TABLE.sink and its feed Name.TABLE.changes.
	Name string `yaml:"name"`
	// Schema is the PostgreSQL schema whose tables are served (public).
	Schema string `yaml:"schema"`
	// Credits and MaxMessageBytes are every interface's flow.
	Credits         int `yaml:"credits"`
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// Queries are named SELECTs, each a request answered by a stream of
	// typed rows; Statements named INSERT/UPDATE/DELETEs, each answered by
	// the rows affected. Parameters are :name in the SQL.
	Queries    map[string]Query `yaml:"queries"`
	Statements map[string]Query `yaml:"statements"`
	// Raw offers Query and Exec with any SQL the client sends. Off unless
	// the configuration says so.
	Raw bool `yaml:"raw"`
	// Transactions offers Begin, Commit and Rollback: between them a
	// connection's queries and statements run in one transaction, which
	// the end of the connection rolls back.
	Transactions bool `yaml:"transactions"`
	// Sinks are the tables that take rows as messages (recv interfaces),
	// by table name ("*": every table).
	Sinks map[string]Sink `yaml:"sinks"`
	// Feeds are the tables whose changes are streamed (send interfaces).
	Feeds []string `yaml:"feeds"`
	// SchemaPoll is how often the schema is read again to notice changes;
	// FeedPoll how often a feed looks for changes nobody announced (writes
	// by other programs; on PostgreSQL a NOTIFY wakes it at once).
	SchemaPoll time.Duration `yaml:"schema_poll"`
	FeedPoll   time.Duration `yaml:"feed_poll"`
	// ChangeTable is the table the feeds' triggers fill.
	ChangeTable string `yaml:"change_table"`
	// Mode is how the feeds follow changes on PostgreSQL: ModeLogical
	// (logical replication, pgoutput: a publication and a replication slot
	// per feed), ModeTrigger (triggers fill ChangeTable) or ModeAuto, the
	// default: logical when the server allows it (wal_level = logical and
	// a role that may replicate), else trigger. SQLite is always trigger.
	Mode string `yaml:"mode"`
	// Retention prunes the change table (trigger mode): changes older
	// than it are deleted, and a reset to a position before what is kept
	// is refused. 0 keeps every change.
	Retention time.Duration `yaml:"retention"`
	// SlotWait is how long a logical feed's connection waits for its
	// replication slot while another reader still holds it (a connection
	// that just ended: its walsender takes a moment to let go).
	SlotWait time.Duration `yaml:"slot_wait"`
	// Logger hears schema changes and failures nobody else would see (a
	// change table that cannot be read); nil logs nothing.
	Logger *slog.Logger `yaml:"-"`
}

// Query is a named query or statement.
type Query struct {
	Description string `yaml:"description"`
	SQL         string `yaml:"sql"`
	// Params are the parameters by name, each a type: string, integer,
	// number or boolean; a trailing ? makes it optional (NULL when absent).
	Params map[string]string `yaml:"params"`
}

// Sink configures one table's sink.
type Sink struct {
	// Key names the columns that identify a message across re-sends
	// (a client id and its sequence number): a row whose key is already in
	// the table is not inserted again. They need a unique index.
	Key []string `yaml:"key"`
	// Batch is the most messages inserted in one transaction.
	Batch int `yaml:"batch"`
}

// DefaultConfig is a sink and a change feed for every table.
func DefaultConfig() Config {
	return Config{Sinks: map[string]Sink{AllTables: {}}, Feeds: []string{AllTables}}
}

var (
	typeNameRe  = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]{0,59}$`)
	identRe     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	ifaceNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	paramRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
)

// reserved are the type names the adapter defines itself.
var reserved = map[string]bool{"Query": true, "Exec": true, "Begin": true, "Commit": true, "Rollback": true, "Result": true, "RawRow": true, "Tx": true}

// ParseConfig reads a configuration (YAML or JSON) from data; name is the
// file's name in errors. Unknown fields are errors, as are names that
// cannot be types or interfaces and parameters of unknown types.
func ParseConfig(name string, data []byte) (Config, error) {
	var c Config
	if len(data) > MaxConfigBytes {
		return c, fmt.Errorf("%s: the configuration is %d bytes; at most %d", name, len(data), MaxConfigBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty configuration
		return Config{}, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Validate checks the names and parameters and fills in the defaults.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if len(c.Name) > 80 || !ifaceNameRe.MatchString(c.Name) {
		return fmt.Errorf("name %q: an interface name is lower-case words joined by dots (shop, shop.orders)", c.Name)
	}
	if c.Schema == "" {
		c.Schema = "public"
	}
	if !identRe.MatchString(c.Schema) {
		return fmt.Errorf("schema %q: give a lower-case SQL name", c.Schema)
	}
	if c.Credits == 0 {
		c.Credits = DefaultCredits
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Credits < 1 || c.Credits > 65536 {
		return fmt.Errorf("credits %d: give 1 to 65536", c.Credits)
	}
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 16<<20 || int64(c.Credits)*int64(c.MaxMessageBytes) > 1<<30 {
		return fmt.Errorf("max_message_bytes %d: give 1024 to 16777216, with credits × max_message_bytes at most 1 GiB", c.MaxMessageBytes)
	}
	if c.SchemaPoll == 0 {
		c.SchemaPoll = DefaultSchemaPoll
	}
	if c.FeedPoll == 0 {
		c.FeedPoll = DefaultFeedPoll
	}
	if c.SchemaPoll < 10*time.Millisecond || c.FeedPoll < 10*time.Millisecond {
		return errors.New("schema_poll and feed_poll must be at least 10ms")
	}
	if c.ChangeTable == "" {
		c.ChangeTable = DefaultChangeTable
	}
	if !identRe.MatchString(c.ChangeTable) {
		return fmt.Errorf("change_table %q: give a lower-case SQL name", c.ChangeTable)
	}
	switch c.Mode {
	case "":
		c.Mode = ModeAuto
	case ModeAuto, ModeLogical, ModeTrigger:
	default:
		return fmt.Errorf("mode %q: give auto, logical or trigger", c.Mode)
	}
	if c.Retention < 0 || (c.Retention > 0 && c.Retention < time.Second) {
		return fmt.Errorf("retention %v: give 0 (keep every change) or at least 1s", c.Retention)
	}
	if c.SlotWait == 0 {
		c.SlotWait = DefaultSlotWait
	}
	if c.SlotWait < 0 {
		return fmt.Errorf("slot_wait %v: give a positive duration", c.SlotWait)
	}
	seen := map[string]string{}
	for _, group := range []struct {
		what string
		qs   map[string]Query
	}{{"queries", c.Queries}, {"statements", c.Statements}} {
		for _, n := range sortedKeys(group.qs) {
			q := group.qs[n]
			where := group.what + "." + n
			if !typeNameRe.MatchString(n) {
				return fmt.Errorf("%s: a name is a type name: a capital letter, then letters, digits or _ (OrdersOf)", where)
			}
			if reserved[n] || strings.HasSuffix(n, "Row") {
				return fmt.Errorf("%s: the name is taken by the adapter (Query, Exec, Begin, Commit, Rollback, Result, RawRow, Tx, and names ending in Row)", where)
			}
			if other, ok := seen[n]; ok {
				return fmt.Errorf("%s: the name is also %s", where, other)
			}
			seen[n] = where
			if strings.TrimSpace(q.SQL) == "" {
				return fmt.Errorf("%s: sql is empty", where)
			}
			for _, p := range sortedKeys(q.Params) {
				if !paramRe.MatchString(p) {
					return fmt.Errorf("%s.params.%s: a parameter name is letters, digits and _", where, p)
				}
				if _, _, err := parseParamType(q.Params[p]); err != nil {
					return fmt.Errorf("%s.params.%s: %w", where, p, err)
				}
			}
			used, err := paramNames(q.SQL)
			if err != nil {
				return fmt.Errorf("%s.sql: %w", where, err)
			}
			for _, p := range used {
				if _, ok := q.Params[p]; !ok {
					return fmt.Errorf("%s.sql: :%s is not in params", where, p)
				}
			}
		}
	}
	for _, t := range sortedKeys(c.Sinks) {
		s := c.Sinks[t]
		if t != AllTables && !identRe.MatchString(t) {
			return fmt.Errorf("sinks.%s: a table served is named in lower case (letters, digits, _), to be an interface name", t)
		}
		if s.Batch == 0 {
			s.Batch = DefaultBatch
		}
		if s.Batch < 1 || s.Batch > 65536 {
			return fmt.Errorf("sinks.%s.batch %d: give 1 to 65536", t, s.Batch)
		}
		if t == AllTables && len(s.Key) > 0 {
			return fmt.Errorf("sinks.*: key names columns of one table; configure the table by name")
		}
		for _, k := range s.Key {
			if !identRe.MatchString(k) {
				return fmt.Errorf("sinks.%s.key: %q is not a lower-case column name", t, k)
			}
		}
		c.Sinks[t] = s
	}
	for _, t := range c.Feeds {
		if t != AllTables && !identRe.MatchString(t) {
			return fmt.Errorf("feeds: %q: a table served is named in lower case (letters, digits, _), to be an interface name", t)
		}
		if t == c.ChangeTable {
			return fmt.Errorf("feeds: %q is the change table itself", t)
		}
	}
	return nil
}

// sinkFor returns the sink configuration of table, if it has one.
func (c *Config) sinkFor(table string) (Sink, bool) {
	if s, ok := c.Sinks[table]; ok {
		return s, true
	}
	s, ok := c.Sinks[AllTables]
	return s, ok
}

// feeds reports whether table has a change feed.
func (c *Config) feeds(table string) bool {
	for _, t := range c.Feeds {
		if t == table || t == AllTables {
			return true
		}
	}
	return false
}

// parseParamType reads a parameter's type: its kind and whether it may be
// absent.
func parseParamType(s string) (kind, bool, error) {
	optional := strings.HasSuffix(s, "?")
	switch strings.TrimSuffix(s, "?") {
	case "string":
		return kindString, optional, nil
	case "integer":
		return kindInteger, optional, nil
	case "number":
		return kindNumber, optional, nil
	case "boolean":
		return kindBoolean, optional, nil
	}
	return 0, false, fmt.Errorf("type %q: give string, integer, number or boolean (with ? when it may be absent)", s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
