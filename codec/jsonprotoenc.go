package codec

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoJSONAppend appends the JSON form of m that protojson gives with
// EmitDefaultValues (field names in lowerCamelCase, in field order, zero
// values of fields without presence included), compact, in one pass with no
// allocation beyond dst's growth. It reports false, with dst unchanged, when
// it is not sure of the form, and the caller encodes m with protojson: for
// the kinds of messages protoJSONValid leaves to protojson, non-empty maps
// (protojson sorts their keys), strings that are not UTF-8 (protojson's
// error), and nesting deeper than MaxJSONDepth.
//
// The text is what protojson would decode back to m; its bytes may differ
// from protojson's (numbers' spelling, escapes).
func protoJSONAppend(dst []byte, m protoreflect.Message) ([]byte, bool) {
	out, ok := appendMessageJSON(dst, m, 0)
	if !ok {
		return dst, false
	}
	return out, true
}

// appendMessageJSON appends m at JSON nesting depth (the arrays and objects
// around it).
func appendMessageJSON(b []byte, m protoreflect.Message, depth int) ([]byte, bool) {
	md := m.Descriptor()
	if md.ParentFile().Syntax() != protoreflect.Proto3 {
		return b, false
	}
	if wrapper, other := wellKnown(md); wrapper || other {
		if other {
			return b, false
		}
		fd := md.Fields().ByNumber(1)
		if fd == nil || fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind {
			return b, false
		}
		return appendScalarJSON(b, fd, m.Get(fd))
	}
	if depth++; depth > MaxJSONDepth {
		return b, false
	}
	b = append(b, '{')
	fields := md.Fields()
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !m.Has(fd) && (fd.ContainingOneof() != nil || fd.HasPresence()) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		var ok bool
		if b, ok = appendStringJSON(b, fd.JSONName()); !ok {
			return b, false
		}
		b = append(b, ':')
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			if v.Map().Len() > 0 {
				return b, false
			}
			b = append(b, '{', '}')
		case fd.IsList():
			if depth+1 > MaxJSONDepth {
				return b, false
			}
			l := v.List()
			b = append(b, '[')
			for j := range l.Len() {
				if j > 0 {
					b = append(b, ',')
				}
				if b, ok = appendValueJSON(b, fd, l.Get(j), depth+1); !ok {
					return b, false
				}
			}
			b = append(b, ']')
		default:
			if b, ok = appendValueJSON(b, fd, v, depth); !ok {
				return b, false
			}
		}
	}
	return append(b, '}'), true
}

// appendValueJSON appends one value of fd (a message or a scalar).
func appendValueJSON(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value, depth int) ([]byte, bool) {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return appendMessageJSON(b, v.Message(), depth)
	case protoreflect.GroupKind:
		return b, false
	}
	return appendScalarJSON(b, fd, v)
}

// appendScalarJSON appends a scalar or enum value of fd as protojson writes
// it: 64-bit integers and the special floats as strings, bytes in standard
// padded base64, enums by name (by number when the number has no name).
func appendScalarJSON(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, bool) {
	switch k := fd.Kind(); k {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), true
	case protoreflect.StringKind:
		return appendStringJSON(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"'), true
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return b, false
		}
		if d := ed.Values().ByNumber(v.Enum()); d != nil {
			return appendStringJSON(b, string(d.Name()))
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), true
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return append(b, `"NaN"`...), true
		case math.IsInf(f, 1):
			return append(b, `"Infinity"`...), true
		case math.IsInf(f, -1):
			return append(b, `"-Infinity"`...), true
		}
		bits := 64
		if k == protoreflect.FloatKind {
			bits = 32
		}
		return strconv.AppendFloat(b, f, 'g', -1, bits), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		b = append(b, '"')
		b = strconv.AppendInt(b, v.Int(), 10)
		return append(b, '"'), true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		b = strconv.AppendUint(b, v.Uint(), 10)
		return append(b, '"'), true
	}
	return b, false
}

// appendStringJSON appends s as a JSON string, escaping what JSON requires
// ('"', '\\' and control characters). It reports false if s is not UTF-8.
func appendStringJSON(b []byte, s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return b, false
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}
