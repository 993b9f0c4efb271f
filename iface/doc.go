// Package iface is ifkit's public runtime API: servers that host interfaces
// on Unix and TCP sockets, clients that connect to them, and the connections
// between the two, each with a data sub-interface (typed messages under
// credit-based flood control) and an optional control sub-interface.
//
// It composes three packages and re-exports their types under the names
// used here: data (the data plane: Conn, Message, Handler), control (the
// control sub-interface: Control, ConnStats, Notification and its variants)
// and codes (the wire codes, CloseError, RemoteError). iface itself holds
// what needs a socket: addresses, the session preface, shared-secret
// authentication, TLS, peer credentials, yamux sessions and stream
// admission.
//
// Addresses are written unix:///abs/path.sock, unix:rel/path.sock,
// tcp://host:port, host:port, tls://host:port, or mem://name for a listener
// in the same process (MemNetwork); see ParseAddr. NewClient and
// Server.ServeConn run a session over a connection the program already has.
package iface
