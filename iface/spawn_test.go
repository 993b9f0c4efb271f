package iface_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// counter serves testdata/spawn/demo.counter.yaml: each connection's
// handler factory reads its parameters, typed, and the connection counts
// from them. start 13 is refused by the factory itself, with not_found.
func counter(t testing.TB) iface.Interface {
	m, err := manifest.Load(filepath.Join("..", "testdata", "spawn", "demo.counter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return iface.Interface{
		Manifest: m,
		Spawn: func(ctx context.Context, p iface.Params) (*iface.Spawned, error) {
			params := struct{ Start, Step int }{Step: 1}
			if err := p.Decode(&params); err != nil {
				return nil, err
			}
			if params.Start == 13 {
				return nil, &iface.RemoteError{Code: iface.CodeNotFound, Reason: "no counter starts at 13"}
			}
			return &iface.Spawned{OnConnect: func(ctx context.Context, c *iface.Conn) {
				for n := params.Start; ; n += params.Step {
					if c.Send(ctx, "Count", map[string]int{"n": n}) != nil {
						return
					}
				}
			}}, nil
		},
	}
}

func counts(t *testing.T, c *iface.Conn, k int) []int {
	t.Helper()
	var out []int
	for range k {
		m, err := c.Recv(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ N int }
		raw, err := m.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.N)
	}
	return out
}

func TestSpawnParams(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, addr := serve(t, tr, counter(t), sensors(t, 0))
		cl := dial(t, addr)
		a, err := cl.Connect(ctx(t), "demo.counter", iface.WithParams(map[string]int{"start": 10, "step": 5}))
		if err != nil {
			t.Fatal(err)
		}
		b, err := cl.Connect(ctx(t), "demo.counter") // none given: checked as {}
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(t, a, 3); got[0] != 10 || got[1] != 15 || got[2] != 20 {
			t.Fatalf("a counted %v, want 10 15 20", got)
		}
		if got := counts(t, b, 2); got[0] != 0 || got[1] != 1 {
			t.Fatalf("b counted %v, want 0 1", got)
		}
		for _, c := range []struct {
			iface  string
			params any
			code   iface.Code
			want   string
		}{
			{"demo.counter", map[string]int{"start": -1}, iface.CodeInvalidMessage, "at /start"},
			{"demo.counter", map[string]any{"start": "ten"}, iface.CodeInvalidMessage, "at /start"},
			{"demo.counter", map[string]int{"begin": 1}, iface.CodeInvalidMessage, "begin"},
			{"demo.counter", json.RawMessage(`[1,2]`), iface.CodeInvalidMessage, "params schema"},
			{"demo.counter", map[string]int{"start": 13}, iface.CodeNotFound, "no counter starts at 13"},
			{"sensors.temperature", map[string]int{"start": 1}, iface.CodeInvalidMessage, "takes no parameters"},
		} {
			_, err := cl.Connect(ctx(t), c.iface, iface.WithParams(c.params))
			var ce *iface.CloseError
			if !errors.As(err, &ce) || ce.Code != c.code || !strings.Contains(ce.Reason, c.want) {
				t.Errorf("%s with %v: %v, want %s mentioning %q", c.iface, c.params, err, c.code, c.want)
			}
		}
		// The session goes on after every refusal.
		if got := counts(t, a, 1); got[0] != 25 {
			t.Fatalf("a counted %v after the refusals, want 25", got)
		}
	})
}
