package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"

	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Value is one message as filters read it, decoded once however many
// filters evaluate it (a topic's subscribers). Make one with NewValue; a
// Value is not safe for concurrent use.
type Value struct {
	v    any
	msg  proto.Message  // the protobuf form, once made
	obj  map[string]any // the JSON form, once made
	err  error
	done bool
	// The activations, made once and pointed at each filter's fields in
	// turn (a Value is used by one goroutine at a time).
	pact *protoActivation
	jact *jsonActivation
}

// NewValue wraps v, a message as given to Send: a proto.Message, JSON text
// (json.RawMessage or []byte), or a value encoding/json can marshal.
func NewValue(v any) *Value { return &Value{v: v} }

// errUndecodable: the value is not a message of the type; Send's encoding
// reports why.
var errUndecodable = errors.New("filter: the value does not decode as the message type")

// activation returns the variables of f's evaluation.
func (val *Value) activation(f *Filter) (interpreter.Activation, error) {
	if !val.done {
		val.done = true
		if f.jsonMsg {
			val.obj, val.err = jsonObject(val.v)
		} else {
			val.msg, val.err = protoMessage(f, val.v)
		}
	}
	if val.err != nil {
		return nil, val.err
	}
	if f.jsonMsg {
		if val.jact == nil {
			val.jact = &jsonActivation{obj: val.obj}
		}
		val.jact.fields = f.fields
		return val.jact, nil
	}
	if val.pact == nil {
		val.pact = &protoActivation{msg: val.msg}
	}
	val.pact.fields = f.fields
	return val.pact, nil
}

// protoMessage returns v as a message of f's type.
func protoMessage(f *Filter, v any) (proto.Message, error) {
	want := f.typ.Proto
	if m, ok := v.(proto.Message); ok && m.ProtoReflect().Descriptor().FullName() == want.FullName() {
		return m, nil
	}
	text, err := jsonOf(v)
	if err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(want)
	if err := protojson.Unmarshal(text, m); err != nil {
		return nil, errUndecodable
	}
	return m, nil
}

// jsonOf returns v as JSON text.
func jsonOf(v any) ([]byte, error) {
	switch x := v.(type) {
	case json.RawMessage:
		return x, nil
	case []byte:
		return x, nil
	case proto.Message:
		return protojson.Marshal(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errUndecodable
	}
	return b, nil
}

// jsonObject returns v as a JSON object, numbers as int64 when they are
// integers and float64 otherwise.
func jsonObject(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	text, err := jsonOf(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var obj map[string]any
	if err := d.Decode(&obj); err != nil {
		return nil, errUndecodable
	}
	return normalize(obj).(map[string]any), nil
}

// normalize replaces json.Numbers by int64 or float64.
func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// protoActivation reads a field of a protobuf message when the filter
// refers to it.
type protoActivation struct {
	msg    proto.Message
	fields map[string]*field
}

func (a *protoActivation) ResolveName(name string) (any, bool) {
	fl, ok := a.fields[name]
	if !ok {
		return nil, false
	}
	v, err := fl.get(a.msg)
	if err != nil {
		return nil, false
	}
	return v, true
}

func (a *protoActivation) Parent() interpreter.Activation { return nil }

// jsonActivation reads a property of a JSON object, converted to its
// declared type; a property the object lacks is not found, which fails the
// evaluation (the message does not match).
type jsonActivation struct {
	obj    map[string]any
	fields map[string]*field
}

func (a *jsonActivation) ResolveName(name string) (any, bool) {
	v, ok := a.obj[name]
	if !ok {
		return nil, false
	}
	fl := a.fields[name]
	if fl == nil {
		return v, true
	}
	switch fl.kind {
	case "integer":
		switch n := v.(type) {
		case float64:
			if n == math.Trunc(n) {
				return int64(n), true
			}
		case int:
			return int64(n), true
		}
	case "number":
		switch n := v.(type) {
		case int64:
			return float64(n), true
		case int:
			return float64(n), true
		}
	}
	return v, true
}

func (a *jsonActivation) Parent() interpreter.Activation { return nil }
