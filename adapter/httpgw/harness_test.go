package httpgw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	manifests "github.com/ifkit/ifkit/testdata/manifests"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// api is a duplex interface with every kind of POST route: a request/reply
// (Hello), a request/stream (Count), a one-way message (Note); its server
// sends only replies, so it has no GET stream.
const api = `
ifkit: 1
name: t.api
version: 1.0.0
title: Test API
direction: duplex
messages:
  recv:
    Hello:
      description: Say hello.
      schema: {type: object, required: [name], additionalProperties: false, properties: {name: {type: string, maxLength: 200}}, $defs: {unused: {type: string}}}
      reply: {type: Greeting}
      examples: [{name: Ada}]
    Slow:
      schema: {type: object}
      reply: {type: Greeting}
    Count:
      schema: {type: object, required: [n], properties: {n: {type: integer, minimum: 0}}}
      reply: {type: Tick, stream: true}
    Note:
      schema: {type: object, required: [text], properties: {text: {type: string}, tags: {$ref: "#/$defs/tags"}}, $defs: {tags: {type: array, items: {type: string}}}}
  send:
    Greeting:
      schema: {type: object, properties: {text: {type: string}}}
    Tick:
      schema: {type: object, properties: {i: {type: integer}, pad: {type: string}}}
flow: {credits: 8, max_message_bytes: 2048}
`

// feed is a send interface that streams Ticks as fast as credit allows.
const feed = `
ifkit: 1
name: t.feed
version: 1.0.0
direction: send
messages:
  send:
    Tick: {schema: {type: object, properties: {i: {type: integer}, pad: {type: string}}}}
flow: {credits: 64, max_message_bytes: 4096}
`

// sink is a recv interface whose server takes one Note at a time.
const sink = `
ifkit: 1
name: t.sink
version: 1.0.0
direction: recv
messages:
  recv:
    Note: {schema: {type: object, required: [text], properties: {text: {type: string}}}}
flow: {credits: 4, max_message_bytes: 1024}
`

// world is an ifkit server with the test interfaces, a gateway in front of
// it and a real HTTP server (loopback) in front of that.
type world struct {
	t         testing.TB
	addr      string
	srv       *iface.Server
	gw        *httpgw.Gateway
	http      *httptest.Server
	notes     atomic.Int64 // Notes the server took
	sent      atomic.Int64 // Ticks t.feed sent
	ended     chan error   // why each t.feed connection ended
	noteMu    sync.Mutex
	lastNote  string
	slowNotes time.Duration
}

func mustParse(t testing.TB, src string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newWorld(t testing.TB, opts ...httpgw.Option) *world {
	t.Helper()
	w := &world{t: t, ended: make(chan error, 16)}
	dir, err := os.MkdirTemp("", "httpgw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w.addr = "unix://" + filepath.Join(dir, "s.sock")
	w.start()
	ctx := context.Background()
	opts = append([]httpgw.Option{httpgw.WithRedialBackoff(20 * time.Millisecond)}, opts...)
	w.gw, err = httpgw.New(ctx, func(ctx context.Context) (*iface.Client, error) { return iface.Dial(ctx, w.addr) }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w.http = httptest.NewServer(w.gw)
	t.Cleanup(func() {
		w.http.CloseClientConnections()
		w.http.Close()
		w.gw.Close()
		if w.srv != nil {
			w.srv.Close()
		}
	})
	return w
}

// start serves the test interfaces at w.addr.
func (w *world) start() {
	t := w.t
	srv := iface.NewServer()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(srv.Register(iface.Interface{
		Manifest: mustParse(t, api),
		Handlers: map[string]iface.Handler{
			"Hello": func(ctx context.Context, msg *iface.Message) error {
				var v struct{ Name string }
				if err := msg.Decode(&v); err != nil {
					return err
				}
				return msg.Reply(ctx, map[string]string{"text": "hello, " + v.Name})
			},
			"Slow": func(ctx context.Context, msg *iface.Message) error {
				<-ctx.Done()
				return ctx.Err()
			},
			"Count": func(ctx context.Context, msg *iface.Message) error {
				var v struct{ N int }
				if err := msg.Decode(&v); err != nil {
					return err
				}
				for i := 1; i <= v.N; i++ {
					if err := msg.Reply(ctx, map[string]int{"i": i}); err != nil {
						return err
					}
				}
				return msg.End(ctx)
			},
			"Note": func(ctx context.Context, msg *iface.Message) error {
				w.notes.Add(1)
				w.noteMu.Lock()
				w.lastNote = string(msg.Data)
				w.noteMu.Unlock()
				return nil
			},
		},
	}))
	must(srv.Register(iface.Interface{
		Manifest: mustParse(t, feed),
		OnConnect: func(ctx context.Context, c *iface.Conn) {
			pad := strings.Repeat("x", 1000)
			for i := 1; ; i++ {
				if err := c.Send(ctx, "Tick", map[string]any{"i": i, "pad": pad}); err != nil {
					break
				}
				w.sent.Add(1)
			}
			<-c.Done()
			select {
			case w.ended <- c.Err():
			default:
			}
		},
	}))
	must(srv.Register(iface.Interface{
		Manifest: mustParse(t, sink),
		Handlers: map[string]iface.Handler{"Note": func(ctx context.Context, msg *iface.Message) error {
			if w.slowNotes > 0 {
				time.Sleep(w.slowNotes)
			}
			w.notes.Add(1)
			return nil
		}},
	}))
	must(registerExamples(srv))
	l, err := iface.Listen(context.Background(), w.addr)
	must(err)
	go srv.Serve(l)
	w.srv = srv
}

// registerExamples hosts the example manifests that no test interface
// replaces (with no handlers: their routes and documents are what is
// tested).
func registerExamples(srv *iface.Server) error {
	names, _ := fs.Glob(manifests.FS, "*.yaml")
	jsons, _ := fs.Glob(manifests.FS, "*.json")
	for _, name := range append(names, jsons...) {
		data, err := fs.ReadFile(manifests.FS, name)
		if err != nil {
			return err
		}
		m, err := manifest.Parse(name, data, manifest.WithFS(manifests.FS))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		x := iface.Interface{Manifest: m, OnReset: func(context.Context, *iface.Conn, string) error { return nil }}
		switch m.Name {
		case "db.kv": // protobuf requests, answered with JSON text
			x.Handlers = map[string]iface.Handler{
				"Get": func(ctx context.Context, msg *iface.Message) error {
					return msg.Reply(ctx, json.RawMessage(`{"key":"a","found":true,"value":"aGk=","revision":"7"}`))
				},
				"Scan": func(ctx context.Context, msg *iface.Message) error {
					for i := 0; i < 3; i++ {
						if err := msg.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"key":"k%d","revision":"%d"}`, i, i))); err != nil {
							return err
						}
					}
					return msg.End(ctx)
				},
			}
		case "sensors.temperature":
			x.OnConnect = func(ctx context.Context, c *iface.Conn) {
				for i := 0; ctx.Err() == nil; i++ {
					if c.Send(ctx, "Reading", json.RawMessage(fmt.Sprintf(`{"probe":"p%d","celsius":21.5,"time":"2026-11-22T09:30:00Z","zone":%q}`, i, []string{"north", "south"}[i%2]))) != nil {
						return
					}
				}
			}
		}
		if err := srv.Register(x); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) url(path string) string { return w.http.URL + path }

// do makes a request and returns the status and body.
func (w *world) do(method, path, contentType, body string, hdr ...string) (int, http.Header, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.url(path), strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := w.http.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return res.StatusCode, res.Header, data
}

// errorOf decodes an error body.
func errorOf(t testing.TB, body []byte) httpgw.Error {
	t.Helper()
	var e struct{ Error httpgw.Error }
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == 0 && e.Error.Status == 0 {
		t.Fatalf("not an error body: %s", body)
	}
	return e.Error
}

// eventually retries f until it holds or 5 s pass.
func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a wait, not a measure: a loaded machine is slow
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
