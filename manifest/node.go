package manifest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// node is one value of a parsed document with the position it was written at.
// YAML and JSON both parse into nodes, so that every later check can point at
// file:line:col whatever the spelling.
type node struct {
	kind      nodeKind
	line, col int
	text      string         // string value, or the number in normalized form
	truth     bool           // bool value
	keys      []*node        // object keys (kind string), in document order
	vals      []*node        // object values, or array items
	index     map[string]int // position of each key, for objects with many (see indexKeys)
}

type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// indexKeys lets an object with many keys find each at once: an error per
// key, each looked up by a linear search, took time quadratic in the number
// of keys (20 000 took 1.2 s). Parsers call it once an object is complete.
func (n *node) indexKeys() {
	if len(n.keys) <= 16 {
		return
	}
	n.index = make(map[string]int, len(n.keys))
	for i, k := range n.keys {
		n.index[k.text] = i
	}
}

// find returns the position of key k in an object node, or -1.
func (n *node) find(k string) int {
	if n == nil || n.kind != kindObject {
		return -1
	}
	if n.index != nil {
		if i, ok := n.index[k]; ok {
			return i
		}
		return -1
	}
	for i, key := range n.keys {
		if key.text == k {
			return i
		}
	}
	return -1
}

// field returns the value under key k of an object node, or nil.
func (n *node) field(k string) *node {
	if i := n.find(k); i >= 0 {
		return n.vals[i]
	}
	return nil
}

// keyNode returns the key node of k in an object node, or nil.
func (n *node) keyNode(k string) *node {
	if i := n.find(k); i >= 0 {
		return n.keys[i]
	}
	return nil
}

// at walks a JSON pointer ("/messages/send/Reading") from n and returns the
// deepest node reached, so an error about a missing child still points at its
// parent.
func (n *node) at(pointer string) *node {
	cur := n
	for _, seg := range splitPointer(pointer) {
		var next *node
		switch cur.kind {
		case kindObject:
			next = cur.field(seg)
		case kindArray:
			if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(cur.vals) {
				next = cur.vals[i]
			}
		}
		if next == nil {
			return cur
		}
		cur = next
	}
	return cur
}

// value converts n to the values encoding/json produces with UseNumber:
// map[string]any, []any, string, json.Number, bool and nil.
func (n *node) value() any {
	switch n.kind {
	case kindBool:
		return n.truth
	case kindNumber:
		return json.Number(n.text)
	case kindString:
		return n.text
	case kindArray:
		items := make([]any, len(n.vals))
		for i, v := range n.vals {
			items[i] = v.value()
		}
		return items
	case kindObject:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k.text] = n.vals[i].value()
		}
		return m
	}
	return nil
}

func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		segs[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return segs
}

// dotted turns a JSON pointer into the dotted field path used in messages:
// /messages/send/Reading/examples/0 → messages.send.Reading.examples[0].
func dotted(p string) string {
	var b strings.Builder
	for _, s := range splitPointer(p) {
		if _, err := strconv.Atoi(s); err == nil {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// normalizeNumber writes a JSON or YAML number in the one form the canonical
// manifest uses, that of RFC 8785 (JSON Canonicalization Scheme): the value as
// an IEEE 754 double, written as ECMAScript's Number.prototype.toString does.
// ok is false for a number JSON cannot hold (NaN, infinities, out of range).
func normalizeNumber(s string) (string, bool) {
	s = strings.ReplaceAll(s, "_", "")
	var f float64
	if i, err := strconv.ParseInt(s, 0, 64); err == nil {
		f = float64(i) // YAML spells integers in hex and octal too
	} else if u, err := strconv.ParseUint(s, 0, 64); err == nil {
		f = float64(u)
	} else if f, err = strconv.ParseFloat(s, 64); err != nil {
		return "", false
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	return formatNumber(f), true
}

// formatNumber is ECMAScript's Number.prototype.toString for finite f
// (ECMA-262 Number::toString), which RFC 8785 uses for numbers.
func formatNumber(f float64) string {
	if f == 0 {
		return "0" // also for -0
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// The shortest digits that read back as f, and the decimal exponent n
	// such that f = 0.digits × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n, k := x+1, len(digits)
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	out := digits[:1]
	if k > 1 {
		out += "." + digits[1:]
	}
	if n-1 >= 0 {
		return sign + out + "e+" + strconv.Itoa(n-1)
	}
	return sign + out + "e-" + strconv.Itoa(1-n)
}
