package iface

import (
	"net"
	"syscall"

	"github.com/ifkit/ifkit/control"
)

// peerAllowed checks a Unix peer's credentials against the allow-list.
func (s *Server) peerAllowed(raw net.Conn) bool {
	if len(s.allowUIDs) == 0 && len(s.allowGIDs) == 0 {
		return true
	}
	if _, ok := raw.(*net.UnixConn); !ok {
		return true // the allow-list is about Unix sockets
	}
	cred := unixPeerCred(raw)
	if cred == nil {
		return false
	}
	for _, u := range s.allowUIDs {
		if uint32(u) == cred.UID {
			return true
		}
	}
	for _, g := range s.allowGIDs {
		if uint32(g) == cred.GID {
			return true
		}
	}
	return false
}

// unixPeerCred returns a Unix peer's credentials as the kernel reports them
// (SO_PEERCRED), or nil for another kind of socket or when they cannot be
// read.
func unixPeerCred(raw net.Conn) *control.PeerCred {
	uc, ok := raw.(*net.UnixConn)
	if !ok {
		return nil
	}
	sc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *syscall.Ucred
	var credErr error
	if err := sc.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return nil
	}
	return &control.PeerCred{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}
}
