package filter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Node is one node of the structured form (spec/PROTOCOL.md §4.8.2):
// exactly one of its groups is set.
type Node struct {
	Path string // its JSON pointer in the text, "" for the root

	All, Any []*Node // {"all": [...]}, {"any": [...]}
	Not      *Node   // {"not": {...}}

	Field  string // {"field": F, OP: ...} with one OP:
	Eq     any    // "eq": a string, number (json.Number) or bool
	In     []any  // "in": a list of those
	Prefix *string
	op     string // "all", "any", "not", "eq", "in", "prefix"
}

// Parse reads the structured form. It refuses anything but the grammar:
// unknown or repeated keys, two operators in one object, a value of the
// wrong kind, nesting over MaxDepth, text over MaxTextBytes.
func Parse(text []byte) (*Node, error) {
	if len(text) > MaxTextBytes {
		return nil, structErr("", KindTooLong, "the filter is %d bytes; at most %d are allowed", len(text), MaxTextBytes)
	}
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	v, err := readValue(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, structErr("", KindSyntax, "text after the filter at offset %d", d.InputOffset())
	}
	return node(v, "", 0)
}

func structErr(path, kind, format string, args ...any) *Error {
	return &Error{Form: "structured", Pos: path, Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	vals map[string]any
}

// readValue reads one JSON value, refusing repeated keys and deep nesting.
func readValue(d *json.Decoder, depth int) (any, error) {
	if depth > 2*MaxDepth+2 {
		return nil, structErr("", KindTooLong, "the filter nests deeper than %d", MaxDepth)
	}
	off := d.InputOffset()
	tok, err := d.Token()
	if err != nil {
		return nil, syntaxErr(err, off)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for d.More() {
				off := d.InputOffset()
				kt, err := d.Token()
				if err != nil {
					return nil, syntaxErr(err, off)
				}
				k, _ := kt.(string)
				if _, dup := o.vals[k]; dup {
					return nil, structErr("", KindSyntax, "key %q repeated at offset %d", k, off)
				}
				v, err := readValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.vals[k] = v
			}
			if _, err := d.Token(); err != nil {
				return nil, syntaxErr(err, d.InputOffset())
			}
			return o, nil
		case '[':
			var list []any
			for d.More() {
				v, err := readValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, syntaxErr(err, d.InputOffset())
			}
			if list == nil {
				list = []any{}
			}
			return list, nil
		}
		return nil, structErr("", KindSyntax, "unexpected %q at offset %d", t, off)
	}
	return tok, nil
}

func syntaxErr(err error, off int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return structErr("", KindSyntax, "not JSON at offset %d: %v", off, err)
}

// pointer appends a JSON pointer token.
func pointer(path string, tok any) string {
	s := fmt.Sprint(tok)
	return path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func node(v any, path string, depth int) (*Node, error) {
	if depth > MaxDepth {
		return nil, structErr(path, KindTooLong, "the filter nests deeper than %d", MaxDepth)
	}
	o, ok := v.(*object)
	if !ok {
		return nil, structErr(path, KindSyntax, "a filter node is an object with one of all, any, not or field; this is %s", kindOf(v))
	}
	n := &Node{Path: path}
	var ops []string
	for _, k := range o.keys {
		switch k {
		case "all", "any", "not", "eq", "in", "prefix":
			ops = append(ops, k)
		case "field":
		default:
			return nil, structErr(pointer(path, k), KindSyntax, "unknown key %q; a node has one of all, any, not, or field with one of eq, in, prefix", k)
		}
	}
	_, hasField := o.vals["field"]
	switch {
	case len(ops) == 0 && hasField:
		return nil, structErr(path, KindSyntax, "field %v has no operator: add eq, in or prefix", o.vals["field"])
	case len(ops) == 0:
		return nil, structErr(path, KindSyntax, "an empty node: give one of all, any, not, or field with eq, in or prefix")
	case len(ops) > 1:
		return nil, structErr(pointer(path, ops[1]), KindSyntax, "%s and %s in one node: nest them in all or any", ops[0], ops[1])
	}
	n.op = ops[0]
	arg := o.vals[n.op]
	argPath := pointer(path, n.op)
	switch n.op {
	case "all", "any", "not":
		if hasField {
			return nil, structErr(pointer(path, "field"), KindSyntax, "field does not go with %s", n.op)
		}
		if n.op == "not" {
			sub, err := node(arg, argPath, depth+1)
			if err != nil {
				return nil, err
			}
			n.Not = sub
			return n, nil
		}
		list, ok := arg.([]any)
		if !ok {
			return nil, structErr(argPath, KindSyntax, "%s takes a list of nodes; this is %s", n.op, kindOf(arg))
		}
		subs := make([]*Node, 0, len(list))
		for i, e := range list {
			sub, err := node(e, pointer(argPath, i), depth+1)
			if err != nil {
				return nil, err
			}
			subs = append(subs, sub)
		}
		if n.op == "all" {
			n.All = subs
		} else {
			n.Any = subs
		}
		return n, nil
	}
	f, ok := o.vals["field"].(string)
	if !hasField {
		return nil, structErr(path, KindSyntax, "%s needs a field", n.op)
	}
	if !ok || f == "" {
		return nil, structErr(pointer(path, "field"), KindSyntax, "field is a field's name; this is %s", kindOf(o.vals["field"]))
	}
	n.Field = f
	switch n.op {
	case "eq":
		if !scalar(arg) {
			return nil, structErr(argPath, KindSyntax, "eq takes a string, number or boolean; this is %s", kindOf(arg))
		}
		n.Eq = arg
	case "in":
		list, ok := arg.([]any)
		if !ok {
			return nil, structErr(argPath, KindSyntax, "in takes a list of strings, numbers or booleans; this is %s", kindOf(arg))
		}
		for i, e := range list {
			if !scalar(e) {
				return nil, structErr(pointer(argPath, i), KindSyntax, "in takes strings, numbers or booleans; this is %s", kindOf(e))
			}
		}
		n.In = list
	case "prefix":
		s, ok := arg.(string)
		if !ok {
			return nil, structErr(argPath, KindSyntax, "prefix takes a string; this is %s", kindOf(arg))
		}
		n.Prefix = &s
	}
	return n, nil
}

func scalar(v any) bool {
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case *object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// translate writes n as CEL, checking each comparison against its field
// first, so that a refusal names the node (its JSON pointer).
func (f *Filter) translate(env *cel.Env, n *Node) (string, error) {
	switch n.op {
	case "all", "any":
		subs := n.All
		join, empty := " && ", "true"
		if n.op == "any" {
			subs, join, empty = n.Any, " || ", "false"
		}
		if len(subs) == 0 {
			return empty, nil
		}
		parts := make([]string, len(subs))
		for i, s := range subs {
			p, err := f.translate(env, s)
			if err != nil {
				return "", err
			}
			parts[i] = "(" + p + ")"
		}
		return strings.Join(parts, join), nil
	case "not":
		p, err := f.translate(env, n.Not)
		if err != nil {
			return "", err
		}
		return "!(" + p + ")", nil
	}
	fl, ok := f.fields[n.Field]
	if !ok {
		for _, x := range f.fields {
			if x.fd != nil && x.fd.JSONName() == n.Field {
				fl, ok = x, true
			}
		}
	}
	fieldPath := pointer(n.Path, "field")
	if !ok {
		return "", structErr(fieldPath, KindUnknown, "%q is not a field of %s; its fields are %s", n.Field, f.typ.Name, strings.Join(sortedNames(f.fields), ", "))
	}
	if !fl.allowed {
		return "", structErr(fieldPath, KindNotAllowed, "%s is a field of %s, but not one it may be filtered on (filter_fields: %s)", n.Field, f.typ.Name, strings.Join(f.typ.FilterFields, ", "))
	}
	var expr string
	argPath := pointer(n.Path, n.op)
	switch n.op {
	case "eq":
		lit, err := literal(fl, n.Eq, argPath)
		if err != nil {
			return "", err
		}
		expr = fl.name + " == " + lit
	case "in":
		lits := make([]string, len(n.In))
		for i, v := range n.In {
			lit, err := literal(fl, v, pointer(argPath, i))
			if err != nil {
				return "", err
			}
			lits[i] = lit
		}
		expr = fl.name + " in [" + strings.Join(lits, ", ") + "]"
	case "prefix":
		if fl.celType != cel.StringType && fl.celType != cel.DynType {
			return "", structErr(argPath, KindType, "prefix compares strings, and %s is a %s", fl.name, fl.celType)
		}
		expr = fl.name + ".startsWith(" + strconv.Quote(*n.Prefix) + ")"
	}
	if _, iss := env.Compile(expr); iss.Err() != nil {
		return "", structErr(argPath, KindType, "%s", iss.Errors()[0].Message)
	}
	return expr, nil
}

// literal writes a JSON scalar as a CEL literal of fl's type.
func literal(fl *field, v any, path string) (string, error) {
	t := fl.celType
	mismatch := func() (string, error) {
		return "", structErr(path, KindType, "%s is a %s and cannot equal %s", fl.name, t, kindOf(v))
	}
	// An enum field (a CEL int) takes its values' names too.
	if s, ok := v.(string); ok && fl.fd != nil && fl.fd.Kind() == protoreflect.EnumKind && !fl.fd.IsList() {
		ev := fl.fd.Enum().Values().ByName(protoreflect.Name(s))
		if ev == nil {
			return "", structErr(path, KindType, "%q is not a value of enum %s", s, fl.fd.Enum().FullName())
		}
		return strconv.Itoa(int(ev.Number())), nil
	}
	switch x := v.(type) {
	case string:
		if t != cel.StringType && t != cel.DynType {
			return mismatch()
		}
		return strconv.Quote(x), nil
	case bool:
		if t != cel.BoolType && t != cel.DynType {
			return mismatch()
		}
		return strconv.FormatBool(x), nil
	case json.Number:
		switch t {
		case cel.IntType:
			i, err := x.Int64()
			if err != nil {
				return "", structErr(path, KindType, "%s is an int and %s is not one", fl.name, x)
			}
			return strconv.FormatInt(i, 10), nil
		case cel.UintType:
			u, err := strconv.ParseUint(string(x), 10, 64)
			if err != nil {
				return "", structErr(path, KindType, "%s is a uint and %s is not one", fl.name, x)
			}
			return strconv.FormatUint(u, 10) + "u", nil
		case cel.DoubleType:
			d, err := x.Float64()
			if err != nil || math.IsInf(d, 0) {
				return "", structErr(path, KindType, "%s is out of range for a double", x)
			}
			return strconv.FormatFloat(d, 'g', -1, 64) + dot(d), nil
		case cel.DynType:
			if i, err := x.Int64(); err == nil {
				return strconv.FormatInt(i, 10), nil
			}
			d, err := x.Float64()
			if err != nil || math.IsInf(d, 0) {
				return "", structErr(path, KindType, "%s is out of range", x)
			}
			return strconv.FormatFloat(d, 'g', -1, 64) + dot(d), nil
		}
		return mismatch()
	}
	return mismatch()
}

// dot makes a whole double a CEL double literal (21 → 21.0).
func dot(d float64) string {
	s := strconv.FormatFloat(d, 'g', -1, 64)
	if strings.ContainsAny(s, ".eEn") {
		return ""
	}
	return ".0"
}
