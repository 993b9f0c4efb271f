package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrTooDeep is matched (with errors.Is) by the errors of the json codec for
// JSON nested deeper than [MaxJSONDepth].
var ErrTooDeep = errors.New("JSON nested too deeply")

// jsonText returns v's bytes if v is JSON text: a []byte or json.RawMessage.
func jsonText(v any) ([]byte, bool) {
	switch v := v.(type) {
	case []byte:
		return v, true
	case json.RawMessage:
		return v, true
	}
	return nil, false
}

// maxExponent bounds the exponent of JSON numbers (the n of 1en). JSON
// Schema validation turns numbers into exact rationals (math/big), which takes
// time growing with the exponent (40ms for 1e1000000) and panics beyond 1e6
// in santhosh-tekuri/jsonschema v5.3.1; float64 ends at 1e308 anyway.
const maxExponent = 1000

// checkText checks what can be checked of data without decoding it: that it
// is UTF-8, not nested deeper than MaxJSONDepth, and has no number with an
// exponent beyond ±maxExponent. It does not allocate.
func checkText(data []byte) error {
	if err := checkUTF8(data); err != nil {
		return err
	}
	return scan(data)
}

// errInvalidUTF8 is checkText's error for text that is not UTF-8.
var errInvalidUTF8 = errors.New("invalid UTF-8 in JSON text")

// checkUTF8 is the first half of checkText.
func checkUTF8(data []byte) error {
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	return nil
}

// scan reports an error matching ErrTooDeep if data nests arrays and objects
// deeper than MaxJSONDepth, and an error if a number's exponent is beyond
// ±maxExponent. It only looks outside strings and needs no valid JSON, so it
// is safe to run on hostile input before any decoder sees it.
func scan(data []byte) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		for i < len(data) && !scanStop[data[i]] {
			i++
		}
		if i == len(data) {
			break
		}
		switch c := data[i]; c {
		case '"':
			// Skip the string: to its closing quote, past escaped bytes.
			for i++; i < len(data); i++ {
				for i < len(data) && plainByte[data[i]] {
					i++
				}
				if i == len(data) || data[i] == '"' {
					break
				}
				if data[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
			if depth > MaxJSONDepth {
				return fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, MaxJSONDepth, i)
			}
		case ']', '}':
			depth--
		case 'e', 'E':
			// An exponent, or the end of true or false (which no digit
			// or sign follows in valid JSON).
			if exponentTooLarge(data[i+1:]) {
				return fmt.Errorf("number at offset %d: exponent beyond ±%d", i, maxExponent)
			}
		}
	}
	return nil
}

// scanStop tells the bytes scan looks at outside strings.
var scanStop = func() (t [256]bool) {
	for _, c := range `"[]{}eE` {
		t[c] = true
	}
	return t
}()

// exponentTooLarge reports whether b starts with an optional sign and digits
// whose value is beyond maxExponent.
func exponentTooLarge(b []byte) bool {
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		b = b[1:]
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
		if n > maxExponent {
			return true
		}
	}
	return false
}

// decodeValue decodes data, which must be exactly one JSON value, into an
// any as decodeText does: with decodeAny when it is sure, else with
// decodeText (whose errors are encoding/json's). The caller has run
// checkText.
func decodeValue(data []byte) (any, error) {
	if v, ok := decodeAny(data); ok {
		return v, nil
	}
	return decodeText(data)
}

// decodeText decodes data, which must be exactly one JSON value, keeping
// numbers as json.Number. The caller has run checkText.
func decodeText(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("no JSON value")
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("unexpected end of JSON input")
		}
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value at offset %d", dec.InputOffset())
	}
	return v, nil
}

// syntaxError returns why data, which json.Valid rejected, is not JSON.
func syntaxError(data []byte) error {
	if _, err := decodeText(data); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// compactInPlace removes the insignificant whitespace from b, which must be
// valid JSON, and returns the shortened slice. It does not allocate.
func compactInPlace(b []byte) []byte {
	w := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		} else {
			switch c {
			case ' ', '\t', '\n', '\r':
				continue
			case '"':
				inString = true
			}
		}
		b[w] = c
		w++
	}
	return b[:w]
}
