package codec

import (
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Type is one message type of an interface, as the manifest defines it.
// A Type is read-only once built and may be shared between goroutines; it
// must not be copied after first use (the json codec keeps what it derives
// from Schema in it).
type Type struct {
	Name   string                         // the manifest's type name, e.g. "Reading"
	Proto  protoreflect.MessageDescriptor // nil when the type has no protobuf definition
	Schema *jsonschema.Schema             // nil when the type has no JSON Schema

	plan         atomic.Pointer[schemaPlan]   // what the json codec's walk needs of Schema, built on first use
	protoMatched atomic.Pointer[protoMatches] // descriptors other than Proto of its full name, found so far
	checkPlan    atomic.Pointer[protoCheck]   // what CheckProtoType needs of Proto, built on first use
}

// New returns a new empty dynamic message of t (a dynamicpb message), or nil
// if t or t.Proto is nil.
func (t *Type) New() proto.Message {
	if t == nil || t.Proto == nil {
		return nil
	}
	return dynamicpb.NewMessage(t.Proto)
}

// name returns t's name, or "" for a nil t.
func (t *Type) name() string {
	if t == nil {
		return ""
	}
	return t.Name
}

// protoDesc returns t's message descriptor, or nil.
func (t *Type) protoDesc() protoreflect.MessageDescriptor {
	if t == nil {
		return nil
	}
	return t.Proto
}

// schema returns t's JSON Schema, or nil.
func (t *Type) schema() *jsonschema.Schema {
	if t == nil {
		return nil
	}
	return t.Schema
}
