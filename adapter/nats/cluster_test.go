package nats_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ifkit/ifkit/iface"
)

// freePorts returns n loopback ports nothing listens on now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster starts a JetStream cluster of n nodes on loopback ports in
// this process and returns their client URLs once it has a leader.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	routes := freePorts(t, n)
	var routeURLs []*url.URL
	for _, p := range routes {
		routeURLs = append(routeURLs, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var urls []string
	var servers []*server.Server
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   filepath.Join(t.TempDir(), fmt.Sprint(i)),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "ifkit-test", Host: "127.0.0.1", Port: routes[i]},
			Routes:     routeURLs,
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		servers = append(servers, s)
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	for _, s := range servers {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatal("a cluster node is not ready")
		}
		urls = append(urls, s.ClientURL())
	}
	eventually(t, "the cluster's JetStream meta leader", func() bool {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return urls
}

// topicConfig is a replicated stream L whose subject live.events is a
// topic (t.live) and a publish interface (t.say) into it.
const topicConfig = `
streams:
  - name: L
    subjects: ["live.>"]
    replicas: 3
types:
  Item:
    schema: {type: object, required: [id], properties: {id: {type: string}}}
publish:
  - interface: t.say
    subject: live.events
    type: Item
    msg_id: [id]
topics:
  - interface: t.live
    stream: L
    subject: live.>
    type: Item
`

// Two ifkit servers, each on its own node of a three-node JetStream
// cluster, share one topic: what is published through either reaches the
// subscribers of both, once each, in the stream's order.
func TestClusterTopicAcrossServers(t *testing.T) {
	urls := startCluster(t, 3)
	a := &world{t: t}
	eventually(t, "the first adapter (the stream made with 3 replicas)", func() bool { return a.tryStart(topicConfig, urls[0]) == nil })
	b := &world{t: t}
	b.start(topicConfig, urls[2])

	subA, err := a.dial().Connect(ctxT(t), "t.live")
	if err != nil {
		t.Fatal(err)
	}
	subB, err := b.dial().Connect(ctxT(t), "t.live")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both subscribed", func() bool {
		return a.srv.Topic("t.live").Subscribers() == 1 && b.srv.Topic("t.live").Subscribers() == 1
	})
	pa, err := a.dial().Connect(ctxT(t), "t.say")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.dial().Connect(ctxT(t), "t.say")
	if err != nil {
		t.Fatal(err)
	}
	send := func(c *iface.Conn, id string) {
		if err := c.Send(ctxT(t), "Item", json.RawMessage(`{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	send(pa, "from-a-1")
	eventually(t, "a's first stored", func() bool { return a.ad.Stats().Published == 1 })
	send(pb, "from-b-1")
	eventually(t, "b's first stored", func() bool { return b.ad.Stats().Published == 1 })
	send(pa, "from-a-2")
	send(pb, "from-a-2") // the same id through the other server: stored once
	for name, sub := range map[string]*iface.Conn{"a": subA, "b": subB} {
		var got []string
		var seqs []uint64
		for range 3 {
			m, err := sub.Recv(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			d, v := delivered(t, m)
			got = append(got, v["id"].(string))
			seqs = append(seqs, d.Seq)
		}
		if strings.Join(got, ",") != "from-a-1,from-b-1,from-a-2" || seqs[0] != 1 || seqs[2] != 3 {
			t.Fatalf("server %s's subscriber got %v (seqs %v)", name, got, seqs)
		}
	}
	if n := a.streamMsgs("L"); n != 3 {
		t.Fatalf("stream L stores %d; want 3", n)
	}
}
