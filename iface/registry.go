package iface

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// WithRegistry makes Serve put a symbolic link to each Unix socket it
// serves in the folder dir, named as the socket file is ("kv.sock" for
// /run/kv/kv.sock), and remove it when Serve returns, so that `ifctl ls
// DIR` lists the server with its interfaces, as systemd's varlinkctl
// list-registry does. dir must exist. A link of that name that leads
// nowhere (a server that died) is replaced; one that leads to a live
// socket makes Serve fail. TCP listeners are not registered.
func WithRegistry(dir string) ServerOption {
	return serverOption(func(s *Server) { s.registry = dir })
}

// register links l's socket into the registry folder and returns what
// removes the link again.
func (s *Server) register(l net.Listener) (unregister func(), err error) {
	ua, ok := l.Addr().(*net.UnixAddr)
	if s.registry == "" || !ok || ua.Name == "" || ua.Name[0] == '@' {
		return func() {}, nil
	}
	target, err := filepath.Abs(ua.Name)
	if err != nil {
		return nil, err
	}
	link := filepath.Join(s.registry, filepath.Base(target))
	err = os.Symlink(target, link)
	if errors.Is(err, fs.ErrExist) {
		if old, rerr := os.Readlink(link); rerr == nil && (old == target || !live(old)) {
			os.Remove(link)
			err = os.Symlink(target, link)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ifkit: registering %s in %s: %w", target, s.registry, err)
	}
	return func() {
		if old, err := os.Readlink(link); err == nil && old == target {
			os.Remove(link)
		}
	}, nil
}

// live reports whether a Unix socket at path accepts connections.
func live(path string) bool {
	c, err := net.Dial("unix", path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
