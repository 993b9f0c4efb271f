// Package iface is ifkit's public runtime API: servers that host interfaces
// on Unix and TCP sockets, clients that connect to them, and the connections
// between the two, each with a data sub-interface (typed messages under
// credit-based flood control) and an optional control sub-interface.
//
// Addresses are written unix:///abs/path.sock, unix:rel/path.sock,
// tcp://host:port or host:port; see ParseAddr.
package iface
