package dbadapter_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/iface"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pgAdmin is the PostgreSQL the tests use: trust auth on loopback.
const pgAdmin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5"

// backend is one database a test runs against, made for that test.
type backend struct {
	name string
	dsn  string
	db   *sql.DB // for the test's own setup and checks
	mode string  // the feeds' mode the test asks for ("" for the default)
}

// eachFeedBackend runs f against SQLite, PostgreSQL with the trigger-fed
// change table, and PostgreSQL with logical replication (skipped when the
// server's wal_level is not logical, unless IFKIT_REQUIRE_SERVICES=1).
func eachFeedBackend(t *testing.T, f func(t *testing.T, b *backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend(t)) })
	t.Run("postgres", func(t *testing.T) {
		b := postgresBackend(t)
		b.mode = dbadapter.ModeTrigger
		f(t, b)
	})
	t.Run("postgres-logical", func(t *testing.T) { f(t, logicalBackend(t)) })
}

// logicalBackend is a new PostgreSQL database whose feeds follow logical
// replication.
func logicalBackend(t testing.TB) *backend {
	b := postgresBackend(t)
	var level string
	if err := b.db.QueryRow("SHOW wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		if os.Getenv("IFKIT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL's wal_level is %s and IFKIT_REQUIRE_SERVICES=1: the logical feed's tests need wal_level = logical (.ci/run sets it)", level)
		}
		t.Skipf("PostgreSQL's wal_level is %s, not logical: the logical feed is not tested (ALTER SYSTEM SET wal_level = logical and a restart, as .ci/run does; IFKIT_REQUIRE_SERVICES=1 fails instead)", level)
	}
	b.mode = dbadapter.ModeLogical
	return b
}

// eachBackend runs f against a new SQLite file and a new PostgreSQL
// database (skipped when PostgreSQL is unreachable, unless
// IFKIT_REQUIRE_SERVICES=1).
func eachBackend(t *testing.T, f func(t *testing.T, b *backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, postgresBackend(t)) })
}

func sqliteBackend(t testing.TB) *backend {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	db, _, err := dbadapter.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &backend{name: "sqlite", dsn: dsn, db: db}
}

func postgresBackend(t testing.TB) *backend {
	admin, _, err := dbadapter.Open(pgAdmin)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if os.Getenv("IFKIT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL at 127.0.0.1:5432 is unreachable and IFKIT_REQUIRE_SERVICES=1: %v", err)
		}
		t.Skipf("PostgreSQL at 127.0.0.1:5432 is unreachable (%v); set IFKIT_REQUIRE_SERVICES=1 to fail instead", err)
	}
	var id [6]byte
	rand.Read(id[:])
	name := "ifkit_test_" + hex.EncodeToString(id[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	dsn := "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
	db, _, err := dbadapter.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		admin, _, _ := dbadapter.Open(pgAdmin)
		defer admin.Close()
		// A logical feed's walsender may still hold its slot for a moment
		// after the adapter closed, and DROP DATABASE refuses a database
		// with an active slot (55006); it drops the inactive ones.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), "55006") || time.Now().After(deadline) {
				t.Errorf("dropping the test database %s: %v", name, err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return &backend{name: "postgres", dsn: dsn, db: db}
}

// exec runs setup SQL, one statement per string, rewriting SQLite's and
// PostgreSQL's differences where the test table needs them.
func (b *backend) exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if b.name == "postgres" {
			s = strings.ReplaceAll(s, "INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY")
			s = strings.ReplaceAll(s, "BLOB", "BYTEA")
			s = strings.ReplaceAll(s, "REAL", "DOUBLE PRECISION")
		}
		if _, err := b.db.Exec(s); err != nil {
			t.Fatalf("%s: %s: %v", b.name, s, err)
		}
	}
}

func (b *backend) count(t testing.TB, q string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// served is an adapter on a server, and a client of it.
type served struct {
	a   *dbadapter.Adapter
	srv *iface.Server
	cl  *iface.Client
	// close stops the server and the adapter (the test's end does it too).
	close func()
}

// serve starts an adapter for b with cfg on a server on a Unix socket,
// and dials it; everything is closed when the test ends.
func serve(t testing.TB, b *backend, cfg dbadapter.Config) *served {
	t.Helper()
	ctx := context.Background()
	if cfg.Mode == "" {
		cfg.Mode = b.mode
	}
	if os.Getenv("DBADAPTER_DEBUG") != "" && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := dbadapter.New(ctx, b.dsn, cfg)
	if err != nil {
		t.Fatalf("%s: New: %v", b.name, err)
	}
	srv := iface.NewServer(iface.WithCodecs(dbadapter.Codecs()))
	if err := a.Register(srv); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ifdb") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	cl, err := iface.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &served{a: a, srv: srv, cl: cl}
	s.close = sync.OnceFunc(func() {
		cl.Close()
		srv.Close()
		<-done
		a.Close()
	})
	t.Cleanup(s.close)
	return s
}

func connect(t testing.TB, s *served, name string, opts ...iface.ConnectOption) *iface.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := s.cl.Connect(ctx, name, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close("test done") })
	return c
}

// decode is a message's JSON value as a map.
func decode(t testing.TB, m *iface.Message) map[string]any {
	t.Helper()
	raw, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually retries f until it returns nil, for up to 30 s.
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
