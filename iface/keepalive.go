package iface

import (
	"errors"
	"sync"
	"time"
	"weak"

	"github.com/hashicorp/yamux"
)

// keepAlive pings a session every interval, as yamux's own keepalive
// does, but from a timer instead of a goroutine of its own: an idle
// session costs no goroutine for it (two per connection, one at each end,
// of the nine an idle connection had). A ping runs on the timer's
// goroutine while it waits for its answer (at most
// ConnectionWriteTimeout); a ping that fails closes the session, and
// sessionCause then reports keepalive_timeout, as it did for yamux's.
//
// The timer holds the session weakly: a session that has closed is not
// kept alive until the timer next fires (an interval, 30 s by default),
// with its buffers, but freed when its goroutines have exited; the timer
// then finds nothing to ping and stops.
type keepAlive struct {
	sess     weak.Pointer[yamux.Session]
	interval time.Duration
	timer    *time.Timer
}

// keepAliveFailed holds the sessions whose keepAlive ping failed, so
// that sessionCause can tell; an entry is removed a minute after the
// failure, when the session's connections have long asked.
var keepAliveFailed sync.Map // *yamux.Session → struct{}

// startKeepAlive pings sess every interval until it closes.
func startKeepAlive(sess *yamux.Session, interval time.Duration) {
	k := &keepAlive{sess: weak.Make(sess), interval: interval}
	k.timer = time.AfterFunc(interval, k.ping)
}

func (k *keepAlive) ping() {
	sess := k.sess.Value()
	if sess == nil || sess.IsClosed() {
		return
	}
	_, err := sess.Ping()
	switch {
	case err == nil:
		k.timer.Reset(k.interval)
	case errors.Is(err, yamux.ErrSessionShutdown):
	default:
		keepAliveFailed.Store(sess, struct{}{})
		sess.Close()
		// Forgotten after a while: the connections that ask have asked.
		time.AfterFunc(time.Minute, func() { keepAliveFailed.Delete(sess) })
	}
}

// withoutKeepAlive returns y with yamux's keepalive goroutine off: the
// session is pinged by startKeepAlive instead.
func withoutKeepAlive(y *yamux.Config) *yamux.Config {
	y.EnableKeepAlive = false
	return y
}
