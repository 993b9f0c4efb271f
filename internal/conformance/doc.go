// Package conformance is the server half of ifkit's conformance suite
// (spec/conformance/README.md): scripted peers that drive a client in any
// language through what spec/PROTOCOL.md asks of it — misbehaviour it must
// detect, codes it must report, limits it must respect — and a reference
// server (the real iface.Server) hosting the example interfaces, all on Unix
// and TCP listeners at once. cmd/ifkit-conformance is its command.
//
// Each scripted scenario reports a verdict on what the client did (the frames
// it sent back) as one JSON line; the client's own test checks what the
// client reported to its application.
package conformance
