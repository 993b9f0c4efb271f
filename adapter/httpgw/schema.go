package httpgw

import (
	"encoding/json"
	"regexp"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ifkit/ifkit/manifest"
)

// schemas builds the components/schemas section shared by the OpenAPI and
// AsyncAPI documents of one interface: one schema per message type, named
// as the type, and one per protobuf message those reach, named by its full
// name.
type schemas struct {
	out map[string]any
	raw map[string]map[string]any // the manifest's JSON Schemas by type name, from its canonical form
}

// newSchemas reads the JSON Schemas of m's types from its canonical form,
// where they are embedded whole.
func newSchemas(m *manifest.Manifest) *schemas {
	s := &schemas{out: map[string]any{}, raw: map[string]map[string]any{}}
	var doc struct {
		Messages map[string]map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"messages"`
	}
	if json.Unmarshal(m.Canonical(), &doc) == nil {
		for _, types := range doc.Messages {
			for name, t := range types {
				if t.Schema != nil {
					s.raw[name] = t.Schema
				}
			}
		}
	}
	return s
}

// componentName makes a name fit an OpenAPI component key
// (^[a-zA-Z0-9.\-_]+$).
func componentName(s string) string {
	return badComponentChar.ReplaceAllString(s, "_")
}

var badComponentChar = regexp.MustCompile(`[^a-zA-Z0-9.\-_]`)

// ref returns a reference to the component name.
func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + componentName(name)}
}

// typeRef adds the schema of message type t to the components and returns
// a reference to it. A type with a JSON Schema is described by it, as it
// is; a type with only a protobuf definition by its JSON mapping; a type
// with neither (raw bytes) as a base64 string.
func (s *schemas) typeRef(t *manifest.MessageType) map[string]any {
	name := componentName(t.Name)
	if _, done := s.out[name]; done {
		return ref(name)
	}
	var sch map[string]any
	switch {
	case s.raw[t.Name] != nil:
		sch = rebase(s.raw[t.Name], "#/components/schemas/"+name).(map[string]any)
	case t.Proto != nil:
		sch = map[string]any{"$ref": ref(string(t.Proto.FullName()))["$ref"]}
		s.message(t.Proto)
	default:
		sch = map[string]any{"type": "string", "contentEncoding": "base64"}
	}
	if t.Description != "" {
		sch["description"] = t.Description
	}
	if len(t.Examples) > 0 {
		ex := make([]json.RawMessage, len(t.Examples))
		for i, e := range t.Examples {
			ex[i] = e
		}
		sch["examples"] = ex
	}
	s.out[name] = sch
	return ref(name)
}

// rebase copies a JSON Schema, making every reference inside it ("#/…",
// meant from the schema's root) point from base, where the schema now
// lives in the document.
func rebase(v any, base string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if r, ok := e.(string); ok && k == "$ref" && (r == "#" || strings.HasPrefix(r, "#/")) {
				out[k] = base + strings.TrimPrefix(r, "#")
				continue
			}
			out[k] = rebase(e, base)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = rebase(e, base)
		}
		return out
	}
	return v
}

// message adds the JSON mapping of protobuf message md, and of every
// message it reaches, to the components.
func (s *schemas) message(md protoreflect.MessageDescriptor) {
	name := componentName(string(md.FullName()))
	if _, done := s.out[name]; done {
		return
	}
	if wk := wellKnown(md); wk != nil {
		s.out[name] = wk
		return
	}
	sch := map[string]any{"type": "object"}
	s.out[name] = sch // before the fields, for recursive messages
	if c := comment(md); c != "" {
		sch["description"] = c
	}
	props := map[string]any{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		fs := s.field(fd)
		if c := comment(fd); c != "" {
			fs["description"] = c
		}
		props[fd.JSONName()] = fs
	}
	sch["properties"] = props
}

// field returns the JSON mapping of one field: a list for a repeated
// field, an object for a map, the value's mapping otherwise.
func (s *schemas) field(fd protoreflect.FieldDescriptor) map[string]any {
	switch {
	case fd.IsMap():
		return map[string]any{"type": "object", "additionalProperties": s.value(fd.MapValue())}
	case fd.IsList():
		return map[string]any{"type": "array", "items": s.value(fd)}
	}
	return s.value(fd)
}

// value returns the protojson mapping of one value of fd's kind
// (https://protobuf.dev/programming-guides/json/).
func (s *schemas) value(fd protoreflect.FieldDescriptor) map[string]any {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}
	case protoreflect.StringKind:
		return map[string]any{"type": "string"}
	case protoreflect.BytesKind:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer", "format": "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return map[string]any{"type": "integer", "format": "uint32", "minimum": 0}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// protojson writes 64-bit integers as strings, and reads either.
		return map[string]any{"type": []any{"string", "integer"}, "format": "int64", "pattern": `^-?[0-9]+$`}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"type": []any{"string", "integer"}, "format": "uint64", "pattern": `^[0-9]+$`}
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "number"},
			map[string]any{"enum": []any{"NaN", "Infinity", "-Infinity"}},
		}}
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return map[string]any{"type": "null"}
		}
		var names []any
		for i := 0; i < ed.Values().Len(); i++ {
			names = append(names, string(ed.Values().Get(i).Name()))
		}
		out := map[string]any{"type": "string", "enum": names}
		if c := comment(ed); c != "" {
			out["description"] = c
		}
		return out
	case protoreflect.MessageKind, protoreflect.GroupKind:
		s.message(fd.Message())
		return ref(string(fd.Message().FullName()))
	}
	return map[string]any{}
}

// wellKnown returns the special JSON mapping of a well-known type, or nil.
func wellKnown(md protoreflect.MessageDescriptor) map[string]any {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return map[string]any{"type": "string", "format": "date-time"}
	case "google.protobuf.Duration":
		return map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]{1,9})?s$`, "description": "seconds with an s suffix: 1.5s"}
	case "google.protobuf.FieldMask":
		return map[string]any{"type": "string", "description": "comma-separated field paths"}
	case "google.protobuf.Struct":
		return map[string]any{"type": "object"}
	case "google.protobuf.Value":
		return map[string]any{}
	case "google.protobuf.ListValue":
		return map[string]any{"type": "array"}
	case "google.protobuf.Empty":
		return map[string]any{"type": "object", "maxProperties": 0}
	case "google.protobuf.Any":
		return map[string]any{"type": "object", "required": []any{"@type"}, "properties": map[string]any{"@type": map[string]any{"type": "string"}}}
	case "google.protobuf.BoolValue":
		return map[string]any{"type": "boolean"}
	case "google.protobuf.StringValue":
		return map[string]any{"type": "string"}
	case "google.protobuf.BytesValue":
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	case "google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return map[string]any{"type": "integer"}
	case "google.protobuf.Int64Value", "google.protobuf.UInt64Value":
		return map[string]any{"type": []any{"string", "integer"}, "pattern": `^-?[0-9]+$`}
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return map[string]any{"type": "number"}
	}
	return nil
}

// comment returns the leading comment of a descriptor, if its file kept
// source information.
func comment(d protoreflect.Descriptor) string {
	f := d.ParentFile()
	if f == nil {
		return ""
	}
	return strings.TrimSpace(f.SourceLocations().ByDescriptor(d).LeadingComments)
}
