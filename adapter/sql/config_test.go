package dbadapter_test

import (
	"context"
	"strings"
	"testing"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
)

const goodConfig = `
name: shop
queries:
  OrdersOf:
    sql: SELECT id FROM orders WHERE customer = :customer AND note <> ':not_a_param' -- :nor_this
    params: {customer: string}
statements:
  CancelOrder: {sql: "DELETE FROM orders WHERE id = :id", params: {id: integer}}
sinks:
  orders: {key: [src, seq]}
feeds: [orders]
schema_poll: 5s
`

func TestParseConfig(t *testing.T) {
	c, err := dbadapter.ParseConfig("shop.yaml", []byte(goodConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "shop" || c.Sinks["orders"].Batch != dbadapter.DefaultBatch || c.SchemaPoll.String() != "5s" || c.Credits != dbadapter.DefaultCredits {
		t.Fatalf("parsed %+v", c)
	}
	if _, err := dbadapter.ParseConfig("empty.yaml", nil); err != nil {
		t.Fatalf("an empty file: %v", err)
	}
	for _, tc := range []struct{ in, want string }{
		{"colour: red", "field colour not found"},
		{"name: Shop", `name "Shop"`},
		{"queries: {orders: {sql: SELECT 1}}", "queries.orders: a name is a type name"},
		{"queries: {Query: {sql: SELECT 1}}", "taken by the adapter"},
		{"queries: {A: {sql: SELECT :x}}", ":x is not in params"},
		{"queries: {A: {sql: 'SELECT ?'}}", "by name"},
		{"queries: {A: {sql: 'SELECT :x', params: {x: date}}}", `type "date"`},
		{"queries: {A: {sql: \"SELECT 'x\"}}", "quote is not closed"},
		{"statements: {A: {sql: ''}}", "sql is empty"},
		{"queries: {A: {sql: SELECT 1}}\nstatements: {A: {sql: SELECT 1}}", "also queries.A"},
		{"sinks: {Orders: {}}", "sinks.Orders"},
		{"sinks: {'*': {key: [a]}}", "sinks.*"},
		{"sinks: {t: {batch: -1}}", "batch -1"},
		{"feeds: [ifkit_changes]", "the change table"},
		{"credits: 0\nmax_message_bytes: 10", "max_message_bytes 10"},
		{"schema_poll: 1ms", "at least 10ms"},
	} {
		_, err := dbadapter.ParseConfig("c.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "c.yaml:") {
			t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

// FuzzParseConfig: any file is a configuration or an error, never a panic,
// and what it accepts validates again unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte("queries: {A: {sql: \"SELECT ':a' || :b -- :c\n/* :d */ :e::text\", params: {b: string, e: string?}}}"))
	f.Add([]byte("{}"))
	f.Add([]byte("sinks: {'*': {}}\nfeeds: ['*']"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := dbadapter.ParseConfig("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("an error without the file name: %v", err)
			}
			return
		}
		again := c
		if err := again.Validate(); err != nil {
			t.Fatalf("an accepted configuration fails Validate: %v", err)
		}
	})
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://ada:s3cret@db.example:5432/shop?sslmode=disable", "postgres://ada:***@db.example:5432/shop?sslmode=disable"},
		{"postgresql://ada:p@ss@db/shop", "postgresql://ada:***@db/shop"},
		{"postgres://ada@db/shop?password=s3cret&sslmode=disable", "postgres://ada@db/shop?password=***&sslmode=disable"},
		{"host=db user=ada password=s3cret dbname=shop", "host=db user=ada password=*** dbname=shop"},
		{`host=db password = 'it\'s secret' dbname=shop`, "host=db password = *** dbname=shop"},
		{"postgres://ada@db/shop", "postgres://ada@db/shop"},
		{"sqlite:shop.db", "sqlite:shop.db"},
	} {
		if got := dbadapter.Redact(c.dsn); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}

// TestPasswordNeverShown: a DSN's password is in none of New's errors.
func TestPasswordNeverShown(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{
		"postgres://ada:hunter2-pw@127.0.0.1:1/shop?sslmode=disable&connect_timeout=2",
		"host=127.0.0.1 port=1 user=ada password=hunter2-pw dbname=shop sslmode=disable connect_timeout=2",
		"postgres://ada:hunter2-pw@127.0.0.1:1/shop?sslmode=nonsense",
	} {
		_, err := dbadapter.New(ctx, dsn, dbadapter.DefaultConfig())
		if err == nil {
			t.Fatalf("%s: connected", dbadapter.Redact(dsn))
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
