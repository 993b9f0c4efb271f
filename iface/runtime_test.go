package iface_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
)

// sensors serves sensors.temperature, sending n readings to each client.
func sensors(t testing.TB, n int) iface.Interface {
	m := load(t, "sensors.temperature.yaml")
	return iface.Interface{
		Manifest: m,
		OnConnect: func(ctx context.Context, c *iface.Conn) {
			for i := 0; i < n; i++ {
				r := fmt.Sprintf(`{"probe":"p%d","celsius":%d.5}`, i, i)
				if err := c.Send(ctx, "Reading", json.RawMessage(r)); err != nil {
					return
				}
			}
		},
	}
}

func TestStreamInOrderBothCodecs(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, addr := serve(t, tr, sensors(t, 300))
		for _, codecName := range []string{"proto", "json"} {
			cl := dial(t, addr)
			conn, err := cl.Connect(ctx(t), "sensors.temperature", iface.WithCodec(codecName))
			if err != nil {
				t.Fatal(err)
			}
			if conn.Codec().Name() != codecName {
				t.Fatalf("codec %s, want %s", conn.Codec().Name(), codecName)
			}
			for i := 0; i < 300; i++ {
				m, err := conn.Recv(ctx(t))
				if err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
				if m.Seq != uint64(i+1) || m.Type.Name != "Reading" {
					t.Fatalf("message %d: seq %d type %s", i, m.Seq, m.Type.Name)
				}
				msg := m.Type.New()
				if err := m.Decode(msg); err != nil {
					t.Fatal(err)
				}
				got, _ := protojson.Marshal(msg)
				if !strings.Contains(string(got), fmt.Sprintf(`"p%d"`, i)) {
					t.Fatalf("message %d decodes to %s", i, got)
				}
			}
			conn.Close("done")
			if !errors.Is(conn.Err(), iface.ErrNormalClose) {
				t.Errorf("Err after Close = %v, want normal_close", conn.Err())
			}
		}
	})
}

// kv serves db.kv from a map, answering Get, Put and Scan.
func kv(t testing.TB, resets *atomic.Int32) iface.Interface {
	store := map[string]string{"a": "1", "b": "2", "c": "3"}
	return iface.Interface{
		Manifest: load(t, "db.kv.yaml"),
		Handlers: map[string]iface.Handler{
			"Get": func(ctx context.Context, m *iface.Message) error {
				var req struct{ Key string }
				if err := m.Decode((*jsonValue)(&req)); err != nil {
					return err
				}
				v, ok := store[req.Key]
				return m.Reply(ctx, map[string]any{"key": req.Key, "found": ok, "value": b64(v)})
			},
			"Put": func(ctx context.Context, m *iface.Message) error {
				return errors.New("read-only store")
			},
			"Scan": func(ctx context.Context, m *iface.Message) error {
				for _, k := range []string{"a", "b", "c"} {
					if err := m.Reply(ctx, map[string]any{"key": k, "value": b64(store[k])}); err != nil {
						return err
					}
				}
				return m.End(ctx)
			},
		},
		OnReset: func(ctx context.Context, c *iface.Conn, position string) error {
			resets.Add(1)
			if position == "bad" {
				return errors.New("no such position")
			}
			return nil
		},
	}
}

// jsonValue decodes a message through its JSON form whatever the codec.
type jsonValue struct{ Key string }

func b64(s string) string { return fmt.Sprintf("%x", s) }

func TestRequestResponseAndStream(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var resets atomic.Int32
		_, addr := serve(t, tr, kv(t, &resets))
		conn, err := dial(t, addr).Connect(ctx(t), "db.kv", iface.WithCodec("json"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close("")
		reply, err := conn.Call(ctx(t), "Get", json.RawMessage(`{"key":"b"}`))
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := reply.Decode(&v); err != nil || v["key"] != "b" || v["found"] != true || reply.Type.Name != "Value" {
			t.Fatalf("reply %s %v: %v", reply.Type.Name, v, err)
		}
		rows, err := conn.CallStream(ctx(t), "Scan", json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for {
			m, err := rows.Recv(ctx(t))
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var row map[string]any
			m.Decode(&row)
			keys = append(keys, row["key"].(string))
		}
		if strings.Join(keys, ",") != "a,b,c" {
			t.Errorf("scan gave %v", keys)
		}
		// A failing handler is reported to the caller; the connection goes on.
		_, err = conn.Call(ctx(t), "Put", json.RawMessage(`{"key":"x"}`))
		var re *iface.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "read-only") {
			t.Fatalf("Put = %v, want the handler's error", err)
		}
		if _, err := conn.Call(ctx(t), "Get", json.RawMessage(`{"key":"a"}`)); err != nil {
			t.Fatalf("connection unusable after a refused request: %v", err)
		}
		// Wrong-way and misuse fail locally.
		if err := conn.Send(ctx(t), "Value", json.RawMessage(`{}`)); !errors.Is(err, iface.ErrWrongWay) {
			t.Errorf("client sending a server type: %v, want ErrWrongWay", err)
		}
		if _, err := conn.Call(ctx(t), "Scan", json.RawMessage(`{}`)); err == nil || !strings.Contains(err.Error(), "CallStream") {
			t.Errorf("Call on a stream type: %v", err)
		}
		if err := conn.Send(ctx(t), "Get", json.RawMessage(`{"key":5}`)); err == nil {
			t.Error("a message failing its type was sent")
		}
	})
}

func TestControlOperations(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		var resets atomic.Int32
		_, addr := serve(t, tr, kv(t, &resets), sensors(t, 0))
		cl := dial(t, addr)

		// A control stream alone, before any data connection.
		ctl, err := cl.Control(ctx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		list, err := ctl.List(ctx(t))
		if err != nil || len(list) != 2 || list[0].Name != "db.kv" || list[1].Name != "sensors.temperature" {
			t.Fatalf("List = %+v, %v", list, err)
		}
		// Parity: the manifest fetched live is the one loaded from its file.
		fromFile := load(t, "db.kv.yaml")
		live, err := ctl.Manifest(ctx(t), "db.kv", nil)
		if err != nil || live.Hash() != fromFile.Hash() || string(live.Canonical()) != string(fromFile.Canonical()) {
			t.Fatalf("live manifest %v differs from the file's (%v)", live, err)
		}
		if same, err := ctl.Manifest(ctx(t), "db.kv", fromFile); err != nil || same != fromFile {
			t.Fatalf("manifest by known hash: %v, %v", same, err)
		}
		ctl.Close()

		conn, err := cl.Connect(ctx(t), "db.kv", iface.WithManifest(fromFile), iface.WithCodec("json"))
		if err != nil {
			t.Fatal(err)
		}
		ctl, err = cl.Control(ctx(t), "db.kv", iface.AttachTo(conn))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctl.Ping(ctx(t)); err != nil {
			t.Fatal(err)
		}
		conn.Call(ctx(t), "Get", json.RawMessage(`{"key":"a"}`))
		st, err := ctl.Stats(ctx(t))
		if err != nil || st.ReceivedMessages != 1 || st.SentMessages != 1 {
			t.Fatalf("Stats = %v, %v; want one message each way", st, err)
		}
		if err := ctl.Reset(ctx(t), "k"); err != nil || resets.Load() != 1 {
			t.Fatalf("Reset: %v (hook ran %d times)", err, resets.Load())
		}
		var re *iface.RemoteError
		if err := ctl.Reset(ctx(t), "bad"); !errors.As(err, &re) || !strings.Contains(re.Reason, "no such position") {
			t.Fatalf("failing Reset = %v", err)
		}
		// Pause really stops the flow: a request is not answered until Resume.
		if err := ctl.Pause(ctx(t)); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err = conn.Call(short, "Get", json.RawMessage(`{"key":"a"}`))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call while paused = %v, want no answer", err)
		}
		if err := ctl.Resume(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Call(ctx(t), "Get", json.RawMessage(`{"key":"a"}`)); err != nil {
			t.Fatalf("Call after Resume: %v", err)
		}
		// The control stream closes and reopens; the data connection goes on.
		ctl.Close()
		ctl, err = cl.Control(ctx(t), "db.kv", iface.AttachTo(conn))
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		if err := ctl.CloseConn(ctx(t), "maintenance"); err != nil {
			t.Fatal(err)
		}
		<-conn.Done()
		var ce *iface.CloseError
		if !errors.As(conn.Err(), &ce) || ce.Code != iface.CodeNormalClose || !ce.Remote || ce.Reason != "maintenance" {
			t.Fatalf("conn ended with %v, want normal_close by peer with the reason", conn.Err())
		}
		// sensors.temperature does not offer reset.
		ctl2, err := cl.Control(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		defer ctl2.Close()
		if err := ctl2.Reset(ctx(t), ""); !errors.As(err, &re) || re.Code != iface.CodeUnimplemented {
			t.Fatalf("Reset on an interface without it = %v, want unimplemented", err)
		}
	})
}

func TestCreditStallBoundsMemory(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		m := load(t, "db.kv.yaml") // block policy, 64 credits
		sent := make(chan int, 1)
		i := iface.Interface{
			Manifest: m,
			Handlers: map[string]iface.Handler{"Scan": func(ctx context.Context, msg *iface.Message) error {
				n := 0
				defer func() { sent <- n }()
				for {
					if err := msg.Reply(ctx, map[string]any{"key": fmt.Sprint(n)}); err != nil {
						return err
					}
					n++
				}
			}},
			OnReset: func(context.Context, *iface.Conn, string) error { return nil },
		}
		_, addr := serve(t, tr, i)
		cl := dial(t, addr)
		conn, err := cl.Connect(ctx(t), "db.kv", iface.WithCodec("json"), iface.WithCredits(16))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := conn.CallStream(ctx(t), "Scan", json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := cl.Control(ctx(t), "db.kv", iface.AttachTo(conn))
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		// The client reads nothing: the server must stop at the 16 credits
		// granted, with nothing more queued than its credit allows.
		var st iface.ConnStats
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			s, err := ctl.Stats(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			st = s
			if s.SentMessages == 16 && s.CreditsHeld == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if st.SentMessages != 16 {
			t.Fatalf("server sent %d messages to a client that granted 16", st.SentMessages)
		}
		time.Sleep(50 * time.Millisecond)
		s, _ := ctl.Stats(ctx(t))
		if s.SentMessages != 16 || s.Queued > 0 {
			t.Fatalf("after the stall: sent %d, queued %d; want 16 and nothing queued", s.SentMessages, s.Queued)
		}
		// Reading resumes the flow.
		for k := 0; k < 100; k++ {
			if _, err := rows.Recv(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close("enough")
		if n := <-sent; n < 100 {
			t.Fatalf("server sent %d replies, want at least the 100 read", n)
		}
	})
}

func TestMonitorsGiveReasons(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		s, addr := serve(t, tr, sensors(t, 0))
		conn, err := dial(t, addr).Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		select {
		case <-conn.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client connection did not end after the server closed")
		}
		if !errors.Is(conn.Err(), iface.ErrDraining) {
			t.Fatalf("Err = %v, want draining", conn.Err())
		}
		if _, err := conn.Recv(ctx(t)); !errors.Is(err, iface.ErrDraining) {
			t.Fatalf("Recv after the end = %v", err)
		}
	})
}

func TestRefusals(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		i := sensors(t, 0)
		ended := make(chan error, 4)
		i.OnConnect = func(ctx context.Context, c *iface.Conn) {
			<-c.Done()
			ended <- c.Err()
		}
		_, addr := serve(t, tr, i)
		cl := dial(t, addr)
		_, err := cl.Connect(ctx(t), "no.such")
		if !errors.Is(err, iface.ErrUnknownInterface) || !strings.Contains(err.Error(), "sensors.temperature") {
			t.Errorf("unknown interface: %v", err)
		}
		other := load(t, "db.kv.yaml")
		_, err = cl.Connect(ctx(t), "sensors.temperature", iface.WithManifest(other))
		if !errors.Is(err, iface.ErrManifestMismatch) || !strings.Contains(err.Error(), other.Hash()) {
			t.Errorf("manifest mismatch: %v", err)
		}
		// It says what changed, as ifctl manifest diff does.
		if want := `breaking: name: "db.kv" → "sensors.temperature"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("manifest mismatch: %v, want the diff summary (%s)", err, want)
		}
		// The server accepted the stream; the client told it why it left.
		select {
		case err := <-ended:
			if !errors.Is(err, iface.ErrManifestMismatch) || !strings.Contains(err.Error(), other.Hash()) {
				t.Errorf("the server's connection ended with %v, want manifest_mismatch naming the client's hash", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the server's connection did not end")
		}
		_, err = cl.Connect(ctx(t), "sensors.temperature", iface.WithCodec("raw"))
		var ce *iface.CloseError
		if !errors.As(err, &ce) || ce.Code != iface.CodeUnsupportedCodec {
			t.Errorf("no common codec: %v", err)
		}
	})
}

func TestDialNonIfkitPeer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	_, err = iface.Dial(ctx(t), l.Addr().String())
	if !errors.Is(err, iface.ErrNotIfkit) || !strings.Contains(err.Error(), "HTTP/1.1") {
		t.Fatalf("Dial = %v, want ErrNotIfkit naming what the peer sent", err)
	}
	if _, err := iface.Dial(ctx(t), "unix:///nonexistent/x.sock"); !errors.Is(err, iface.ErrConnect) {
		t.Fatalf("Dial to a missing socket = %v, want ErrConnect", err)
	}
}

func TestGracefulShutdownNotifies(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		s, addr := serve(t, tr, sensors(t, 0))
		cl := dial(t, addr)
		conn, err := cl.Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		ctl, err := cl.Control(ctx(t), "sensors.temperature", iface.AttachTo(conn))
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		done := shutdownDraining(t, s, ctl)
		conn.Close("server is draining") // the client finishes; Shutdown returns
		if err := <-done; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	})
}

// shutdownDraining starts a graceful Shutdown of s (5 s at most) and
// returns once ctl has heard its Draining notice (connection events may
// come first), with a channel that gets Shutdown's result.
func shutdownDraining(t *testing.T, s *iface.Server, ctl *iface.Control) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- s.Shutdown(c)
	}()
	for n := range ctl.Notifications() {
		switch n.(type) {
		case *control.Draining:
			return done
		case *control.ConnectionOpened, *control.ConnectionClosed:
		default:
			t.Fatalf("notification %#v, want draining", n)
		}
	}
	t.Fatal("the control stream ended without a Draining notice")
	return done
}

// TestShutdownWaitsForServerCloses: a connection the server's application
// closes while Shutdown waits still reaches its client as a normal close
// with the application's reason: Shutdown does not close the session under
// a CLOSE frame that is still being written.
func TestShutdownWaitsForServerCloses(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		i := sensors(t, 0)
		accepted := make(chan *iface.Conn, 1)
		i.OnConnect = func(_ context.Context, c *iface.Conn) { accepted <- c }
		s, addr := serve(t, tr, i)
		conn, err := dial(t, addr).Connect(ctx(t), "sensors.temperature")
		if err != nil {
			t.Fatal(err)
		}
		server := <-accepted
		ctl, err := dial(t, addr).Control(ctx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		done := shutdownDraining(t, s, ctl) // Shutdown is now waiting for the connection
		server.Close("finished for the day")
		<-conn.Done()
		var ce *iface.CloseError
		if err := conn.Err(); !errors.As(err, &ce) || ce.Code != iface.CodeNormalClose || !strings.Contains(ce.Reason, "finished for the day") {
			t.Fatalf("client's connection ended with %v, want normal_close with the server's reason", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	})
}

func TestClientHandlersAndCatchAll(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, addr := serve(t, tr, sensors(t, 20))
		cl := dial(t, addr)
		for _, opt := range []func(iface.Handler) iface.ConnectOption{
			func(h iface.Handler) iface.ConnectOption { return iface.WithHandler("Reading", h) },
			iface.WithCatchAll,
		} {
			got := make(chan uint64, 20)
			conn, err := cl.Connect(ctx(t), "sensors.temperature", opt(func(_ context.Context, m *iface.Message) error {
				got <- m.Seq
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			for want := uint64(1); want <= 20; want++ {
				select {
				case seq := <-got:
					if seq != want {
						t.Fatalf("handler got message %d, want %d (in order)", seq, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("handler got %d of 20 messages", want-1)
				}
			}
			conn.Close("")
		}
	})
}

func TestFailoverAddressList(t *testing.T) {
	_, addr := serve(t, "tcp", sensors(t, 1))
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens here any more
	list := deadAddr + ",unix:///nonexistent/ifkit.sock," + addr
	for _, random := range []bool{false, true} {
		cl, err := iface.Dial(ctx(t), list, iface.WithFailover(2, time.Millisecond, random))
		if err != nil {
			t.Fatalf("random=%v: %v", random, err)
		}
		if got := cl.Addr().String(); got != "tcp://"+addr {
			t.Errorf("connected to %s, want the live %s", got, addr)
		}
		cl.Close()
	}
	_, err := iface.Dial(ctx(t), deadAddr+",unix:///nonexistent/ifkit.sock", iface.WithFailover(2, time.Millisecond, false))
	if !errors.Is(err, iface.ErrConnect) || strings.Count(err.Error(), "cannot connect") != 4 {
		t.Errorf("all dead: %v; want every attempt of both rounds reported", err)
	}
}

// A message the server refuses after it was sent (here its handler fails)
// reaches the sender's WithOnRefused with the server's code, reason and the
// message's sequence number; the connection goes on.
func TestOnRefusedHearsTheServer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		var handled atomic.Int64
		_, addr := serve(t, transport, iface.Interface{
			Manifest: load(t, "logs.sink.yaml"),
			Handlers: map[string]iface.Handler{"Record": func(_ context.Context, m *iface.Message) error {
				if handled.Add(1) == 2 {
					return errors.New("disk full")
				}
				return nil
			}},
		})
		refused := make(chan *iface.RemoteError, 4)
		conn, err := dial(t, addr).Connect(ctx(t), "logs.sink", iface.WithOnRefused(func(_ *iface.Conn, e *iface.RemoteError) { refused <- e }))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			rec := `{"level":"info","message":"hello","time":"2026-11-22T10:00:00Z"}`
			if err := conn.Send(ctx(t), "Record", json.RawMessage(rec)); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case e := <-refused:
			if e.Code != iface.CodeInternal || e.Seq != 2 || !strings.Contains(e.Reason, "disk full") {
				t.Fatalf("refused %v; want internal for message 2 with the handler's error", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the refusal never reached the client")
		}
		select {
		case <-conn.Done():
			t.Fatalf("the connection ended: %v", conn.Err())
		default:
		}
		conn.Close("done")
	})
}

// TestUnregister: forgetting an interface ends its connections with a
// reason, refuses new ones, leaves the others alone and tells watchers.
func TestUnregister(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		reset := func(context.Context, *iface.Conn, string) error { return nil }
		s, addr := serve(t, transport, iface.Interface{Manifest: load(t, "logs.sink.yaml")}, iface.Interface{Manifest: load(t, "db.kv.yaml"), OnReset: reset})
		cl := dial(t, addr)
		watch, err := cl.Control(ctx(t), "")
		if err != nil {
			t.Fatal(err)
		}
		defer watch.Close()
		logs, err := cl.Connect(ctx(t), "logs.sink")
		if err != nil {
			t.Fatal(err)
		}
		kv, err := cl.Connect(ctx(t), "db.kv")
		if err != nil {
			t.Fatal(err)
		}
		if !s.Unregister("logs.sink") || s.Unregister("logs.sink") {
			t.Fatal("Unregister reported wrongly whether the interface was hosted")
		}
		<-logs.Done()
		if iface.CodeOf(logs.Err()) != iface.CodeUnknownInterface || !strings.Contains(logs.Err().Error(), "unregistered logs.sink") {
			t.Fatalf("the unregistered interface's connection ended with %v", logs.Err())
		}
		if kv.Err() != nil {
			t.Fatalf("another interface's connection ended: %v", kv.Err())
		}
		if _, err := cl.Connect(ctx(t), "logs.sink"); iface.CodeOf(err) != iface.CodeUnknownInterface {
			t.Fatalf("Connect after Unregister: %v", err)
		}
		for n := range watch.Notifications() {
			if ic, ok := n.(*control.InterfacesChanged); ok && len(ic.Removed) == 1 && ic.Removed[0] == "logs.sink" {
				return
			}
		}
		t.Fatal("no InterfacesChanged with logs.sink removed")
	})
}
