package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// MaxParamsBytes bounds a connection's parameters in JSON form: they travel
// in the stream handshake, itself at most 64 KiB (spec/PROTOCOL.md §4.2).
const MaxParamsBytes = 32 << 10

// Params declares the parameters a client opens a connection with
// (spec/MANIFEST.md §3.3, the `params` field): one JSON value, checked
// against Schema by the server before the connection exists and handed to
// the interface's per-connection handler factory (iface.Interface.Spawn),
// as Erlang's spawn hands its arguments to a process.
type Params struct {
	Description string
	Schema      *jsonschema.Schema
	Examples    [][]byte // JSON values, each valid for Schema
	value       any      // the schema as written, for the canonical form
}

// Check validates raw, a connection's parameters in JSON, against the
// schema; empty raw stands for {} (no parameters given). The error says
// where the value is wrong: `at /window: must be >= 1`.
func (p *Params) Check(raw []byte) error {
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	if len(raw) > MaxParamsBytes {
		return fmt.Errorf("the parameters are %d bytes of JSON, over the %d allowed", len(raw), MaxParamsBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("the parameters are not JSON: %v", err)
	}
	if dec.More() {
		return errors.New("the parameters are more than one JSON value")
	}
	err := p.Schema.Validate(v)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var msgs []string
	for _, l := range leaves(ve) {
		at := l.InstanceLocation
		if at == "" {
			at = "/"
		}
		msgs = append(msgs, "at "+at+": "+l.Message)
	}
	return fmt.Errorf("the parameters do not match the interface's params schema: %s", strings.Join(msgs, "; "))
}

// params reads the manifest's `params` field, if any.
func (b *builder) params(m *Manifest) {
	pn := b.root.field("params")
	if pn == nil {
		return
	}
	p := &Params{}
	if d := pn.field("description"); d != nil {
		p.Description = d.text
	}
	value, sch := b.compileSchema("mem:///params.schema.json", "/params/schema", pn.field("schema"))
	if sch == nil {
		return
	}
	p.Schema, p.value = sch, value
	if ex := pn.field("examples"); ex != nil {
		for i, e := range ex.vals {
			data := encodeCanonical(e.value())
			p.Examples = append(p.Examples, data)
			for _, err := range schemaErrors(b.file, b.root, fmt.Sprintf("/params/examples/%d", i), sch.Validate(e.value()), nil) {
				err.Msg = "example does not match the params schema: " + err.Msg
				b.errs = append(b.errs, err)
			}
		}
	}
	m.Params = p
}

// canonicalParams is the params field of the canonical form.
func canonicalParams(p *Params) map[string]any {
	cp := map[string]any{"schema": p.value}
	putString(cp, "description", p.Description)
	if len(p.Examples) > 0 {
		examples := make([]json.RawMessage, len(p.Examples))
		for i, e := range p.Examples {
			examples[i] = e
		}
		cp["examples"] = examples
	}
	return cp
}
