package muxguard

// Error is why a [Conn] stopped passing the peer's frames on: the peer
// broke a limit of its [Config]. Read returns it, yamux ends the session
// with it as its cause, and [Conn.Err] keeps it.
type Error struct {
	// Reason says what the peer did and what is allowed, for instance
	// "the peer sent 17 yamux Ping requests within 2ms; at most 16 at once
	// and 4 per second are allowed".
	Reason string
}

func (e *Error) Error() string { return "muxguard: " + e.Reason }
