package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
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
// maps of more than maxSureMapKeys entries, nesting deeper than MaxJSONDepth
// and exponents beyond ±maxExponent (checkText's limits, which it applies
// itself). text must be UTF-8.
func protoJSONValid(text []byte, md protoreflect.MessageDescriptor) bool {
	s := jsonScan{b: text}
	return s.top(md, nil)
}

// protoJSONDecode decodes text into m, whose reflection view is r, which it
// resets first, in the same pass and under the same rule as protoJSONValid:
// it reports true when it is sure protojson.Unmarshal would accept text and
// has stored into m what protojson would. When it reports false, m holds
// part of the value and the caller decodes text with protojson (which
// resets m). (m is at hand: r.Interface() would rebuild a generated
// message by reflection.)
func protoJSONDecode(text []byte, m proto.Message, r protoreflect.Message) bool {
	proto.Reset(m)
	s := jsonScan{b: text}
	return s.top(r.Descriptor(), r)
}

// maxSureMapKeys is the most entries of one map protoJSONValid checks for
// duplicate keys (pairwise) before it leaves the map to protojson.
const maxSureMapKeys = 16

// jsonScan walks JSON text for protoJSONValid and protoJSONDecode. Its
// methods report whether the value at s.i is sure to be accepted, and move
// s.i past it; given a message (m non-nil), they also store the value in it.
type jsonScan struct {
	b []byte
	i int
}

// span is a part of the text: b[start:end].
type span struct{ start, end int }

// top checks (and given m, decodes) the whole text as one message of md.
func (s *jsonScan) top(md protoreflect.MessageDescriptor, m protoreflect.Message) bool {
	s.space()
	if !s.message(md, m, 0) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

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

// message checks a message of md at s.i, stored into m if m is not nil.
func (s *jsonScan) message(md protoreflect.MessageDescriptor, m protoreflect.Message, depth int) bool {
	if md.ParentFile().Syntax() != protoreflect.Proto3 || md.IsMapEntry() {
		return false
	}
	if wrapper, other := wellKnown(md); wrapper || other {
		if other {
			return false
		}
		fd := md.Fields().ByNumber(1)
		if fd == nil || fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind {
			return false
		}
		v, ok := s.scalar(fd, m != nil)
		if ok && m != nil {
			m.Set(fd, v)
		}
		return ok
	}
	fields := md.Fields()
	if fields.Len() > 64 || md.Oneofs().Len() > 64 {
		return false
	}
	if depth++; depth > MaxJSONDepth || !s.next('{') {
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
			var mp protoreflect.Map
			if m != nil {
				mp = m.Mutable(fd).Map()
			}
			if !s.mapValue(fd, mp, depth) {
				return false
			}
		case fd.IsList():
			var l protoreflect.List
			if m != nil {
				l = m.Mutable(fd).List()
			}
			if !s.list(fd, l, depth) {
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
			if !s.field(m, fd, depth) {
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

// field checks the value of a singular field fd, stored into m if m is not
// nil.
func (s *jsonScan) field(m protoreflect.Message, fd protoreflect.FieldDescriptor, depth int) bool {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		var sub protoreflect.Message
		if m != nil {
			sub = m.Mutable(fd).Message()
		}
		return s.message(fd.Message(), sub, depth)
	case protoreflect.GroupKind:
		return false
	}
	v, ok := s.scalar(fd, m != nil)
	if ok && m != nil {
		m.Set(fd, v)
	}
	return ok
}

// list checks a JSON array of fd's elements, appended to l if l is not nil.
func (s *jsonScan) list(fd protoreflect.FieldDescriptor, l protoreflect.List, depth int) bool {
	if depth++; depth > MaxJSONDepth || !s.next('[') {
		return false
	}
	if s.next(']') {
		return true
	}
	for {
		switch fd.Kind() {
		case protoreflect.MessageKind:
			var sub protoreflect.Message
			if l != nil {
				sub = l.AppendMutable().Message()
			}
			if !s.message(fd.Message(), sub, depth) {
				return false
			}
		case protoreflect.GroupKind:
			return false
		default:
			v, ok := s.scalar(fd, l != nil)
			if !ok {
				return false
			}
			if l != nil {
				l.Append(v)
			}
		}
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// mapValue checks a JSON object of fd's map entries, keys unique, stored
// into mp if mp is not nil.
func (s *jsonScan) mapValue(fd protoreflect.FieldDescriptor, mp protoreflect.Map, depth int) bool {
	if depth++; depth > MaxJSONDepth || !s.next('{') {
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
		if !s.next(':') || s.peek() == 'n' {
			return false
		}
		var mk protoreflect.MapKey
		if mp != nil {
			mk = mapKey(kd.Kind(), k)
		}
		switch vd.Kind() {
		case protoreflect.MessageKind:
			var sub protoreflect.Message
			if mp != nil {
				sub = mp.Mutable(mk).Message()
			}
			if !s.message(vd.Message(), sub, depth) {
				return false
			}
		case protoreflect.GroupKind:
			return false
		default:
			v, ok := s.scalar(vd, mp != nil)
			if !ok {
				return false
			}
			if mp != nil {
				mp.Set(mk, v)
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

// mapKeyValid reports whether key (unescaped) is a canonical key of kind k.
func mapKeyValid(k protoreflect.Kind, key []byte) bool {
	switch k {
	case protoreflect.StringKind:
		return true
	case protoreflect.BoolKind:
		return string(key) == "true" || string(key) == "false"
	}
	bits, signed, ok := intKind(k)
	if !ok {
		return false
	}
	_, ok = parseInt(key, bits, signed)
	return ok
}

// scalar checks one value of a scalar or enum field fd and, if decode is
// set, returns it.
func (s *jsonScan) scalar(fd protoreflect.FieldDescriptor, decode bool) (protoreflect.Value, bool) {
	var none protoreflect.Value
	k := fd.Kind()
	switch k {
	case protoreflect.BoolKind:
		switch {
		case s.literal("true"):
			return protoreflect.ValueOfBool(true), true
		case s.literal("false"):
			return protoreflect.ValueOfBool(false), true
		}
		return none, false
	case protoreflect.StringKind:
		v, escaped, ok := s.str()
		if !ok || !decode {
			return none, ok
		}
		if !escaped {
			return protoreflect.ValueOfString(string(s.b[v.start:v.end])), true
		}
		return protoreflect.ValueOfString(unescape(s.b[v.start:v.end])), true
	case protoreflect.BytesKind:
		v, ok := s.plainString()
		if !ok {
			return none, false
		}
		if !decode {
			_, ok := base64Form(s.b[v.start:v.end])
			return none, ok
		}
		b, ok := base64Decode(s.b[v.start:v.end])
		return protoreflect.ValueOfBytes(b), ok
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" {
			return none, false
		}
		if s.peek() == '"' {
			v, ok := s.plainString()
			if !ok {
				return none, false
			}
			n, ok := enumByName(ed, s.b[v.start:v.end])
			return protoreflect.ValueOfEnum(n), ok
		}
		v, ok := s.number()
		if !ok {
			return none, false
		}
		n, ok := parseInt(s.b[v.start:v.end], 32, true)
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), ok
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if k == protoreflect.FloatKind {
			bits = 32
		}
		var f float64
		if s.peek() == '"' {
			v, ok := s.plainString()
			if !ok {
				return none, false
			}
			switch string(s.b[v.start:v.end]) {
			case "NaN":
				f = math.NaN()
			case "Infinity":
				f = math.Inf(1)
			case "-Infinity":
				f = math.Inf(-1)
			default:
				return none, false
			}
		} else {
			v, ok := s.number()
			if !ok {
				return none, false
			}
			var err error
			if f, err = strconv.ParseFloat(string(s.b[v.start:v.end]), bits); err != nil {
				return none, false
			}
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), true
		}
		return protoreflect.ValueOfFloat64(f), true
	}
	bits, signed, ok := intKind(k)
	if !ok {
		return none, false
	}
	var v span
	if s.peek() == '"' {
		v, ok = s.plainString()
	} else {
		v, ok = s.number()
	}
	if !ok {
		return none, false
	}
	n, ok := parseInt(s.b[v.start:v.end], bits, signed)
	return intValue(k, n), ok
}

// intValue returns n, parsed by parseInt, as a value of integer kind k.
func intValue(k protoreflect.Kind, n uint64) protoreflect.Value {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(n))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	}
	return protoreflect.ValueOfUint64(n)
}

// mapKey returns key (which mapKeyValid took) as a map key of kind k.
func mapKey(k protoreflect.Kind, key []byte) protoreflect.MapKey {
	switch k {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(key)).MapKey()
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(string(key) == "true").MapKey()
	}
	bits, signed, _ := intKind(k)
	n, _ := parseInt(key, bits, signed)
	return intValue(k, n).MapKey()
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

// parseInt parses b if it is a canonical decimal integer (no sign but a
// leading minus, no leading zeros, not -0) in range; a signed value is
// returned as its two's complement.
func parseInt(b []byte, bits int, signed bool) (uint64, bool) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		if !signed {
			return 0, false
		}
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(b) > 1) {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if signed {
		n, err := strconv.ParseInt(string(b), 10, bits)
		return uint64(n), err == nil
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	return n, err == nil
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
		if exponentTooLarge(s.b[s.i:]) {
			return span{}, false
		}
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

// str consumes a JSON string and returns the span of its contents and
// whether it has escapes. Control characters and surrogate escapes (which
// protojson takes only in valid pairs) are not sure.
func (s *jsonScan) str() (v span, escaped, ok bool) {
	if !s.next('"') {
		return span{}, false, false
	}
	start := s.i
	// Most strings have no escapes and no control characters: find the
	// closing quote, then check what is before it, both word-wise.
	if j := bytes.IndexByte(s.b[start:], '"'); j >= 0 {
		if v := s.b[start : start+j]; bytes.IndexByte(v, '\\') < 0 && !hasControl(v) {
			s.i = start + j + 1
			return span{start, start + j}, false, true
		}
	}
	for s.i < len(s.b) {
		b, i := s.b, s.i // locals: the loop then keeps them in registers
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if s.i = i; i == len(b) {
			break
		}
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

// hasControl reports whether b has a byte below 0x20, eight bytes at a time.
func hasControl(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		// A byte below 0x20 is the only one whose high bit the
		// subtraction sets that has no high bit of its own.
		x := binary.LittleEndian.Uint64(b)
		if (x-0x20*ones)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// plainByte tells the bytes a JSON string holds as they are: not '"', '\\'
// or a control character.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

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

// enumByName returns the number of ed's value named name.
func enumByName(ed protoreflect.EnumDescriptor, name []byte) (protoreflect.EnumNumber, bool) {
	values := ed.Values()
	for i := range values.Len() {
		if v := values.Get(i); string(v.Name()) == string(name) {
			return v.Number(), true
		}
	}
	return 0, false
}

// wellKnown tells whether md is one of google.protobuf's wrapper types
// (whose JSON form is the bare value) or another type of that package (or in
// one), which protojson maps in ways of their own.
func wellKnown(md protoreflect.MessageDescriptor) (wrapper, other bool) {
	name := string(md.FullName())
	if !strings.HasPrefix(name, "google.protobuf.") {
		return false, false
	}
	switch name[len("google.protobuf."):] {
	case "BoolValue", "Int32Value", "Int64Value", "UInt32Value", "UInt64Value",
		"FloatValue", "DoubleValue", "StringValue", "BytesValue":
		return true, false
	}
	return false, true
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

// base64Form reports whether s decodes as protojson decodes bytes, and
// whether in the URL alphabet: standard or URL alphabet (URL if s has '-' or
// '_'), padded when its length is a multiple of 4, else unpadded; trailing
// bits need not be zero.
func base64Form(s []byte) (url, ok bool) {
	body := s
	if len(s)%4 == 0 {
		// Padded: '=' only as the last one or two characters.
		if n := len(body); n > 0 && body[n-1] == '=' {
			body = body[:n-1]
			if n := len(body); n > 0 && body[n-1] == '=' {
				body = body[:n-1]
			}
			if len(body)%4 < 2 {
				return false, false
			}
		}
	} else if len(s)%4 == 1 {
		return false, false
	}
	all, some := byte(b64Std|b64URL), byte(0)
	for len(body) >= 8 {
		c0, c1, c2, c3 := b64Class[body[0]], b64Class[body[1]], b64Class[body[2]], b64Class[body[3]]
		c4, c5, c6, c7 := b64Class[body[4]], b64Class[body[5]], b64Class[body[6]], b64Class[body[7]]
		all &= c0 & c1 & c2 & c3 & c4 & c5 & c6 & c7
		some |= c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7
		body = body[8:]
	}
	for _, c := range body {
		all &= b64Class[c]
		some |= b64Class[c]
	}
	if some&b64URLOnly != 0 {
		return true, all&b64URL != 0
	}
	return false, all&b64Std != 0
}

// The classes of b64Class.
const (
	b64Std     = 1 << iota // in the standard alphabet
	b64URL                 // in the URL alphabet
	b64URLOnly             // '-' or '_'
)

// b64Class gives each byte's base64 classes.
var b64Class = func() (t [256]byte) {
	for c := range 256 {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			t[c] = b64Std | b64URL
		case c == '+' || c == '/':
			t[c] = b64Std
		case c == '-' || c == '_':
			t[c] = b64URL | b64URLOnly
		}
	}
	return t
}()

// base64Decode decodes s as protojson does: in the URL alphabet if s has
// '-' or '_', else the standard one, padded if len(s) is a multiple of 4. It
// tries the standard alphabet first: a string it refuses that has neither
// '-' nor '_' the URL alphabet refuses too, so the result is protojson's.
func base64Decode(s []byte) ([]byte, bool) {
	std, url := base64.StdEncoding, base64.URLEncoding
	if len(s)%4 != 0 {
		std, url = base64.RawStdEncoding, base64.RawURLEncoding
	}
	b := make([]byte, std.DecodedLen(len(s)))
	if n, err := std.Decode(b, s); err == nil {
		return b[:n], true
	}
	n, err := url.Decode(b, s)
	return b[:n], err == nil
}

// unescape returns the contents of a JSON string that str took, its escapes
// (simple ones and \u of the basic plane outside the surrogates) decoded.
func unescape(b []byte) string {
	return string(appendUnescaped(make([]byte, 0, len(b)), b))
}

// appendUnescaped appends to dst the contents of a JSON string that str took,
// its escapes decoded as unescape does.
func appendUnescaped(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		switch b[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := strconv.ParseUint(string(b[i+1:i+5]), 16, 16)
			dst = utf8.AppendRune(dst, rune(r))
			i += 4
		default: // '"', '\\', '/'
			dst = append(dst, b[i])
		}
	}
	return dst
}
