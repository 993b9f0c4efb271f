package control

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/internal/authmac"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
)

// The operator scope (spec/PROTOCOL.md §10.4). A control stream that has
// proved the server's admin secret, or that is on a session whose client
// certificate names an operator, may list every session's connections
// (Connections), read the server's counters (ServerStats) and run the
// connection operations on any session's connection of its interface.
const (
	operatorNonceLen    = 32
	labelOperatorClient = "operator-client"
	labelOperatorServer = "operator-server"
)

// OperatorProof is the client's proof of the admin secret for a server's
// challenge: MAC(secret, "operator-client", challenge, clientNonce).
func OperatorProof(secret, challenge, clientNonce []byte) []byte {
	return authmac.MAC(secret, labelOperatorClient, challenge, clientNonce)
}

// OperatorAnswer is the server's proof that it knows the admin secret too:
// MAC(secret, "operator-server", clientNonce, challenge).
func OperatorAnswer(secret, challenge, clientNonce []byte) []byte {
	return authmac.MAC(secret, labelOperatorServer, clientNonce, challenge)
}

// Connection is one live connection as an operator lists it.
type Connection struct {
	Stats         ConnStats
	Client        string    // the name the client gave (untrusted text)
	Codec         string    // the codec chosen
	Remote        string    // the peer's address ("" or "@" for most Unix peers)
	Peer          *PeerCred // a Unix peer's credentials, from the kernel; nil on TCP
	TLSName       string    // the verified client certificate's subject common name
	Authenticated bool      // the session proved the shared secret
}

// PeerCred are a Unix peer's credentials as the kernel reports them.
type PeerCred struct {
	UID, GID uint32
	PID      int32
}

// ServerStats are a server's counters since it started.
type ServerStats struct {
	Interfaces []InterfaceStats      // sorted by name
	Refusals   map[codes.Code]uint64 // sessions and streams refused, by code
}

// InterfaceStats are the counters of one interface, over its open and
// ended connections alike.
type InterfaceStats struct {
	Interface string
	Open      uint64 // connections open now
	Opened    uint64 // connections opened since the server started
	// Totals sums the counters of every connection, open or ended;
	// ConnectionID, CreditsHeld, CreditsGranted, Queued, Paused and
	// Uptime are zero.
	Totals ConnStats
	Ended  map[codes.Code]uint64 // connections ended, by end code
	Types  []TypeStats           // per received type with a handler, sorted by name
}

// TypeStats count the handler of one received message type, as NATS
// micro counts an endpoint's requests.
type TypeStats struct {
	Type       string
	Handled    uint64        // handler calls
	Errors     uint64        // calls that returned an error (the peer got an ERROR frame)
	Processing time.Duration // total time in the handler: request types only (one-way types are not timed)
	LastError  string
	// Latency counts the calls by duration: Latency[i] those of at most
	// LatencyBound(i), beyond the bound before it; the last bucket has no
	// bound. Its length is LatencyBuckets; all 0 for a one-way type.
	Latency []uint64
}

// LatencyBuckets is the number of TypeStats.Latency buckets.
const LatencyBuckets = 12

// LatencyBound is the upper bound of latency bucket i: 4^i µs (1 µs, 4 µs,
// …, about 1 s, 4.2 s); 0 for the last bucket, which has none.
func LatencyBound(i int) time.Duration {
	if i < 0 || i >= LatencyBuckets-1 {
		return 0
	}
	return time.Microsecond << (2 * i)
}

// LatencyBucket returns the bucket a call of duration d counts in.
func LatencyBucket(d time.Duration) int {
	for i := 0; i < LatencyBuckets-1; i++ {
		if d <= LatencyBound(i) {
			return i
		}
	}
	return LatencyBuckets - 1
}

// Average is the mean time in the handler, or 0 before the first call.
func (t TypeStats) Average() time.Duration {
	if t.Handled == 0 {
		return 0
	}
	return t.Processing / time.Duration(t.Handled)
}

// Operator proves the server's admin secret on this control stream
// (spec/PROTOCOL.md §10.4): it asks for a challenge, answers it and checks
// the server's own proof. From then on the stream has the operator scope.
// A server with no admin secret fails it with unimplemented, a wrong
// secret with auth_failed (and the server closes the stream); a server
// whose proof is wrong does not know the secret, and the stream is closed.
func (c *Client) Operator(ctx context.Context, secret []byte) error {
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_OperatorChallenge{OperatorChallenge: &controlpb.OperatorChallenge{}}})
	if err != nil {
		return err
	}
	challenge := r.GetChallenge()
	if len(challenge) != operatorNonceLen {
		c.Close()
		return &codes.RemoteError{Code: codes.ProtocolError, Reason: fmt.Sprintf("the server's operator challenge is %d bytes, not %d", len(challenge), operatorNonceLen)}
	}
	nonce := make([]byte, operatorNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	proof := &controlpb.OperatorProof{ClientNonce: nonce, Mac: OperatorProof(secret, challenge, nonce)}
	r, err = c.do(ctx, &controlpb.Request{Op: &controlpb.Request_OperatorProof{OperatorProof: proof}})
	if err != nil {
		return err
	}
	if !authmac.Equal(r.GetOperator(), OperatorAnswer(secret, challenge, nonce)) {
		c.Close()
		return &codes.RemoteError{Code: codes.AuthFailed, Reason: "the server's operator proof is wrong: it does not know the admin secret (an impostor?)"}
	}
	return nil
}

// Connections lists the server's live connections on iface ("" for every
// interface), of every session, sorted by id. It needs the operator scope.
func (c *Client) Connections(ctx context.Context, iface string) ([]Connection, error) {
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_Connections{Connections: &controlpb.ListConnections{Interface: iface}}})
	if err != nil {
		return nil, err
	}
	var out []Connection
	for _, ci := range r.GetConnections().GetConnections() {
		out = append(out, connectionFromPB(ci))
	}
	return out, nil
}

// ServerStats returns the server's counters for iface ("" for every
// interface). It needs the operator scope.
func (c *Client) ServerStats(ctx context.Context, iface string) (ServerStats, error) {
	r, err := c.do(ctx, &controlpb.Request{Op: &controlpb.Request_ServerStats{ServerStats: &controlpb.GetServerStats{Interface: iface}}})
	if err != nil {
		return ServerStats{}, err
	}
	return serverStatsFromPB(r.GetServerStats()), nil
}

func connectionToPB(c Connection) *controlpb.ConnectionInfo {
	ci := &controlpb.ConnectionInfo{
		ConnectionId: c.Stats.ConnectionID, Interface: c.Stats.Interface,
		Client: clip(c.Client, maxNotifiedClient), Codec: c.Codec, Remote: c.Remote,
		TlsName: c.TLSName, Authenticated: c.Authenticated, Stats: statsToPB(c.Stats),
	}
	if p := c.Peer; p != nil {
		ci.Peer = &controlpb.PeerCredentials{Uid: p.UID, Gid: p.GID, Pid: p.PID}
	}
	return ci
}

func connectionFromPB(ci *controlpb.ConnectionInfo) Connection {
	c := Connection{
		Stats:  statsFromPB(ci.GetStats()),
		Client: ci.GetClient(), Codec: ci.GetCodec(), Remote: ci.GetRemote(),
		TLSName: ci.GetTlsName(), Authenticated: ci.GetAuthenticated(),
	}
	c.Stats.ConnectionID, c.Stats.Interface = ci.GetConnectionId(), ci.GetInterface()
	if p := ci.GetPeer(); p != nil {
		c.Peer = &PeerCred{UID: p.GetUid(), GID: p.GetGid(), PID: p.GetPid()}
	}
	return c
}

func countsToPB(m map[codes.Code]uint64) []*controlpb.CodeCount {
	out := make([]*controlpb.CodeCount, 0, len(m))
	for code, n := range m {
		out = append(out, &controlpb.CodeCount{Code: uint32(code), Count: n})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Code < out[b].Code })
	return out
}

func countsFromPB(l []*controlpb.CodeCount) map[codes.Code]uint64 {
	m := make(map[codes.Code]uint64, len(l))
	for _, c := range l {
		m[codes.Code(c.GetCode())] += c.GetCount()
	}
	return m
}

func serverStatsToPB(s ServerStats) *controlpb.ServerStats {
	out := &controlpb.ServerStats{Refusals: countsToPB(s.Refusals)}
	for _, i := range s.Interfaces {
		is := &controlpb.InterfaceStats{
			Interface: i.Interface, ConnectionsOpen: i.Open, ConnectionsOpened: i.Opened,
			Totals: statsToPB(i.Totals), Ended: countsToPB(i.Ended),
		}
		for _, t := range i.Types {
			is.Types = append(is.Types, &controlpb.TypeStats{
				Type: t.Type, Handled: t.Handled, Errors: t.Errors,
				ProcessingNs: uint64(t.Processing.Nanoseconds()), LastError: clip(t.LastError, maxNotifiedReason),
				Latency: t.Latency,
			})
		}
		out.Interfaces = append(out.Interfaces, is)
	}
	return out
}

func serverStatsFromPB(s *controlpb.ServerStats) ServerStats {
	out := ServerStats{Refusals: countsFromPB(s.GetRefusals())}
	for _, i := range s.GetInterfaces() {
		is := InterfaceStats{
			Interface: i.GetInterface(), Open: i.GetConnectionsOpen(), Opened: i.GetConnectionsOpened(),
			Totals: statsFromPB(i.GetTotals()), Ended: countsFromPB(i.GetEnded()),
		}
		for _, t := range i.GetTypes() {
			is.Types = append(is.Types, TypeStats{
				Type: t.GetType(), Handled: t.GetHandled(), Errors: t.GetErrors(),
				Processing: time.Duration(t.GetProcessingNs()), LastError: t.GetLastError(),
				Latency: t.GetLatency(),
			})
		}
		out.Interfaces = append(out.Interfaces, is)
	}
	return out
}
