package filter

import (
	"fmt"
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ifkit/ifkit/manifest"
)

// declare makes the CEL environment of a message type: one variable per
// top-level field, typed from the protobuf descriptor or the JSON Schema.
func declare(t *manifest.MessageType, maxBytes int) (map[string]*field, *cel.Env, error) {
	opts := []cel.EnvOption{cel.ParserExpressionSizeLimit(MaxTextBytes)}
	fields := map[string]*field{}
	switch {
	case t.Proto != nil:
		opts = append(opts, cel.TypeDescs(files(t.Proto.ParentFile())...), cel.DeclareContextProto(t.Proto))
		fs := t.Proto.Fields()
		for i := range fs.Len() {
			fd := fs.Get(i)
			name := string(fd.Name())
			fields[name] = &field{name: name, fd: fd,
				allowed: slices.Contains(t.FilterFields, name) || slices.Contains(t.FilterFields, fd.JSONName())}
		}
	case t.Schema != nil:
		for name, s := range t.Schema.Properties {
			ct, kind := schemaType(s)
			fields[name] = &field{name: name, celType: ct, kind: kind, allowed: slices.Contains(t.FilterFields, name)}
			opts = append(opts, cel.Variable(name, ct))
		}
	default:
		return nil, nil, fmt.Errorf("type %s has neither a proto nor a schema: it has no fields", t.Name)
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, nil, err
	}
	if t.Proto != nil {
		full := string(t.Proto.FullName())
		for name, fl := range fields {
			ft, ok := env.CELTypeProvider().FindStructFieldType(full, name)
			if !ok {
				return nil, nil, fmt.Errorf("CEL does not see field %s of %s", name, full)
			}
			fl.celType, fl.get = ft.Type, ft.GetFrom
		}
	}
	return fields, env, nil
}

// files returns f and every file it imports, transitively.
func files(f protoreflect.FileDescriptor) []any {
	seen := map[string]bool{}
	var out []any
	var walk func(protoreflect.FileDescriptor)
	walk = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imps := f.Imports()
		for i := range imps.Len() {
			walk(imps.Get(i).FileDescriptor)
		}
		out = append(out, f)
	}
	walk(f)
	return out
}

// schemaType is the CEL type of a property's JSON Schema, and its one JSON
// type if it has exactly one: string, integer, number, boolean, object and
// array map to CEL's string, int, double, bool, map(string, dyn) and
// list(dyn); an enum or const of strings only is a string; anything else
// is dyn.
func schemaType(s *jsonschema.Schema) (*cel.Type, string) {
	for s != nil && s.Ref != nil && len(s.Types) == 0 && len(s.Enum) == 0 {
		s = s.Ref
	}
	if s == nil {
		return cel.DynType, ""
	}
	kind := ""
	if len(s.Types) == 1 {
		kind = s.Types[0]
	} else if len(s.Types) == 0 && (len(s.Enum) > 0 || len(s.Constant) > 0) {
		vals := s.Enum
		if len(s.Constant) > 0 {
			vals = s.Constant[:1]
		}
		kind = "string"
		for _, v := range vals {
			if _, ok := v.(string); !ok {
				kind = ""
			}
		}
	}
	switch kind {
	case "string":
		return cel.StringType, kind
	case "integer":
		return cel.IntType, kind
	case "number":
		return cel.DoubleType, kind
	case "boolean":
		return cel.BoolType, kind
	case "object":
		return cel.MapType(cel.StringType, cel.DynType), kind
	case "array":
		return cel.ListType(cel.DynType), kind
	}
	return cel.DynType, ""
}
