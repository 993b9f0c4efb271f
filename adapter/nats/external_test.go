package nats_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// externalURL is the machine's NATS server with JetStream.
const externalURL = "nats://127.0.0.1:4222"

// needExternal returns the machine's NATS server, or skips the test when
// it is not there, unless IFKIT_REQUIRE_SERVICES=1 (CI), which fails it.
func needExternal(t *testing.T) string {
	t.Helper()
	nc, err := natsgo.Connect(externalURL, natsgo.Timeout(2*time.Second))
	if err == nil {
		js, _ := jetstream.New(nc)
		_, err = js.AccountInfo(ctxT(t))
		nc.Close()
	}
	if err != nil {
		msg := fmt.Sprintf("no NATS server with JetStream at %s (%v): start one with `nats-server -js -a 127.0.0.1`", externalURL, err)
		if os.Getenv("IFKIT_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; IFKIT_REQUIRE_SERVICES=1 makes this a failure")
	}
	return externalURL
}

// The same publish/consume round trip against the machine's own NATS
// server, on a stream of the test's own (removed afterwards).
func TestExternalServer(t *testing.T) {
	url := needExternal(t)
	suffix := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
	config := strings.NewReplacer("name: T", "name: T"+suffix, `"t.>"`, `"t`+suffix+`.>"`, "stream: T", "stream: T"+suffix, "subject: t.in", "subject: t"+suffix+".in").Replace(testConfig)
	w := &world{t: t}
	w.start(config, url)
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		js.DeleteStream(ctxT(t), "T"+suffix)
	})
	cl := w.dial()
	pub, err := cl.Connect(ctxT(t), "t.pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"x", "y", "x"} {
		if err := pub.Send(ctxT(t), "Item", json.RawMessage(`{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	feed, err := cl.Connect(ctxT(t), "t.feed")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"x", "y"} {
		m, err := feed.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		d, v := delivered(t, m)
		if d.Seq != uint64(i+1) || v["id"] != want {
			t.Fatalf("message %d: %+v %v", i, d, v)
		}
	}
	if n := w.streamMsgs("T" + suffix); n != 2 {
		t.Fatalf("the stream holds %d messages; want 2 (x re-sent is stored once)", n)
	}
}
