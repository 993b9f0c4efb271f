package iface_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// reading is a sensors.temperature Reading as JSON text.
func reading(probe, zone string, celsius int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"probe":%q,"zone":%q,"celsius":%d}`, probe, zone, celsius))
}

// celsiusOf reads the celsius of a received Reading, in either codec.
func celsiusOf(t testing.TB, m *iface.Message) int {
	t.Helper()
	var v struct{ Celsius float64 }
	if err := json.Unmarshal(jsonOf(t, m), &v); err != nil {
		t.Fatal(err)
	}
	return int(v.Celsius)
}

// jsonOf returns a received message as JSON, in either codec.
func jsonOf(t testing.TB, m *iface.Message) []byte {
	t.Helper()
	if m.Type.Proto == nil {
		return m.Data
	}
	pm := m.Type.New()
	if err := m.Decode(pm); err != nil {
		t.Fatal(err)
	}
	b, err := protojson.Marshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFilterAtOpen: a subscriber with a filter receives exactly the
// matching messages; the rest never cross the socket (the client received
// only what the server counted as matched), over every transport, in the
// proto and json codecs, in both forms.
func TestFilterAtOpen(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		for _, codecName := range []string{"proto", "json"} {
			for _, f := range []iface.Filter{
				{CEL: `zone == "north" && probe.startsWith("bench-")`},
				{Structured: `{"all":[{"field":"zone","eq":"north"},{"field":"probe","prefix":"bench-"}]}`},
			} {
				t.Run(codecName+"/"+f.Form(), func(t *testing.T) {
					m := load(t, "sensors.temperature.yaml")
					sent := make(chan error, 1)
					_, addr := serve(t, transport, iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
						for i := range 100 {
							zone := []string{"north", "south"}[i%2]
							probe := []string{"bench-1", "p2", "bench-3"}[i%3]
							if err := c.Send(ctx, "Reading", reading(probe, zone, i)); err != nil {
								sent <- err
								return
							}
						}
						sent <- c.Send(ctx, "Reading", reading("bench-end", "north", 1000))
					}})
					cl := dial(t, addr)
					conn, err := cl.Connect(ctx(t), "sensors.temperature", iface.WithCodec(codecName), iface.WithFilter(f))
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close("done")
					var want []int
					for i := range 100 {
						if i%2 == 0 && i%3 != 1 {
							want = append(want, i)
						}
					}
					want = append(want, 1000)
					for _, w := range want {
						msg, err := conn.Recv(ctx(t))
						if err != nil {
							t.Fatal(err)
						}
						if got := celsiusOf(t, msg); got != w {
							t.Fatalf("got reading %d, want %d", got, w)
						}
					}
					if err := <-sent; err != nil {
						t.Fatal(err)
					}
					ctl, err := cl.Control(ctx(t), "sensors.temperature", iface.AttachTo(conn))
					if err != nil {
						t.Fatal(err)
					}
					defer ctl.Close()
					st, err := ctl.Stats(ctx(t))
					if err != nil {
						t.Fatal(err)
					}
					if st.Matched != uint64(len(want)) || st.FilteredOut != uint64(101-len(want)) || st.SentMessages != uint64(len(want)) {
						t.Errorf("server stats: matched %d, filtered out %d, sent %d; want %d, %d, %d", st.Matched, st.FilteredOut, st.SentMessages, len(want), 101-len(want), len(want))
					}
					if got := conn.Stats().ReceivedMessages; got != uint64(len(want)) {
						t.Errorf("the client received %d messages; only the %d matching ones may cross the socket", got, len(want))
					}
				})
			}
		}
	})
}

// TestFilterRefusedAtOpen: every refusal reason refuses the connection
// with invalid_filter and a reason that says where.
func TestFilterRefusedAtOpen(t *testing.T) {
	m := load(t, "sensors.temperature.yaml")
	_, addr := serve(t, "mem", iface.Interface{Manifest: m})
	cl := dial(t, addr)
	for _, c := range []struct {
		f    iface.Filter
		want string
	}{
		{iface.Filter{CEL: `zone ==`}, "filter (cel) at 1:8: Syntax error"},
		{iface.Filter{CEL: `colour == "red"`}, `filter (cel) at 1:1: "colour" is not a field`},
		{iface.Filter{CEL: `zone == "a" || celsius > 3.0`}, "filter (cel) at 1:16: celsius is a field of Reading, but not one it may be filtered on"},
		{iface.Filter{CEL: `zone == 1`}, "filter (cel) at 1:6: found no matching overload"},
		{iface.Filter{CEL: `probe.matches(zone + zone + zone + zone + zone + zone + zone + zone + zone)`}, "filter (cel): its worst-case cost is"},
		{iface.Filter{Structured: `{"any":[{"field":"zone","eq":"a"},{"field":"celsius","eq":1}]}`}, "filter (structured) at /any/1/field: celsius is a field of Reading, but not one"},
		{iface.Filter{Structured: `{"field":"zone","eq":2}`}, "filter (structured) at /eq: zone is a string and cannot equal a number"},
		{iface.Filter{Structured: `{"field":"zone"}`}, "filter (structured): field zone has no operator"},
		{iface.Filter{Type: "Other", CEL: "true"}, `filter (cel): sensors.temperature sends no message type "Other"`},
	} {
		_, err := cl.Connect(ctx(t), "sensors.temperature", iface.WithFilter(c.f))
		if iface.CodeOf(err) != iface.CodeInvalidFilter {
			t.Errorf("%+v: got %v, want invalid_filter", c.f, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want it to say %q", c.f, err, c.want)
		}
	}
	// A raw connection has no fields to filter on.
	raw, err := manifest.Parse("raw.yaml", []byte("ifkit: 1\nname: raw.only\nversion: 1.0.0\ndirection: send\ncodecs: [raw]\nmessages: {send: {Blob: {}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, addr2 := serve(t, "mem", iface.Interface{Manifest: raw})
	_, err = dial(t, addr2).Connect(ctx(t), "raw.only", iface.WithFilter(iface.Filter{CEL: "true"}))
	if iface.CodeOf(err) != iface.CodeInvalidFilter {
		t.Errorf("raw: got %v, want invalid_filter", err)
	}
}

// TestFilterReplaced: the control operation filter replaces a live
// connection's filter from the next message on; one that does not compile
// is refused and the old filter stays.
func TestFilterReplaced(t *testing.T) {
	forEachTransport(t, func(t *testing.T, transport string) {
		m := load(t, "sensors.temperature.yaml")
		// The server sends ten readings per step and says when it has:
		// a filter replaced meanwhile would otherwise apply to the rest of
		// a step.
		steps, sent := make(chan int), make(chan struct{})
		_, addr := serve(t, transport, iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
			for {
				var base int
				select {
				case base = <-steps:
				case <-ctx.Done():
					return
				}
				for i := range 10 {
					c.Send(ctx, "Reading", reading("p", []string{"north", "south"}[i%2], base+i))
				}
				select {
				case sent <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}})
		step := func(base int) {
			steps <- base
			<-sent
		}
		cl := dial(t, addr)
		conn, err := cl.Connect(ctx(t), "sensors.temperature", iface.WithFilter(iface.Filter{CEL: `zone == "north"`}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close("done")
		ctl, err := cl.Control(ctx(t), "sensors.temperature", iface.AttachTo(conn))
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		expect := func(want ...int) {
			t.Helper()
			for _, w := range want {
				msg, err := conn.Recv(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				if got := celsiusOf(t, msg); got != w {
					t.Fatalf("got %d, want %d", got, w)
				}
			}
		}
		step(0)
		expect(0, 2, 4, 6, 8)
		if err := ctl.SetFilter(ctx(t), iface.Filter{Structured: `{"field":"zone","eq":"south"}`}); err != nil {
			t.Fatal(err)
		}
		step(10)
		expect(11, 13, 15, 17, 19)
		err = ctl.SetFilter(ctx(t), iface.Filter{CEL: `celsius > 1.0`})
		if iface.CodeOf(err) != iface.CodeInvalidFilter || !strings.Contains(err.Error(), "at 1:1") {
			t.Fatalf("an invalid replacement: %v, want invalid_filter at 1:1", err)
		}
		step(20)
		expect(21, 23, 25, 27, 29) // the old filter stayed
		if err := ctl.SetFilter(ctx(t), iface.Filter{}); err != nil {
			t.Fatal(err)
		}
		step(30)
		expect(30, 31, 32, 33, 34, 35, 36, 37, 38, 39)
	})
}

// bus is a schema-only topic interface whose slow-subscriber policy is
// onExhausted, with credits 64 (more than a test publishes).
func bus(t testing.TB, onExhausted string) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse("bus.yaml", []byte(`ifkit: 1
name: test.bus
version: 1.0.0
direction: send
codecs: [json]
messages:
  send:
    Notice:
      schema:
        type: object
        properties:
          program: {type: string}
          n: {type: integer}
      filter_fields: [program, n]
flow: {credits: 64, max_message_bytes: 1024, on_exhausted: `+onExhausted+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitSubscribers waits until the topic has n subscribers.
func waitSubscribers(t testing.TB, topic *iface.Topic, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for topic.Subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", topic.Subscribers(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTopicFanOut: 1000 subscribers with different filters, and one that
// never grants credit among them: each gets exactly its messages, in
// order, and the stalled one stalls nobody (drop_oldest).
func TestTopicFanOut(t *testing.T) {
	m := load(t, "sensors.temperature.yaml")
	srv, addr := serve(t, "mem", iface.Interface{Manifest: m})
	topic := srv.Topic("sensors.temperature")
	const subs, probes, msgs = 1000, 100, 300
	var conns []*iface.Conn
	var clients []*iface.Client
	for i := range subs {
		if i%250 == 0 {
			clients = append(clients, dial(t, addr))
		}
		f := iface.Filter{CEL: fmt.Sprintf(`probe == "p%d"`, i%probes)}
		if i%2 == 1 {
			f = iface.Filter{Structured: fmt.Sprintf(`{"field":"probe","in":["p%d","p%d"]}`, i%probes, (i+1)%probes)}
		}
		codec := []string{"proto", "json"}[i%3%2]
		c, err := clients[len(clients)-1].Connect(ctx(t), "sensors.temperature", iface.WithFilter(f), iface.WithCodec(codec))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	stalled, err := clients[0].Connect(ctx(t), "sensors.temperature", iface.WithPullMode())
	if err != nil {
		t.Fatal(err)
	}
	waitSubscribers(t, topic, subs+1)
	for j := range msgs {
		res, err := topic.Publish(ctx(t), "Reading", reading(fmt.Sprintf("p%d", j%probes), "north", j))
		if err != nil {
			t.Fatal(err)
		}
		if res.Subscribers != subs+1 {
			t.Fatalf("publish %d: %+v", j, res)
		}
	}
	for i, c := range conns {
		var want []int
		for j := range msgs {
			p := j % probes
			if p == i%probes || i%2 == 1 && p == (i+1)%probes {
				want = append(want, j)
			}
		}
		for _, w := range want {
			msg, err := c.Recv(ctx(t))
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			if got := celsiusOf(t, msg); got != w {
				t.Fatalf("subscriber %d got %d, want %d", i, got, w)
			}
		}
		if st := c.Stats(); st.ReceivedMessages != uint64(len(want)) {
			t.Fatalf("subscriber %d received %d, want %d", i, st.ReceivedMessages, len(want))
		}
	}
	st := topic.Stats()
	if st.Published != msgs || st.Sent+st.FilteredOut+st.Dropped != msgs*(subs+1) {
		t.Errorf("topic stats %+v", st)
	}
	if stalled.Stats().ReceivedMessages != 0 {
		t.Error("the stalled subscriber received without credit")
	}
	for _, c := range conns {
		c.Close("done")
	}
	stalled.Close("done")
	waitSubscribers(t, topic, 0)
	if res, err := topic.Publish(ctx(t), "Reading", reading("p1", "north", 1)); err != nil || res.Subscribers != 0 {
		t.Fatalf("publish with no subscribers: %+v, %v", res, err)
	}
}

// TestTopicStalledSubscriber: a subscriber that grants no credit under each
// slow-subscriber policy, beside one that reads.
func TestTopicStalledSubscriber(t *testing.T) {
	for _, policy := range []string{"block", "drop_newest", "drop_oldest", "error"} {
		t.Run(policy, func(t *testing.T) {
			srv, addr := serve(t, "mem", iface.Interface{Manifest: bus(t, policy)})
			topic := srv.Topic("test.bus")
			cl := dial(t, addr)
			stalled, err := cl.Connect(ctx(t), "test.bus", iface.WithPullMode())
			if err != nil {
				t.Fatal(err)
			}
			fast, err := cl.Connect(ctx(t), "test.bus", iface.WithFilter(iface.Filter{CEL: `program == "a"`}))
			if err != nil {
				t.Fatal(err)
			}
			waitSubscribers(t, topic, 2)
			const n = 20
			pctx, cancel := context.WithTimeout(ctx(t), 300*time.Millisecond)
			defer cancel()
			var perr error
			var total iface.PublishResult
			for i := range n {
				res, err := topic.Publish(pctx, "Notice", map[string]any{"program": "a", "n": i})
				total.Sent += res.Sent
				total.Dropped += res.Dropped
				total.Ended += res.Ended
				if err != nil {
					perr = err
					break
				}
			}
			switch policy {
			case "block":
				if !errors.Is(perr, context.DeadlineExceeded) {
					t.Fatalf("block: Publish returned %v, want it to wait for the stalled subscriber until its deadline", perr)
				}
				stalled.Request(100) // credit comes: the next publish goes through
				if _, err := topic.Publish(ctx(t), "Notice", map[string]any{"program": "a", "n": 99}); err != nil {
					t.Fatal(err)
				}
				return
			case "drop_newest":
				if perr != nil || total.Dropped != n {
					t.Fatalf("drop_newest: %v, %+v; want every message dropped for the stalled one", perr, total)
				}
			case "drop_oldest":
				if perr != nil || total.Sent != 2*n {
					t.Fatalf("drop_oldest: %v, %+v", perr, total)
				}
			case "error":
				if perr != nil || total.Ended != 1 {
					t.Fatalf("error: %v, %+v; want the stalled one ended once", perr, total)
				}
				<-stalled.Done()
				if iface.CodeOf(stalled.Err()) != iface.CodeSlowSubscriber {
					t.Fatalf("the stalled subscriber ended with %v, want slow_subscriber", stalled.Err())
				}
			}
			for i := range n {
				msg, err := fast.Recv(ctx(t))
				if err != nil {
					t.Fatal(err)
				}
				var v struct{ N int }
				json.Unmarshal(jsonOf(t, msg), &v)
				if v.N != i {
					t.Fatalf("the reading subscriber got %d, want %d", v.N, i)
				}
			}
			stalled.Close("done")
			fast.Close("done")
		})
	}
}

// TestFilteredOutUsesNoCredit: a pull-mode subscriber that grants 3
// credits gets the 3 matching messages of 30; the 27 others used none
// (nothing was dropped for want of credit, nothing is queued).
func TestFilteredOutUsesNoCredit(t *testing.T) {
	m := load(t, "sensors.temperature.yaml")
	sent := make(chan error, 1)
	_, addr := serve(t, "mem", iface.Interface{Manifest: m, OnConnect: func(ctx context.Context, c *iface.Conn) {
		for i := range 30 {
			zone := "south"
			if i%10 == 9 {
				zone = "north"
			}
			if err := c.Send(ctx, "Reading", reading("p", zone, i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}})
	cl := dial(t, addr)
	conn, err := cl.Connect(ctx(t), "sensors.temperature", iface.WithPullMode(), iface.WithFilter(iface.Filter{CEL: `zone == "north"`}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close("done")
	conn.Request(3)
	for _, w := range []int{9, 19, 29} {
		msg, err := conn.Recv(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := celsiusOf(t, msg); got != w {
			t.Fatalf("got %d, want %d", got, w)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	ctl, err := cl.Control(ctx(t), "sensors.temperature", iface.AttachTo(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	st, err := ctl.Stats(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.FilteredOut != 27 || st.Matched != 3 || st.Dropped != 0 || st.Queued != 0 || st.CreditsHeld != 0 {
		t.Errorf("server stats %+v: want 27 filtered out, 3 matched, none dropped or queued, no credit left", st)
	}
}
