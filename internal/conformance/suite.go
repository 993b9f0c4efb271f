package conformance

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/internal/pbio"
)

// Secret is the shared secret of the suite's authenticated listeners: a
// client under test dials them with it.
const Secret = "ifkit-conformance-secret-0123456789"

// Verdict is what a scripted server concluded about the client: one JSON line
// on the suite's output per scenario run.
type Verdict struct {
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"`
	Pass      bool   `json:"pass"`
	Detail    string `json:"detail,omitempty"`
}

// Ready is the suite's first output line: the addresses of every listener,
// by transport ("unix", "tcp") and listener name ("reference",
// "reference-auth", "scenarios", "auth-scenarios", "yamux-echo", one per
// session scenario, and on tcp "reference-tls").
type Ready struct {
	Secret string `json:"secret"`
	// CAFile is the PEM certificate that signs the "reference-tls" listener's
	// (a TCP listener only: tls://127.0.0.1:port).
	CAFile    string                       `json:"ca_file"`
	Listeners map[string]map[string]string `json:"listeners"`
}

// Suite runs the listeners of one conformance run.
type Suite struct {
	out    io.Writer
	mu     sync.Mutex // serializes out
	nextID atomic.Uint64
	ctx    context.Context
	wg     sync.WaitGroup
	closer []io.Closer
}

// Run serves the suite on Unix sockets in dir and TCP on host (e.g.
// 127.0.0.1), writes Ready as one JSON line to out, then one Verdict per
// scenario played, until ctx is done.
func Run(ctx context.Context, dir, host string, out io.Writer) error {
	s := &Suite{out: out, ctx: ctx}
	defer s.close()
	ready := Ready{Secret: Secret, Listeners: map[string]map[string]string{"unix": {}, "tcp": {}}}
	ref, err := newReference(nil)
	if err != nil {
		return err
	}
	refAuth, err := newReference([]byte(Secret))
	if err != nil {
		return err
	}
	s.closer = append(s.closer, ref, refAuth)
	tlsCfg, caFile, err := selfSigned(dir)
	if err != nil {
		return err
	}
	ready.CAFile = caFile
	tl, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return err
	}
	ready.Listeners["tcp"]["reference-tls"] = "tls://" + tl.Addr().String()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); ref.Serve(tls.NewListener(tl, tlsCfg)) }()
	byName := map[string]*Scenario{}
	for _, sc := range Scenarios() {
		byName[sc.Name] = sc
	}
	for _, transport := range []string{"unix", "tcp"} {
		listen := func(name string) (net.Listener, string, error) {
			if transport == "unix" {
				path := filepath.Join(dir, name+".sock")
				os.Remove(path)
				l, err := net.Listen("unix", path)
				return l, "unix://" + path, err
			}
			l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				return nil, "", err
			}
			return l, "tcp://" + l.Addr().String(), nil
		}
		for _, srv := range []struct {
			name string
			s    *iface.Server
		}{{"reference", ref}, {"reference-auth", refAuth}} {
			l, addr, err := listen(srv.name)
			if err != nil {
				return err
			}
			ready.Listeners[transport][srv.name] = addr
			s.wg.Add(1)
			go func() { defer s.wg.Done(); srv.s.Serve(l) }()
		}
		for _, name := range []string{"scenarios", "auth-scenarios"} {
			l, addr, err := listen(name)
			if err != nil {
				return err
			}
			ready.Listeners[transport][name] = addr
			var secret []byte
			if name == "auth-scenarios" {
				secret = []byte(Secret)
			}
			s.serve(l, func(c net.Conn) { s.streams(c, transport, secret, byName) })
		}
		l, addr, err := listen("yamux-echo")
		if err != nil {
			return err
		}
		ready.Listeners[transport]["yamux-echo"] = addr
		s.serve(l, s.yamuxEcho)
		for _, sc := range Scenarios() {
			if sc.Level != "session" {
				continue
			}
			l, addr, err := listen(sc.Name)
			if err != nil {
				return err
			}
			ready.Listeners[transport][sc.Name] = addr
			s.serve(l, func(c net.Conn) {
				defer c.Close()
				pass, detail := sc.session(c, []byte(Secret))
				s.report(Verdict{sc.Name, transport, pass, detail})
			})
		}
	}
	s.write(ready)
	<-ctx.Done()
	return nil
}

func (s *Suite) close() {
	for _, c := range s.closer {
		c.Close()
	}
	s.wg.Wait()
}

// serve accepts on l until the suite ends, handling each socket in its own
// goroutine, all owned by the suite.
func (s *Suite) serve(l net.Listener, handle func(net.Conn)) {
	s.closer = append(s.closer, l)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				stop := context.AfterFunc(s.ctx, func() { c.Close() })
				defer stop()
				handle(c)
			}()
		}
	}()
}

func (s *Suite) write(v any) {
	b, _ := json.Marshal(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.Write(append(b, '\n'))
}

func (s *Suite) report(v Verdict) { s.write(v) }

// yamuxEcho answers the preface with 00 and then echoes every yamux stream's
// bytes back, closing its side when the client closes its own: a test of a
// client's multiplexer alone (framing, windows, FIN) against hashicorp/yamux.
// It sends a keepalive Ping every 50 ms and ends the session when one goes
// unanswered for 3 s, so a client that does not answer Pings fails too.
func (s *Suite) yamuxEcho(c net.Conn) {
	defer c.Close()
	if err := readClientPreface(c); err != nil {
		return
	}
	if _, err := c.Write(preface(0x00)); err != nil {
		return
	}
	cfg := yamux.DefaultConfig()
	cfg.KeepAliveInterval = 50 * time.Millisecond
	cfg.ConnectionWriteTimeout = 3 * time.Second
	eachStream(c, cfg, func(st *yamux.Stream) { io.Copy(st, st) })
}

// eachStream runs a yamux server session on c and handle on each stream the
// client opens, in a goroutine it waits for; each stream is closed after.
func eachStream(c net.Conn, cfg *yamux.Config, handle func(*yamux.Stream)) {
	cfg.LogOutput = io.Discard
	sess, err := yamux.Server(c, cfg)
	if err != nil {
		return
	}
	defer sess.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer st.Close()
			handle(st)
		}()
	}
}

// streams runs a scripted session: the preface (and the exchange), yamux,
// then one scenario per DATA stream, chosen by its interface name.
func (s *Suite) streams(c net.Conn, transport string, secret []byte, byName map[string]*Scenario) {
	defer c.Close()
	if err := readClientPreface(c); err != nil {
		return
	}
	var sessKey []byte
	if secret != nil {
		c.Write(preface(0x03))
		c.SetDeadline(time.Now().Add(waitFrame))
		k, err := serverExchange(c, secret)
		if err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		sessKey = k
	} else if _, err := c.Write(preface(0x00)); err != nil {
		return
	}
	cfg := yamux.DefaultConfig()
	cfg.MaxStreamWindowSize = 1 << 20
	eachStream(c, cfg, func(st *yamux.Stream) { s.stream(st, transport, sessKey, byName) })
}

func (s *Suite) stream(st *yamux.Stream, transport string, sessKey []byte, byName map[string]*Scenario) {
	br, req, err := readOpenStream(st)
	if err != nil {
		return
	}
	refuse := func(code codes.Code, reason string) {
		pbio.Write(st, &sessionpb.OpenResult{Code: uint32(code), Reason: reason})
	}
	sc := byName[req.GetInterface()]
	if req.GetKind() != sessionpb.StreamKind_STREAM_KIND_DATA {
		refuse(codes.Unimplemented, "the scripted server has no control sub-interface")
		return
	}
	if sc == nil || sc.Level != "stream" || sc.Secret != (sessKey != nil) {
		refuse(codes.UnknownInterface, fmt.Sprintf("no scenario %q on this listener", req.GetInterface()))
		return
	}
	m, err := scenarioManifest(sc.Name, sc.Secret)
	if err != nil {
		refuse(codes.Internal, err.Error())
		return
	}
	id := s.nextID.Add(1)
	var key []byte
	if sessKey != nil {
		key = messageKey(sessKey, id)
	}
	p := newPeer(st, br, req, m, id, key)
	defer p.close()
	res := &sessionpb.OpenResult{ConnectionId: id, Codec: "json", ManifestHash: m.Hash(), Credits: uint64(m.Flow.Credits)}
	if req.GetManifestHash() != m.Hash() {
		res.Manifest = m.Canonical()
	}
	verdict := func(pass bool, detail string) { s.report(Verdict{sc.Name, transport, pass, detail}) }
	if sc.open != nil {
		pass, detail, done := sc.open(p, res)
		if !pass {
			refuse(codes.ProtocolError, "conformance: "+detail)
		} else if done {
			pbio.Write(st, res)
		}
		if !pass || done {
			verdict(pass, detail)
			return
		}
	}
	// A write error does not end the scenario: hashicorp/yamux can report a
	// shutdown for bytes it delivered, when the client answers and closes its
	// session first. What the client sent back decides.
	pbio.Write(st, res)
	pass, detail := sc.play(p)
	if errors.Is(s.ctx.Err(), context.Canceled) {
		return
	}
	verdict(pass, detail)
}
