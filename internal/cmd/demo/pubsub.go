package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// pubsub returns the tour's publish/subscribe step: three subscribers of
// events.topic with different filters, one Topic.Publish per event, and
// the server's counters proving what never crossed the socket.
func pubsub(srv *iface.Server) func(context.Context, io.Writer, *iface.Client, map[string]*manifest.Manifest) error {
	return func(ctx context.Context, out io.Writer, cl *iface.Client, ms map[string]*manifest.Manifest) error {
		heading(out, "7. Publish/subscribe: one Topic, three subscribers, filters evaluated at the server")
		topic := srv.Topic("events.topic")
		subs := []struct {
			name string
			f    iface.Filter
		}{
			{"irrigation", iface.Filter{CEL: `topic.startsWith("irrigation.")`}},
			{"alerts", iface.Filter{Structured: `{"field":"severity","in":["warning","critical"]}`}},
			{"everything", iface.Filter{}},
		}
		conns := make([]*iface.Conn, len(subs))
		for i, s := range subs {
			c, err := cl.Connect(ctx, "events.topic", iface.WithFilter(s.f))
			if err != nil {
				return err
			}
			defer c.Close("demo step done")
			conns[i] = c
			filter := s.f.CEL + s.f.Structured
			if filter == "" {
				filter = "(no filter)"
			}
			fmt.Fprintf(out, "   %-10s --filter %s\n", s.name, filter)
		}
		// A connection subscribes once the server has started it, which
		// can be just after the client's Connect returns.
		for topic.Subscribers() < len(subs) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		events := []string{
			`{"topic":"irrigation.valve.opened","severity":"info","source":"valve-2","time":"2026-11-22T09:30:00Z"}`,
			`{"topic":"climate.frost_warning","severity":"critical","source":"weather","time":"2026-11-22T03:12:45Z"}`,
			`{"topic":"irrigation.pump.failed","severity":"warning","source":"pump-1","time":"2026-11-22T09:31:00Z"}`,
			`{"topic":"lights.on","severity":"debug","source":"timer","time":"2026-11-22T06:00:00Z"}`,
		}
		for _, e := range events {
			if _, err := topic.Publish(ctx, "Event", json.RawMessage(e)); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "   published %d events (encoded once per codec, decoded once for all filters)\n", len(events))
		for i, c := range conns {
			ctl, err := cl.Control(ctx, "events.topic", iface.AttachTo(c))
			if err != nil {
				return err
			}
			st, err := ctl.Stats(ctx)
			ctl.Close()
			if err != nil {
				return err
			}
			var topics []string
			for range st.SentMessages {
				msg, err := c.Recv(ctx)
				if err != nil {
					return err
				}
				ev := msg.Type.New()
				if err := msg.Decode(ev); err != nil {
					return err
				}
				topics = append(topics, ev.ProtoReflect().Get(ev.ProtoReflect().Descriptor().Fields().ByName("topic")).String())
			}
			fmt.Fprintf(out, "   %-10s got %v; the server sent %d, filtered out %d (never on the socket)\n", subs[i].name, topics, st.SentMessages, st.FilteredOut)
		}
		return nil
	}
}
