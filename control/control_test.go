package control_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/manifest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// host is a Host with one interface and one connection.
type host struct {
	m      *manifest.Manifest
	target *target
}

func (h *host) Interfaces() []*manifest.Manifest { return []*manifest.Manifest{h.m} }
func (h *host) Manifest(name string) *manifest.Manifest {
	if name == h.m.Name {
		return h.m
	}
	return nil
}
func (h *host) Conn(id uint64, iface string) control.Target {
	if id == 7 && iface == h.m.Name {
		return h.target
	}
	return nil
}

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
