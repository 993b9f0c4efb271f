package serve

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// logLines are the lines lg has written to b, read under the logger's lock
// (the refusal log's timer writes too).
func logLines(lg *logger, b *bytes.Buffer) []string {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

var flood = iface.Refusal{Remote: "127.0.0.1:5000", Interface: "no.such\n12:00:00.000 fake\x1b[31m", Code: iface.CodeUnknownInterface,
	Reason: "no interface \"no.such\\n12:00:00.000 fake\\x1b[31m\" here; this server has a"}

// TestRefusalLogIsBounded: a flood of 4000 refusals in one window writes
// refusalLogMax lines and one summary, when the window ends.
func TestRefusalLogIsBounded(t *testing.T) {
	out := &bytes.Buffer{}
	lg := &logger{w: out}
	t0 := time.Now()
	rl := newRefusalLog(lg, refusalLogMax, 50*time.Millisecond)
	rl.now = func() time.Time { return t0 } // every refusal in the first window
	for range 4000 {
		rl.refused(flood)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(logLines(lg, out)) < refusalLogMax+1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	lines := logLines(lg, out)
	if len(lines) != refusalLogMax+1 {
		t.Fatalf("%d lines, want %d and a summary:\n%s", len(lines), refusalLogMax, strings.Join(lines, "\n"))
	}
	if want := "… and 3990 more refusals not logged (at most 10 are logged per 50ms)"; !strings.HasSuffix(lines[refusalLogMax], want) {
		t.Errorf("summary %q, want it to end %q", lines[refusalLogMax], want)
	}
	if want := `refused 127.0.0.1:5000 ("no.such\n12:00:00.000 fake\x1b[31m"): unknown_interface: no interface`; !strings.Contains(lines[0], want) {
		t.Errorf("refusal logged as %q, want %q", lines[0], want)
	}
	// The next window logs again.
	rl.now = func() time.Time { return t0.Add(time.Second) }
	rl.refused(flood)
	rl.flush()
	if got := len(logLines(lg, out)); got != refusalLogMax+2 {
		t.Errorf("%d lines after a refusal in the next window, want %d", got, refusalLogMax+2)
	}
}

// TestRefusalLogFlush: serve's stop writes the summary that is due.
func TestRefusalLogFlush(t *testing.T) {
	out := &bytes.Buffer{}
	lg := &logger{w: out}
	rl := newRefusalLog(lg, 2, time.Hour)
	for range 3 {
		rl.refused(iface.Refusal{Code: iface.CodeDraining, Reason: "the server is shutting down"})
	}
	rl.flush()
	lines := logLines(lg, out)
	if len(lines) != 3 || !strings.HasSuffix(lines[2], "… and 1 more refusal not logged (at most 2 are logged per 1h0m0s)") {
		t.Errorf("log:\n%s", strings.Join(lines, "\n"))
	}
	rl.flush() // nothing more
	if len(logLines(lg, out)) != 3 {
		t.Errorf("a second flush wrote again:\n%s", strings.Join(logLines(lg, out), "\n"))
	}
}
