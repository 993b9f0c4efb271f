package codec

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// CheckProto reports whether data is a well-formed binary encoding of a
// message of type md, without decoding it into a message and without
// allocating: the check a receiver makes before it accepts a message.
//
// It checks what proto.Unmarshal checks: the wire format is well formed,
// nested messages (and map entries) are well formed to MaxProtoDepth, and
// proto3 strings are valid UTF-8. Like proto.Unmarshal, it accepts unknown
// fields, and a known field with an unexpected wire type (both are kept as
// unknown fields by decoders). It does not check proto2 required fields.
func CheckProto(data []byte, md protoreflect.MessageDescriptor) error {
	if md == nil {
		return ErrNoProto
	}
	return checkProto(data, md, 0)
}

var errMalformedProto = errors.New("malformed protobuf")

func checkProto(b []byte, md protoreflect.MessageDescriptor, depth int) error {
	if depth > MaxProtoDepth {
		return fmt.Errorf("%w: nested deeper than %d", errMalformedProto, MaxProtoDepth)
	}
	fields := md.Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w in %s: %v", errMalformedProto, md.FullName(), protowire.ParseError(n))
		}
		if !num.IsValid() {
			return fmt.Errorf("%w in %s: field number %d out of range", errMalformedProto, md.FullName(), num)
		}
		b = b[n:]
		fd := fields.ByNumber(num)
		if fd == nil || typ != protowire.BytesType || !checksBytes(fd) {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("%w in %s field %d: %v", errMalformedProto, md.FullName(), num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("%w in %s.%s: %v", errMalformedProto, md.FullName(), fd.Name(), protowire.ParseError(n))
		}
		b = b[n:]
		switch fd.Kind() {
		case protoreflect.StringKind:
			if !utf8.Valid(v) {
				return fmt.Errorf("%w: %s.%s is not valid UTF-8", errMalformedProto, md.FullName(), fd.Name())
			}
		case protoreflect.MessageKind:
			if err := checkProto(v, fd.Message(), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checksBytes reports whether a length-delimited value of fd needs a look
// inside: a proto3 string (UTF-8) or a message (its own fields).
func checksBytes(fd protoreflect.FieldDescriptor) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return true
	case protoreflect.StringKind:
		return fd.ParentFile().Syntax() == protoreflect.Proto3
	}
	return false
}
