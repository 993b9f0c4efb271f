package nats_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ifkit/ifkit/iface"
)

// consumerInfo is the durable consumer's state as JetStream reports it.
func (w *world) consumerInfo() *jetstream.ConsumerInfo {
	w.t.Helper()
	js, _ := jetstream.New(w.own)
	c, err := js.Consumer(ctxT(w.t), "T", "feed")
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := c.Info(ctxT(w.t))
	if err != nil {
		w.t.Fatal(err)
	}
	return info
}

// The adapter fetches only what the client has credit for, and
// acknowledges only what the client has consumed: a pull-mode client that
// grants 3 has 3 delivered, and none acknowledged until its next grant
// reports them consumed.
func TestConsumeCreditsAndAcks(t *testing.T) {
	w := newWorld(t, testConfig)
	w.publishRaw(1, 10)
	conn, err := w.dial().Connect(ctxT(t), "t.feed", iface.WithPullMode(), iface.WithCredits(8))
	if err != nil {
		t.Fatal(err)
	}
	conn.Request(3)
	for i := 1; i <= 3; i++ {
		m, err := conn.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		d, v := delivered(t, m)
		if d.Seq != uint64(i) || v["id"] != itemID(i) || d.Subject != "t.in" || d.Delivered != 1 {
			t.Fatalf("message %d: %+v %v", i, d, v)
		}
	}
	// Nothing more is fetched without credit.
	time.Sleep(300 * time.Millisecond)
	info := w.consumerInfo()
	if info.NumAckPending != 3 || info.Delivered.Stream != 3 || info.AckFloor.Stream != 0 {
		t.Fatalf("after 3 credits: %d pending, delivered up to %d, acknowledged up to %d; want 3, 3, 0", info.NumAckPending, info.Delivered.Stream, info.AckFloor.Stream)
	}
	conn.Request(2) // carries "3 consumed"
	eventually(t, "the 3 consumed to be acknowledged", func() bool { return w.consumerInfo().AckFloor.Stream == 3 })
	for i := 4; i <= 5; i++ {
		m, err := conn.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := delivered(t, m); d.Seq != uint64(i) {
			t.Fatalf("message %d has seq %d", i, d.Seq)
		}
	}
	if st := w.ad.Stats(); st.Delivered != 5 || st.Acked != 3 {
		t.Fatalf("stats %+v; want 5 delivered, 3 acked", st)
	}
}

// A client that ends with messages delivered and not consumed leaves them
// to the next connection, which resumes with no gap: every sequence
// number reaches some client, and the ones consumed are not delivered again.
func TestConsumeResumeAfterReconnect(t *testing.T) {
	w := newWorld(t, testConfig)
	w.publishRaw(1, 6)
	c1 := w.dial()
	conn, err := c1.Connect(ctxT(t), "t.feed", iface.WithPullMode(), iface.WithCredits(8))
	if err != nil {
		t.Fatal(err)
	}
	conn.Request(4)
	for range 2 {
		if _, err := conn.Recv(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	conn.Request(1) // reports 2 consumed; 3 and 4 are delivered, 5 too now
	eventually(t, "2 acknowledged", func() bool { return w.consumerInfo().AckFloor.Stream == 2 })
	// The grant's fetch of 5 is the adapter's, in its own time (on a loaded
	// machine it came after the close): wait for it.
	eventually(t, "5 delivered", func() bool { return w.ad.Stats().Delivered == 5 })
	c1.Close() // killed: 3, 4 and 5 were delivered and never consumed
	eventually(t, "the connection's 3 messages handed back", func() bool { return w.ad.Stats().Nacked == 3 })

	conn2, err := w.dial().Connect(ctxT(t), "t.feed")
	if err != nil {
		t.Fatal(err)
	}
	// Handed-back messages come again in an order JetStream chooses.
	got := map[uint64]bool{}
	for range 4 {
		m, err := conn2.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := delivered(t, m)
		got[d.Seq] = true
	}
	for i := uint64(3); i <= 6; i++ {
		if !got[i] {
			t.Fatalf("after the reconnect: got seqs %v; want 3 to 6 (1 and 2 were consumed)", got)
		}
	}
}

// Control reset moves the consumer: seq:N delivers from N again, new skips
// what is stored.
func TestConsumeReset(t *testing.T) {
	w := newWorld(t, testConfig)
	w.publishRaw(1, 5)
	cl := w.dial()
	conn, err := cl.Connect(ctxT(t), "t.feed", iface.WithPullMode(), iface.WithCredits(8))
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := cl.Control(ctxT(t), "t.feed", iface.AttachTo(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if err := ctl.Reset(ctxT(t), "seq:4"); err != nil {
		t.Fatal(err)
	}
	conn.Request(2)
	for _, want := range []uint64{4, 5} {
		m, err := conn.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := delivered(t, m); d.Seq != want {
			t.Fatalf("after reset seq:4: seq %d, want %d", d.Seq, want)
		}
	}
	if err := ctl.Reset(ctxT(t), "yesterday"); iface.CodeOf(err) != iface.CodeInvalidMessage {
		t.Fatalf("reset yesterday: %v; want invalid_message", err)
	}
	conn.Request(2) // reports 4 and 5 consumed
	if err := ctl.Reset(ctxT(t), "new"); err != nil {
		t.Fatal(err)
	}
	w.publishRaw(6, 1)
	m, err := conn.Recv(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := delivered(t, m); d.Seq != 6 {
		t.Fatalf("after reset new: seq %d, want 6", d.Seq)
	}
}
