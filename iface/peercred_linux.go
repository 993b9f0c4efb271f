package iface

import (
	"net"
	"syscall"
)

// peerAllowed checks a Unix peer's credentials against the allow-list.
func (s *Server) peerAllowed(raw net.Conn) bool {
	if len(s.allowUIDs) == 0 && len(s.allowGIDs) == 0 {
		return true
	}
	uc, ok := raw.(*net.UnixConn)
	if !ok {
		return true // the allow-list is about Unix sockets
	}
	sc, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var credErr error
	if err := sc.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return false
	}
	for _, u := range s.allowUIDs {
		if uint32(u) == cred.Uid {
			return true
		}
	}
	for _, g := range s.allowGIDs {
		if uint32(g) == cred.Gid {
			return true
		}
	}
	return false
}
