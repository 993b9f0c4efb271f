package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/runtime/protoiface"
)

// protoCodec is the binary protobuf codec.
type protoCodec struct{}

// Proto returns the binary protobuf codec, named "proto".
//
// Append takes a proto.Message (a generated Go type or a dynamicpb message)
// whose full name is t.Proto.FullName(); Unmarshal fills one, replacing its
// contents. Any other value, or a message of another type, is an error
// matching [ErrTypeMismatch]; a Type without a protobuf definition is an error
// matching [ErrNoProto]. Append reuses dst's spare capacity, so a small
// generated message encodes into a reused buffer without allocating. The
// encoding is not deterministic (dynamic messages' fields and all map entries
// come in any order; deterministic output costs 1.5× for dynamic messages):
// compare decoded messages with proto.Equal, never bytes.
// Unmarshal refuses messages nested deeper than [MaxProtoDepth], unknown
// fields are kept, and proto3 strings must be valid UTF-8. After an error the
// message's contents are unspecified.
func Proto() Codec { return (*protoCodec)(nil) }

// Name returns "proto".
func (*protoCodec) Name() string { return NameProto }

// Append appends the binary protobuf encoding of v, a proto.Message of t, to dst.
func (*protoCodec) Append(dst []byte, t *Type, v any) ([]byte, error) {
	_, r, err := protoMessage(NameProto, t, v)
	if err != nil {
		return dst, err
	}
	// MarshalState is MarshalAppend for the reflection view protoMessage
	// already has: v.ProtoReflect() once, not twice.
	out, err := proto.MarshalOptions{}.MarshalState(protoiface.MarshalInput{Message: r, Buf: dst})
	if err != nil {
		return dst, newError(NameProto, t, "", err)
	}
	return out.Buf, nil
}

// Unmarshal decodes binary protobuf data into v, a proto.Message of t.
func (*protoCodec) Unmarshal(data []byte, t *Type, v any) error {
	m, r, err := protoMessage(NameProto, t, v)
	if err != nil {
		return err
	}
	if err := unmarshalProto(data, m, r); err != nil {
		return newError(NameProto, t, "", err)
	}
	return nil
}

// unmarshalProto does what proto.UnmarshalOptions.Unmarshal does to m, whose
// reflection view is r: it resets m and decodes data into it. It turns a
// panic in either into an error, as guard does: the reflection-based decoder
// of dynamic messages panics on some input, and nothing promises that the
// other never does (a nil *T of a generated type panics in Reset).
func unmarshalProto(data []byte, m proto.Message, r protoreflect.Message) (err error) {
	defer recoverError("decoder", &err)
	// Unmarshal would reset r.Interface(), which for a generated type
	// rebuilds m by reflection (about 240 instructions); m is at hand.
	proto.Reset(m)
	_, err = proto.UnmarshalOptions{Merge: true, RecursionLimit: MaxProtoDepth}.UnmarshalState(protoiface.UnmarshalInput{Message: r, Buf: data})
	return err
}

// protoMessage returns v and its reflection view if v is a proto.Message of
// t's protobuf type, for codec c.
func protoMessage(c string, t *Type, v any) (proto.Message, protoreflect.Message, error) {
	want := t.protoDesc()
	if want == nil {
		return nil, nil, newError(c, t, "", fmt.Errorf("%w; use the json or raw codec", ErrNoProto))
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, nil, newError(c, t, "", fmt.Errorf("%w: got Go value of type %T, want a proto.Message of %s", ErrTypeMismatch, v, want.FullName()))
	}
	r := m.ProtoReflect()
	if err := t.checkMessageType(r.Descriptor()); err != nil {
		return nil, nil, newError(c, t, "", err)
	}
	return m, r, nil
}

// checkMessageType reports an error matching ErrTypeMismatch unless d, the
// descriptor of a message, is of t's protobuf type: t.Proto itself, or a
// descriptor of the same full name. t.Proto must not be nil.
//
// A manifest links its own descriptors, so d is t.Proto only for dynamic
// messages made from it; a generated Go type has another descriptor of the
// same name. The descriptors found to match are kept (see protoMatches), so
// that after the first message of each a match costs a few pointer compares
// instead of two descriptor calls and a compare of the names.
func (t *Type) checkMessageType(d protoreflect.MessageDescriptor) error {
	// The generated type's first: comparing descriptors of the same Go
	// type, as these are, costs a call.
	if matched := t.protoMatched.Load(); matched != nil {
		for _, m := range &matched.descs { // (not a copy of the array)
			if m == d {
				if matched.proto == t.Proto { // (a Type does not change, but if it did)
					return nil
				}
				break
			}
		}
	}
	if d == t.Proto {
		return nil
	}
	if got, want := d.FullName(), t.Proto.FullName(); got != want {
		return fmt.Errorf("%w: got message %s, want %s", ErrTypeMismatch, got, want)
	}
	t.addProtoMatch(d)
	return nil
}

// protoMatches holds the descriptors other than a Type's Proto found to have
// its full name, in the order found; unused entries are nil. Once built, it
// is not changed: a new one replaces it. It is small and does not grow: a
// program that makes messages from a new descriptor over and over keeps
// only the first few, and compares the names of the others.
type protoMatches struct {
	proto protoreflect.MessageDescriptor // the Type's Proto when they were found
	descs [4]protoreflect.MessageDescriptor
}

// addProtoMatch keeps d, a descriptor of t's full name, in t.protoMatched if
// there is room.
func (t *Type) addProtoMatch(d protoreflect.MessageDescriptor) {
	for {
		old := t.protoMatched.Load()
		next := &protoMatches{proto: t.Proto}
		if old != nil && old.proto == t.Proto {
			next.descs = old.descs
		}
		i := 0
		for i < len(next.descs) && next.descs[i] != nil && next.descs[i] != d {
			i++
		}
		if i == len(next.descs) || next.descs[i] == d {
			return // full, or added by another goroutine meanwhile
		}
		next.descs[i] = d
		if t.protoMatched.CompareAndSwap(old, next) {
			return
		}
	}
}
