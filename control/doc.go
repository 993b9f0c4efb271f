// Package control is ifkit's control sub-interface (spec/PROTOCOL.md §10):
// a stream of length-delimited requests, responses and server-pushed
// notifications beside a connection's data stream.
//
// The client side is Client: list the interfaces a server hosts, fetch a
// manifest (with its hash checked), ping, and act on a connection (stats,
// pause, resume, reset, close), Monitor (told once, with the reason, when a
// connection, an interface or the server goes), plus Notifications. The
// server side is Hub:
// it serves control streams for a Host it is given and fans notifications
// out to every stream without ever blocking the server.
//
// Everything exported is plain Go: ConnStats, InterfaceInfo and the
// Notification variants (Draining, InterfacesChanged, ManifestChanged,
// ConnectionOpened, ConnectionClosed, NotificationsLost). The protobuf
// messages of the wire stay inside the module.
//
// The package works over any ordered byte stream; package iface opens the
// yamux streams and runs the handshake that come before it. It imports
// neither iface nor data.
package control
