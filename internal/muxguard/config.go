package muxguard

import (
	"fmt"
	"math"
	"time"
)

// Config holds the limits a [Conn] applies to the peer's frames.
type Config struct {
	// PingBurst is how many Ping requests the peer may send at once, after
	// a quiet spell. It is also the most the allowance saves up.
	PingBurst int
	// PingsPerSecond is how fast the allowance refills: the peer's
	// sustained Ping request rate.
	PingsPerSecond float64
	// Now is the clock, read once per Ping request; nil means time.Now.
	// Tests set it.
	Now func() time.Time
}

// DefaultConfig returns the limits ifkit's server applies.
//
// A yamux keepalive is one Ping per KeepAliveInterval (ifkit 15 s, yamux's
// default 30 s) and an RTT probe is one Ping at a time, so 16 at once and 4
// a second sustained are far above what a working peer sends, while a
// flooding peer is cut off at its 17th back-to-back Ping.
func DefaultConfig() Config {
	return Config{
		PingBurst:      16,
		PingsPerSecond: 4,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.PingBurst < 1:
		return fmt.Errorf("muxguard: Config.PingBurst is %d; it must be >= 1", c.PingBurst)
	case !(c.PingsPerSecond > 0) || math.IsInf(c.PingsPerSecond, 0):
		return fmt.Errorf("muxguard: Config.PingsPerSecond is %v; it must be > 0 and finite", c.PingsPerSecond)
	}
	return nil
}
