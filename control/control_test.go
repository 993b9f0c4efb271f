package control_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/manifest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// host is a Host with one interface and two connections: 7 of the
// stream's session, 9 of another.
type host struct {
	m         *manifest.Manifest
	target    *target
	other     *target
	refused   []string
	operators int // streams that proved the admin secret
}

func (h *host) Interfaces() []*manifest.Manifest { return []*manifest.Manifest{h.m} }
func (h *host) Manifest(name string) *manifest.Manifest {
	if name == h.m.Name {
		return h.m
	}
	return nil
}
func (h *host) Conn(id uint64, iface string, anySession bool) control.Target {
	switch {
	case iface != h.m.Name:
		return nil
	case id == 7:
		return h.target
	case id == 9 && anySession && h.other != nil:
		return h.other
	}
	return nil
}
func (h *host) Connections(iface string) []control.Connection {
	return []control.Connection{
		{Stats: control.ConnStats{ConnectionID: 7, Interface: h.m.Name}, Client: "me"},
		{Stats: control.ConnStats{ConnectionID: 9, Interface: h.m.Name}, Client: "other", Peer: &control.PeerCred{UID: 1000, GID: 100, PID: 42}},
	}
}
func (h *host) ServerStats(iface string) control.ServerStats {
	return control.ServerStats{
		Interfaces: []control.InterfaceStats{{Interface: h.m.Name, Open: 2, Opened: 5, Ended: map[codes.Code]uint64{codes.NormalClose: 3},
			Types: []control.TypeStats{{Type: "Get", Handled: 4, Errors: 1, Processing: 8 * time.Millisecond, LastError: "no key", Latency: make([]uint64, control.LatencyBuckets)}}}},
		Refusals: map[codes.Code]uint64{codes.AuthFailed: 2},
	}
}
func (h *host) Refused(code codes.Code, reason string) { h.refused = append(h.refused, reason) }
func (h *host) Operator()                              { h.operators++ }

// Alive: connection 7, the host's interface and the server live; connection
// 9 is on an interface that cannot be monitored.
func (h *host) Alive(t control.MonitorTarget) (bool, error) {
	if t.ConnectionID == 9 {
		return false, &codes.RemoteError{Code: codes.Unimplemented, Reason: "not announced"}
	}
	return t.ConnectionID == 7 || t.Interface == h.m.Name || t.Server, nil
}

func (h *host) Servers() []string { return nil }

type target struct {
	paused bool
	closed string
}

func (t *target) Stats() control.ConnStats {
	return control.ConnStats{ConnectionID: 7, SentMessages: 3}
}
func (t *target) Pause(p bool)                   { t.paused = p }
func (t *target) Close(reason string)            { t.closed = reason }
func (t *target) SetFilter(control.Filter) error { return nil }
func (t *target) Reset(_ context.Context, pos string) error {
	if pos == "bad" {
		return &codes.RemoteError{Code: codes.NotFound, Reason: "no such position"}
	}
	return nil
}

// serve runs a hub stream over a pipe and returns its client.
func serve(t *testing.T, h *control.Hub, scope control.Scope) *control.Client {
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Serve(a, nil, nil, scope)
	}()
	c := control.NewClient(b, bufio.NewReader(b), scope.Interface, scope.Attach)
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c
}

func newHub() *control.Hub {
	return control.NewHub(control.HubConfig{WriteTimeout: 5 * time.Second, CloseTimeout: time.Second, ResetTimeout: time.Second, Queue: 4})
}

func TestClientAndHub(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHub()
	defer h.Close()
	tg := &target{}
	c := serve(t, h, control.Scope{Host: &host{m: m, target: tg}, Interface: m.Name, Attach: 7})
	ctx := context.Background()
	list, err := c.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != m.Name || list[0].ManifestHash != m.Hash() {
		t.Fatalf("List = %+v, %v", list, err)
	}
	got, err := c.Manifest(ctx, "", nil)
	if err != nil || got.Hash() != m.Hash() {
		t.Fatalf("Manifest: %v", err)
	}
	if again, err := c.Manifest(ctx, "", got); err != nil || again != got {
		t.Fatalf("Manifest with the known one: %v", err)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.ConnectionID != 7 || st.SentMessages != 3 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if err := c.Pause(ctx); err != nil || !tg.paused {
		t.Fatalf("Pause: %v", err)
	}
	if err := c.Reset(ctx, "bad"); codes.Of(err) != codes.NotFound {
		t.Fatalf("Reset refused by the hook: %v, want not_found", err)
	}
	if err := c.CloseConn(ctx, "bye"); err != nil || tg.closed != "bye" {
		t.Fatalf("CloseConn: %v", err)
	}
	_, err = c.Manifest(ctx, "no.such", nil)
	var re *codes.RemoteError
	if !errors.As(err, &re) || re.Code != codes.UnknownInterface {
		t.Fatalf("Manifest of an unknown interface: %v", err)
	}
}

// A reader that falls behind loses notifications, never silently: the
// server sends NotificationsLost with their count, in order.
func TestNotificationsLostAreCounted(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/logs.sink.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHub()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Serve(a, nil, []byte{0}, control.Scope{Host: &host{m: m}})
	}()
	// The answer (an empty frame) is written after the stream registered.
	var answer [1]byte
	if _, err := b.Read(answer[:]); err != nil {
		t.Fatal(err)
	}
	// Nothing reads b now: the hub's writer blocks on its first write, its
	// queue (4) fills, the rest are dropped.
	const sent = 50
	for i := range sent {
		h.Notify(&control.ConnectionOpened{ConnectionID: uint64(i + 1), Interface: m.Name})
	}
	c := control.NewClient(b, nil, "", 0)
	var ids []uint64
	lost := uint64(0)
	for seen := 0; seen+int(lost) < sent; {
		select {
		case n := <-c.Notifications():
			switch n := n.(type) {
			case *control.ConnectionOpened:
				if lost > 0 {
					t.Fatalf("event %d after the loss report", n.ConnectionID)
				}
				ids = append(ids, n.ConnectionID)
				seen++
			case *control.NotificationsLost:
				lost += n.Count
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("saw %v and %d lost of %d", ids, lost, sent)
		}
	}
	for i, id := range ids {
		if id != uint64(i+1) {
			t.Fatalf("delivered %v: not the first ones in order", ids)
		}
	}
	if lost == 0 {
		t.Fatal("nothing was lost: the queue bound is not applied")
	}
	c.Close()
	h.Close()
	<-done
}

var adminSecret = []byte("0123456789abcdef-admin")

// The operator scope: refused without the admin secret, with a clear
// reason; a wrong secret ends the stream; the right one reaches another
// session's connection, the list of connections and the server's counters.
func TestOperatorScope(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHub()
	defer h.Close()
	ctx := context.Background()
	other := &target{}
	hs := &host{m: m, target: &target{}, other: other}
	scope := control.Scope{Host: hs, Interface: m.Name, AdminSecret: adminSecret}

	c := serve(t, h, scope)
	if _, err := c.Connections(ctx, ""); codes.Of(err) != codes.AuthFailed || !strings.Contains(err.Error(), "needs the operator scope") {
		t.Fatalf("Connections without the scope: %v, want auth_failed saying why", err)
	}
	if _, err := c.ServerStats(ctx, ""); codes.Of(err) != codes.AuthFailed {
		t.Fatalf("ServerStats without the scope: %v, want auth_failed", err)
	}
	if err := c.Conn(9).Pause(ctx); codes.Of(err) != codes.NotFound || !strings.Contains(err.Error(), "in this session") || other.paused {
		t.Fatalf("Pause of another session's connection: %v (paused %v), want not_found", err, other.paused)
	}

	wrong := serve(t, h, scope)
	if err := wrong.Operator(ctx, []byte("not-the-admin-secret")); codes.Of(err) != codes.AuthFailed || !strings.Contains(err.Error(), "not the server's admin secret") {
		t.Fatalf("Operator with a wrong secret: %v, want auth_failed", err)
	}
	select {
	case <-wrong.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream stayed open after a wrong operator proof")
	}
	if len(hs.refused) != 1 || strings.Contains(hs.refused[0], "not-the-admin") {
		t.Fatalf("refusals reported: %q, want one, without the secret", hs.refused)
	}

	if err := c.Operator(ctx, adminSecret); err != nil || hs.operators != 1 {
		t.Fatalf("Operator: %v (%d reported)", err, hs.operators)
	}
	conns, err := c.Connections(ctx, "")
	if err != nil || len(conns) != 2 || conns[1].Stats.ConnectionID != 9 || conns[1].Client != "other" || conns[1].Peer == nil || conns[1].Peer.PID != 42 {
		t.Fatalf("Connections = %+v, %v", conns, err)
	}
	if err := c.Conn(9).Pause(ctx); err != nil || !other.paused {
		t.Fatalf("Pause of connection 9 as an operator: %v (paused %v)", err, other.paused)
	}
	if err := c.Conn(9).Close(ctx, "operator says"); err != nil || other.closed != "operator says" {
		t.Fatalf("Close of connection 9 as an operator: %v (%q)", err, other.closed)
	}
	if err := c.Conn(8).Pause(ctx); codes.Of(err) != codes.NotFound {
		t.Fatalf("Pause of no connection: %v, want not_found", err)
	}
	st, err := c.ServerStats(ctx, "")
	if err != nil || len(st.Interfaces) != 1 || st.Refusals[codes.AuthFailed] != 2 {
		t.Fatalf("ServerStats = %+v, %v", st, err)
	}
	if ty := st.Interfaces[0].Types; len(ty) != 1 || ty[0].Handled != 4 || ty[0].Average() != 2*time.Millisecond || ty[0].LastError != "no key" {
		t.Fatalf("type stats = %+v", ty)
	}
	if _, err := c.ServerStats(ctx, "no.such"); codes.Of(err) != codes.UnknownInterface {
		t.Fatalf("ServerStats of an unknown interface: %v", err)
	}

	// A server without an admin secret says so.
	plain := serve(t, h, control.Scope{Host: hs, Interface: m.Name})
	if err := plain.Operator(ctx, adminSecret); codes.Of(err) != codes.Unimplemented {
		t.Fatalf("Operator on a server without an admin secret: %v, want unimplemented", err)
	}
	// A scope granted at open (an operator's certificate) needs no proof.
	cert := serve(t, h, control.Scope{Host: hs, Interface: m.Name, Operator: true})
	if _, err := cert.Connections(ctx, m.Name); err != nil {
		t.Fatalf("Connections with the scope from the start: %v", err)
	}
}

func TestLatencyBuckets(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{{0, 0}, {time.Microsecond, 0}, {time.Microsecond + 1, 1}, {4 * time.Microsecond, 1}, {time.Millisecond, 5}, {time.Second, 10}, {5 * time.Second, 11}, {time.Hour, 11}} {
		if got := control.LatencyBucket(c.d); got != c.want {
			t.Errorf("LatencyBucket(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if control.LatencyBound(control.LatencyBuckets-1) != 0 || control.LatencyBound(10) != 1048576*time.Microsecond {
		t.Errorf("bounds: last %v, 10th %v", control.LatencyBound(control.LatencyBuckets-1), control.LatencyBound(10))
	}
}
