// Package codes holds the closed set of codes that cross ifkit's wire —
// why a stream was refused, a message refused or a connection closed — and
// the two errors that carry them: CloseError (a connection ended) and
// RemoteError (the peer refused one message or control request without
// ending anything). It is the leaf the data plane (package data), the
// control sub-interface (package control) and the public API (package
// iface) share; spec/PROTOCOL.md §9 lists the codes with their numbers.
//
// Match a code with errors.Is, or read it with Of:
//
//	if errors.Is(err, codes.CreditViolation) { ... }
//	switch codes.Of(err) { case codes.KeepaliveTimeout: ... }
package codes
