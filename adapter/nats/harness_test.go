package nats_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	natsad "github.com/ifkit/ifkit/adapter/nats"
	"github.com/ifkit/ifkit/iface"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig has a stream T of subjects t.>, a type Item with a required
// id, a consume interface t.feed and a publish interface t.pub (ids from
// the field id).
const testConfig = `
streams:
  - name: T
    subjects: ["t.>"]
types:
  Item:
    schema:
      type: object
      required: [id]
      properties:
        id: {type: string, minLength: 1}
        n: {type: integer}
    examples: [{id: a1, n: 1}]
consume:
  - interface: t.feed
    stream: T
    consumer: feed
    type: Item
    credits: 8
    fetch_wait: 200ms
    ack_wait: 5s
publish:
  - interface: t.pub
    subject: t.in
    type: Item
    msg_id: [id]
    credits: 8
`

// world is an embedded JetStream, the adapter on an ifkit server at addr,
// and a NATS connection for the test's own look at the stream.
type world struct {
	t    testing.TB
	emb  *natsad.Embedded
	nc   *natsgo.Conn // the adapter's
	own  *natsgo.Conn // the test's
	ad   *natsad.Adapter
	srv  *iface.Server
	addr string
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newWorld(t testing.TB, config string, opts ...natsad.Option) *world {
	t.Helper()
	emb, err := natsad.StartEmbedded(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	w := &world{t: t, emb: emb}
	w.start(config, emb.URL(), opts...)
	return w
}

// start connects to url and serves the adapter on a new socket.
func (w *world) start(config, url string, opts ...natsad.Option) {
	w.t.Helper()
	if err := w.tryStart(config, url, opts...); err != nil {
		w.t.Fatal(err)
	}
}

// tryStart is start, returning New's error (a cluster without a leader
// yet) with nothing left open.
func (w *world) tryStart(config, url string, opts ...natsad.Option) error {
	t := w.t
	t.Helper()
	cfg, err := natsad.ParseConfig("test.yaml", []byte(config), "")
	if err != nil {
		t.Fatal(err)
	}
	w.nc, err = natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w.own, err = natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	w.ad, err = natsad.New(ctxT(t), w.nc, cfg, opts...)
	if err != nil {
		w.nc.Close()
		w.own.Close()
		return err
	}
	w.srv = iface.NewServer()
	if err := w.ad.Register(w.srv); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "natsad")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(ctxT(t), w.addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.srv.Serve(l)
	}()
	t.Cleanup(func() {
		w.srv.Close()
		<-done
		w.ad.Close()
		w.nc.Close()
		w.own.Close()
		os.RemoveAll(dir)
	})
	return nil
}

func (w *world) dial() *iface.Client {
	w.t.Helper()
	c, err := iface.Dial(ctxT(w.t), w.addr)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

// publishRaw stores n items t-<i> directly with nats.go.
func (w *world) publishRaw(from, n int) {
	w.t.Helper()
	for i := from; i < from+n; i++ {
		b, _ := json.Marshal(map[string]any{"id": itemID(i), "n": i})
		if _, err := w.own.Request("t.in", b, 10*time.Second); err != nil {
			w.t.Fatal(err)
		}
	}
}

func itemID(i int) string { return "t-" + itoa(i) }

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// delivered decodes a t.feed message.
func delivered(t testing.TB, m *iface.Message) (natsad.Delivery, map[string]any) {
	t.Helper()
	var d natsad.Delivery
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(d.Data, &v); err != nil {
		t.Fatal(err)
	}
	return d, v
}

// eventually waits up to 30 s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func asClose(err error, ce **iface.CloseError) bool { return errors.As(err, ce) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
