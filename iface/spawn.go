package iface

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/manifest"
)

// Params are the parameters a client opened a connection with (WithParams),
// checked against the manifest's params schema before Interface.Spawn sees
// them.
type Params struct{ raw json.RawMessage }

// JSON returns the parameters as the client sent them; {} when it sent none.
func (p Params) JSON() json.RawMessage {
	if len(p.raw) == 0 {
		return json.RawMessage("{}")
	}
	return p.raw
}

// Decode unmarshals the parameters into v (a struct matching the schema).
func (p Params) Decode(v any) error { return json.Unmarshal(p.JSON(), v) }

// Spawned is what Interface.Spawn makes for one connection: its handlers
// and its OnConnect, in place of the Interface's own.
type Spawned struct {
	Handlers  map[string]Handler
	CatchAll  Handler
	OnConnect func(ctx context.Context, c *Conn)
}

// errNoParams refuses parameters given to an interface that takes none.
const errNoParams errorString = "takes no parameters (its manifest has no params)"

// checkParams checks a connection's parameters against m's params schema.
func checkParams(m *manifest.Manifest, raw string) (Params, error) {
	if m.Params == nil {
		if raw != "" {
			return Params{}, fmt.Errorf("%s %w", m.Name, errNoParams)
		}
		return Params{}, nil
	}
	if err := m.Params.Check([]byte(raw)); err != nil {
		return Params{}, fmt.Errorf("%s: %w", m.Name, err)
	}
	return Params{raw: json.RawMessage(raw)}, nil
}

// spawn runs the interface's handler factory for a new connection and
// checks what it returns; the error refuses the stream, with the factory's
// code when it gave one (a *RemoteError), else internal.
func (s *Server) spawn(i *Interface, p Params) (*Spawned, Code, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	sp, err := i.Spawn(ctx, p)
	if err != nil {
		code := codes.Of(err)
		if !code.Known() || code == CodeOK {
			code = CodeInternal
		}
		return nil, code, fmt.Errorf("the server's handler factory for %s refused the connection: %w", i.Manifest.Name, err)
	}
	if sp == nil {
		sp = &Spawned{}
	}
	for name := range sp.Handlers {
		if t, ok := i.Manifest.Type(name); !ok || t.Direction != manifest.Recv {
			return nil, CodeInternal, fmt.Errorf("the server's handler factory for %s made a handler for %q, which is not a type the server receives", i.Manifest.Name, name)
		}
	}
	return sp, CodeOK, nil
}

// WithParams opens the connection with parameters (spawn parameters): v is
// marshalled to JSON (a json.RawMessage is sent as is) and checked by the
// server against the manifest's params schema, which refuses the stream
// with invalid_message and the place that is wrong; the server hands them
// to its per-connection handler factory (Interface.Spawn).
func WithParams(v any) ConnectOption {
	return connectOption(func(o *connectOptions) { o.params = v })
}

// paramsJSON encodes WithParams' value.
func paramsJSON(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("ifkit: WithParams: %w", err)
	}
	if len(b) > manifest.MaxParamsBytes {
		return "", fmt.Errorf("ifkit: WithParams: the parameters are %d bytes of JSON, over the %d allowed", len(b), manifest.MaxParamsBytes)
	}
	return string(b), nil
}
