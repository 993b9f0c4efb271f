package codec

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// CheckProto reports whether data is a well-formed binary encoding of a
// message of type md, without decoding it into a message and without
// allocating: the check a receiver makes before it accepts a message.
//
// It checks what proto.Unmarshal checks: the wire format is well formed,
// nested messages (and map entries) are well formed to MaxProtoDepth,
// packed repeated scalars hold whole values, and strings are valid UTF-8
// where decoders require it (proto3, and editions unless utf8_validation is
// NONE). Like proto.Unmarshal, it accepts unknown fields, and a known field
// with an unexpected wire type (both are kept as unknown fields by
// decoders). It does not check proto2 required fields.
func CheckProto(data []byte, md protoreflect.MessageDescriptor) error {
	if md == nil {
		return ErrNoProto
	}
	return checkProto(data, md, nil, 0)
}

// CheckProtoType is CheckProto(data, t.Proto), with the same errors, for a
// Type whose messages are checked one after another, as a receiver checks
// every message: which fields of t.Proto and of the messages in it need a
// look inside is worked out on first use and kept in t, so that the check
// of a message does not look its fields up in the descriptors.
func CheckProtoType(data []byte, t *Type) error {
	if t.protoDesc() == nil {
		return ErrNoProto
	}
	p := t.protoCheck()
	return checkProto(data, p.md, p, 0)
}

var errMalformedProto = errors.New("malformed protobuf")

// checkProto checks b, a message of type md. p is md's plan, or nil to look
// md's fields up as the walk meets them.
func checkProto(b []byte, md protoreflect.MessageDescriptor, p *protoCheck, depth int) error {
	if depth > MaxProtoDepth {
		return fmt.Errorf("%w: nested deeper than %d", errMalformedProto, MaxProtoDepth)
	}
	var fields protoreflect.FieldDescriptors // without a plan, md.Fields() once needed
	for len(b) > 0 {
		num, typ, n := protowire.Number(b[0]>>3), protowire.Type(b[0]&7), 1
		if b[0] < 1<<3 || b[0] >= 0x80 { // not the common one-byte tag of a field 1 to 15
			if num, typ, n = protowire.ConsumeTag(b); n < 0 {
				return fmt.Errorf("%w in %s: %v", errMalformedProto, md.FullName(), protowire.ParseError(n))
			}
			if !num.IsValid() {
				return fmt.Errorf("%w in %s: field number %d out of range", errMalformedProto, md.FullName(), num)
			}
		}
		b = b[n:]
		if typ != protowire.BytesType { // only a length-delimited value may need a look inside
			if typ == protowire.VarintType && len(b) > 0 && b[0] < 0x80 {
				b = b[1:] // a one-byte varint
				continue
			}
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fieldError(md, num, n)
			}
			b = b[n:]
			continue
		}
		var v []byte
		if len(b) > 0 && b[0] < 0x80 && int(b[0]) < len(b) { // a length below 128
			v, n = b[1:1+b[0]], 1+int(b[0])
		} else {
			v, n = protowire.ConsumeBytes(b)
		}
		var (
			fd   protoreflect.FieldDescriptor
			kind lookKind
			sub  *protoCheck // with a plan, fd's message type's
		)
		if p != nil {
			if l := p.look(num); l != nil {
				fd, kind, sub = l.fd, l.kind, l.sub
			}
		} else {
			if fields == nil {
				fields = md.Fields()
			}
			fd = fields.ByNumber(num)
			kind = lookFor(fd)
		}
		if n < 0 {
			if kind == lookUTF8 || kind == lookMessage {
				return namedError(md, fd, protowire.ParseError(n))
			}
			return fieldError(md, num, n)
		}
		b = b[n:]
		switch kind {
		case lookUTF8:
			if !utf8.Valid(v) {
				return fmt.Errorf("%w: %s.%s is not valid UTF-8", errMalformedProto, md.FullName(), fd.Name())
			}
		case lookMessage:
			var err error
			if sub != nil {
				err = checkProto(v, sub.md, sub, depth+1)
			} else {
				err = checkProto(v, fd.Message(), nil, depth+1)
			}
			if err != nil {
				return err
			}
		case lookPackedVarint:
			for len(v) > 0 {
				if _, n = protowire.ConsumeVarint(v); n < 0 {
					return namedError(md, fd, protowire.ParseError(n))
				}
				v = v[n:]
			}
		case lookPacked32, lookPacked64:
			if len(v)%packedSize(kind) != 0 {
				return namedError(md, fd, io.ErrUnexpectedEOF) // protowire's error for a truncated value
			}
		}
	}
	return nil
}

// fieldError is the error of a malformed value of field num of md, a field
// the check takes as it is, or whose length is malformed; n is protowire's
// error code.
func fieldError(md protoreflect.MessageDescriptor, num protowire.Number, n int) error {
	return fmt.Errorf("%w in %s field %d: %v", errMalformedProto, md.FullName(), num, protowire.ParseError(n))
}

// namedError is the error of a malformed value of fd, a field of md the
// check looks inside.
func namedError(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, err error) error {
	return fmt.Errorf("%w in %s.%s: %v", errMalformedProto, md.FullName(), fd.Name(), err)
}

// lookKind is what the check does with a length-delimited value of a field.
type lookKind uint8

const (
	lookNone         lookKind = iota // take it as it is: not a field of the message, bytes, a proto2 string, …
	lookUTF8                         // a string that decoders require to be UTF-8 (proto3, most editions ones)
	lookMessage                      // a message or a map entry: check it as one
	lookPackedVarint                 // packed repeated varints (integers, bools, enums): each well formed
	lookPacked32                     // packed repeated fixed32, sfixed32 or float: a whole number of them
	lookPacked64                     // packed repeated fixed64, sfixed64 or double: a whole number of them
)

// packedSize returns the size of an element of kind lookPacked32 or
// lookPacked64.
func packedSize(k lookKind) int {
	if k == lookPacked32 {
		return 4
	}
	return 8
}

// lookFor returns what the check does with a length-delimited value of fd,
// which may be nil (not a field of the message). A repeated scalar may come
// packed whether or not it is declared so: decoders accept both.
func lookFor(fd protoreflect.FieldDescriptor) lookKind {
	if fd == nil {
		return lookNone
	}
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return lookMessage
	case protoreflect.StringKind:
		if enforcesUTF8(fd) {
			return lookUTF8
		}
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		if fd.IsList() {
			return lookPackedVarint
		}
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		if fd.IsList() {
			return lookPacked32
		}
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		if fd.IsList() {
			return lookPacked64
		}
	}
	return lookNone
}

// enforcesUTF8 reports whether decoders refuse a value of fd, a string
// field, that is not UTF-8, as protobuf-go decides it (internal/strs): in a
// proto3 file, or in an editions file whose utf8_validation feature is
// VERIFY (the default), which its descriptors report by a method.
func enforcesUTF8(fd protoreflect.FieldDescriptor) bool {
	switch fd.Syntax() {
	case protoreflect.Proto3:
		return true
	case protoreflect.Editions:
		if f, ok := fd.(interface{ EnforceUTF8() bool }); ok {
			return f.EnforceUTF8()
		}
	}
	return false
}

// protoCheck is the plan of the check of one message type: the fields that
// need a look, so that the walk does not ask the descriptor. A plan does not
// change once built.
type protoCheck struct {
	md    protoreflect.MessageDescriptor
	looks []fieldLook                     // by field number, up to the highest below maxDenseLook that needs a look
	far   map[protowire.Number]*fieldLook // the field numbers from maxDenseLook up that need a look; nil if none
}

// fieldLook is a plan's look at one field: kind, for field fd, whose message
// type's plan is sub for lookMessage.
type fieldLook struct {
	kind lookKind
	fd   protoreflect.FieldDescriptor
	sub  *protoCheck
}

// maxDenseLook bounds a plan's looks (of 32-byte entries), which a message
// with a high field number would otherwise make large.
const maxDenseLook = 128

// look returns the look at field number num, or nil if the check takes its
// values as they are.
func (p *protoCheck) look(num protowire.Number) *fieldLook {
	if uint(num) < uint(len(p.looks)) {
		if l := &p.looks[num]; l.kind != lookNone {
			return l
		}
		return nil
	}
	if p.far == nil {
		return nil
	}
	return p.far[num]
}

// protoCheck returns the plan of t.Proto, which must not be nil, building
// it on first use. Two goroutines may build it at once; they build the
// same thing.
func (t *Type) protoCheck() *protoCheck {
	if p := t.checkPlan.Load(); p != nil && p.md == t.Proto {
		return p
	}
	p := planProtoCheck(t.Proto, map[protoreflect.MessageDescriptor]*protoCheck{})
	t.checkPlan.Store(p)
	return p
}

// planProtoCheck returns the plan of md and of every message type in it,
// which plans holds once begun (message types may be recursive).
func planProtoCheck(md protoreflect.MessageDescriptor, plans map[protoreflect.MessageDescriptor]*protoCheck) *protoCheck {
	if p := plans[md]; p != nil {
		return p
	}
	p := &protoCheck{md: md}
	plans[md] = p
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		look := fieldLook{kind: lookFor(fd), fd: fd}
		switch look.kind {
		case lookNone:
			continue
		case lookMessage:
			look.sub = planProtoCheck(fd.Message(), plans)
		}
		num := fd.Number()
		if num >= maxDenseLook {
			if p.far == nil {
				p.far = map[protowire.Number]*fieldLook{}
			}
			p.far[num] = &look
			continue
		}
		for protowire.Number(len(p.looks)) <= num {
			p.looks = append(p.looks, fieldLook{})
		}
		p.looks[num] = look
	}
	return p
}
