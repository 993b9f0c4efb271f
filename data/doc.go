// Package data is ifkit's data plane (spec/PROTOCOL.md §6–§8, §12): one
// connection's typed messages over any ordered, reliable byte stream —
// a yamux stream, a net.Pipe, a socket — with the frame layout and reader,
// the outbox and the manifest's flow policies, the credit ledger, sequence
// numbers, per-message authentication, requests with their replies and
// reply streams, dispatch to handlers, pause, and stats.
//
// Package iface runs the handshake that precedes a connection and then
// hands the stream to New with a Config; a program that has a stream of
// its own can do the same on both ends, with no session under them. Frame,
// AppendFrame, FrameReader and Tag expose the wire layout for peers and
// tests written by hand.
//
// Receiving has two paths on one reader. The fast one lends: RecvFunc,
// and handlers with Config.InlineHandlers, run on the connection's reader
// with the message borrowed until the call returns (Message.Clone keeps
// one), so a received message costs no copy, no queue, no goroutine hand-off
// and, in steady state, no allocation; its credit goes back when the call
// returns. The queued one, Recv and ordinary handlers, copies each message
// into memory the program owns. Sending: Send, or SendBatch for many
// messages under one lock; a request or reply is written by its sender
// when the writer is idle.
//
// The package imports neither yamux nor iface nor control.
package data
