package cmdutil

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/manifest"
)

// SampleValues returns values of t that pass its checks, for serve --mock
// to send, bench to time and describe to suggest: its examples; or else a
// few values made from its protobuf definition, or one minimal value made
// from its JSON Schema. When no valid value could be made, vals is nil and
// why says what failed.
func SampleValues(m *manifest.Manifest, t *manifest.MessageType) (vals []any, why string) {
	rawOnly := len(m.Codecs) == 1 && m.Codecs[0] == codec.NameRaw
	for _, e := range t.Examples {
		vals = append(vals, json.RawMessage(e))
	}
	if len(vals) > 0 {
		return vals, ""
	}
	if rawOnly || (t.Proto == nil && t.Schema == nil) {
		if slices.Contains(m.Codecs, codec.NameRaw) {
			return []any{[]byte(fmt.Sprintf("mock %s message", t.Name))}, ""
		}
		return []any{json.RawMessage(`{}`)}, ""
	}
	var candidates []string
	if t.Schema != nil {
		if b, err := json.Marshal(minimal(t.Schema, 0)); err == nil {
			candidates = append(candidates, string(b))
		}
	}
	if t.Proto != nil {
		// A few values with every field set, so a client sees fields change.
		var made []any
		for n := 1; n <= mockVariants; n++ {
			b, err := protojson.Marshal(fill(dynamicpb.NewMessage(t.Proto), n, 0))
			if err != nil {
				break
			}
			if _, err := SendValue(t, codec.NameJSON, b); err != nil {
				break
			}
			made = append(made, json.RawMessage(b))
		}
		if len(made) > 0 {
			return made, ""
		}
	}
	candidates = append(candidates, `{}`)
	var firstErr error
	for _, c := range candidates {
		if _, err := SendValue(t, codec.NameJSON, []byte(c)); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		return []any{json.RawMessage(c)}, ""
	}
	return nil, fmt.Sprintf("%s has no examples and no value made from its definition passes its checks (%v); add an example to the manifest", t.Name, firstErr)
}

// mockVariants is how many values SampleValues makes from a protobuf definition.
const mockVariants = 3

// maxFillDepth bounds how deep fill goes into nested messages.
const maxFillDepth = 3

// fill sets every field of m to a plausible value numbered n: strings name
// their field ("probe-1"), numbers are n, enums their first non-zero
// value, one item in lists and maps, the first field of each oneof, nested
// messages filled in turn (to maxFillDepth). Well-known types get values
// protojson accepts (a timestamp in 2026, a duration of n seconds).
func fill(m *dynamicpb.Message, n, depth int) *dynamicpb.Message {
	md := m.Descriptor()
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		m.Set(md.Fields().ByName("seconds"), protoreflect.ValueOfInt64(mockEpoch+int64(n)))
		return m
	case "google.protobuf.Duration":
		m.Set(md.Fields().ByName("seconds"), protoreflect.ValueOfInt64(int64(n)))
		return m
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any", "google.protobuf.FieldMask":
		return m // empty is valid; made-up contents might not be
	}
	if depth > maxFillDepth {
		return m
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() && o.Fields().Get(0) != fd {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			k := scalar(fd.MapKey(), n)
			if fd.MapValue().Message() != nil {
				v := mp.NewValue()
				fill(v.Message().(*dynamicpb.Message), n, depth+1)
				mp.Set(k.MapKey(), v)
			} else {
				mp.Set(k.MapKey(), scalar(fd.MapValue(), n))
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Message() != nil {
				v := l.NewElement()
				fill(v.Message().(*dynamicpb.Message), n, depth+1)
				l.Append(v)
			} else {
				l.Append(scalar(fd, n))
			}
		case fd.Message() != nil:
			fill(m.Mutable(fd).Message().(*dynamicpb.Message), n, depth+1)
		default:
			m.Set(fd, scalar(fd, n))
		}
	}
	return m
}

// mockEpoch is 2026-01-01T00:00:00Z, where mock timestamps start.
const mockEpoch = 1767225600

// scalar is the value numbered n of a non-message field.
func scalar(fd protoreflect.FieldDescriptor, n int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(n%2 == 1)
	case protoreflect.EnumKind:
		vals := fd.Enum().Values()
		if vals.Len() > 1 {
			return protoreflect.ValueOfEnum(vals.Get(1 + (n-1)%(vals.Len()-1)).Number())
		}
		return protoreflect.ValueOfEnum(vals.Get(0).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n))
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.5)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(fmt.Sprintf("mock %d", n)))
	}
	return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", fd.Name(), n))
}

// minimal builds a small value meant to satisfy s: constants, enums and
// defaults first, then the required properties of objects, the least items
// of arrays, strings of the least length. Patterns are not honoured; the
// caller checks the result.
func minimal(s *jsonschema.Schema, depth int) any {
	if s == nil || depth > 16 {
		return nil
	}
	switch {
	case len(s.Constant) > 0:
		return s.Constant[0]
	case len(s.Enum) > 0:
		return s.Enum[0]
	case s.Default != nil:
		return s.Default
	case s.Ref != nil:
		return minimal(s.Ref, depth+1)
	case len(s.AllOf) > 0:
		return minimal(s.AllOf[0], depth+1)
	case len(s.OneOf) > 0:
		return minimal(s.OneOf[0], depth+1)
	case len(s.AnyOf) > 0:
		return minimal(s.AnyOf[0], depth+1)
	}
	typ := ""
	if len(s.Types) > 0 {
		typ = s.Types[0]
	} else if len(s.Properties) > 0 || len(s.Required) > 0 {
		typ = "object"
	}
	switch typ {
	case "object":
		obj := map[string]any{}
		req := append([]string(nil), s.Required...)
		sort.Strings(req)
		for _, name := range req {
			obj[name] = minimal(s.Properties[name], depth+1)
		}
		return obj
	case "array":
		var items []any
		item, _ := s.Items.(*jsonschema.Schema)
		if s.Items2020 != nil {
			item = s.Items2020
		}
		for i := 0; i < s.MinItems; i++ {
			items = append(items, minimal(item, depth+1))
		}
		if items == nil {
			items = []any{}
		}
		return items
	case "string":
		switch s.Format {
		case "date-time":
			return "2026-01-01T00:00:00Z"
		case "date":
			return "2026-01-01"
		case "uuid":
			return "00000000-0000-0000-0000-000000000000"
		case "email":
			return "mock@example.com"
		case "uri":
			return "https://example.com/"
		}
		return strings.Repeat("x", max(s.MinLength, 0))
	case "integer", "number":
		switch {
		case s.Minimum != nil:
			return ratNumber(s.Minimum, typ == "integer")
		case s.ExclusiveMinimum != nil:
			return ratNumber(new(big.Rat).Add(s.ExclusiveMinimum, big.NewRat(1, 1)), typ == "integer")
		}
		return 0
	case "boolean":
		return false
	}
	return nil
}

func ratNumber(r *big.Rat, integer bool) any {
	if integer {
		q := new(big.Int).Quo(r.Num(), r.Denom())
		if new(big.Rat).SetInt(q).Cmp(r) < 0 {
			q.Add(q, big.NewInt(1))
		}
		return json.Number(q.String())
	}
	return json.Number(strings.TrimSuffix(strings.TrimRight(r.FloatString(6), "0"), "."))
}
