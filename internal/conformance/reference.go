package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	manifests "github.com/ifkit/ifkit/testdata/manifests"
)

// The reference server is the real iface.Server hosting the example
// interfaces of testdata/manifests with small deterministic handlers, so a
// client's tests of normal operation run against the Go implementation of
// the same commit:
//
//   - db.kv: Get answers Value {key, found: true when key starts with
//     "config/", value, revision "41"}; Put answers Ack {revision "42",
//     applied}; Scan streams `limit` Rows (default 3), keys start+"0", …, then
//     END.
//   - jobs.queue: Submit answers Accepted {id: "job-" + kind}.
//   - sensors.temperature, events.topic, blob.stream: stream their examples
//     in turn (every 2 ms) from the moment a client connects; reset restarts
//     blob.stream's count.
//   - logs.sink: takes every Record (see its stats for the count).
//   - conformance.echo (duplex, json, every control operation): Ask answers
//     Reply with the request's JSON; Scan streams n Replies {"i": 1…n}; Tell
//     is taken silently; the server sends no Note of its own.
//
// With a secret, the server requires the shared-secret exchange and hosts
// only conformance.auth: conformance.echo with message_auth: hmac-sha256.
func newReference(secret []byte) (*iface.Server, error) {
	var opts []iface.ServerOption
	if secret != nil {
		opts = append(opts, iface.WithSecret(secret))
	}
	s := iface.NewServer(opts...)
	if secret != nil {
		m, err := echoManifest("conformance.auth", true)
		if err != nil {
			return nil, err
		}
		return s, s.Register(echoInterface(m))
	}
	load := func(file string) (*manifest.Manifest, error) {
		b, err := fs.ReadFile(manifests.FS, file)
		if err != nil {
			return nil, err
		}
		return manifest.Parse(file, b, manifest.WithFS(manifests.FS))
	}
	for _, file := range []string{"db.kv.yaml", "jobs.queue.yaml", "sensors.temperature.yaml", "events.topic.yaml", "blob.stream.yaml", "logs.sink.yaml"} {
		m, err := load(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		i := iface.Interface{Manifest: m, OnReset: func(context.Context, *iface.Conn, string) error { return nil }}
		switch m.Name {
		case "db.kv":
			i.Handlers = kvHandlers()
		case "jobs.queue":
			i.Handlers = map[string]iface.Handler{"Submit": func(ctx context.Context, req *iface.Message) error {
				var v struct{ Kind string }
				if err := decodeJSON(req, &v); err != nil {
					return err
				}
				return req.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"id":%q}`, "job-"+v.Kind)))
			}}
		case "logs.sink":
			i.CatchAll = func(context.Context, *iface.Message) error { return nil }
		default:
			i.OnConnect = streamExamples
		}
		if err := s.Register(i); err != nil {
			return nil, err
		}
	}
	m, err := echoManifest("conformance.echo", false)
	if err != nil {
		return nil, err
	}
	return s, s.Register(echoInterface(m))
}

// echoManifest is scenario.yaml with every control operation.
func echoManifest(name string, auth bool) (*manifest.Manifest, error) {
	m, err := scenarioManifest(name, auth)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func echoInterface(m *manifest.Manifest) iface.Interface {
	return iface.Interface{
		Manifest: m,
		Handlers: map[string]iface.Handler{
			"Ask": func(ctx context.Context, req *iface.Message) error {
				return req.Reply(ctx, json.RawMessage(req.Data))
			},
			"Scan": func(ctx context.Context, req *iface.Message) error {
				var v struct{ N int }
				if err := json.Unmarshal(req.Data, &v); err != nil {
					return err
				}
				for i := 1; i <= v.N; i++ {
					if err := req.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))); err != nil {
						return err
					}
				}
				return req.End(ctx)
			},
			"Tell": func(context.Context, *iface.Message) error { return nil },
		},
		OnReset: func(context.Context, *iface.Conn, string) error { return nil },
	}
}

func decodeJSON(m *iface.Message, v any) error {
	var raw json.RawMessage
	if err := m.Decode(&raw); err != nil {
		// the proto codec: Decode into JSON via the message's protobuf type
		dm := m.Type.New()
		if err := m.Decode(dm); err != nil {
			return err
		}
		b, err := protojson.Marshal(dm)
		if err != nil {
			return err
		}
		raw = b
	}
	return json.Unmarshal(raw, v)
}

func kvHandlers() map[string]iface.Handler {
	return map[string]iface.Handler{
		"Get": func(ctx context.Context, req *iface.Message) error {
			var v struct{ Key string }
			if err := decodeJSON(req, &v); err != nil {
				return err
			}
			found := len(v.Key) >= 7 && v.Key[:7] == "config/"
			if !found {
				return req.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"key":%q,"found":false}`, v.Key)))
			}
			return req.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"key":%q,"found":true,"value":"eyJ0YXJnZXQiOjIxLjV9","revision":"41"}`, v.Key)))
		},
		"Put": func(ctx context.Context, req *iface.Message) error {
			return req.Reply(ctx, json.RawMessage(`{"revision":"42","applied":true}`))
		},
		"Scan": func(ctx context.Context, req *iface.Message) error {
			var v struct {
				Start string
				Limit int
			}
			if err := decodeJSON(req, &v); err != nil {
				return err
			}
			if v.Limit == 0 {
				v.Limit = 3
			}
			for i := 0; i < v.Limit; i++ {
				if err := req.Reply(ctx, json.RawMessage(fmt.Sprintf(`{"key":"%s%d","value":"eA==","revision":"%d"}`, v.Start, i, i+1))); err != nil {
					return err
				}
			}
			return req.End(ctx)
		},
	}
}

// streamExamples sends the first send type's examples in turn until the
// connection ends.
func streamExamples(ctx context.Context, c *iface.Conn) {
	m := c.Manifest()
	t := m.Send[0]
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		var v any = []byte(fmt.Sprintf("blob %d", i))
		if len(t.Examples) > 0 && c.Codec().Name() != "raw" {
			v = json.RawMessage(t.Examples[i%len(t.Examples)])
		}
		if err := c.Send(ctx, t.Name, v); err != nil && ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
