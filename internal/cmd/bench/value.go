package bench

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/internal/cmdutil"
	"github.com/ifkit/ifkit/manifest"
)

// value returns what bench sends as a message of type t of m over a
// connection with codec c, and its encoded size: the type's first example
// (a zero value for a protobuf type without one, a value made from the
// JSON Schema of a type with neither), with its first bytes or string
// field filled with size bytes when size >= 0.
func value(m *manifest.Manifest, t *manifest.MessageType, c codec.Codec, size int) (any, int, error) {
	var v any
	switch {
	case c.Name() == codec.NameRaw:
		b := []byte{}
		if len(t.Examples) > 0 {
			b = t.Examples[0]
		}
		if size >= 0 {
			b = filler(size)
		}
		v = b
	case t.Proto != nil:
		msg := t.New()
		if len(t.Examples) > 0 {
			if err := protojson.Unmarshal(t.Examples[0], msg); err != nil {
				return nil, 0, fmt.Errorf("type %s: its first example does not fit %s: %v", t.Name, t.Proto.FullName(), err)
			}
		}
		if size >= 0 {
			if err := fill(msg.ProtoReflect(), size); err != nil {
				return nil, 0, fmt.Errorf("type %s: %w", t.Name, err)
			}
		}
		v = msg
	default:
		if size >= 0 {
			return nil, 0, fmt.Errorf("--size needs a type with a protobuf definition; %s has only a JSON Schema", t.Name)
		}
		vals, why := cmdutil.SampleValues(m, t)
		for _, s := range vals {
			if j, ok := s.(json.RawMessage); ok {
				v = j
				break
			}
		}
		if v == nil {
			return nil, 0, fmt.Errorf("type %s: nothing to send: %s", t.Name, why)
		}
	}
	data, err := c.Append(nil, &t.Type, v)
	if err != nil {
		return nil, 0, fmt.Errorf("type %s: %w", t.Name, err)
	}
	return v, len(data), nil
}

// fill sets the message's first singular bytes or string field to size bytes.
func fill(m protoreflect.Message, size int) error {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.IsList() || f.IsMap() {
			continue
		}
		switch f.Kind() {
		case protoreflect.BytesKind:
			m.Set(f, protoreflect.ValueOfBytes(filler(size)))
			return nil
		case protoreflect.StringKind:
			m.Set(f, protoreflect.ValueOfString(strings.Repeat("x", size)))
			return nil
		}
	}
	return fmt.Errorf("--size needs a bytes or string field to fill; %s has none", m.Descriptor().FullName())
}

// filler returns n bytes of a repeating pattern.
func filler(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}
