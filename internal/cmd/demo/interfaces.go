package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// exampleInterfaces gives each example manifest a small implementation.
// Records the log sink receives are passed to logged.
func exampleInterfaces(ms map[string]*manifest.Manifest, logged chan<- string) []iface.Interface {
	var out []iface.Interface
	for _, m := range ms {
		i := iface.Interface{Manifest: m}
		if m.Offers(manifest.OpReset) {
			i.OnReset = func(context.Context, *iface.Conn, string) error { return nil }
		}
		switch m.Name {
		case "sensors.temperature":
			i.OnConnect = sendReadings
		case "logs.sink":
			i.Handlers = map[string]iface.Handler{"Record": func(_ context.Context, msg *iface.Message) error {
				select {
				case logged <- string(msg.Data):
				default: // nobody is watching
				}
				return nil
			}}
		case "db.kv":
			i.Handlers = kvHandlers()
		case "jobs.queue":
			i.Handlers = map[string]iface.Handler{"Submit": func(ctx context.Context, msg *iface.Message) error {
				return msg.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"id":"job-%d"}`, msg.Seq)))
			}}
		case "http.api":
			i.Handlers = map[string]iface.Handler{"Request": func(ctx context.Context, msg *iface.Message) error {
				return msg.Reply(ctx, json.RawMessage(`{"status":200,"body":"hello from ifkit"}`))
			}}
		}
		out = append(out, i)
	}
	return out
}

// sendReadings streams five readings, as a greenhouse gateway would.
func sendReadings(ctx context.Context, c *iface.Conn) {
	start := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	for n := 0; n < 5; n++ {
		r := fmt.Sprintf(`{"probe":"p%d","celsius":%.2f,"time":%q,"zone":"north"}`,
			n%2+1, 20.5+float64(n)*0.25, start.Add(time.Duration(n)*time.Second).Format(time.RFC3339))
		if err := c.Send(ctx, "Reading", json.RawMessage(r)); err != nil {
			return
		}
	}
}

func kvHandlers() map[string]iface.Handler {
	store := map[string]string{"apple": "red", "banana": "yellow", "cherry": "dark red", "greeting": "hello"}
	keys := make([]string, 0, len(store))
	for k := range store {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return map[string]iface.Handler{
		"Get": func(ctx context.Context, msg *iface.Message) error {
			var req struct{ Key string }
			if err := msg.Decode(&req); err != nil {
				return err
			}
			_, found := store[req.Key]
			return msg.Reply(ctx, map[string]any{"key": req.Key, "found": found, "value": []byte(store[req.Key])})
		},
		"Put": func(ctx context.Context, msg *iface.Message) error {
			return msg.Reply(ctx, json.RawMessage(`{"applied":false}`))
		},
		"Scan": func(ctx context.Context, msg *iface.Message) error {
			var req struct {
				Start string
				Limit int
			}
			if err := msg.Decode(&req); err != nil {
				return err
			}
			n := 0
			for _, k := range keys {
				if k < req.Start || (req.Limit > 0 && n >= req.Limit) {
					continue
				}
				n++
				if err := msg.Reply(ctx, map[string]any{"key": k, "value": []byte(store[k])}); err != nil {
					return err
				}
			}
			return msg.End(ctx)
		},
	}
}
