package httpfwd_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/adapter/httpfwd"
	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	manifests "github.com/ifkit/ifkit/testdata/manifests"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func httpAPI(t testing.TB) *manifest.Manifest {
	t.Helper()
	data, err := fs.ReadFile(manifests.FS, "http.api.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse("http.api.json", data, manifest.WithFS(manifests.FS))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// upstream is a real HTTP service on loopback.
func upstream(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Seen-Connection", r.Header.Get("Connection")+r.Header.Get("X-Hop"))
		json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery,
			"test": r.Header.Get("X-Test"), "body": string(body),
		})
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 1<<20+10)))
	})
	mux.HandleFunc("/bin", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte{0xff, 0x00, 0xfe}) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/v1/new", http.StatusFound) })
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// serve hosts a forwarder to up and returns the ifkit address.
func serve(t testing.TB, up string, opts ...httpfwd.Option) string {
	t.Helper()
	f, err := httpfwd.New(httpAPI(t), up, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := iface.NewServer()
	if err := srv.Register(f.Interface()); err != nil {
		t.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "fwd")
	addr := "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { f.Close(); srv.Close(); os.RemoveAll(dir) })
	return addr
}

func connect(t testing.TB, addr string) *iface.Conn {
	t.Helper()
	c, err := iface.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	conn, err := c.Connect(context.Background(), "http.api")
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func call(t testing.TB, conn *iface.Conn, req string) httpfwd.Response {
	t.Helper()
	m, err := conn.Call(context.Background(), "Request", json.RawMessage(req))
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	var res httpfwd.Response
	if err := m.Decode(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestForward(t *testing.T) {
	up := upstream(t)
	conn := connect(t, serve(t, up.URL))
	res := call(t, conn, `{"method":"POST","path":"/v1/zones/north?active=true&x=%2F","headers":{"x-test":["yes"],"connection":["x-hop"],"x-hop":["h"]},"body":"{\"litres\":120}"}`)
	var echo map[string]string
	if err := json.Unmarshal([]byte(res.Body), &echo); err != nil || res.Status != 200 {
		t.Fatalf("%+v", res)
	}
	want := map[string]string{"method": "POST", "path": "/v1/zones/north", "query": "active=true&x=%2F", "test": "yes", "body": `{"litres":120}`}
	for k, v := range want {
		if echo[k] != v {
			t.Errorf("upstream saw %s=%q, want %q", k, echo[k], v)
		}
	}
	if got := res.Headers["x-seen-connection"]; len(got) != 1 || got[0] != "h" {
		t.Errorf("the connection header was forwarded: %v", got)
	}
	if res.Headers["content-type"][0] != "application/json" {
		t.Errorf("headers: %v", res.Headers)
	}
	res = call(t, conn, `{"method":"PUT","path":"/v1/b","body":"aGk=","body_encoding":"base64"}`)
	if !strings.Contains(res.Body, `"body":"hi"`) {
		t.Errorf("base64 body: %+v", res)
	}
	res = call(t, conn, `{"method":"GET","path":"/bin"}`)
	if res.BodyEncoding != "base64" || res.Body != "/wD+" {
		t.Errorf("binary answer: %+v", res)
	}
	res = call(t, conn, `{"method":"GET","path":"/moved"}`)
	if res.Status != 302 || res.Headers["location"][0] != "/v1/new" {
		t.Errorf("redirect: %+v", res)
	}
}

func TestFailures(t *testing.T) {
	up := upstream(t)
	// Only /slow is meant to run out of time: the others get a budget no
	// busy machine exhausts, so the test never depends on the clock.
	quick := connect(t, serve(t, up.URL, httpfwd.WithTimeout(100*time.Millisecond)))
	patient := connect(t, serve(t, up.URL, httpfwd.WithTimeout(30*time.Second)))
	for _, c := range []struct {
		conn   *iface.Conn
		req    string
		status int
		code   string
	}{
		{quick, `{"method":"GET","path":"/slow"}`, 504, "canceled"},
		{patient, `{"method":"GET","path":"/big"}`, 502, "message_too_large"},
		{patient, `{"method":"GET","path":"//evil.example/x"}`, 400, "invalid_message"},
		{patient, `{"method":"GET","path":"/v1/x","body":"!","body_encoding":"base64"}`, 400, "invalid_message"},
	} {
		res := call(t, c.conn, c.req)
		if res.Status != c.status || res.Headers[httpfwd.CodeHeader][0] != c.code {
			t.Errorf("%s: %+v", c.req, res)
		}
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	conn := connect(t, serve(t, down.URL))
	if res := call(t, conn, `{"method":"GET","path":"/"}`); res.Status != 502 || res.Headers[httpfwd.CodeHeader][0] != "transport_error" {
		t.Errorf("upstream down: %+v", res)
	}
}

// TestOverlap: a slow request does not hold up the next one on the same
// connection.
func TestOverlap(t *testing.T) {
	up := upstream(t)
	conn := connect(t, serve(t, up.URL, httpfwd.WithTimeout(time.Second)))
	slow := make(chan time.Time, 1)
	go func() {
		call(t, conn, `{"method":"GET","path":"/slow"}`)
		slow <- time.Now()
	}()
	time.Sleep(20 * time.Millisecond)
	call(t, conn, `{"method":"GET","path":"/v1/fast"}`)
	fast := time.Now()
	if s := <-slow; s.Before(fast) {
		t.Errorf("the fast request waited for the slow one")
	}
}

func TestNewChecks(t *testing.T) {
	m := httpAPI(t)
	for _, up := range []string{"ftp://x", "nohost", "http://"} {
		if _, err := httpfwd.New(m, up); err == nil {
			t.Errorf("%q: no error", up)
		}
	}
	if f, err := httpfwd.New(m, ""); err != nil { // metadata.upstream
		t.Errorf("metadata upstream: %v", err)
	} else {
		f.Close()
	}
	other, _ := manifest.Parse("x.yaml", []byte("ifkit: 1\nname: x\nversion: 1.0.0\ndirection: recv\nmessages: {recv: {Note: {schema: {type: object}}}}\n"))
	if _, err := httpfwd.New(other, "http://x"); err == nil {
		t.Error("a manifest without Request: no error")
	}
}

// TestThroughTheGateway: HTTP → httpgw → ifkit → httpfwd → HTTP, both
// adapters over real sockets.
func TestThroughTheGateway(t *testing.T) {
	up := upstream(t)
	addr := serve(t, up.URL)
	gw, err := httpgw.New(context.Background(), func(ctx context.Context) (*iface.Client, error) { return iface.Dial(ctx, addr) })
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw)
	defer func() { hs.Close(); gw.Close() }()
	res, err := http.Post(hs.URL+"/http.api/Request", "application/json", strings.NewReader(`{"method":"GET","path":"/v1/hello?x=1"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out httpfwd.Response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.Status != 200 || !strings.Contains(out.Body, `"path":"/v1/hello"`) {
		t.Fatalf("%d %+v %v", res.StatusCode, out, err)
	}
}
