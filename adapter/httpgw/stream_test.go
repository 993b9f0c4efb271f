package httpgw_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/codes"
)

// records reads NDJSON records.
func records(t testing.TB, body []byte) []httpgw.Record {
	t.Helper()
	var out []httpgw.Record
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var r httpgw.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Seq == 0 {
			t.Fatalf("not a record: %q (%v)", line, err)
		}
		out = append(out, r)
	}
	return out
}

func TestCallStreamNDJSON(t *testing.T) {
	w := newWorld(t)
	st, hdr, body := w.do("POST", "/t.api/Count", "application/json", `{"n":20}`)
	if st != 200 || hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("Count: %d %v %s", st, hdr, body)
	}
	recs := records(t, body)
	if len(recs) != 20 {
		t.Fatalf("%d records, want 20: %s", len(recs), body)
	}
	for i, r := range recs {
		if r.Type != "Tick" || string(r.Value) != fmt.Sprintf(`{"i":%d}`, i+1) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	// An empty stream, and a request the schema refuses before it starts.
	if st, _, body := w.do("POST", "/t.api/Count", "application/json", `{"n":0}`); st != 200 || len(body) != 0 {
		t.Errorf("Count 0: %d %q", st, body)
	}
	if st, _, body := w.do("POST", "/t.api/Count", "application/json", `{"n":-1}`); st != 400 || errorOf(t, body).Pointer != "/n" {
		t.Errorf("Count -1: %d %s", st, body)
	}
}

func TestCallStreamSSE(t *testing.T) {
	w := newWorld(t)
	st, hdr, body := w.do("POST", "/t.api/Count", "application/json", `{"n":3}`, "Accept", "text/event-stream")
	if st != 200 || hdr.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Count: %d %v %s", st, hdr, body)
	}
	want := "id: 1\nevent: Tick\ndata: {\"i\":1}\n\nid: 2\nevent: Tick\ndata: {\"i\":2}\n\nid: 3\nevent: Tick\ndata: {\"i\":3}\n\nevent: end\ndata: {}\n\n"
	if string(body) != want {
		t.Fatalf("SSE:\n%s\nwant:\n%s", body, want)
	}
}

func TestStreamFormats(t *testing.T) {
	w := newWorld(t)
	st, _, body := w.do("GET", "/t.feed/stream?n=5", "", "")
	if recs := records(t, body); st != 200 || len(recs) != 5 || recs[4].Seq != 5 {
		t.Fatalf("NDJSON: %d %s", st, body)
	}
	st, _, body = w.do("GET", "/t.feed/stream?n=2", "", "", "Accept", "text/event-stream")
	if st != 200 || strings.Count(string(body), "event: Tick\n") != 2 || !strings.HasSuffix(string(body), "event: end\ndata: {}\n\n") {
		t.Fatalf("SSE: %d %s", st, body)
	}

	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.url("/t.feed/stream?n=3"), "http"), &websocket.DialOptions{HTTPClient: w.http.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i := 1; i <= 3; i++ {
		_, data, err := ws.Read(ctx)
		var r httpgw.Record
		if err != nil || json.Unmarshal(data, &r) != nil || r.Seq != uint64(i) || r.Type != "Tick" {
			t.Fatalf("ws message %d: %s %v", i, data, err)
		}
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after n messages: %v, want a normal close", err)
	}
}

// TestWebSocketSends: on a duplex interface, a WebSocket carries messages
// both ways; a bad message is answered with an error message.
func TestWebSocketSends(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.url("/t.sink/stream"), "http"), &websocket.DialOptions{HTTPClient: w.http.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	for i := 0; i < 10; i++ {
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"Note","value":{"text":"hi"}}`)); err != nil {
			t.Fatal(err)
		}
	}
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"Note","value":{"text":1}}`))
	_, data, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(data), `"code":"invalid_message"`) || !strings.Contains(string(data), `"pointer":"/text"`) {
		t.Fatalf("bad message: %s %v", data, err)
	}
	eventually(t, "10 notes", func() bool { return w.notes.Load() == 10 })
	ws.Close(websocket.StatusNormalClosure, "")
}

func TestSendNDJSON(t *testing.T) {
	w := newWorld(t)
	w.slowNotes = time.Millisecond // the server takes 1 ms a Note, and grants 4 credits
	var b strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, "{\"text\":\"n%d\"}\n\n", i)
	}
	start := time.Now()
	st, _, body := w.do("POST", "/t.sink/Note", "application/x-ndjson", b.String())
	if st != 200 || strings.TrimSpace(string(body)) != `{"sent":100}` {
		t.Fatalf("NDJSON: %d %s", st, body)
	}
	if w.notes.Load() < 96 || time.Since(start) < 90*time.Millisecond {
		t.Errorf("took %d notes in %s: the POST did not wait for credit", w.notes.Load(), time.Since(start))
	}
	// One value.
	if st, _, body := w.do("POST", "/t.sink/Note", "application/json", `{"text":"one"}`); st != 200 || strings.TrimSpace(string(body)) != `{"sent":1}` {
		t.Fatalf("one: %d %s", st, body)
	}
	// A bad line stops the POST there, saying how many went.
	st, _, body = w.do("POST", "/t.sink/Note", "application/x-ndjson", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":3}\n{\"text\":\"d\"}\n")
	if e := errorOf(t, body); st != 400 || e.Line != 3 || e.Sent == nil || *e.Sent != 2 || e.Pointer != "/text" {
		t.Fatalf("bad line: %d %s", st, body)
	}
	// A line over the limit.
	st, _, body = w.do("POST", "/t.sink/Note", "application/x-ndjson", "{\"text\":\"a\"}\n{\"text\":\""+strings.Repeat("x", 5000)+"\"}\n")
	if e := errorOf(t, body); st != 413 || e.Line != 2 || *e.Sent != 1 {
		t.Fatalf("long line: %d %s", st, body)
	}
	// A duplex interface's one-way type.
	if st, _, body := w.do("POST", "/t.api/Note", "application/json", `{"text":"x","tags":["a"]}`); st != 200 {
		t.Fatalf("t.api Note: %d %s", st, body)
	}
}

// TestSlowReader: a client that stops reading a stream stops the ifkit
// sender; the gateway holds a credit window, not a growing buffer.
func TestSlowReader(t *testing.T) {
	w := newWorld(t, httpgw.WithStreamCredits(4))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", w.url("/t.feed/stream"), nil)
	res, err := w.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReaderSize(res.Body, 4096)
	if _, err := br.ReadBytes('\n'); err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Stop reading: the sender stalls once the socket buffers are full.
	var last int64 = -1
	eventually(t, "the sender to stall", func() bool {
		time.Sleep(100 * time.Millisecond)
		n := w.sent.Load()
		stalled := n == last
		last = n
		return stalled
	})
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Each Tick is ~1 KiB: what the kernel's loopback buffers hold, and
	// 4 credits. Unbounded buffering would be hundreds of thousands.
	if last > 20000 {
		t.Errorf("the sender sent %d messages to a reader that took 1", last)
	}
	if grow := int64(after.HeapInuse) - int64(before.HeapInuse); grow > 8<<20 {
		t.Errorf("the heap grew by %d bytes while the reader did not read", grow)
	}
	t.Logf("stalled after %d messages (~%d KiB in socket buffers); heap %+d KiB", last, last, (int64(after.HeapInuse)-int64(before.HeapInuse))>>10)
	// Reading again resumes the flow.
	for i := 0; i < int(last)+100; i++ {
		if _, err := br.ReadBytes('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if w.sent.Load() <= last {
		t.Errorf("the sender did not resume")
	}
}

// TestClientGoesAway: a client that disconnects mid-stream ends the ifkit
// connection with a reason.
func TestClientGoesAway(t *testing.T) {
	w := newWorld(t)
	for _, accept := range []string{"application/x-ndjson", "text/event-stream"} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", w.url("/t.feed/stream"), nil)
		req.Header.Set("Accept", accept)
		res, err := w.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(res.Body)
		for i := 0; i < 3; i++ {
			if _, err := br.ReadBytes('\n'); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		res.Body.Close()
		select {
		case err := <-w.ended:
			var ce *codes.CloseError
			if !errors.As(err, &ce) || ce.Code != codes.NormalClose || !strings.Contains(ce.Reason, "ifkit gateway: the HTTP client") || !ce.Remote {
				t.Errorf("%s: the connection ended with %v", accept, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the ifkit connection did not end", accept)
		}
	}
}

// TestWebSocketClientGoesAway: a WebSocket closed mid-stream ends the
// ifkit connection with a reason.
func TestWebSocketClientGoesAway(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, how := range []string{"close", "drop"} {
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.url("/t.feed/stream"), "http"), &websocket.DialOptions{HTTPClient: w.http.Client()})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, _, err := ws.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
		closed := make(chan struct{})
		if how == "close" {
			go func() { // Close waits for the answer, which the unread stream holds up
				defer close(closed)
				ws.Close(websocket.StatusNormalClosure, "bye")
			}()
		} else {
			ws.CloseNow()
			close(closed)
		}
		select {
		case err := <-w.ended:
			var ce *codes.CloseError
			if !errors.As(err, &ce) || ce.Code != codes.NormalClose || !strings.Contains(ce.Reason, "ifkit gateway:") {
				t.Errorf("%s: the connection ended with %v", how, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the ifkit connection did not end", how)
		}
		ws.CloseNow()
		<-closed
	}
}
