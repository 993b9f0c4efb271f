package nats_test

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/iface"
)

func (w *world) streamMsgs(name string) uint64 {
	w.t.Helper()
	js, _ := jetstream.New(w.own)
	s, err := js.Stream(ctxT(w.t), name)
	if err != nil {
		w.t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// refusals collects what the server refused of a client's messages.
type refusals struct {
	mu   sync.Mutex
	list []*iface.RemoteError
}

func (r *refusals) add(_ *iface.Conn, e *iface.RemoteError) {
	r.mu.Lock()
	r.list = append(r.list, e)
	r.mu.Unlock()
}

func (r *refusals) get() []*iface.RemoteError {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*iface.RemoteError(nil), r.list...)
}

// Published messages are stored once each: a re-send with the same id is
// dropped by JetStream's duplicate window; a message that fails its type
// never reaches the stream (the client's own check refuses it before it is
// sent, and the adapter's refuses one sent anyway).
func TestPublishDedupAndSchema(t *testing.T) {
	w := newWorld(t, testConfig)
	var refused refusals
	conn, err := w.dial().Connect(ctxT(t), "t.pub", iface.WithOnRefused(refused.add))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "a", "c", "b"} {
		if err := conn.Send(ctxT(t), "Item", json.RawMessage(`{"id":"`+id+`","n":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Send(ctxT(t), "Item", json.RawMessage(`{"n":"x"}`)); err == nil {
		t.Fatal("a message without id and with a string n was sent")
	}
	eventually(t, "5 publishes settled", func() bool {
		st := w.ad.Stats()
		return st.Published+st.Duplicates == 5
	})
	if n := w.streamMsgs("T"); n != 3 {
		t.Fatalf("stream T holds %d messages, want 3 (a, b, c)", n)
	}
	if st := w.ad.Stats(); st.Duplicates != 2 || st.Published != 3 {
		t.Fatalf("stats %+v; want 3 published, 2 duplicates", st)
	}
	if r := refused.get(); len(r) != 0 {
		t.Fatalf("refusals: %v", r)
	}
	conn.Close("done")
}

// A publish JetStream does not store (no stream has the subject) is
// refused with not_found and the reason; the connection goes on.
func TestPublishNoStream(t *testing.T) {
	w := newWorld(t, testConfig+`
  - interface: t.nowhere
    subject: nowhere.in
    type: Item
`)
	var refused refusals
	conn, err := w.dial().Connect(ctxT(t), "t.nowhere", iface.WithOnRefused(refused.add))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Send(ctxT(t), "Item", json.RawMessage(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal", func() bool { return len(refused.get()) == 1 })
	r := refused.get()[0]
	if r.Code != iface.CodeNotFound || r.Seq != 1 {
		t.Fatalf("refusal %+v; want not_found for message 1", r)
	}
	if conn.Err() != nil {
		t.Fatalf("the connection ended: %v", conn.Err())
	}
}
