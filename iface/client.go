package iface

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
	"github.com/ifkit/ifkit/manifest"
)

// ErrConnect marks errors of Dial and Connect that mean the server could not
// be reached or refused the session (as opposed to a refused stream).
const ErrConnect errorString = "cannot connect"

// Client is one session with a server: one socket, multiplexed. Open
// connections to its interfaces with Connect and control streams with
// Control. A Client is safe for concurrent use.
type Client struct {
	common
	addr      Addr
	name      string
	manifests *ManifestCache
	mem       *MemNetwork // where mem:// addresses are dialed
	sess      *yamux.Session
	// sessKey is the key the shared-secret handshake agreed; nil without one.
	sessKey []byte
	// dialRaw opens the socket; tests replace it to break the transport.
	dialRaw func(context.Context, Addr, *tls.Config) (net.Conn, error)
	tls     *tls.Config
	// relaySecret is proven to relays (relay:// addresses); nil for none.
	relaySecret []byte
	random      bool          // try the addresses in random order
	rounds      int           // passes over the address list
	backoff     time.Duration // the wait before the second pass, doubled after each
	// redial dials the same addresses with the same options again, for a
	// resumable connection whose transport broke (nil: NewClient's, which
	// cannot). closing is set by Close: its resumable connections end.
	redial       func(context.Context) (*Client, error)
	closing      atomic.Bool
	resumablesMu sync.Mutex
	resumables   map[*Conn]struct{}
}

// DialOption configures Dial.
type DialOption interface{ applyDial(*Client) }

type dialOption func(*Client)

func (f dialOption) applyDial(c *Client) { f(c) }

// WithTLS sets the TLS configuration for tls:// addresses (the system's
// roots and the address's host name otherwise); see ClientTLS.
func WithTLS(cfg *tls.Config) DialOption { return dialOption(func(c *Client) { c.tls = cfg }) }

// WithManifestCache shares the manifests servers serve among every Client
// dialed with the same cache (each Client has its own otherwise): a parsed
// manifest is about 25 KiB, which each connection would otherwise hold a
// copy of.
func WithManifestCache(mc *ManifestCache) DialOption {
	return dialOption(func(c *Client) { c.manifests = mc })
}

// WithFailover sets how Dial goes through an address list: rounds passes
// (at least 1), waiting backoff before the second and twice as long before
// each next; random tries the addresses of each pass in random order instead
// of as listed (spreading clients over replicas).
func WithFailover(rounds int, backoff time.Duration, random bool) DialOption {
	return dialOption(func(c *Client) { c.rounds, c.backoff, c.random = max(rounds, 1), backoff, random })
}

// WithClientName names the client program in the server's logs.
func WithClientName(name string) DialOption { return dialOption(func(c *Client) { c.name = name }) }

// Dial connects to a server. addr is one address or a comma-separated list
// (failover): each is tried in order until one answers. Errors match
// ErrConnect, or ErrNotIfkit when the peer is not an ifkit server.
func Dial(ctx context.Context, addr string, opts ...DialOption) (*Client, error) {
	addrs, err := ParseAddrList(addr)
	if err != nil {
		return nil, err
	}
	c, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	var errs []error
	wait := c.backoff
	for round := 0; round < max(c.rounds, 1); round++ {
		if round > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, errors.Join(append(errs, ctx.Err())...)
			}
			wait *= 2
		}
		order := addrs
		if c.random {
			order = append([]Addr(nil), addrs...)
			rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, a := range order {
			err := c.dial(ctx, a)
			if err == nil {
				c.redial = func(ctx context.Context) (*Client, error) { return Dial(ctx, addr, opts...) }
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil || errors.Is(err, ErrNotIfkit) || errors.Is(err, ErrAuth) {
				return nil, errors.Join(errs...) // retrying will not help
			}
		}
	}
	return nil, errors.Join(errs...)
}

// newClient applies opts to a Client that has no session yet.
func newClient(opts []DialOption) (*Client, error) {
	c := &Client{common: defaultCommon(), dialRaw: dialAddr}
	for _, o := range opts {
		o.applyDial(c)
	}
	if c.manifests == nil {
		c.manifests = NewManifestCache()
	}
	return c, c.cfg.Validate()
}

// NewClient runs the client side of a session over conn, a connection the
// caller already has: a socket it dialed or accepted itself, one end of a
// pipe, a stream a relay handed over. Preface, shared secret and yamux go
// over it as over a dialed socket (failover options do not apply). The
// Client owns conn: Close closes it.
func NewClient(ctx context.Context, conn net.Conn, opts ...DialOption) (*Client, error) {
	c, err := newClient(opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	a := Addr{Network: conn.RemoteAddr().Network(), Address: conn.RemoteAddr().String()}
	if err := c.handshake(ctx, conn, a); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) dial(ctx context.Context, a Addr) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	var raw net.Conn
	var err error
	switch a.Network {
	case "mem":
		raw, err = cmp.Or(c.mem, defaultMem).dial(ctx, a.Address)
	case "relay":
		if raw, err = c.dialRelay(ctx, a); err != nil {
			var ce *CloseError
			if errors.As(err, &ce) {
				return err // auth_failed
			}
			return fmt.Errorf("%w to %s: %w", ErrConnect, a, err)
		}
	default:
		raw, err = c.dialRaw(ctx, a, c.tls)
	}
	if err != nil {
		return fmt.Errorf("%w to %s: %v", ErrConnect, a, err)
	}
	return c.handshake(ctx, raw, a)
}

// handshake runs the preface, the shared-secret exchange and yamux over raw,
// a connection to a; it closes raw on failure.
func (c *Client) handshake(ctx context.Context, raw net.Conn, a Addr) error {
	deadline, _ := ctx.Deadline()
	raw.SetDeadline(deadline)
	if _, err := raw.Write(preface(prefaceOK)); err != nil {
		raw.Close()
		return fmt.Errorf("%w to %s: %v", ErrConnect, a, err)
	}
	status, err := readPreface(raw)
	if err != nil {
		raw.Close()
		if errors.Is(err, ErrNotIfkit) {
			return fmt.Errorf("%s: %w", a, err)
		}
		if errors.Is(err, errBadVersion) {
			return &CloseError{Code: CodeUnsupportedVersion, Reason: fmt.Sprintf("%s: %v", a, err), Remote: true, Cause: ErrConnect}
		}
		return fmt.Errorf("%w to %s: %v", ErrConnect, a, err)
	}
	switch status {
	case prefaceOK:
	case prefaceAuthRequired:
		if c.sessKey, err = clientAuth(raw, c.secret); err != nil {
			raw.Close()
			var sf secretFailure
			if errors.As(err, &sf) {
				ce := &CloseError{Code: CodeAuthFailed, Reason: string(sf), Remote: true}
				if c.secret == nil {
					ce.Cause = ErrSecretRequired
				}
				return ce
			}
			return fmt.Errorf("%w to %s: during authentication: %v", ErrConnect, a, err)
		}
	case prefaceNotAllowed:
		raw.Close()
		return &CloseError{Code: CodeAuthFailed, Reason: "this user is not allowed on the server's socket (peer credentials)", Remote: true}
	case prefaceRefused:
		raw.Close()
		return fmt.Errorf("%w to %s: the server refused the session (shutting down, or at its connection limit)", ErrConnect, a)
	default:
		raw.Close()
		return &CloseError{Code: CodeUnsupportedVersion, Reason: fmt.Sprintf("%s does not speak protocol version %d (its preface status is %#02x)", a, protocolVersion, status), Remote: true, Cause: ErrConnect}
	}
	raw.SetDeadline(time.Time{})
	sess, err := yamux.Client(coalesce(raw, raw), withoutKeepAlive(c.cfg.clientYamux()))
	if err != nil {
		raw.Close()
		return fmt.Errorf("%w to %s: %v", ErrConnect, a, err)
	}
	startKeepAlive(sess, c.cfg.KeepAliveInterval)
	c.addr, c.sess = a, sess
	return nil
}

// Addr returns the address the client is connected to.
func (c *Client) Addr() Addr { return c.addr }

// Close ends the session and every connection on it, resumable ones
// included wherever they have moved (they end with normal_close).
func (c *Client) Close() error {
	c.closing.Store(true)
	c.endResumables()
	return c.sess.Close()
}

// Done is closed when the session has ended: closed by Close, by the server
// (its idle timeout, shutdown) or by a transport failure. Each connection's
// own Err says why it ended.
func (c *Client) Done() <-chan struct{} { return c.sess.CloseChan() }

// open opens a stream and runs its handshake.
func (c *Client) open(ctx context.Context, req *sessionpb.OpenStream) (*yamux.Stream, *bufio.Reader, *sessionpb.OpenResult, error) {
	st, err := c.sess.OpenStream()
	if err != nil {
		if cause := sessionCause(c.sess)(); cause != nil {
			err = cause
		}
		return nil, nil, nil, fmt.Errorf("ifkit: opening a stream to %s: %w", c.addr, err)
	}
	deadline := time.Now().Add(c.cfg.HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	st.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { st.SetDeadline(time.Now()) })
	defer stop()
	req.Client = c.name
	if err := pbio.Write(st, req); err != nil {
		st.Close()
		return nil, nil, nil, fmt.Errorf("ifkit: stream handshake with %s: %w", c.addr, err)
	}
	br := bufio.NewReaderSize(st, streamReadBuffer)
	var res sessionpb.OpenResult
	if err := pbio.Read(br, &res, maxOpenResultBytes); err != nil {
		st.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, nil, nil, fmt.Errorf("ifkit: stream handshake with %s: %w", c.addr, err)
	}
	if code := Code(res.GetCode()); code != CodeOK {
		st.Close()
		return nil, nil, nil, &CloseError{Code: code, Reason: res.GetReason(), Remote: true}
	}
	st.SetDeadline(time.Time{})
	return st, br, &res, nil
}

// decline ends a connection the server accepted but the client will not
// use, telling the server why with a CLOSE frame (spec/PROTOCOL.md §11).
func (c *Client) decline(st *yamux.Stream, code Code, reason string) {
	st.SetWriteDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	st.Write(data.AppendFrame(nil, &data.Frame{Kind: data.FrameClose, Code: code, Reason: []byte(reason)}))
	st.Close()
}

// ConnectOption configures Connect.
type ConnectOption interface{ applyConnect(*connectOptions) }

type connectOptions struct {
	manifest  *manifest.Manifest
	codecs    []string
	handlers  map[string]Handler
	catchAll  Handler
	pull      bool
	credits   int
	onRefused func(*Conn, *RemoteError)
	filter    Filter
	params    any
	resume    bool
}

type connectOption func(*connectOptions)

func (f connectOption) applyConnect(o *connectOptions) { f(o) }

// WithManifest tells Connect the manifest the client was built against: the
// server's must have the same hash, or Connect fails with a
// manifest_mismatch *CloseError that names both hashes and sums up what
// changed (manifest.Diff).
func WithManifest(m *manifest.Manifest) ConnectOption {
	return connectOption(func(o *connectOptions) { o.manifest = m })
}

// WithCodec lists the codecs the client accepts, in its order of
// preference; the server picks the first of its own list that is here.
func WithCodec(names ...string) ConnectOption {
	return connectOption(func(o *connectOptions) { o.codecs = names })
}

// WithHandler handles received messages of one type; Recv no longer sees them.
func WithHandler(typeName string, h Handler) ConnectOption {
	return connectOption(func(o *connectOptions) {
		if o.handlers == nil {
			o.handlers = map[string]Handler{}
		}
		o.handlers[typeName] = h
	})
}

// WithCatchAll handles received messages of every type without a handler.
func WithCatchAll(h Handler) ConnectOption {
	return connectOption(func(o *connectOptions) { o.catchAll = h })
}

// WithCredits sets how many messages the client lets the server send ahead
// (at most, and by default, the manifest's flow.credits).
func WithCredits(n int) ConnectOption {
	return connectOption(func(o *connectOptions) { o.credits = n })
}

// WithOnRefused calls f for each message the server refused (it failed its
// schema, its size limit or its authentication, or its handler failed),
// with the code, reason and sequence number the server gave. A refused Call
// fails with the same *RemoteError instead. f runs on the connection's
// reader and must return quickly. It is the client's twin of
// Interface.OnRefused.
func WithOnRefused(f func(*Conn, *RemoteError)) ConnectOption {
	return connectOption(func(o *connectOptions) { o.onRefused = f })
}

// WithPullMode grants no credit automatically: the server may send only as
// many messages as Conn.Request asked for (RSocket's request(n)).
func WithPullMode() ConnectOption { return connectOption(func(o *connectOptions) { o.pull = true }) }

// Connect opens a connection to the named interface.
func (c *Client) Connect(ctx context.Context, iface string, opts ...ConnectOption) (*Conn, error) {
	var o connectOptions
	for _, opt := range opts {
		opt.applyConnect(&o)
	}
	codecs := o.codecs
	if len(codecs) == 0 {
		codecs = c.codecs.Names()
	}
	params, err := paramsJSON(o.params)
	if err != nil {
		return nil, err
	}
	if o.resume && c.redial == nil {
		return nil, errors.New("ifkit: WithResume needs a Client made by Dial, which knows the addresses to dial again; NewClient's cannot reconnect")
	}
	req := &sessionpb.OpenStream{Interface: iface, Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: codecs, Filter: filterPB(o.filter), Params: params, Resumable: o.resume}
	if o.manifest != nil {
		req.ManifestHash = o.manifest.Hash()
	}
	// The grant is sent once the manifest is known; ask for the most the
	// server may accept and clamp below.
	window := int64(o.credits)
	if o.manifest != nil && (window <= 0 || window > int64(o.manifest.Flow.Credits)) {
		window = int64(o.manifest.Flow.Credits)
	}
	if window <= 0 {
		// Not knowing the manifest's credits, ask for the most a manifest
		// may declare: the server clamps it to flow.credits (§4.5), and so
		// does the client once the answer names the manifest.
		window = manifest.MaxBufferedBytes
	}
	if !o.pull {
		req.Credits = uint64(window)
	}
	st, br, res, err := c.open(ctx, req)
	if err != nil {
		return nil, err
	}
	m := o.manifest
	if res.GetManifestHash() != req.GetManifestHash() {
		if o.manifest != nil {
			c.decline(st, CodeManifestMismatch, fmt.Sprintf("the client was built against manifest %s", o.manifest.Hash()))
			// What changed says more than two hashes: the same summary as
			// `ifctl manifest diff`.
			changes := fmt.Sprintf("manifest %s", res.GetManifestHash())
			if served, err := c.manifests.load(iface, res.GetManifestHash(), res.GetManifest()); err == nil {
				changes = fmt.Sprintf("version %s (%s), from the client's %s: %s", served.Version, res.GetManifestHash(), o.manifest.Version, manifest.Diff(o.manifest, served).Summary())
			}
			return nil, &CloseError{Code: CodeManifestMismatch, Remote: true, Reason: fmt.Sprintf(
				"%s at %s serves %s; this client was built against %s (version %s); rebuild against the served manifest (ifctl manifest diff FILE ADDR, ifctl describe) or connect to a matching server",
				iface, c.addr, changes, o.manifest.Hash(), o.manifest.Version)}
		}
		if m, err = c.manifests.load(iface, res.GetManifestHash(), res.GetManifest()); err != nil {
			reason := "the served manifest does not load: " + err.Error()
			c.decline(st, CodeProtocolError, reason)
			return nil, &CloseError{Code: CodeProtocolError, Remote: true, Reason: fmt.Sprintf("%s at %s: %s", iface, c.addr, reason)}
		}
	}
	cd, ok := c.codecs.Lookup(res.GetCodec())
	if !ok {
		c.decline(st, CodeUnsupportedCodec, fmt.Sprintf("the client does not have codec %q", res.GetCodec()))
		return nil, fmt.Errorf("ifkit: the server chose codec %q, which this client does not have", res.GetCodec())
	}
	if window > int64(m.Flow.Credits) {
		window = int64(m.Flow.Credits)
	}
	var msgKey []byte
	if m.MessageAuth == manifest.MessageAuthHMAC {
		if c.sessKey == nil {
			c.decline(st, CodeAuthFailed, "the client has no shared secret for per-message authentication")
			return nil, &CloseError{Code: CodeAuthFailed, Reason: fmt.Sprintf("%s requires per-message authentication (message_auth: hmac-sha256); dial with a shared secret (WithSecret, or ifctl's --secret-file)", iface)}
		}
		msgKey = messageKey(c.sessKey, res.GetConnectionId())
	}
	if o.resume {
		if err := resumeOffered(res); err != nil {
			c.decline(st, CodeUnimplemented, "the client asked for a resumable connection: "+err.Error())
			return nil, &CloseError{Code: CodeUnimplemented, Reason: fmt.Sprintf("%s at %s: %v", iface, c.addr, err), Remote: true}
		}
	}
	cfg := data.Config{
		ID:           res.GetConnectionId(),
		Manifest:     m,
		Codec:        cd,
		SendCredit:   int64(res.GetCredits()),
		Window:       window,
		AutoGrant:    !o.pull,
		Handlers:     o.handlers,
		CatchAll:     o.catchAll,
		OnRefused:    o.onRefused,
		TransportErr: sessionCause(c.sess),
		MessageKey:   msgKey,
		CloseTimeout: c.cfg.CloseTimeout,
		WriteTimeout: c.cfg.ConnectionWriteTimeout,
		FrameTimeout: c.cfg.FrameTimeout,
	}
	var r *resumer
	if o.resume {
		r = c.resumeConfig(&cfg, iface, res)
	}
	conn := data.New(st, br, cfg).Start()
	if r != nil {
		c.track(conn, r)
	}
	return conn, nil
}

// ManifestCache holds the manifests servers served, so that connections
// to the same interface share one parsed manifest. Entries are weak: a
// manifest no connection uses any more is collected, and its entry removed.
// It is safe for concurrent use; see WithManifestCache.
type ManifestCache struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[manifest.Manifest] // by hash
}

// NewManifestCache returns an empty cache.
func NewManifestCache() *ManifestCache {
	return &ManifestCache{m: map[string]weak.Pointer[manifest.Manifest]{}}
}

// load returns the manifest a server served for iface with its hash: a
// shared one when the same bytes were parsed before and are still in use,
// otherwise the bytes parsed. A manifest is shared only when its canonical
// form is exactly the served bytes and hashes to the served hash, so a
// server that serves something else under a known hash never gets (or
// replaces) the manifest another server served.
func (mc *ManifestCache) load(iface, hash string, served []byte) (*manifest.Manifest, error) {
	mc.mu.Lock()
	if m := mc.m[hash].Value(); m != nil && bytes.Equal(m.Canonical(), served) {
		mc.mu.Unlock()
		return m, nil
	}
	mc.mu.Unlock()
	m, err := manifest.Parse(iface+".canonical.json", served)
	if err != nil {
		return nil, err
	}
	if m.Hash() != hash {
		// spec §4.5, §13: type ids are relied on only under the hash the
		// server declared; bytes of another manifest are a broken server.
		return nil, fmt.Errorf("the served manifest hashes to %s, but the server declared %s", m.Hash(), hash)
	}
	if !bytes.Equal(m.Canonical(), served) {
		return m, nil // not in canonical form: not shared
	}
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if shared := mc.m[hash].Value(); shared != nil && bytes.Equal(shared.Canonical(), served) {
		return shared, nil // parsed meanwhile by another Connect
	}
	mc.m[hash] = weak.Make(m)
	runtime.AddCleanup(m, mc.forget, hash)
	return m, nil
}

// forget removes hash's entry once its manifest is collected (unless it has
// been replaced by a live one since).
func (mc *ManifestCache) forget(hash string) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if p, ok := mc.m[hash]; ok && p.Value() == nil {
		delete(mc.m, hash)
	}
}
