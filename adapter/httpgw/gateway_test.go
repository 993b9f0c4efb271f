package httpgw_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/iface"
)

func TestIndexAndDocuments(t *testing.T) {
	w := newWorld(t)
	st, _, body := w.do("GET", "/", "", "")
	if st != 200 {
		t.Fatalf("GET /: %d %s", st, body)
	}
	var idx struct {
		Interfaces []struct {
			Name     string
			Links    map[string]string
			Messages []struct{ Type, Kind, Path string }
		}
	}
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, i := range idx.Interfaces {
		names[i.Name] = true
		if i.Name == "t.api" {
			kinds := map[string]string{}
			for _, m := range i.Messages {
				kinds[m.Type] = m.Kind
			}
			if kinds["Hello"] != "request" || kinds["Count"] != "request_stream" || kinds["Note"] != "message" {
				t.Errorf("t.api routes: %v", kinds)
			}
		}
	}
	for _, n := range []string{"t.api", "t.feed", "t.sink", "sensors.temperature", "db.kv", "http.api"} {
		if !names[n] {
			t.Errorf("index lacks %s: %s", n, body)
		}
	}

	st, hdr, body := w.do("GET", "/t.api/manifest", "", "")
	if st != 200 || !strings.Contains(string(body), `"name":"t.api"`) {
		t.Fatalf("manifest: %d %s", st, body)
	}
	if st, _, _ := w.do("GET", "/t.api/manifest", "", "", "If-None-Match", hdr.Get("ETag")); st != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", st)
	}
	for _, doc := range []string{"openapi.json", "asyncapi.json"} {
		st, _, body := w.do("GET", "/t.api/"+doc, "", "")
		var v map[string]any
		if st != 200 || json.Unmarshal(body, &v) != nil {
			t.Fatalf("%s: %d %s", doc, st, body)
		}
		if doc == "asyncapi.json" {
			host := v["servers"].(map[string]any)["gateway"].(map[string]any)["host"]
			if host != strings.TrimPrefix(w.http.URL, "http://") {
				t.Errorf("asyncapi server host %v, want the one asked", host)
			}
		}
	}
}

func TestCall(t *testing.T) {
	w := newWorld(t)
	st, hdr, body := w.do("POST", "/t.api/Hello", "application/json", `{"name":"Ada"}`)
	if st != 200 || strings.TrimSpace(string(body)) != `{"text":"hello, Ada"}` || hdr.Get("Ifkit-Type") != "Greeting" {
		t.Fatalf("Hello: %d %s %v", st, body, hdr)
	}
}

func TestErrors(t *testing.T) {
	w := newWorld(t)
	big := `{"name":"` + strings.Repeat("a", 4000) + `"}`
	for _, c := range []struct {
		method, path, body string
		status             int
		code               codes.Code
		pointer            string
	}{
		{"POST", "/t.api/Hello", `{"name":`, 400, codes.InvalidMessage, ""},
		{"POST", "/t.api/Hello", `{"name":5}`, 400, codes.InvalidMessage, "/name"},
		{"POST", "/t.api/Hello", `{"nom":"x"}`, 400, codes.InvalidMessage, ""},
		{"POST", "/t.api/Hello", big, 413, codes.MessageTooLarge, ""},
		{"POST", "/t.api/Nope", `{}`, 404, codes.UnknownType, ""},
		{"POST", "/t.nope/Hello", `{}`, 404, codes.UnknownInterface, ""},
		{"GET", "/t.api/Hello", ``, 405, codes.WrongDirection, ""},
		{"POST", "/t.api/Greeting", `{}`, 405, codes.WrongDirection, ""},
		{"POST", "/t.api/manifest", `{}`, 405, codes.WrongDirection, ""},
		{"DELETE", "/", ``, 405, codes.WrongDirection, ""},
		{"GET", "/t.sink/stream", ``, 405, codes.WrongDirection, ""},
		{"GET", "/db.kv/stream", ``, 405, codes.WrongDirection, ""},
		{"GET", "/t.feed/stream?n=x", ``, 400, codes.InvalidMessage, ""},
		{"POST", "/t.sink/Note", `{"text":1}`, 400, codes.InvalidMessage, "/text"},
		{"POST", "/t.sink/Note", strings.Repeat(" ", 3000), 413, codes.MessageTooLarge, ""},
	} {
		st, hdr, body := w.do(c.method, c.path, "application/json", c.body)
		if st != c.status {
			t.Errorf("%s %s %.40s: %d %s, want %d", c.method, c.path, c.body, st, body, c.status)
			continue
		}
		e := errorOf(t, body)
		if e.Code != c.code || e.Status != st || e.Pointer != c.pointer || hdr.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %.40s: %+v, want code %s pointer %q", c.method, c.path, c.body, e, c.code, c.pointer)
		}
		if st == 405 && hdr.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
}

// TestStatusTable: every code has a status, and the ones the issue names
// are what it says.
func TestStatusTable(t *testing.T) {
	for _, c := range codes.All() {
		if s := httpgw.Status(c); s < 200 || s > 599 {
			t.Errorf("%s: %d", c, s)
		}
	}
	for c, want := range map[codes.Code]int{
		codes.InvalidMessage: 400, codes.UnknownInterface: 404, codes.UnknownType: 404,
		codes.WrongDirection: 405, codes.LimitExceeded: 429, codes.AuthFailed: 403,
		codes.TransportError: 502, codes.Draining: 503,
	} {
		if got := httpgw.Status(c); got != want {
			t.Errorf("%s: %d, want %d", c, got, want)
		}
	}
	if httpgw.Status(codes.Code(999)) != 502 {
		t.Error("an unknown code is not 502")
	}
}

func TestCallTimeout(t *testing.T) {
	w := newWorld(t, httpgw.WithCallTimeout(50*time.Millisecond))
	st, _, body := w.do("POST", "/t.api/Slow", "application/json", `{}`)
	if e := errorOf(t, body); st != 504 || e.Code != codes.Canceled {
		t.Fatalf("Slow: %d %s", st, body)
	}
	// The shared connection still works.
	if st, _, body := w.do("POST", "/t.api/Hello", "application/json", `{"name":"B"}`); st != 200 {
		t.Fatalf("Hello after a timeout: %d %s", st, body)
	}
}

func TestConcurrentCalls(t *testing.T) {
	w := newWorld(t)
	var wg sync.WaitGroup
	errs := make(chan error, 800)
	for g := 0; g < 40; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				name := fmt.Sprintf("g%d-%d", g, i)
				res, err := w.http.Client().Post(w.url("/t.api/Hello"), "application/json", strings.NewReader(`{"name":"`+name+`"}`))
				if err != nil {
					errs <- err
					return
				}
				var v struct{ Text string }
				err = json.NewDecoder(res.Body).Decode(&v)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || v.Text != "hello, "+name {
					errs <- fmt.Errorf("%s: %d %q %v", name, res.StatusCode, v.Text, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRoutesFollowTheServer: interfaces registered, changed and
// unregistered on the server appear, change and go on the gateway.
func TestRoutesFollowTheServer(t *testing.T) {
	w := newWorld(t)
	m := mustParse(t, strings.Replace(sink, "t.sink", "t.late", 1))
	if err := w.srv.Register(iface.Interface{Manifest: m}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "t.late to appear", func() bool { st, _, _ := w.do("GET", "/t.late", "", ""); return st == 200 })
	m2 := mustParse(t, strings.Replace(strings.Replace(sink, "t.sink", "t.late", 1), "1.0.0", "1.1.0", 1))
	if err := w.srv.Register(iface.Interface{Manifest: m2}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "t.late 1.1.0", func() bool {
		_, _, body := w.do("GET", "/t.late", "", "")
		return strings.Contains(string(body), m2.Hash())
	})
	w.srv.Unregister("t.late")
	eventually(t, "t.late to go", func() bool {
		st, _, body := w.do("GET", "/t.late", "", "")
		return st == 404 && errorOf(t, body).Code == codes.UnknownInterface
	})
}

// TestServerGone: without a session the gateway answers 502, and it dials
// again.
func TestServerGone(t *testing.T) {
	w := newWorld(t)
	w.srv.Close()
	w.srv = nil
	eventually(t, "502", func() bool {
		st, _, body := w.do("GET", "/t.api", "", "")
		return st == 502 && errorOf(t, body).Code == codes.TransportError
	})
	w.start()
	eventually(t, "the gateway to dial again", func() bool { st, _, _ := w.do("GET", "/t.api", "", ""); return st == 200 })
	if st, _, body := w.do("POST", "/t.api/Hello", "application/json", `{"name":"again"}`); st != 200 {
		t.Fatalf("Hello after redial: %d %s", st, body)
	}
}

func TestCORS(t *testing.T) {
	w := newWorld(t, httpgw.WithCORS("https://app.example"))
	st, hdr, _ := w.do("OPTIONS", "/t.api/Hello", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if st != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", st, hdr)
	}
	st, hdr, _ = w.do("POST", "/t.api/Hello", "application/json", `{"name":"c"}`, "Origin", "https://app.example")
	if st != 200 || hdr.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("request: %d %v", st, hdr)
	}
	_, hdr, _ = w.do("POST", "/t.api/Hello", "application/json", `{"name":"c"}`, "Origin", "https://evil.example")
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin was allowed: %v", hdr)
	}
	// Without WithCORS, nothing is allowed.
	w2 := newWorld(t)
	if _, hdr, _ := w2.do("GET", "/", "", "", "Origin", "https://app.example"); hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS without WithCORS: %v", hdr)
	}
}

// TestManifest: the gateway's manifest of an interface is the server's.
func TestManifest(t *testing.T) {
	w := newWorld(t)
	m, ok := w.gw.Manifest("t.api")
	if !ok || m.Hash() != mustParse(t, api).Hash() {
		t.Fatalf("Manifest(t.api) = %v, %v", m, ok)
	}
	if _, ok := w.gw.Manifest("t.none"); ok {
		t.Fatal("Manifest(t.none) found one")
	}
}
