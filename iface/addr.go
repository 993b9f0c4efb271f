package iface

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Addr is a parsed ifkit address: a Unix socket path, a TCP host:port, or
// the name of an in-process listener (mem://name, see MemNetwork).
type Addr struct {
	Network string // "unix", "tcp", "mem" or "relay"
	Address string // a file path for unix, host:port for tcp and relay, a name for mem
	TLS     bool   // tls://host:port: TCP with TLS; relay+tls://: TLS end to end with the server
	Relay   string // relay: the server's name at the relay ("" for the relay itself)
}

// String returns the address in the form ParseAddr reads: unix:///abs.sock,
// unix:rel.sock or tcp://host:port.
func (a Addr) String() string {
	if a.Network == "mem" {
		return "mem://" + a.Address
	}
	if a.Network == "relay" {
		scheme := "relay://"
		if a.TLS {
			scheme = "relay+tls://"
		}
		return scheme + a.Address + "/" + a.Relay
	}
	if a.Network == "unix" {
		if filepath.IsAbs(a.Address) {
			return "unix://" + a.Address
		}
		return "unix:" + a.Address
	}
	if a.TLS {
		return "tls://" + a.Address
	}
	return "tcp://" + a.Address
}

// ParseAddr reads one address: unix:///abs/path.sock, unix:rel/path.sock,
// tcp://host:port, tls://host:port (TCP with TLS), host:port, or
// mem://name (in this process, see MemNetwork).
func ParseAddr(s string) (Addr, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Addr{}, errors.New("empty address; use unix:///path.sock, unix:rel.sock, tcp://host:port or host:port")
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if !strings.HasPrefix(p, "/") {
			return Addr{}, fmt.Errorf("address %q: unix:// needs an absolute path (unix:///run/x.sock); for a relative path write unix:%s", s, p)
		}
		return Addr{Network: "unix", Address: p}, nil
	case strings.HasPrefix(s, "unix:"):
		p := strings.TrimPrefix(s, "unix:")
		if p == "" {
			return Addr{}, fmt.Errorf("address %q: no socket path after unix:", s)
		}
		return Addr{Network: "unix", Address: p}, nil
	case strings.HasPrefix(s, "tls://"):
		rest := strings.TrimPrefix(s, "tls://")
		a, err := ParseAddr(rest)
		if err == nil && (strings.Contains(rest, "://") || a.Network != "tcp") {
			err = fmt.Errorf("address %q: tls:// takes host:port (TLS is for TCP; a Unix socket is protected by its file mode)", s)
		}
		a.TLS = true
		return a, err
	case strings.HasPrefix(s, "relay://"), strings.HasPrefix(s, "relay+tls://"):
		scheme, rest, _ := strings.Cut(s, "://")
		hostPort, name, _ := strings.Cut(rest, "/")
		hop, err := ParseAddr(hostPort)
		if err != nil || strings.Contains(hostPort, "://") || hop.Network != "tcp" {
			return Addr{}, fmt.Errorf("address %q: %s:// takes host:port/NAME (the relay's TCP address, then the server's name)", s, scheme)
		}
		if name != "" {
			if err := checkRelayName(name); err != nil {
				return Addr{}, fmt.Errorf("address %q: %v", s, err)
			}
		}
		return Addr{Network: "relay", Address: hop.Address, TLS: scheme == "relay+tls", Relay: name}, nil
	case strings.HasPrefix(s, "mem://"):
		name := strings.TrimPrefix(s, "mem://")
		if name == "" || strings.ContainsAny(name, "/,") {
			return Addr{}, fmt.Errorf("address %q: mem:// takes a name without / or , (mem://sensors)", s)
		}
		return Addr{Network: "mem", Address: name}, nil
	case strings.HasPrefix(s, "tcp://"):
		s = strings.TrimPrefix(s, "tcp://")
	case strings.Contains(s, "://"):
		return Addr{}, fmt.Errorf("address %q: unknown scheme; use unix://, tcp://, tls://, relay://, relay+tls:// or mem://", s)
	case strings.HasPrefix(s, "/"):
		return Addr{}, fmt.Errorf("address %q: a Unix socket is written unix://%s", s, s)
	case strings.HasPrefix(s, "./"), strings.HasSuffix(s, ".sock"):
		return Addr{}, fmt.Errorf("address %q: a Unix socket at a relative path is written unix:%s", s, s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("address %q: want host:port (%v)", s, err)
	}
	if port == "" {
		return Addr{}, fmt.Errorf("address %q: missing port", s)
	}
	return Addr{Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
}

// ParseAddrList reads a comma-separated list of addresses, which means "any
// of these" (failover), in order.
func ParseAddrList(s string) ([]Addr, error) {
	var out []Addr
	for _, part := range strings.Split(s, ",") {
		a, err := ParseAddr(part)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ListenOption configures Listen.
type ListenOption interface{ applyListen(*listenOptions) }

type listenOptions struct {
	tls *tls.Config
	mem *MemNetwork
}

type listenOption func(*listenOptions)

func (f listenOption) applyListen(o *listenOptions) { f(o) }

// WithServerTLS sets the TLS configuration of a tls:// listener; see
// ServerTLS for one made from certificate files.
func WithServerTLS(c *tls.Config) ListenOption {
	return listenOption(func(o *listenOptions) { o.tls = c })
}

// Listen opens a listener on addr. A Unix socket file is readable and
// writable by its owner only (mode 0600) from the moment it appears at its
// path, whatever the umask; a stale socket file left by a dead process is
// replaced, a live socket or any other file is left alone and reported, and
// the file is removed when the listener closes. A tls:// address needs
// WithServerTLS.
func Listen(ctx context.Context, addr string, opts ...ListenOption) (net.Listener, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	var o listenOptions
	for _, opt := range opts {
		opt.applyListen(&o)
	}
	if a.Network == "mem" {
		if o.tls != nil {
			return nil, fmt.Errorf("%s: %w", a, errMemTLS)
		}
		return cmp.Or(o.mem, defaultMem).listen(a.Address)
	}
	var lc net.ListenConfig
	if a.Network == "tcp" {
		switch {
		case a.TLS && o.tls == nil:
			return nil, fmt.Errorf("%s: a tls:// address needs a certificate and key (WithServerTLS, or ifctl's --tls-cert and --tls-key)", a)
		case !a.TLS && o.tls != nil:
			return nil, fmt.Errorf("%s: TLS is configured, so listen on tls://%s", a, a.Address)
		}
		l, err := lc.Listen(ctx, "tcp", a.Address)
		if err != nil || !a.TLS {
			return l, err
		}
		return tls.NewListener(l, o.tls), nil
	}
	if o.tls != nil {
		return nil, fmt.Errorf("%s: TLS is for tls:// addresses; a Unix socket is protected by its file mode", a)
	}
	if err := removeStaleSocket(ctx, a.Address); err != nil {
		return nil, err
	}
	return listenUnix(ctx, a.Address)
}

// privateDirPattern names the folder a socket is created in before it is
// linked into place (a leftover of a crash there can be removed).
const privateDirPattern = ".ifkit-"

// listenUnix listens on a Unix socket at path whose file is owner-only from
// the start. bind creates the file with the process's umask, so chmod after
// it leaves a moment in which, with umask 000 in a world-writable folder,
// another user can connect. The umask cannot be set around bind instead: it
// is process-wide, and every file other goroutines create meanwhile would
// get it. Nor is there a portable call that binds with a mode (Linux honours
// an fchmod of the socket before bind; other systems do not). So the socket
// is bound in a fresh folder next to path that only this user may enter
// (0700), made 0600 there, then hard-linked to path: the file appears at
// path already owner-only. A link, unlike a rename, fails if something
// appeared at path meanwhile (another server starting on it) instead of
// replacing it, as bind would.
func listenUnix(ctx context.Context, path string) (net.Listener, error) {
	private, err := os.MkdirTemp(filepath.Dir(path), privateDirPattern)
	if err != nil {
		return nil, fmt.Errorf("%s: creating a private folder to make the socket in: %w", path, err)
	}
	defer os.Remove(private)
	tmp := filepath.Join(private, "s")
	if max := len(syscall.RawSockaddrUnix{}.Path); len(tmp) > max && len(path) <= max {
		return nil, fmt.Errorf("%s: path too long: the socket is made in %s first, %d bytes, and the system allows %d; use a path %d bytes shorter",
			path, tmp, len(tmp), max, len(tmp)-max)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "unix", tmp)
	if err != nil {
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // its name is removed below; path's on Close
	defer os.Remove(tmp)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ul.Close()
		return nil, fmt.Errorf("setting owner-only mode on %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		ul.Close()
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%s: another process created this file while the socket was being made; stop it or choose another path", path)
		}
		return nil, fmt.Errorf("%s: putting the socket in place: %w", path, err)
	}
	u := &unixListener{UnixListener: ul, addr: &net.UnixAddr{Name: path, Net: "unix"}}
	u.unlink.Store(true)
	return u, nil
}

// unixListener is a Unix socket listener made by listenUnix: it reports the
// path it was asked for, not the one it was bound to, and removes that path
// when it closes (unless SetUnlinkOnClose(false)), as *net.UnixListener does.
type unixListener struct {
	*net.UnixListener
	addr   *net.UnixAddr
	unlink atomic.Bool
	once   sync.Once
}

var _ net.Listener = (*unixListener)(nil)

// Addr returns the socket's path.
func (l *unixListener) Addr() net.Addr { return l.addr }

// Close stops listening and removes the socket file.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if l.unlink.Load() {
			os.Remove(l.addr.Name)
		}
	})
	return err
}

// SetUnlinkOnClose sets whether Close removes the socket file (it does by
// default).
func (l *unixListener) SetUnlinkOnClose(unlink bool) { l.unlink.Store(unlink) }

// removeStaleSocket removes a socket file nobody listens on any more. A file
// that is not a socket, or a live socket, is left alone and reported.
func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%s: another process is listening on this socket", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: cannot tell whether the socket is in use: %w", path, err)
	}
	return os.Remove(path)
}

// dialAddr opens a raw connection to a, with TLS for a tls:// address.
func dialAddr(ctx context.Context, a Addr, tc *tls.Config) (net.Conn, error) {
	if a.TLS {
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(a.Address)
		}
		d := tls.Dialer{Config: tc}
		return d.DialContext(ctx, "tcp", a.Address)
	}
	var d net.Dialer
	return d.DialContext(ctx, a.Network, a.Address)
}
