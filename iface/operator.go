package iface

import (
	"crypto/tls"
	"net"
	"slices"
	"sort"

	"github.com/ifkit/ifkit/control"
)

// WithAdminSecret sets the admin secret (at least 16 bytes; see
// SecretFromFile): a control stream that proves it (Control.Operator) gets
// the operator scope (spec/PROTOCOL.md §10.4): it may list every session's
// connections (Control.Connections), read the server's counters
// (Control.ServerStats) and pause, resume, reset, close or read the stats
// of any session's connection. It is kept apart from the shared secret of
// WithSecret, which every client knows. The server never logs it.
func WithAdminSecret(secret []byte) ServerOption {
	return serverOption(func(s *Server) { s.adminSecret = secret })
}

// WithOperatorCertNames gives the operator scope to every control stream of
// a session whose client certificate, verified by the server's mutual TLS
// (ServerTLS with a client CA), has one of names as its subject's common
// name or as a DNS name: an operator's certificate needs no admin secret.
func WithOperatorCertNames(names ...string) ServerOption {
	return serverOption(func(s *Server) { s.operatorNames = names })
}

// peer is what a server knows of a session's client: what an operator's
// list of connections shows, and whether its certificate names an operator.
type peer struct {
	remote        string
	cred          *control.PeerCred // a Unix peer's
	tlsName       string            // the verified client certificate's subject common name
	authenticated bool              // it proved the shared secret
	operator      bool              // its certificate names an operator
}

// newPeer describes the client of a session whose preface (and TLS
// handshake, and shared-secret exchange) are done.
func (s *Server) newPeer(raw net.Conn, authenticated bool) *peer {
	p := &peer{cred: unixPeerCred(raw), authenticated: authenticated}
	if a := raw.RemoteAddr(); a != nil {
		p.remote = a.String()
	}
	tc, ok := raw.(*tls.Conn)
	if !ok {
		return p
	}
	chains := tc.ConnectionState().VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return p // no certificate, or none the server verified
	}
	leaf := chains[0][0]
	p.tlsName = leaf.Subject.CommonName
	for _, name := range s.operatorNames {
		if name == leaf.Subject.CommonName || slices.Contains(leaf.DNSNames, name) {
			p.operator = true
		}
	}
	return p
}

// Connections returns the live connections on iface ("" for every
// interface), of every session, sorted by id: what an operator lists.
func (s *Server) Connections(iface string) []Connection {
	s.mu.Lock()
	conns := make([]*servedConn, 0, len(s.conns))
	for _, sc := range s.conns {
		if iface == "" || sc.iface.Manifest.Name == iface {
			conns = append(conns, sc)
		}
	}
	s.mu.Unlock()
	out := make([]Connection, 0, len(conns))
	for _, sc := range conns {
		out = append(out, Connection{
			Stats:  ConnStats(sc.conn.Stats()),
			Client: sc.client, Codec: sc.conn.Codec().Name(),
			Remote: sc.peer.remote, Peer: sc.peer.cred, TLSName: sc.peer.tlsName,
			Authenticated: sc.peer.authenticated,
		})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Stats.ConnectionID < out[b].Stats.ConnectionID })
	return out
}
