package codec

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// jsonCodec is the JSON codec.
type jsonCodec struct{}

// JSON returns the JSON codec, named "json".
//
// Append takes:
//   - a proto.Message (of t.Proto's type when t has one), encoded with the
//     canonical protobuf JSON mapping (protojson: lowerCamelCase names,
//     zero-valued scalars included so that schemas requiring them pass);
//   - JSON text as a []byte or json.RawMessage, which must be one valid JSON
//     value and is appended compacted;
//   - any other Go value, marshalled with encoding/json (so a string becomes a
//     JSON string, not JSON text).
//
// Unmarshal stores into:
//   - a proto.Message (of t.Proto's type when t has one), as protojson
//     decodes it; unknown fields are an error, and after any error the
//     message's contents are unspecified;
//   - a *json.RawMessage or *[]byte: a copy of data, unmodified (reusing the
//     slice's capacity);
//   - a *any: the value as encoding/json decodes it with UseNumber (objects
//     are map[string]any, numbers json.Number);
//   - any other non-nil pointer, with encoding/json.
//
// Both check the JSON value against t: against t.Schema when it is set, else
// against t.Proto (the value must decode into a message of that type), else
// only that it is one well-formed JSON value; a nil t is allowed and checks
// nothing more. Schema failures name the failing field in [Error.Path].
// JSON text must be UTF-8, nested no deeper than [MaxJSONDepth], and its
// numbers' exponents within ±1000 (which bounds the cost of checking numbers
// against a schema); this is checked before any decoding.
//
// The output of Append for a proto.Message is compact, so it is stable
// within one build, but it may change between versions: compare decoded
// values, never bytes.
//
// For a protobuf type without a schema, the common proto3 shapes (scalars,
// enums, nested and repeated messages, maps, the wrapper types) are checked,
// decoded and encoded in one pass over the text, without protojson and
// without allocating beyond the decoded values; anything else (other
// well-known types, proto2, escapes in names, numbers in unusual forms, …)
// goes through protojson, whose verdict and errors are the rule for both.
//
// Against a JSON Schema the text is checked in one walk, without decoding
// it, for the common keywords (type, enum and const of strings, booleans and
// null, the number bounds, string lengths and patterns, properties,
// required, additional and pattern properties, items, the counts, $ref,
// allOf, anyOf, oneOf, not, if/then/else); a subschema with other keywords
// is checked by jsonschema on its value alone. What the walk cannot prove
// valid is validated by jsonschema on the whole value, whose verdict and
// errors are the rule.
func JSON() Codec { return (*jsonCodec)(nil) }

// Name returns "json".
func (*jsonCodec) Name() string { return NameJSON }

// Append checks v against t and appends its JSON encoding to dst.
func (c *jsonCodec) Append(dst []byte, t *Type, v any) ([]byte, error) {
	if m, ok := v.(proto.Message); ok {
		return c.appendProto(dst, t, m)
	}
	text, ok := jsonText(v)
	if !ok {
		var err error
		text, err = json.Marshal(v)
		if err != nil {
			var unsupported *json.UnsupportedTypeError
			if errors.As(err, &unsupported) {
				err = fmt.Errorf("%w: %w", ErrTypeMismatch, err)
			}
			return dst, newError(NameJSON, t, "", err)
		}
	}
	if err := checkText(text); err != nil {
		return dst, newError(NameJSON, t, "", err)
	}
	if err := validateText(t, text); err != nil {
		return dst, err
	}
	n := len(dst)
	dst = append(dst, text...)
	return dst[:n+len(compactInPlace(dst[n:]))], nil
}

// appendProto appends the protojson encoding of m to dst.
func (*jsonCodec) appendProto(dst []byte, t *Type, m proto.Message) ([]byte, error) {
	r := m.ProtoReflect()
	if t.protoDesc() != nil {
		if err := t.checkMessageType(r.Descriptor()); err != nil {
			return dst, newError(NameJSON, t, "", err)
		}
	}
	n := len(dst)
	out, ok := protoJSONAppend(dst, r)
	text := out[n:]
	if !ok {
		var err error
		out, err = protojson.MarshalOptions{EmitDefaultValues: true}.MarshalAppend(dst, m)
		if err != nil {
			return dst, newError(NameJSON, t, "", err)
		}
		// protojson's output has randomly varying whitespace; take it out.
		text = compactInPlace(out[n:])
		if err := scan(text); err != nil {
			return dst, newError(NameJSON, t, "", err)
		}
	}
	if t.schema() != nil {
		if err := validateText(t, text); err != nil {
			return dst, err
		}
	}
	return out[:n+len(text)], nil
}

// Unmarshal decodes JSON data, checks it against t and stores it in v.
func (c *jsonCodec) Unmarshal(data []byte, t *Type, v any) error {
	if m, ok := v.(proto.Message); ok {
		return c.unmarshalProto(data, t, m)
	}
	// Refuse the value kinds we cannot store into before doing any work.
	switch p := v.(type) {
	case *json.RawMessage, *[]byte, *any:
		if reflect.ValueOf(p).IsNil() {
			return newError(NameJSON, t, "", fmt.Errorf("%w: got nil %T", ErrTypeMismatch, v))
		}
	default:
		if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
			return newError(NameJSON, t, "", fmt.Errorf("%w: got Go value of type %T, want a proto.Message or a non-nil pointer", ErrTypeMismatch, v))
		}
	}
	switch p := v.(type) {
	case *json.RawMessage:
		if err := CheckJSON(data, t); err != nil {
			return err
		}
		*p = append((*p)[:0], data...)
		return nil
	case *[]byte:
		if err := CheckJSON(data, t); err != nil {
			return err
		}
		*p = append((*p)[:0], data...)
		return nil
	}
	if err := checkUTF8(data); err != nil {
		return newError(NameJSON, t, "", err)
	}
	// Against a schema, the walk first (it applies scan's limits itself):
	// a value it proves valid is decoded once, into v, and not at all into
	// an any for jsonschema.
	checked := t.schema() != nil && schemaValid(t, data)
	if !checked {
		if err := scan(data); err != nil {
			return newError(NameJSON, t, "", err)
		}
	}

	switch p := v.(type) {
	case *any:
		if t.schema() != nil && !checked {
			val, err := decodeValue(data)
			if err != nil {
				return newError(NameJSON, t, "", err)
			}
			if err := validateSchema(t, t.schema(), val); err != nil {
				return err
			}
			*p = val
			return nil
		}
		if t.schema() == nil {
			if err := validateProto(t, data); err != nil {
				return err
			}
		}
		val, err := decodeValue(data)
		if err != nil {
			return newError(NameJSON, t, "", err)
		}
		*p = val
		return nil
	}

	if !checked {
		if err := validateText(t, data); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(data, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return newError(NameJSON, t, "/"+strings.ReplaceAll(typeErr.Field, ".", "/"), err)
		}
		return newError(NameJSON, t, "", err)
	}
	return nil
}

// unmarshalProto decodes JSON data into m, a message of t.Proto's type
// when t has one.
func (*jsonCodec) unmarshalProto(data []byte, t *Type, m proto.Message) error {
	r := m.ProtoReflect()
	if t.protoDesc() != nil {
		if err := t.checkMessageType(r.Descriptor()); err != nil {
			return newError(NameJSON, t, "", err)
		}
	}
	if err := checkUTF8(data); err != nil {
		return newError(NameJSON, t, "", err)
	}
	// A protobuf type without a schema: in one pass when it is sure
	// (protoJSONDecode applies scan's limits itself).
	if t.protoDesc() != nil && t.schema() == nil && protoJSONDecode(data, m, r) {
		return nil
	}
	// Against a schema, the walk first (it applies scan's limits itself):
	// a value it proves valid is decoded once, into m.
	checked := t.schema() != nil && schemaValid(t, data)
	if !checked {
		if err := scan(data); err != nil {
			return newError(NameJSON, t, "", err)
		}
	}
	if t.schema() != nil {
		if !checked {
			if err := validateSchemaText(t, data); err != nil {
				return err
			}
		}
		if protoJSONDecode(data, m, r) {
			return nil
		}
	}
	err := guard("protojson", func() error {
		return protojson.UnmarshalOptions{RecursionLimit: MaxProtoDepth}.Unmarshal(data, m)
	})
	if err != nil {
		return newError(NameJSON, t, "", err)
	}
	return nil
}

// CheckJSON reports whether the json codec's Unmarshal accepts data for t,
// without decoding it into a Go value and without copying it: the check a
// receiver makes of a JSON body before it accepts the message, as
// [CheckProto] is for binary protobuf. Its errors are Unmarshal's.
func CheckJSON(data []byte, t *Type) error {
	if err := checkUTF8(data); err != nil {
		return newError(NameJSON, t, "", err)
	}
	// A protobuf type without a schema: in one pass when it is sure
	// (protoJSONValid applies scan's limits itself).
	if d := t.protoDesc(); d != nil && t.schema() == nil && protoJSONValid(data, d) {
		return nil
	}
	// Against a schema, the walk (which applies scan's limits itself).
	if t.schema() != nil && schemaValid(t, data) {
		return nil
	}
	if err := scan(data); err != nil {
		return newError(NameJSON, t, "", err)
	}
	if t.schema() != nil {
		return validateSchemaText(t, data)
	}
	return validateText(t, data)
}

// validateText checks that text, which has passed checkText, is one JSON
// value of type t. It decodes text only as far as t requires: against a
// schema, not at all when the walk of schemaValid proves it valid.
func validateText(t *Type, text []byte) error {
	if t.schema() != nil {
		if schemaValid(t, text) {
			return nil
		}
		return validateSchemaText(t, text)
	}
	if t.protoDesc() != nil {
		return validateProto(t, text)
	}
	if !json.Valid(text) {
		return newError(NameJSON, t, "", syntaxError(text))
	}
	return nil
}

// validateSchemaText validates text, which has passed checkText, against
// t's schema with jsonschema: the rule, and the errors, for what the walk of
// schemaValid does not prove valid.
func validateSchemaText(t *Type, text []byte) error {
	val, err := decodeValue(text)
	if err != nil {
		return newError(NameJSON, t, "", err)
	}
	return validateSchema(t, t.schema(), val)
}

// validateProto checks that text decodes into a message of t's protobuf
// type, if it has one: in one pass when protoJSONValid is sure of it, else
// by decoding it with protojson.
func validateProto(t *Type, text []byte) error {
	d := t.protoDesc()
	if d == nil || protoJSONValid(text, d) {
		return nil
	}
	err := guard("protojson", func() error {
		return protojson.UnmarshalOptions{RecursionLimit: MaxProtoDepth}.Unmarshal(text, dynamicpb.NewMessage(d))
	})
	if err != nil {
		return newError(NameJSON, t, "", err)
	}
	return nil
}

// validateSchema checks the decoded JSON value val against s, the schema of
// t. A failure names the first failing leaf of the validation tree.
func validateSchema(t *Type, s *jsonschema.Schema, val any) error {
	err := guard("schema validation", func() error { return s.Validate(val) })
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return newError(NameJSON, t, "", err)
	}
	leaf := firstLeaf(ve)
	return newError(NameJSON, t, leaf.InstanceLocation, &schemaError{msg: leaf.Message, err: ve})
}

// firstLeaf returns the failing leaf with the smallest instance location
// (then keyword location). jsonschema orders causes by map iteration, so
// picking by position keeps the reported error the same from run to run.
func firstLeaf(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return ve
	}
	var best *jsonschema.ValidationError
	for _, c := range ve.Causes {
		l := firstLeaf(c)
		if best == nil || l.InstanceLocation < best.InstanceLocation ||
			(l.InstanceLocation == best.InstanceLocation && l.KeywordLocation < best.KeywordLocation) {
			best = l
		}
	}
	return best
}

// schemaError is a schema validation failure: the message of its first
// failing leaf, and the whole validation error as the cause.
type schemaError struct {
	msg string
	err *jsonschema.ValidationError
}

func (e *schemaError) Error() string { return e.msg }
func (e *schemaError) Unwrap() error { return e.err }
