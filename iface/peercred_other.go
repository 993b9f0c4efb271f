//go:build !linux

package iface

import (
	"net"

	"github.com/ifkit/ifkit/control"
)

// peerAllowed refuses every Unix peer when an allow-list is set: this
// platform's peer credentials are not read yet.
func (s *Server) peerAllowed(raw net.Conn) bool {
	if len(s.allowUIDs) == 0 && len(s.allowGIDs) == 0 {
		return true
	}
	_, isUnix := raw.(*net.UnixConn)
	return !isUnix
}

// unixPeerCred returns nil: this platform's peer credentials are not read
// yet.
func unixPeerCred(net.Conn) *control.PeerCred { return nil }
