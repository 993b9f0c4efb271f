package iface

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"unicode"
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
	// statuses: 00 and 03 go on; the others are refusals, each followed by
	// its reason (one length byte, then that many bytes of UTF-8)
	relayOK           = 0x00
	relayUnknownName  = 0x01 // connect: no server of that name
	relayNameTaken    = 0x02 // serve: another server, alive, holds the name
	relayAuthRequired = 0x03 // the relay's shared-secret exchange (§3.5) follows
	relayBadHello     = 0x04 // not a valid hello: bad version, role or name
	relayLimit        = 0x05 // one of the relay's limits is reached (RelayLimits)
	relayUnavailable  = 0x06 // the server's relay connection failed, or the relay is closing
	maxRelayReason    = 255
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

// ErrRelay marks the relay's refusals (*RelayError): an unknown name, a
// name taken, a limit reached, a bad hello.
const ErrRelay errorString = "the relay refused"

// RelayError is a relay's refusal of a peer (spec/PROTOCOL.md §2.5): what
// the relay said, as a code and its reason. It matches ErrRelay and
// ErrConnect (the server was not reached: a client may try another
// address, or again later), and CodeOf returns its Code. It is not a
// *CloseError: the server did not answer, and a server that registers
// again may be reached then.
type RelayError struct {
	Code   Code   // not_found, limit_exceeded, protocol_error or transport_error
	Reason string // the relay's words, made printable
	Relay  string // the relay's host:port
	status byte
}

func (e *RelayError) Error() string {
	return fmt.Sprintf("the relay at %s refused: %s: %s", e.Relay, e.Code, e.Reason)
}

// Is matches ErrRelay, ErrConnect and the refusal's Code.
func (e *RelayError) Is(target error) bool {
	return target == ErrRelay || target == ErrConnect || target == e.Code
}

// As sets a *Code target to the refusal's code (for CodeOf).
func (e *RelayError) As(target any) bool {
	if c, ok := target.(*Code); ok {
		*c = e.Code
		return true
	}
	return false
}

// relayRefusal is a refusal a relay sends: its status and its reason.
type relayRefusal struct {
	status byte
	reason string
}

// relayRefusalCodes are the codes (spec/PROTOCOL.md §9) of the refusals.
var relayRefusalCodes = map[byte]Code{
	relayUnknownName: CodeNotFound,
	relayNameTaken:   CodeLimitExceeded,
	relayBadHello:    CodeProtocolError,
	relayLimit:       CodeLimitExceeded,
	relayUnavailable: CodeTransportError,
}

// encode returns the refusal as it crosses the wire: the status, the
// length of the reason, the reason (cut to 255 bytes at a rune boundary).
func (f relayRefusal) encode() []byte {
	reason := f.reason
	if len(reason) > maxRelayReason {
		reason = strings.ToValidUTF8(reason[:maxRelayReason], "")
	}
	return append([]byte{f.status, byte(len(reason))}, reason...)
}

// readRelayReason reads the reason that follows a refusal's status; a relay
// that closes without one (an older relay) leaves the reason empty.
func readRelayReason(r io.Reader) string {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return ""
	}
	b := make([]byte, n[0]) // ≤ 255: bounded before allocation
	m, _ := io.ReadFull(r, b)
	return peerText(b[:m])
}

// peerText makes text a peer sent safe to print: valid UTF-8, control
// characters as '?'.
func peerText(b []byte) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.ToValidUTF8(string(b), "?"))
}

// err is the refusal as the peer's error.
func (f relayRefusal) err(relay string) error {
	reason := f.reason
	if reason == "" {
		reason = relayDefaultReasons[f.status]
	}
	code, ok := relayRefusalCodes[f.status]
	if !ok {
		code = CodeProtocolError
	}
	return &RelayError{Code: code, Reason: reason, Relay: relay, status: f.status}
}

// relayDefaultReasons say what a refusal without a reason means.
var relayDefaultReasons = map[byte]string{
	relayUnknownName: "no server of that name is registered",
	relayNameTaken:   "another server is registered under that name",
	relayBadHello:    "a bad hello (another relay protocol version?)",
	relayLimit:       "one of the relay's limits is reached",
	relayUnavailable: "the relay cannot reach that server now",
}

// relayStatusOf returns the status of the relay's refusal in err, or 0.
func relayStatusOf(err error) byte {
	var re *RelayError
	if errors.As(err, &re) {
		return re.status
	}
	return 0
}

// relayHello runs the peer's side of the hello over conn: it sends role and
// name, proves the relay's secret when the relay asks, and reads the
// relay's answer. conn is then the pipe (connect), the yamux carrier
// (serve) or the relay's own session (self).
func relayHello(conn net.Conn, role byte, name string, secret []byte) error {
	msg := append(relayMagic[:], relayVersion, role, byte(len(name)))
	if _, err := conn.Write(append(msg, name...)); err != nil {
		return err
	}
	relay := conn.RemoteAddr().String()
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
	default:
		return relayAnswer(conn, b[0], relay)
	}
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("reading the relay's answer: %w", err)
	}
	if b[0] == relayOK {
		return nil
	}
	return relayAnswer(conn, b[0], relay)
}

// relayAnswer turns a status other than ok into the error it means.
func relayAnswer(conn io.Reader, status byte, relay string) error {
	if _, ok := relayRefusalCodes[status]; !ok {
		return fmt.Errorf("%w: the relay answered %#02x, which no ifkit relay does", ErrNotIfkit, status)
	}
	return relayRefusal{status: status, reason: readRelayReason(conn)}.err(relay)
}

// dialRelay dials the relay of a relay address and reaches its server (or
// the relay itself, for an empty name): the connection returned carries the
// session, under TLS end to end for relay+tls://.
func (c *Client) dialRelay(ctx context.Context, a Addr) (net.Conn, error) {
	hop := Addr{Network: "tcp", Address: a.Address, TLS: c.relayTLS != nil}
	raw, err := c.dialRaw(ctx, hop, c.relayTLS)
	if err != nil {
		if hop.TLS {
			return nil, fmt.Errorf("TLS with the relay %s: %w", a.Address, err)
		}
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

// WithRelayHopTLS reaches the relay itself over TLS (a relay listening on
// tls://, ifctl relay --tls-cert): cfg is a client configuration
// (ClientTLS) whose roots verify the relay's certificate, for the relay's
// host name unless cfg names another. For a client it applies to relay://
// and relay+tls:// addresses; for ServeRelay, to the relay it registers
// with. It is independent of TLS end to end with the server (relay+tls://,
// WithTLS): a session can use either, both or neither.
func WithRelayHopTLS(cfg *tls.Config) interface {
	DialOption
	RelayServeOption
} {
	return relayHopTLSOption{cfg}
}

type relayHopTLSOption struct{ cfg *tls.Config }

func (o relayHopTLSOption) applyDial(c *Client)                  { c.relayTLS = o.cfg }
func (o relayHopTLSOption) applyRelayServe(r *relayServeOptions) { r.tlsHop = o.cfg }
