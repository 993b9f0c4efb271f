package codec

import "encoding/json"

// decodeAny decodes text, one JSON value, into what encoding/json's Decoder
// with UseNumber stores into an any: map[string]any (the last of duplicate
// keys wins), []any (never nil), string, json.Number, bool or nil. It reports
// false when it is not sure of the text (malformed, nested deeper than
// MaxJSONDepth, an exponent beyond ±maxExponent, a string with a surrogate
// escape or a control character); the caller then decodes it with
// decodeText, whose verdict and error count. It allocates only the value.
func decodeAny(text []byte) (any, bool) {
	s := jsonScan{b: text}
	v, ok := s.anyValue(0)
	if !ok {
		return nil, false
	}
	s.space()
	return v, s.i == len(s.b)
}

// anyValue decodes the value at s.i for decodeAny.
func (s *jsonScan) anyValue(depth int) (any, bool) {
	switch s.peek() {
	case '{':
		if depth++; depth > MaxJSONDepth {
			return nil, false
		}
		s.i++
		m := make(map[string]any)
		if s.next('}') {
			return m, true
		}
		for {
			k, escaped, ok := s.str()
			if !ok || !s.next(':') {
				return nil, false
			}
			v, ok := s.anyValue(depth)
			if !ok {
				return nil, false
			}
			if escaped {
				m[unescape(s.b[k.start:k.end])] = v
			} else {
				m[string(s.b[k.start:k.end])] = v
			}
			if s.next('}') {
				return m, true
			}
			if !s.next(',') {
				return nil, false
			}
		}
	case '[':
		if depth++; depth > MaxJSONDepth {
			return nil, false
		}
		s.i++
		a := make([]any, 0)
		if s.next(']') {
			return a, true
		}
		for {
			v, ok := s.anyValue(depth)
			if !ok {
				return nil, false
			}
			a = append(a, v)
			if s.next(']') {
				return a, true
			}
			if !s.next(',') {
				return nil, false
			}
		}
	case '"':
		v, escaped, ok := s.str()
		if !ok {
			return nil, false
		}
		if escaped {
			return unescape(s.b[v.start:v.end]), true
		}
		return string(s.b[v.start:v.end]), true
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return nil, s.literal("null")
	}
	n, ok := s.number()
	if !ok {
		return nil, false
	}
	return json.Number(s.b[n.start:n.end]), true
}
