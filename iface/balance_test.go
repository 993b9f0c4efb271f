package iface_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ifkit/ifkit/iface"
)

// counted serves sensors.temperature on a fresh TCP port and counts the
// connections it gets.
func counted(t *testing.T) (*iface.Server, string, *atomic.Int64) {
	var n atomic.Int64
	i := sensors(t, 0)
	i.OnConnect = func(ctx context.Context, c *iface.Conn) { n.Add(1) }
	s, addr := serve(t, "tcp", i)
	return s, addr, &n
}

func TestBalancer(t *testing.T) {
	var addrs []string
	var counts []*atomic.Int64
	var servers []*iface.Server
	for range 3 {
		s, a, n := counted(t)
		servers, addrs, counts = append(servers, s), append(addrs, a), append(counts, n)
	}
	list := strings.Join(addrs, ",")
	connect := func(b *iface.Balancer, k int) {
		t.Helper()
		for range k {
			c, err := b.Connect(ctx(t), "sensors.temperature")
			if err != nil {
				t.Fatal(err)
			}
			c.Close("done")
			<-c.Done()
		}
	}
	total := func() (out []int64) {
		for _, n := range counts {
			out = append(out, n.Load())
		}
		return out
	}

	rr, err := iface.NewBalancer(list, iface.BalanceRoundRobin)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	connect(rr, 6)
	waitCounts(t, counts, func(got []int64) bool { return got[0] == 2 && got[1] == 2 && got[2] == 2 }, "round robin over 3, 6 connections")

	rnd, err := iface.NewBalancer(list, iface.BalanceRandom)
	if err != nil {
		t.Fatal(err)
	}
	defer rnd.Close()
	connect(rnd, 150)
	waitCounts(t, counts, func(got []int64) bool {
		return got[0]+got[1]+got[2] == 156 && got[0] > 2 && got[1] > 2 && got[2] > 2
	}, "random over 3, 150 more connections (each server 1/3: all of them reach one only with probability 3·(2/3)^150)")

	// A server that goes is skipped; a refusal is not retried elsewhere.
	servers[1].Close()
	before := total()
	connect(rr, 4)
	waitCounts(t, counts, func(got []int64) bool {
		return got[1] == before[1] && got[0]+got[2] == before[0]+before[2]+4
	}, "round robin with the second server gone")
	if _, err := rr.Connect(ctx(t), "no.such"); iface.CodeOf(err) != iface.CodeUnknownInterface {
		t.Fatalf("unknown interface through the balancer: %v", err)
	}
	if _, err := iface.ParseBalance("fastest"); err == nil {
		t.Fatal("ParseBalance accepted fastest")
	}
	for _, b := range []iface.Balance{iface.BalanceFirst, iface.BalanceRoundRobin, iface.BalanceRandom} {
		if got, err := iface.ParseBalance(b.String()); err != nil || got != b {
			t.Fatalf("%v does not round-trip: %v, %v", b, got, err)
		}
	}
}

// waitCounts waits until the servers' connection counts satisfy want (a
// server counts a connection once its OnConnect runs).
func waitCounts(t *testing.T, counts []*atomic.Int64, want func([]int64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []int64
		for _, n := range counts {
			got = append(got, n.Load())
		}
		if want(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: connections per server %v", what, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
