// Package muxguard bounds what a yamux peer can make a hashicorp/yamux
// v0.1.2 session spend, from outside the session.
//
// yamux v0.1.2 answers every Ping request (a Ping frame with the SYN flag)
// from a new goroutine that waits up to ConnectionWriteTimeout to queue its
// reply (session.go, handlePing). A peer that writes 12-byte Ping frames in
// a loop and never reads makes the session start goroutines as fast as the
// frames arrive, none of which can finish: ifkit issue 13 measured +1.9 GiB
// in 5 s. The libp2p fork fixed the same thing inside the session
// (libp2p/go-yamux#32: replies go through one buffered channel); ifkit keeps
// hashicorp/yamux and bounds it here instead.
//
// A [Conn] sits between the socket and yamux.Server. It parses the frame
// stream as Read passes it through — 12-byte headers, version (1), type (1),
// flags (2), stream id (4), length (4), big-endian; a Data frame (type 0) is
// followed by length bytes of body, Window Update, Ping and Go Away frames
// carry none — without buffering or copying the bytes, and holds the Ping
// requests to a token bucket ([Config.PingBurst], [Config.PingsPerSecond]).
// The first Ping beyond it makes Read return an [*Error] instead of the
// frame, so yamux never sees that Ping and ends the session with that error
// as its cause; [Conn.Err] tells the owner why afterwards.
//
// With the defaults, a session holds at most PingBurst + PingsPerSecond ×
// ConnectionWriteTimeout reply goroutines (16 + 4 × 10 s = 56 with ifkit's
// configuration) where it held one per Ping received.
//
// The guard judges nothing else: a malformed header (a bad version or type)
// passes through for yamux to reject, and a valid frame stream within the
// limits reaches yamux byte for byte. A Conn starts no goroutine and reads
// the clock once per Ping request, never per byte.
//
// # What else yamux v0.1.2 spends per frame
//
// From its source (session.go, stream.go) and runs against a loopback peer;
// none of these is limited here:
//
//   - Window Update and Go Away frames, Ping answers and frames for unknown
//     streams are handled in the read loop and keep nothing: 49 million
//     Window Updates in 5 s left the heap +3 MiB and started no goroutine.
//   - Stream opens (SYN): at most AcceptBacklog wait to be accepted; beyond
//     that the read loop itself answers RST. But a stream the server closes
//     (ifkit's MaxStreams refusal) stays in the session, with a timer, until
//     the peer's FIN or StreamCloseTimeout, so what opens cost is open rate
//     × StreamCloseTimeout: a peer that reads its answers opened 2.8 million
//     in 15 s for +121 MiB of heap. A rate limit here would also stop an
//     honest client that opens and closes streams fast.
//   - A Data header makes yamux allocate its length, up to the stream's
//     receive window (1 MiB with ifkit's StreamWindow), before the body
//     arrives, and the read loop then waits for the body: 24 bytes reserve
//     1 MiB per session until the keepalive gives up (KeepAliveInterval +
//     ConnectionWriteTimeout). Bounding that needs the header held back or
//     the body timed, which a pass-through parser does not do.
package muxguard
