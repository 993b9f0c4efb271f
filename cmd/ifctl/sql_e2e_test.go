package main_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dbadapter "github.com/ifkit/ifkit/adapter/sql"
	"github.com/ifkit/ifkit/internal/testutil"
)

// adapterProc is an `ifctl adapter sql` process.
type adapterProc struct {
	addr   string
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *testutil.SyncBuffer
}

// startAdapter starts `ifctl adapter sql args... --listen addr` and returns
// once it listens.
func startAdapter(t *testing.T, addr string, args ...string) *adapterProc {
	t.Helper()
	cmd := exec.Command(ifctl, append(append([]string{"adapter", "sql"}, args...), "--listen", addr)...)
	p := &adapterProc{cmd: cmd, done: make(chan struct{}), stderr: &testutil.SyncBuffer{}}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		a, ok := strings.CutPrefix(strings.TrimSpace(l), "listening on ")
		if !ok {
			cmd.Process.Kill()
			<-p.done
			t.Fatalf("adapter sql printed %q; stderr:\n%s", l, p.stderr)
		}
		p.addr = a
	case <-time.After(waitLong):
		cmd.Process.Kill()
		<-p.done
		t.Fatalf("adapter sql did not listen; stderr:\n%s", p.stderr)
	}
	t.Cleanup(func() { p.stop(t, syscall.SIGINT) })
	return p
}

// stop ends the adapter with sig (SIGKILL: as a crash) and waits for it.
func (p *adapterProc) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(waitLong):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("adapter sql did not stop on %v; stderr:\n%s", sig, p.stderr)
	}
	if sig == syscall.SIGINT && p.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("adapter sql exited %d after SIGINT; stderr:\n%s", p.cmd.ProcessState.ExitCode(), p.stderr)
	}
}

// TestAdapterSQL uses `ifctl adapter sql` as a person would: the embedded
// SQLite default, list, describe, send, recv with reset, call, and bad
// input with its codes.
func TestAdapterSQL(t *testing.T) {
	dir, err := os.MkdirTemp("", "ifsql")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "shop.db")
	db, _, err := dbadapter.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, qty INTEGER NOT NULL DEFAULT 1 CHECK (qty > 0))`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cfg := filepath.Join(dir, "shop.yaml")
	os.WriteFile(cfg, []byte(`
name: shop
queries:
  Orders: {sql: "SELECT id, item, qty FROM orders WHERE qty >= :min ORDER BY id", params: {min: integer}}
sinks: {orders: {}}
feeds: [orders]
`), 0o644)
	p := startAdapter(t, "unix://"+filepath.Join(dir, "s.sock"), "--dsn", file, "--config", cfg)

	r := run(t, "list", p.addr)
	check(t, r, 0)
	for _, want := range []string{"shop ", "shop.orders.changes", "shop.orders.sink"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %s:\n%s", want, r.stdout)
		}
	}
	r = run(t, "describe", p.addr, "shop.orders.sink")
	check(t, r, 0)
	if !strings.Contains(r.stdout, "item  string (required)") {
		t.Errorf("describe:\n%s", r.stdout)
	}
	r = runIn(t, "{\"item\":\"basil\",\"qty\":2}\n{\"item\":\"soil\"}\n", nil, "send", p.addr, "shop.orders.sink", "-d", "@-")
	check(t, r, 0)
	if !strings.Contains(r.stdout, "sent 2 Row messages") {
		t.Errorf("send: %s", r.stdout)
	}
	r = run(t, "call", p.addr, "shop", "Orders", "-d", `{"min":1}`)
	check(t, r, 0)
	if recs := ndjson(t, r.stdout); len(recs) != 2 {
		t.Fatalf("call Orders: %s", r.stdout)
	}
	r = run(t, "recv", p.addr, "shop.orders.changes", "--reset", "start", "-n", "2", "--values")
	check(t, r, 0)
	recs := ndjson(t, r.stdout)
	if len(recs) != 2 || recs[1]["position"] != 2.0 || recs[1]["row"].(map[string]any)["item"] != "soil" {
		t.Fatalf("recv --reset start: %s", r.stdout)
	}
	r = run(t, "recv", p.addr, "shop.orders.changes", "--reset", "1", "-n", "1", "--values")
	check(t, r, 0)
	if recs := ndjson(t, r.stdout); len(recs) != 1 || recs[0]["position"] != 2.0 {
		t.Fatalf("recv --reset 1: %s", r.stdout)
	}
	// Bad input: each with its code (exit 64 + code) and the database's reason.
	r = run(t, "send", p.addr, "shop.orders.sink", "-d", `{"item":"x","qty":0}`)
	check(t, r, 68, "invalid_message", "CHECK constraint failed")
	r = run(t, "recv", p.addr, "shop.orders.changes", "--reset", "yesterday", "-n", "1")
	check(t, r, 68, `"yesterday" is not a position`)
	r = run(t, "call", p.addr, "shop", "Orders", "-d", `{"min":"one"}`)
	check(t, r, 1, "min")
	r = run(t, "adapter", "sql", "--config", filepath.Join(dir, "missing.yaml"))
	check(t, r, 1, "cannot read the configuration")
}

// TestAdapterSQLSoak: rows sent through the sink while the adapter is
// killed and restarted, re-sent in full by the client that cannot know
// what was stored, end up in the table once each; the change feed gives
// each exactly once, resumed with reset across another restart.
func TestAdapterSQLSoak(t *testing.T) {
	dir, err := os.MkdirTemp("", "ifsoak")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "soak.db")
	db, _, err := dbadapter.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		`CREATE TABLE events (id INTEGER PRIMARY KEY, src TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT)`,
		`CREATE UNIQUE INDEX events_key ON events (src, seq)`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "soak.yaml")
	os.WriteFile(cfg, []byte("sinks: {events: {key: [src, seq], batch: 64}}\nfeeds: [events]\n"), 0o644)
	addr := "unix://" + filepath.Join(dir, "s.sock")
	const n = 3000
	var lines strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&lines, "{\"src\":\"soak\",\"seq\":%d,\"body\":\"event %d\"}\n", i, i)
	}
	count := func() int {
		var c int
		if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}

	p := startAdapter(t, addr, "--dsn", file, "--config", cfg)
	send := exec.Command(ifctl, "send", p.addr, "db.events.sink", "-d", "@-")
	send.Stdin = strings.NewReader(lines.String())
	sent := make(chan error, 1)
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { sent <- send.Wait() }()
	deadline := time.Now().Add(waitLong)
	for count() < n/10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	p.stop(t, syscall.SIGKILL) // a crash in the middle of the stream
	<-sent
	stored := count()
	t.Logf("%d of %d rows stored when the adapter was killed", stored, n)

	p = startAdapter(t, addr, "--dsn", file, "--config", cfg)
	r := runIn(t, lines.String(), nil, "send", p.addr, "db.events.sink", "-d", "@-")
	check(t, r, 0)
	var rows, distinct int
	db.QueryRow(`SELECT count(*), count(DISTINCT seq) FROM events`).Scan(&rows, &distinct)
	if rows != n || distinct != n {
		t.Fatalf("%d rows, %d distinct seq; want %d of each", rows, distinct, n)
	}

	// The feed from the start, in two halves across another crash.
	half := n / 2
	r = run(t, "recv", p.addr, "db.events.changes", "--reset", "start", "-n", fmt.Sprint(half), "--values")
	check(t, r, 0)
	first := ndjson(t, r.stdout)
	last := first[len(first)-1]["position"].(float64)
	p.stop(t, syscall.SIGKILL)
	p = startAdapter(t, addr, "--dsn", file, "--config", cfg)
	r = run(t, "recv", p.addr, "db.events.changes", "--reset", fmt.Sprint(int64(last)), "-n", fmt.Sprint(n-half), "--values")
	check(t, r, 0)
	seen := map[float64]bool{}
	for _, rec := range append(first, ndjson(t, r.stdout)...) {
		seq := rec["row"].(map[string]any)["seq"].(float64)
		if seen[seq] {
			t.Fatalf("seq %v came twice", seq)
		}
		seen[seq] = true
	}
	if len(seen) != n {
		t.Fatalf("the feed gave %d distinct rows of %d", len(seen), n)
	}
}
