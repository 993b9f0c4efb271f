package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
	m, err := protoMessage(NameProto, t, v)
	if err != nil {
		return dst, err
	}
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return dst, newError(NameProto, t, "", err)
	}
	return out, nil
}

// Unmarshal decodes binary protobuf data into v, a proto.Message of t.
func (*protoCodec) Unmarshal(data []byte, t *Type, v any) error {
	m, err := protoMessage(NameProto, t, v)
	if err != nil {
		return err
	}
	err = guard("decoder", func() error {
		return proto.UnmarshalOptions{RecursionLimit: MaxProtoDepth}.Unmarshal(data, m)
	})
	if err != nil {
		return newError(NameProto, t, "", err)
	}
	return nil
}

// protoMessage returns v as a proto.Message of t's protobuf type, for codec c.
func protoMessage(c string, t *Type, v any) (proto.Message, error) {
	want := t.protoDesc()
	if want == nil {
		return nil, newError(c, t, "", fmt.Errorf("%w; use the json or raw codec", ErrNoProto))
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, newError(c, t, "", fmt.Errorf("%w: got Go value of type %T, want a proto.Message of %s", ErrTypeMismatch, v, want.FullName()))
	}
	if err := checkMessageType(m, want); err != nil {
		return nil, newError(c, t, "", err)
	}
	return m, nil
}

// checkMessageType reports an error matching ErrTypeMismatch unless m is a
// message of type want.
func checkMessageType(m proto.Message, want protoreflect.MessageDescriptor) error {
	d := m.ProtoReflect().Descriptor()
	if d == want {
		return nil // the same descriptor (a generated type the manifest uses as it is): no name to compare
	}
	if got := d.FullName(); got != want.FullName() {
		return fmt.Errorf("%w: got message %s, want %s", ErrTypeMismatch, got, want.FullName())
	}
	return nil
}
