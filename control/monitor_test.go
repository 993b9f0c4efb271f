package control_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/manifest"
)

// fired waits for m to fire and returns why.
func fired(t *testing.T, m *control.Monitor) control.Down {
	t.Helper()
	select {
	case <-m.Done():
		return m.Down()
	case <-time.After(10 * time.Second):
		t.Fatalf("monitor of %s did not fire", m.Target())
		return control.Down{}
	}
}

// notFired checks that m has not fired.
func notFired(t *testing.T, m *control.Monitor) {
	t.Helper()
	select {
	case <-m.Done():
		t.Fatalf("monitor of %s fired for a live target: %v", m.Target(), m.Down())
	default:
	}
}

func TestMonitors(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHub()
	defer h.Close()
	c := serve(t, h, control.Scope{Host: &host{m: m}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := c.Monitor(ctx, control.MonitorTarget{ConnectionID: 7})
	if err != nil {
		t.Fatal(err)
	}
	twice, err := c.Monitor(ctx, control.MonitorTarget{ConnectionID: 7})
	if err != nil {
		t.Fatal(err)
	}
	ifc, err := c.Monitor(ctx, control.MonitorTarget{Interface: m.Name})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := c.Monitor(ctx, control.MonitorTarget{Interface: m.Name})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := c.Monitor(ctx, control.MonitorTarget{Server: true})
	if err != nil {
		t.Fatal(err)
	}
	// Something gone answers at once, with noproc.
	gone, err := c.Monitor(ctx, control.MonitorTarget{ConnectionID: 8})
	if err != nil {
		t.Fatal(err)
	}
	if d := fired(t, gone); !d.NoProc || d.Code != codes.NotFound || d.Target.ConnectionID != 8 || d.Lost {
		t.Fatalf("monitor of a gone connection: %+v, want noproc not_found", d)
	}
	if _, err := c.Monitor(ctx, control.MonitorTarget{ConnectionID: 9}); !errors.Is(err, codes.Unimplemented) {
		t.Fatalf("monitor of an unannounced connection: %v, want unimplemented", err)
	}
	if _, err := c.Monitor(ctx, control.MonitorTarget{}); err == nil {
		t.Fatal("a monitor with no target was accepted")
	}
	if err := cancelled.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(ctx); err != nil { // every answer before it is in
		t.Fatal(err)
	}
	for _, mon := range []*control.Monitor{conn, twice, ifc, srv} {
		notFired(t, mon)
	}

	h.Down(control.MonitorTarget{ConnectionID: 7}, codes.CreditViolation, "no credit")
	for _, mon := range []*control.Monitor{conn, twice} {
		if d := fired(t, mon); d.Code != codes.CreditViolation || d.Reason != "no credit" || d.NoProc || d.Lost {
			t.Fatalf("down of connection 7: %+v", d)
		}
	}
	// Told once: a second Down of the same target reaches nobody.
	h.Down(control.MonitorTarget{ConnectionID: 7}, codes.Internal, "again")
	h.Down(control.MonitorTarget{Interface: m.Name}, codes.UnknownInterface, "unregistered")
	if d := fired(t, ifc); d.Code != codes.UnknownInterface || d.Target.Interface != m.Name {
		t.Fatalf("down of the interface: %+v", d)
	}
	if _, err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	notFired(t, cancelled)
	notFired(t, srv)
	if conn.Down().Code != codes.CreditViolation {
		t.Fatalf("a monitor's reason changed after it fired: %+v", conn.Down())
	}

	// The stream ends before the server said anything: lost, not down.
	c.Close()
	if d := fired(t, srv); !d.Lost || d.NoProc || d.Code != codes.TransportError {
		t.Fatalf("monitor of the server after its stream closed: %+v, want lost", d)
	}
	notFired(t, cancelled)
}

// TestMonitorDownsNotDropped: a stream whose notification queue overflows
// loses notifications (told as NotificationsLost) but never a monitor's
// down.
func TestMonitorDownsNotDropped(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHub() // queues 4 notifications per stream
	defer h.Close()
	c := serve(t, h, control.Scope{Host: &host{m: m}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mons []*control.Monitor
	for i := 0; i < 50; i++ {
		mon, err := c.Monitor(ctx, control.MonitorTarget{ConnectionID: 7})
		if err != nil {
			t.Fatal(err)
		}
		mons = append(mons, mon)
	}
	for i := 0; i < 100; i++ {
		h.Notify(&control.InterfacesChanged{Added: []string{"x"}})
	}
	h.Down(control.MonitorTarget{ConnectionID: 7}, codes.NormalClose, "bye")
	for _, mon := range mons {
		if d := fired(t, mon); d.Code != codes.NormalClose {
			t.Fatalf("down: %+v", d)
		}
	}
}

// TestMonitorLimit: a stream holds at most MaxMonitors monitors.
func TestMonitorLimit(t *testing.T) {
	m, err := manifest.Load("../testdata/manifests/db.kv.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := newHub()
	defer h.Close()
	c := serve(t, h, control.Scope{Host: &host{m: m}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < control.MaxMonitors; i++ {
		if _, err := c.Monitor(ctx, control.MonitorTarget{Server: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Monitor(ctx, control.MonitorTarget{Server: true}); !errors.Is(err, codes.LimitExceeded) {
		t.Fatalf("monitor %d: %v, want limit_exceeded", control.MaxMonitors+1, err)
	}
}
