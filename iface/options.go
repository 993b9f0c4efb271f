package iface

import (
	"crypto/tls"

	"github.com/ifkit/ifkit/codec"
)

// Option configures either end: NewServer and Dial both take it. The
// settings both ends have are set this one way.
type Option interface {
	ServerOption
	DialOption
	RelayOption
}

// common holds the settings of Option.
type common struct {
	cfg    Config
	codecs *codec.Set
	secret []byte
	// relayTLS, on a client, is the TLS configuration of the hop to a
	// relay (WithRelayHopTLS, relay.go); nil: plain TCP.
	relayTLS *tls.Config
}

func defaultCommon() common { return common{cfg: DefaultConfig(), codecs: standardCodecs} }

// standardCodecs is the codec set of every Server, Client and Relay not
// given one (WithCodecs). A codec.Set never changes, so one serves them all
// (each Client had its own, 0.4 KiB).
var standardCodecs = codec.Standard()

type commonOption func(*common)

func (f commonOption) applyServer(s *Server) { f(&s.common) }
func (f commonOption) applyDial(c *Client)   { f(&c.common) }
func (f commonOption) applyRelay(r *Relay)   { f(&r.common) }

// WithConfig sets the transport configuration (DefaultConfig otherwise).
func WithConfig(c Config) Option { return commonOption(func(o *common) { o.cfg = c }) }

// WithCodecs sets the codecs this end can use (codec.Standard otherwise).
func WithCodecs(set *codec.Set) Option { return commonOption(func(o *common) { o.codecs = set }) }

// WithSecret sets the shared secret: a server requires every client to
// prove it knows it (HMAC-SHA256 challenge-response, both ways) before
// anything else, and a client proves it and checks that the server knows it
// too. See SecretFromFile and SecretFromEnv.
func WithSecret(secret []byte) Option {
	return commonOption(func(o *common) { o.secret = secret })
}
