package codec

import (
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// protoJSONValid reports whether text is sure to be accepted by
// protojson.Unmarshal into a message of md: the check a receiver makes of
// every JSON body of a protobuf type, done in one pass over the text with no
// decoding and no allocation. It answers false whenever it is not sure, and
// then the caller asks protojson, whose verdict (and error) counts; so it
// never widens what is accepted, it only skips protojson for the messages it
// knows protojson would take.
//
// It knows proto3 messages of scalar, enum, message, repeated and map fields,
// and the wrapper types (google.protobuf.BytesValue and its kin). It is not
// sure of: other well-known types (Any, Timestamp, Struct, …), proto2 and
// editions files, extensions, messages of more than 64 fields, escapes in
// field names, enum names, map keys and bytes, numbers written as strings
// other than plain integers, integers with fractions or exponents, and
// maps of more than maxSureMapKeys entries. text must have passed checkText
// (UTF-8, depth).
func protoJSONValid(text []byte, md protoreflect.MessageDescriptor) bool {
	s := jsonScan{b: text}
	s.space()
	if !s.message(md, 0) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

// maxSureMapKeys is the most entries of one map protoJSONValid checks for
// duplicate keys (pairwise) before it leaves the map to protojson.
const maxSureMapKeys = 16

// jsonScan walks JSON text for protoJSONValid. Its methods report whether
// the value at s.i is sure to be accepted, and move s.i past it.
type jsonScan struct {
	b []byte
	i int
}

// span is a part of the text: b[start:end].
type span struct{ start, end int }

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and reports whether the next byte is c, consuming it
// if so.
func (s *jsonScan) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *jsonScan) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// message checks a message of md at s.i.
func (s *jsonScan) message(md protoreflect.MessageDescriptor, depth int) bool {
	if depth > MaxJSONDepth || md.ParentFile().Syntax() != protoreflect.Proto3 || md.IsMapEntry() {
		return false
	}
	if md.FullName().Parent() == "google.protobuf" {
		if !isWrapper(md.Name()) {
			return false
		}
		fd := md.Fields().ByNumber(1)
		return fd != nil && !fd.IsList() && !fd.IsMap() && fd.Kind() != protoreflect.MessageKind && s.scalar(fd)
	}
	fields := md.Fields()
	if fields.Len() > 64 || md.Oneofs().Len() > 64 {
		return false
	}
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	var seen, seenOneofs uint64
	for {
		name, ok := s.plainString()
		if !ok {
			return false
		}
		fd := fieldByName(fields, s.b[name.start:name.end])
		if fd == nil || fd.IsExtension() {
			return false
		}
		bit := uint64(1) << fd.Index()
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if !s.next(':') {
			return false
		}
		switch {
		case s.peek() == 'n':
			// protojson skips a null, except for the types that take it.
			if isNullTaker(fd) || !s.literal("null") {
				return false
			}
		case fd.IsMap():
			if !s.mapValue(fd, depth) {
				return false
			}
		case fd.IsList():
			if !s.list(fd, depth) {
				return false
			}
		default:
			if od := fd.ContainingOneof(); od != nil {
				bit := uint64(1) << od.Index()
				if seenOneofs&bit != 0 {
					return false
				}
				seenOneofs |= bit
			}
			if !s.single(fd, depth) {
				return false
			}
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// single checks one value of fd (a message or a scalar).
func (s *jsonScan) single(fd protoreflect.FieldDescriptor, depth int) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return s.message(fd.Message(), depth+1)
	case protoreflect.GroupKind:
		return false
	}
	return s.scalar(fd)
}

// list checks a JSON array of fd's elements.
func (s *jsonScan) list(fd protoreflect.FieldDescriptor, depth int) bool {
	if !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		if !s.single(fd, depth) {
			return false
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// mapValue checks a JSON object of fd's map entries, keys unique.
func (s *jsonScan) mapValue(fd protoreflect.FieldDescriptor, depth int) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	kd, vd := fd.MapKey(), fd.MapValue()
	var keys [maxSureMapKeys]span
	n := 0
	for {
		key, ok := s.plainString()
		if !ok || n == len(keys) || !mapKeyValid(kd.Kind(), s.b[key.start:key.end]) {
			return false
		}
		// Keys are compared as written: mapKeyValid takes only canonical
		// forms, so two spellings of one key cannot both pass.
		k := s.b[key.start:key.end]
		for _, prev := range keys[:n] {
			if string(s.b[prev.start:prev.end]) == string(k) {
				return false
			}
		}
		keys[n] = key
		n++
		if !s.next(':') || s.peek() == 'n' || !s.single(vd, depth) {
			return false
		}
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// mapKeyValid reports whether key (unescaped) is a canonical key of kind k.
func mapKeyValid(k protoreflect.Kind, key []byte) bool {
	switch k {
	case protoreflect.StringKind:
		return true
	case protoreflect.BoolKind:
		return string(key) == "true" || string(key) == "false"
	}
	bits, signed, ok := intKind(k)
	return ok && intValid(key, bits, signed)
}

// scalar checks one value of a scalar or enum field fd.
func (s *jsonScan) scalar(fd protoreflect.FieldDescriptor) bool {
	k := fd.Kind()
	switch k {
	case protoreflect.BoolKind:
		return s.literal("true") || s.literal("false")
	case protoreflect.StringKind:
		return s.anyString()
	case protoreflect.BytesKind:
		v, ok := s.plainString()
		return ok && base64Valid(s.b[v.start:v.end])
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return false
		}
		if s.peek() == '"' {
			v, ok := s.plainString()
			return ok && enumByName(ed, s.b[v.start:v.end])
		}
		v, ok := s.number()
		return ok && intValid(s.b[v.start:v.end], 32, true)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if k == protoreflect.FloatKind {
			bits = 32
		}
		if s.peek() == '"' {
			v, ok := s.plainString()
			switch string(s.b[v.start:v.end]) {
			case "NaN", "Infinity", "-Infinity":
				return ok
			}
			return false
		}
		v, ok := s.number()
		if !ok {
			return false
		}
		_, err := strconv.ParseFloat(string(s.b[v.start:v.end]), bits)
		return err == nil
	}
	bits, signed, ok := intKind(k)
	if !ok {
		return false
	}
	var v span
	if s.peek() == '"' {
		v, ok = s.plainString()
	} else {
		v, ok = s.number()
	}
	return ok && intValid(s.b[v.start:v.end], bits, signed)
}

// intKind returns the width and signedness of an integer kind.
func intKind(k protoreflect.Kind) (bits int, signed, ok bool) {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return 32, true, true
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return 64, true, true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return 32, false, true
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return 64, false, true
	}
	return 0, false, false
}

// intValid reports whether b is a canonical decimal integer (no sign but a
// leading minus, no leading zeros, not -0) in range.
func intValid(b []byte, bits int, signed bool) bool {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		if !signed {
			return false
		}
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	var err error
	if signed {
		_, err = strconv.ParseInt(string(b), 10, bits)
	} else {
		_, err = strconv.ParseUint(string(b), 10, bits)
	}
	return err == nil
}

// literal consumes word (true, false, null) if it is next.
func (s *jsonScan) literal(word string) bool {
	s.space()
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// number consumes a JSON number and returns its span.
func (s *jsonScan) number() (span, bool) {
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return span{}, false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return span{}, false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return span{}, false
		}
	}
	return span{start, s.i}, true
}

// digits consumes decimal digits and returns how many.
func (s *jsonScan) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// plainString consumes a JSON string without escapes and returns the span of
// its contents.
func (s *jsonScan) plainString() (span, bool) {
	v, escaped, ok := s.str()
	return v, ok && !escaped
}

// anyString consumes a JSON string, escapes allowed.
func (s *jsonScan) anyString() bool {
	_, _, ok := s.str()
	return ok
}

// str consumes a JSON string and returns the span of its contents and
// whether it has escapes. Control characters and surrogate escapes (which
// protojson takes only in valid pairs) are not sure.
func (s *jsonScan) str() (v span, escaped, ok bool) {
	if !s.next('"') {
		return span{}, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return span{start, s.i - 1}, escaped, true
		case c < 0x20:
			return span{}, false, false
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				return span{}, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if len(s.b)-s.i < 6 {
					return span{}, false, false
				}
				r, err := strconv.ParseUint(string(s.b[s.i+2:s.i+6]), 16, 16)
				if err != nil || (r >= 0xd800 && r <= 0xdfff) {
					return span{}, false, false
				}
				s.i += 6
			default:
				return span{}, false, false
			}
		default:
			s.i++
		}
	}
	return span{}, false, false
}

// fieldByName finds the field protojson would for name: by JSON name, then by
// the name in the .proto file.
func fieldByName(fields protoreflect.FieldDescriptors, name []byte) protoreflect.FieldDescriptor {
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.JSONName() == string(name) {
			return fd
		}
	}
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.TextName() == string(name) {
			return fd
		}
	}
	return nil
}

// enumByName reports whether ed has a value named name.
func enumByName(ed protoreflect.EnumDescriptor, name []byte) bool {
	values := ed.Values()
	for i := range values.Len() {
		if string(values.Get(i).Name()) == string(name) {
			return true
		}
	}
	return false
}

// isWrapper reports whether name is one of google.protobuf's wrapper types,
// whose JSON form is the bare value.
func isWrapper(name protoreflect.Name) bool {
	switch name {
	case "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value",
		"FloatValue", "DoubleValue", "StringValue", "BytesValue":
		return true
	}
	return false
}

// isNullTaker reports whether a JSON null is a value of fd
// (google.protobuf.Value or NullValue) rather than "not set".
func isNullTaker(fd protoreflect.FieldDescriptor) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return fd.Message().FullName() == "google.protobuf.Value"
	case protoreflect.EnumKind:
		return fd.Enum().FullName() == "google.protobuf.NullValue"
	}
	return false
}

// base64Valid reports whether s decodes as protojson decodes bytes: standard
// or URL alphabet (URL if s has '-' or '_'), padded when its length is a
// multiple of 4, else unpadded; trailing bits need not be zero.
func base64Valid(s []byte) bool {
	url := false
	for _, c := range s {
		if c == '-' || c == '_' {
			url = true
			break
		}
	}
	body := s
	if len(s)%4 == 0 {
		// Padded: '=' only as the last one or two characters.
		if n := len(body); n > 0 && body[n-1] == '=' {
			body = body[:n-1]
			if n := len(body); n > 0 && body[n-1] == '=' {
				body = body[:n-1]
			}
			if len(body)%4 < 2 {
				return false
			}
		}
	} else if len(s)%4 == 1 {
		return false
	}
	for _, c := range body {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case !url && (c == '+' || c == '/'):
		case url && (c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}
