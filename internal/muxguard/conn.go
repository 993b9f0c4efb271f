package muxguard

import (
	"encoding/binary"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// The yamux frame header (hashicorp/yamux spec.md; spec/PROTOCOL.md §3.6).
const (
	headerSize = 12     // version (1), type (1), flags (2), stream id (4), length (4)
	typeData   = 0x00   // followed by length bytes of body
	typePing   = 0x02   // no body
	flagSYN    = 0x0001 // on a Ping: a request, which yamux answers
)

var _ net.Conn = (*Conn)(nil)

// Conn is a net.Conn whose reads pass through a yamux frame parser that
// enforces a [Config]. Give it to yamux.Server in place of the socket;
// writes, deadlines, addresses and Close go straight to the socket.
//
// Read must not be called from two goroutines at once (yamux reads from
// one); Err and Pings may be called from any goroutine.
type Conn struct {
	conn net.Conn

	burst float64
	rate  float64
	now   func() time.Time

	// The parser, touched only by Read.
	hdr  [headerSize]byte // a header arriving over several reads
	hdrN int              // bytes of hdr received so far
	body uint32           // bytes of the current Data frame's body still to come

	// The Ping token bucket, touched only by Read.
	started  bool
	tokens   float64
	last     time.Time // when tokens was last refilled
	runStart time.Time // the last Ping that found the bucket full
	runPings int       // Ping requests since runStart, itself included

	pings atomic.Uint64
	err   atomic.Pointer[Error]
}

// New wraps conn, the socket after ifkit's preface, to enforce cfg on the
// frames the peer sends. It fails only when cfg does not validate.
func New(conn net.Conn, cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Conn{conn: conn, burst: float64(cfg.PingBurst), rate: cfg.PingsPerSecond, now: now}, nil
}

// Read reads from the socket and parses what it read. When the bytes hold
// a frame that breaks a limit, Read returns the bytes before that frame's
// header (of a header begun in an earlier read, none) together with an
// [*Error], so yamux never sees that frame whole, and returns that error,
// without reading, from then on.
func (c *Conn) Read(p []byte) (int, error) {
	if e := c.err.Load(); e != nil {
		return 0, e
	}
	n, err := c.conn.Read(p)
	if n > 0 {
		if keep, e := c.scan(p[:n]); e != nil {
			c.err.CompareAndSwap(nil, e)
			return keep, e
		}
	}
	return n, err
}

// Write writes to the socket.
func (c *Conn) Write(p []byte) (int, error) { return c.conn.Write(p) }

// Close closes the socket.
func (c *Conn) Close() error { return c.conn.Close() }

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the socket's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the socket's deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// Err returns the [*Error] that stopped the reads, or nil while the peer
// has kept to the limits. When yamux reports its session ended, Err says
// whether this guard ended it and why.
func (c *Conn) Err() error {
	if e := c.err.Load(); e != nil {
		return e
	}
	return nil
}

// Pings returns how many Ping requests the peer has sent, counting the one
// that broke the limit, if one did.
func (c *Conn) Pings() uint64 { return c.pings.Load() }

// scan advances the parser over b, the bytes the last read delivered. On a
// frame over the limit it returns how many bytes of b come before that
// frame's header, and the error.
func (c *Conn) scan(b []byte) (int, *Error) {
	i := 0
	for i < len(b) {
		if c.body > 0 {
			rest := len(b) - i
			if uint64(c.body) >= uint64(rest) {
				c.body -= uint32(rest)
				return len(b), nil
			}
			i += int(c.body)
			c.body = 0
			continue
		}
		var h []byte
		start := i // where the header begins in b
		if c.hdrN == 0 && len(b)-i >= headerSize {
			h = b[i : i+headerSize]
			i += headerSize
		} else {
			k := copy(c.hdr[c.hdrN:], b[i:])
			c.hdrN += k
			i += k
			if c.hdrN < headerSize {
				return len(b), nil
			}
			c.hdrN = 0
			h = c.hdr[:]
			start = max(0, i-headerSize) // 0: it began in an earlier read
		}
		switch h[1] {
		case typeData:
			c.body = binary.BigEndian.Uint32(h[8:12])
		case typePing:
			if binary.BigEndian.Uint16(h[2:4])&flagSYN != 0 {
				if e := c.ping(); e != nil {
					return start, e
				}
			}
		}
	}
	return len(b), nil
}

// ping counts a Ping request against the token bucket.
func (c *Conn) ping() *Error {
	c.pings.Add(1)
	now := c.now()
	if !c.started {
		c.started = true
		c.tokens = c.burst
		c.last = now
	} else if d := now.Sub(c.last); d > 0 {
		c.tokens = min(c.burst, c.tokens+d.Seconds()*c.rate)
		c.last = now
	}
	if c.tokens >= c.burst {
		c.runStart, c.runPings = now, 0
	}
	c.runPings++
	if c.tokens < 1 {
		// The bucket was full at runStart, so runPings within that time is
		// more than burst + rate × elapsed.
		return &Error{Reason: "the peer sent " + strconv.Itoa(c.runPings) + " yamux Ping requests within " +
			within(now.Sub(c.runStart)) + "; at most " + strconv.Itoa(int(c.burst)) + " at once and " +
			strconv.FormatFloat(c.rate, 'g', -1, 64) + " per second are allowed"}
	}
	c.tokens--
	return nil
}

// within formats d for an error text, to the millisecond.
func within(d time.Duration) string {
	if d < time.Millisecond {
		return "less than 1ms"
	}
	return d.Round(time.Millisecond).String()
}
