package mqtt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/goleak"

	mqttad "github.com/ifkit/ifkit/adapter/mqtt"
	"github.com/ifkit/ifkit/iface"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// broker is the machine's Mosquitto.
const broker = "127.0.0.1:1883"

func needBroker(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", broker, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	msg := fmt.Sprintf("no MQTT broker at %s (%v): start one with `mosquitto -p 1883`", broker, err)
	if os.Getenv("IFKIT_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; IFKIT_REQUIRE_SERVICES=1 makes this a failure")
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// config has topics of the test's own under a random root.
func config(root string) string {
	return strings.ReplaceAll(`
types:
  Reading:
    schema: {type: object, required: [probe], properties: {probe: {type: string}, c: {type: number}}}
subscribe:
  - interface: m.feed
    filter: ROOT/readings/#
    type: Reading
    credits: 4
publish:
  - interface: m.pub
    topic: ROOT/readings/in
    type: Reading
`, "ROOT", root)
}

type world struct {
	ad   *mqttad.Adapter
	srv  *iface.Server
	addr string
}

func newWorld(t *testing.T) (*world, string) {
	t.Helper()
	needBroker(t)
	root := fmt.Sprintf("ifkit-test/%d-%d", os.Getpid(), time.Now().UnixNano())
	cfg, err := mqttad.ParseConfig("test.yaml", []byte(config(root)))
	if err != nil {
		t.Fatal(err)
	}
	ad, err := mqttad.New(ctxT(t), broker, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ad: ad, srv: iface.NewServer()}
	if err := ad.Register(w.srv); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w.addr = "unix://" + filepath.Join(dir, "s.sock")
	l, err := iface.Listen(ctxT(t), w.addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); w.srv.Serve(l) }()
	t.Cleanup(func() {
		w.srv.Close()
		<-done
		ad.Close()
	})
	return w, root
}

func (w *world) dial(t *testing.T) *iface.Client {
	c, err := iface.Dial(ctxT(t), w.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawClient is a plain MQTT client of the test's.
func rawClient(t *testing.T, onPublish func(*paho.Publish)) *paho.Client {
	t.Helper()
	conn, err := net.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	cc := paho.ClientConfig{ClientID: fmt.Sprint("ifkit-test-", time.Now().UnixNano()), Conn: conn, OnClientError: func(error) {}}
	if onPublish != nil {
		cc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onPublish(pr.Packet)
			return true, nil
		}}
	}
	c := paho.NewClient(cc)
	if _, err := c.Connect(ctxT(t), &paho.Connect{ClientID: cc.ClientID, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c
}

// Publishing through the adapter reaches MQTT subscribers, each message
// once its credit came back; a message that fails its type is refused
// before it leaves the client.
func TestPublish(t *testing.T) {
	w, root := newWorld(t)
	var mu sync.Mutex
	var got []string
	raw := rawClient(t, func(p *paho.Publish) {
		mu.Lock()
		got = append(got, string(p.Payload))
		mu.Unlock()
	})
	if _, err := raw.Subscribe(ctxT(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: root + "/readings/in", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	conn, err := w.dial(t).Connect(ctxT(t), "m.pub")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := conn.Send(ctxT(t), "Reading", json.RawMessage(fmt.Sprintf(`{"probe":"p%d","c":%d}`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Send(ctxT(t), "Reading", json.RawMessage(`{"c":"warm"}`)); err == nil {
		t.Fatal("a reading without probe was sent")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber got %d of 3", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := w.ad.Stats(); st.Published != 3 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got[0] != `{"probe":"p0","c":0}` {
		t.Fatalf("first payload %s", got[0])
	}
}

// A subscriber's messages come only as its credit allows (the broker has
// at most Receive Maximum = credits in flight to the session), and each
// is acknowledged to the broker once consumed.
func TestSubscribeCreditsAndAcks(t *testing.T) {
	w, root := newWorld(t)
	conn, err := w.dial(t).Connect(ctxT(t), "m.feed", iface.WithPullMode(), iface.WithCredits(4))
	if err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, nil)
	for deadline := time.Now().Add(30 * time.Second); w.ad.Stats().Subscribed < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the connection's subscription was not granted")
		}
	}
	for i := range 6 {
		if _, err := raw.Publish(ctxT(t), &paho.Publish{QoS: 1, Topic: root + "/readings/a", Payload: []byte(fmt.Sprintf(`{"probe":"p%d"}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	raw.Publish(ctxT(t), &paho.Publish{QoS: 1, Topic: root + "/readings/bad", Payload: []byte(`{"c":1}`)})
	conn.Request(2)
	for i := range 2 {
		m, err := conn.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var d mqttad.Delivery
		json.Unmarshal(m.Data, &d)
		if d.Topic != root+"/readings/a" || string(d.Data) != fmt.Sprintf(`{"probe":"p%d"}`, i) {
			t.Fatalf("message %d: %+v", i, d)
		}
	}
	if st := w.ad.Stats(); st.Delivered != 2 || st.Acked != 0 {
		t.Fatalf("with 2 credits: %+v; want 2 delivered, none acknowledged yet", st)
	}
	conn.Request(4) // reports 2 consumed
	for range 4 {
		if _, err := conn.Recv(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for w.ad.Stats().Acked < 2 || w.ad.Stats().Dropped < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v; want 2 acknowledged and the bad reading dropped", w.ad.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn.Close("done") // reports the other 4
	deadline = time.Now().Add(30 * time.Second)
	for w.ad.Stats().Acked < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("after the close: %+v; want 6 acknowledged", w.ad.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
