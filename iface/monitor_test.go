package iface_test

import (
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// down waits for m to fire.
func down(t *testing.T, m *iface.Monitor) iface.Down {
	t.Helper()
	select {
	case <-m.Done():
		return m.Down()
	case <-time.After(15 * time.Second):
		t.Fatalf("the monitor of %s did not fire", m.Target())
		return iface.Down{}
	}
}

func alive(t *testing.T, ms ...*iface.Monitor) {
	t.Helper()
	for _, m := range ms {
		select {
		case <-m.Done():
			t.Fatalf("the monitor of %s fired for a live target: %v", m.Target(), m.Down())
		default:
		}
	}
}

// TestMonitors: a watcher monitors another client's connection, the
// interface and the server; each is told once, with the reason, when it
// goes, and a monitor of something gone answers noproc at once.
func TestMonitors(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		srv, addr := serve(t, tr, sensors(t, 0), iface.Interface{Manifest: load(t, "logs.sink.yaml")})
		watcher := dial(t, addr)
		user := dial(t, addr)
		conn, err := user.Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		other, err := user.Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		mc, err := watcher.Monitor(ctx(t), iface.MonitorTarget{ConnectionID: conn.ID()})
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		mi, err := watcher.Monitor(ctx(t), iface.MonitorTarget{Interface: "logs.sink"})
		if err != nil {
			t.Fatal(err)
		}
		defer mi.Close()
		ms, err := watcher.Monitor(ctx(t), iface.MonitorTarget{Server: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ms.Close()
		mo, err := watcher.Monitor(ctx(t), iface.MonitorTarget{ConnectionID: other.ID()})
		if err != nil {
			t.Fatal(err)
		}
		defer mo.Close()
		time.Sleep(50 * time.Millisecond) // room for a wrong down to arrive
		alive(t, mc, mi, ms, mo)

		conn.Close("done with it")
		if d := down(t, mc); d.Code != iface.CodeNormalClose || d.Reason != "done with it" || d.NoProc || d.Lost {
			t.Fatalf("down of the connection: %+v", d)
		}
		alive(t, mi, ms, mo)

		again, err := watcher.Monitor(ctx(t), iface.MonitorTarget{ConnectionID: conn.ID()})
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if d := down(t, again); !d.NoProc || d.Code != iface.CodeNotFound {
			t.Fatalf("monitor of an ended connection: %+v, want noproc", d)
		}
		never, err := watcher.Monitor(ctx(t), iface.MonitorTarget{Interface: "no.such"})
		if err != nil {
			t.Fatal(err)
		}
		defer never.Close()
		if d := down(t, never); !d.NoProc {
			t.Fatalf("monitor of an interface never hosted: %+v, want noproc", d)
		}

		srv.Unregister("logs.sink")
		if d := down(t, mi); d.Code != iface.CodeUnknownInterface {
			t.Fatalf("down of the unregistered interface: %+v", d)
		}
		alive(t, ms, mo)

		srv.Close()
		if d := down(t, mo); d.Code != iface.CodeDraining {
			t.Fatalf("down of a connection the server closed: %+v", d)
		}
		if d := down(t, ms); d.Code != iface.CodeDraining || d.Lost {
			t.Fatalf("down of the server: %+v", d)
		}
	})
}

// TestMonitorLost: when the watcher's own session breaks, its monitors
// fire with Lost — never as a death of the target, which lives on.
func TestMonitorLost(t *testing.T) {
	_, addr := serve(t, "tcp", sensors(t, 0))
	user := dial(t, addr)
	conn, err := user.Connect(ctx(t), "sensors.temperature")
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := iface.Dial(ctx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	m, err := watcher.Monitor(ctx(t), iface.MonitorTarget{ConnectionID: conn.ID()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	watcher.Close()
	if d := down(t, m); !d.Lost || d.NoProc {
		t.Fatalf("monitor after its session closed: %+v, want lost", d)
	}
	select {
	case <-conn.Done():
		t.Fatalf("the monitored connection ended: %v", conn.Err())
	default:
	}
}
