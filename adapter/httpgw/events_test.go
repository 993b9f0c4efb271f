package httpgw_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
)

// events reads GET /_events as NDJSON, one Event a receive.
func events(t *testing.T, w *world) (<-chan httpgw.Event, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", w.url("/_events"), nil)
	res, err := w.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("GET /_events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	ch := make(chan httpgw.Event, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			var ev httpgw.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("not an event: %q", sc.Text())
				return
			}
			ch <- ev
		}
	}()
	return ch, func() { cancel(); res.Body.Close(); <-done }
}

// next returns the next event named name, skipping others.
func next(t *testing.T, ch <-chan httpgw.Event, name string) httpgw.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("the events ended before %s", name)
			}
			if ev.Event == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", name)
		}
	}
}

// TestEvents: a subscriber gets a snapshot, then each connection as it
// opens and as it ends with its code and reason, and interfaces as they
// come; a later snapshot lists what is open and what ended.
func TestEvents(t *testing.T) {
	w := newWorld(t)
	ch, stop := events(t, w)
	defer stop()
	snap := next(t, ch, "snapshot")
	if !strings.Contains(strings.Join(snap.Interfaces, ","), "t.api") {
		t.Fatalf("snapshot: %+v", snap)
	}
	c, err := iface.Dial(context.Background(), w.addr, iface.WithClientName("events-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := c.Connect(context.Background(), "t.sink")
	if err != nil {
		t.Fatal(err)
	}
	opened := next(t, ch, "connection_opened")
	if opened.Interface != "t.sink" || opened.Client != "events-test" || opened.ConnectionID == 0 {
		t.Fatalf("connection_opened: %+v", opened)
	}
	// A second subscriber sees it open in its snapshot.
	ch2, stop2 := events(t, w)
	snap2 := next(t, ch2, "snapshot")
	stop2()
	found := false
	for _, o := range snap2.Open {
		found = found || (o.ConnectionID == opened.ConnectionID && o.Client == "events-test")
	}
	if !found {
		t.Fatalf("the open connection is not in a later snapshot: %+v", snap2.Open)
	}
	conn.Close("done with the sink")
	closed := next(t, ch, "connection_closed")
	if closed.ConnectionID != opened.ConnectionID || closed.Code != codes.NormalClose.String() || closed.Reason != "done with the sink" {
		t.Fatalf("connection_closed: %+v", closed)
	}
	if err := w.srv.Register(iface.Interface{Manifest: mustParse(t, strings.Replace(sink, "t.sink", "t.late", 1))}); err != nil {
		t.Fatal(err)
	}
	ch3, stop3 := events(t, w)
	defer stop3()
	snap3 := next(t, ch3, "snapshot")
	if len(snap3.Closed) == 0 || snap3.Closed[len(snap3.Closed)-1].Reason != "done with the sink" || snap3.Closed[len(snap3.Closed)-1].Closed == nil {
		t.Fatalf("recent closed in a snapshot: %+v", snap3.Closed)
	}
	if ev := next(t, ch, "interfaces_changed"); len(ev.Interfaces) != 1 || ev.Interfaces[0] != "t.late" {
		t.Fatalf("interfaces_changed: %+v", ev)
	}
	// The gateway serves the new interface by the time the event is out.
	if st, _, body := w.do("GET", "/t.late", "", ""); st != 200 {
		t.Fatalf("GET /t.late after the event: %d %s", st, body)
	}
}

// TestEventsSSE: the same as Server-Sent Events, named by the event.
func TestEventsSSE(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", w.url("/_events"), nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := w.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, _ := br.ReadString('\n')
	data, _ := br.ReadString('\n')
	if line != "event: snapshot\n" || !strings.HasPrefix(data, `data: {"time":`) {
		t.Fatalf("first event: %q %q", line, data)
	}
	if st, _, _ := w.do("POST", "/_events", "", ""); st != 405 {
		t.Fatalf("POST /_events: %d", st)
	}
}

// TestValidate: ?validate checks a value as a POST would, and sends nothing.
func TestValidate(t *testing.T) {
	w := newWorld(t)
	st, _, body := w.do("POST", "/t.sink/Note?validate", "application/json", `{"text":"hi"}`)
	if st != 200 || strings.TrimSpace(string(body)) != `{"valid":true}` {
		t.Fatalf("valid: %d %s", st, body)
	}
	st, _, body = w.do("POST", "/t.sink/Note?validate", "application/json", `{"text":5}`)
	if e := errorOf(t, body); st != 400 || e.Code != codes.InvalidMessage || e.Pointer != "/text" {
		t.Fatalf("invalid: %d %s", st, body)
	}
	// A protobuf type: its JSON mapping.
	st, _, body = w.do("POST", "/db.kv/Get?validate", "application/json", `{"key":"a","nope":1}`)
	if e := errorOf(t, body); st != 400 || e.Code != codes.InvalidMessage || !strings.Contains(e.Message, "nope") {
		t.Fatalf("invalid proto: %d %s", st, body)
	}
	if st, _, body := w.do("POST", "/db.kv/Get?validate", "application/json", `{"key":"a"}`); st != 200 {
		t.Fatalf("valid proto: %d %s", st, body)
	}
	if n := w.notes.Load(); n != 0 {
		t.Fatalf("validate sent %d notes", n)
	}
}

// TestWebSocketControl: a WebSocket stream answers stats, pause, resume
// and filter for its own connection; a filter that does not compile is
// refused with the server's reason.
func TestWebSocketControl(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.url("/sensors.temperature/stream?credits=4"), "http"), &websocket.DialOptions{HTTPClient: w.http.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	// read returns the next control reply, counting the records before it.
	read := func(op string) (map[string]json.RawMessage, int) {
		t.Helper()
		n := 0
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			json.Unmarshal(data, &m)
			if string(m["control"]) == `"`+op+`"` {
				return m, n
			}
			n++
		}
	}
	send := func(v string) {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	send(`{"control":"stats"}`)
	m, _ := read("stats")
	var st httpgw.StreamStats
	if err := json.Unmarshal(m["stats"], &st); err != nil || st.Window != 4 || st.ConnectionID == 0 {
		t.Fatalf("stats: %s", m["stats"])
	}
	send(`{"control":"filter","filter":"zone =="}`)
	m, _ = read("filter")
	var e httpgw.Error
	json.Unmarshal(m["error"], &e)
	if e.Code != codes.InvalidFilter || e.Message == "" {
		t.Fatalf("bad filter: %v", m)
	}
	send(`{"control":"filter","filter":"zone == \"north\""}`)
	if m, _ = read("filter"); string(m["ok"]) != "true" {
		t.Fatalf("filter: %v", m)
	}
	send(`{"control":"pause"}`)
	if m, _ = read("pause"); string(m["ok"]) != "true" {
		t.Fatalf("pause: %v", m)
	}
	send(`{"control":"stats"}`)
	m, _ = read("stats")
	json.Unmarshal(m["stats"], &st)
	if !st.Paused {
		t.Fatalf("stats while paused: %s", m["stats"])
	}
	send(`{"control":"resume"}`)
	if m, _ = read("resume"); string(m["ok"]) != "true" {
		t.Fatalf("resume: %v", m)
	}
	// After the filter, only the north zone's readings: ten in a row (the
	// mock alternates north and south; those it sent before the filter, or
	// queued while paused, come first).
	for i, run := 0, 0; run < 10; i++ {
		if i == 5000 {
			t.Fatal("no ten north readings in a row after the filter")
		}
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var r httpgw.Record
		if json.Unmarshal(data, &r) != nil || r.Seq == 0 {
			t.Fatalf("not a record: %s", data)
		}
		if run++; !strings.Contains(string(r.Value), `"north"`) {
			run = 0
		}
	}
	send(`{"control":"stats"}`)
	m, _ = read("stats")
	json.Unmarshal(m["stats"], &st)
	if st.Paused || st.Matched < 10 || st.FilteredOut == 0 || st.Delivered < 10 {
		t.Fatalf("stats after the filter: %s", m["stats"])
	}
	send(`{"control":"reset"}`)
	m, _ = read("reset")
	json.Unmarshal(m["error"], &e)
	if e.Code != codes.Unimplemented {
		t.Fatalf("reset: %v", m)
	}
	ws.Close(websocket.StatusNormalClosure, "")
}
