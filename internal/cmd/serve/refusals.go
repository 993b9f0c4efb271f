package serve

import (
	"sync"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

// The refusal log's bound: at most refusalLogMax refusals are logged in each
// refusalLogWindow; the others are counted and summed up in one line when
// the window ends. A peer opening thousands of streams for an interface the
// server does not host (about 4000 a second on loopback) would otherwise
// write as many log lines.
const (
	refusalLogMax    = 10
	refusalLogWindow = time.Second
)

// refusalLog logs the sessions and streams the server refuses, rate-limited.
type refusalLog struct {
	log    *logger
	max    int
	window time.Duration
	now    func() time.Time // tests may fix it

	mu         sync.Mutex
	start      time.Time   // of the current window
	logged     int         // refusals logged in the current window
	suppressed int         // refusals not logged since the last summary
	timer      *time.Timer // writes the summary when the window ends; nil when none is due
}

func newRefusalLog(log *logger, max int, window time.Duration) *refusalLog {
	return &refusalLog{log: log, max: max, window: window, now: time.Now}
}

// refused logs r, or counts it when the window's lines are used up.
func (rl *refusalLog) refused(r iface.Refusal) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := rl.now()
	if now.Sub(rl.start) >= rl.window {
		rl.summaryLocked()
		rl.start, rl.logged = now, 0
	}
	if rl.logged < rl.max {
		rl.logged++
		rl.log.printf("%s", refusalText(r))
		return
	}
	rl.suppressed++
	if rl.timer == nil {
		rl.timer = time.AfterFunc(rl.start.Add(rl.window).Sub(now), rl.flush)
	}
}

// flush writes the summary of the refusals not logged, if any: when the
// window ends, and when serve stops.
func (rl *refusalLog) flush() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.summaryLocked()
}

func (rl *refusalLog) summaryLocked() {
	if rl.timer != nil {
		rl.timer.Stop()
		rl.timer = nil
	}
	if rl.suppressed == 0 {
		return
	}
	plural := "s"
	if rl.suppressed == 1 {
		plural = ""
	}
	rl.log.printf("… and %d more refusal%s not logged (at most %d are logged per %s)", rl.suppressed, plural, rl.max, rl.window)
	rl.suppressed = 0
}

// refusalText is a refusal as logged, with what the peer chose (its
// address, the interface it asked for, a reason quoting it) inert.
func refusalText(r iface.Refusal) string {
	s := "refused " + cmdutil.Untrusted(r.Remote)
	if r.Remote == "" || r.Remote == "@" {
		s = "refused a peer"
	}
	if r.Interface != "" {
		s += " (" + cmdutil.Untrusted(r.Interface) + ")"
	}
	return s + ": " + r.Code.String() + ": " + cmdutil.Untrusted(r.Reason)
}
