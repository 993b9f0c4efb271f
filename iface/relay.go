package iface

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
)

// A relay lets clients reach servers that cannot be dialed, a server behind
// a firewall for one (spec/PROTOCOL.md §2.5): the server dials out to the
// relay and registers a name; a client dials the relay and names the
// server; the relay then carries the bytes of one ifkit session between
// them, each on its own yamux stream of the server's connection, which the
// relay opens (yamux is symmetric: the side that dialed accepts them). The
// session inside is a complete one — preface, the server's own shared
// secret, and TLS end to end with relay+tls:// — so a relay sees ciphertext
// only, when asked.
//
// This file holds the relay hello both sides send; relay_server.go the
// server's side, relay_daemon.go the relay.

// The relay hello (spec/PROTOCOL.md §2.5).
const (
	relayVersion = 1
	maxRelayName = 128
	// roles
	relayServe   = 1 // a server registers its name
	relayConnect = 2 // a client reaches a server by name
	relaySelf    = 3 // a client talks to the relay itself (its servers, learn and forget)
	// statuses
	relayOK           = 0x00
	relayUnknownName  = 0x01 // connect: no server of that name
	relayNameTaken    = 0x02 // serve: another server holds the name
	relayAuthRequired = 0x03 // the relay's shared-secret exchange (§3.5) follows
	relayBadHello     = 0x04 // not a valid hello: bad version, role or name
)

var relayMagic = [4]byte{'I', 'F', 'K', 'R'}

// relayNames are the names a server registers under.
var relayNames = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkRelayName reports what is wrong with a relay name.
func checkRelayName(name string) error {
	if len(name) > maxRelayName || !relayNames.MatchString(name) {
		return fmt.Errorf("relay name %q: want 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit", name, maxRelayName)
	}
	return nil
}

// ErrRelaySecretRequired is the cause of a dial without a relay secret
// (WithRelaySecret) through a relay that requires one.
const ErrRelaySecretRequired errorString = "the relay requires a shared secret"

// ErrRelay marks the relay's refusals: an unknown name, a name taken, a
// bad hello.
const ErrRelay errorString = "the relay refused"

// relayHello runs the peer's side of the hello over conn: it sends role and
// name, proves the relay's secret when the relay asks, and reads the
// relay's answer. conn is then the pipe (connect), the yamux carrier
// (serve) or the relay's own session (self).
func relayHello(conn net.Conn, role byte, name string, secret []byte) error {
	msg := append(relayMagic[:], relayVersion, role, byte(len(name)))
	if _, err := conn.Write(append(msg, name...)); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("reading the relay's answer: %w (is it an ifkit relay?)", err)
	}
	switch b[0] {
	case relayOK:
	case relayAuthRequired:
		if _, err := clientAuth(conn, secret); err != nil {
			var sf secretFailure
			if errors.As(err, &sf) {
				ce := &CloseError{Code: CodeAuthFailed, Reason: "the relay: " + string(sf), Remote: true}
				if secret == nil {
					ce.Reason = "the relay requires a shared secret, and the client has none"
					ce.Cause = ErrRelaySecretRequired
				}
				return ce
			}
			return fmt.Errorf("the relay's shared-secret exchange: %w", err)
		}
	case relayBadHello:
		return fmt.Errorf("%w the hello (another relay protocol version?)", ErrRelay)
	default:
		return fmt.Errorf("the relay answered %#02x: not an ifkit relay", b[0])
	}
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("reading the relay's answer: %w", err)
	}
	switch b[0] {
	case relayOK:
		return nil
	case relayUnknownName:
		return fmt.Errorf("%w: no server named %q is registered with it", ErrRelay, name)
	case relayNameTaken:
		return fmt.Errorf("%w: another server is registered as %q", ErrRelay, name)
	}
	return fmt.Errorf("the relay answered %#02x: not an ifkit relay", b[0])
}

// dialRelay dials the relay of a relay address and reaches its server (or
// the relay itself, for an empty name): the connection returned carries the
// session, under TLS end to end for relay+tls://.
func (c *Client) dialRelay(ctx context.Context, a Addr) (net.Conn, error) {
	hop := Addr{Network: "tcp", Address: a.Address}
	raw, err := c.dialRaw(ctx, hop, nil)
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	role := byte(relayConnect)
	if a.Relay == "" {
		role = relaySelf
	}
	if err := relayHello(raw, role, a.Relay, c.relaySecret); err != nil {
		raw.Close()
		return nil, err
	}
	if !a.TLS {
		return raw, nil
	}
	cfg := &tls.Config{}
	if c.tls != nil {
		cfg = c.tls.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = a.Relay // the server's certificate is for its name
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS with %s through the relay: %w", a.Relay, err)
	}
	return tc, nil
}

// WithRelaySecret sets the shared secret of a relay (NewRelay's
// WithSecret): a client dialing relay:// addresses and a server
// registering with ServeRelay prove it to the relay. It is not the
// server's own secret (WithSecret), which the session inside proves.
func WithRelaySecret(secret []byte) interface {
	DialOption
	RelayServeOption
} {
	return relaySecretOption(secret)
}

type relaySecretOption []byte

func (o relaySecretOption) applyDial(c *Client)                  { c.relaySecret = o }
func (o relaySecretOption) applyRelayServe(r *relayServeOptions) { r.secret = o }
