package sqlcmd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	sqlcmd "github.com/ifkit/ifkit/internal/cmd/adapter/sql"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// syncBuffer is a bytes.Buffer the command and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testDatabase makes a PostgreSQL database for this run and drops it after.
func testDatabase(t *testing.T) string {
	admin, _, err := dbadapter.Open("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Ping(); err != nil {
		if os.Getenv("IFKIT_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL at 127.0.0.1:5432 is unreachable and IFKIT_REQUIRE_SERVICES=1: %v", err)
		}
		t.Skipf("PostgreSQL at 127.0.0.1:5432 is unreachable (%v); IFKIT_REQUIRE_SERVICES=1 fails instead", err)
	}
	var id [6]byte
	rand.Read(id[:])
	name := "ifkit_test_" + hex.EncodeToString(id[:])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, _, _ := dbadapter.Open("postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
		defer admin.Close()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			if err == nil || !strings.Contains(err.Error(), "55006") || time.Now().After(deadline) {
				if err != nil {
					t.Errorf("dropping %s: %v", name, err)
				}
				return
			}
		}
	})
	return name
}

// TestPasswordNotShown: a DSN's password is in none of what ifctl adapter
// sql writes, serving (PostgreSQL's trust authentication ignores it) or
// failing.
func TestPasswordNotShown(t *testing.T) {
	db := testDatabase(t)
	dir := t.TempDir()
	for _, dsn := range []string{
		"postgres://postgres:hunter2-pw@127.0.0.1:5432/" + db + "?sslmode=disable",
		"host=127.0.0.1 user=postgres password=hunter2-pw dbname=" + db + " sslmode=disable",
		"postgres://postgres:hunter2-pw@127.0.0.1:1/" + db + "?sslmode=disable&connect_timeout=2",
	} {
		var out, errOut syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		opts := &sqlcmd.Options{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
			DSN: dsn, Listen: []string{"unix://" + filepath.Join(dir, "s.sock")}, Grace: time.Second, Verbose: true,
			Ready: func([]string) { cancel() }}
		err := sqlcmd.Run(ctx, opts)
		cancel()
		all := out.String() + errOut.String()
		if err != nil {
			all += err.Error()
		}
		t.Logf("%s", all)
		if strings.Contains(all, "hunter2") {
			t.Errorf("%s: the password is shown:\n%s", dbadapter.Redact(dsn), all)
		}
		if !strings.Contains(dsn, ":1/") && !strings.Contains(all, "serving") {
			t.Errorf("%s: did not serve: %v\n%s", dbadapter.Redact(dsn), err, all)
		}
	}
}

// TestModeFlag: --mode is checked, and a logical feed is PostgreSQL's.
func TestModeFlag(t *testing.T) {
	dir := t.TempDir()
	for mode, want := range map[string]string{
		"sometimes": `mode "sometimes": give auto, logical or trigger`,
		"logical":   "logical replication is PostgreSQL's",
	} {
		var errOut syncBuffer
		opts := &sqlcmd.Options{IO: &cmdutil.IOStreams{In: strings.NewReader(""), Out: &errOut, ErrOut: &errOut},
			DSN: "sqlite:" + filepath.Join(dir, "m.db"), Listen: []string{"unix://" + filepath.Join(dir, "m.sock")}, Mode: mode}
		err := sqlcmd.Run(context.Background(), opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--mode %s: %v, want %q", mode, err, want)
		}
	}
}
