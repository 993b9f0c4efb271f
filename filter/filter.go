package filter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/manifest"
)

// Limits of a filter (spec/PROTOCOL.md §4.8.4).
const (
	// MaxTextBytes bounds a filter's text, in either form.
	MaxTextBytes = 4096
	// MaxCost bounds a filter's worst-case cost, as CEL estimates it with
	// every string, bytes, list and map field at most flow.max_message_bytes
	// long: about one unit per operation, per character compared.
	MaxCost = 10000
	// MaxDepth bounds the nesting of the structured form.
	MaxDepth = 32
)

// Spec is a filter as it travels in OpenStream and in the control
// operation filter: at most one of CEL and Structured is set; neither
// means no filter.
type Spec struct {
	// Type names the message type the filter selects; empty: the
	// interface's only send type with filter_fields.
	Type string
	// CEL is a CEL expression.
	CEL string
	// Structured is the structured form, JSON text.
	Structured string
}

// IsZero reports whether s is no filter at all.
func (s Spec) IsZero() bool { return s.CEL == "" && s.Structured == "" }

// Form names the form s is written in: "cel" or "structured".
func (s Spec) Form() string {
	if s.Structured != "" {
		return "structured"
	}
	return "cel"
}

// Reasons a filter is refused, as Error.Kind.
const (
	KindSyntax     = "syntax"         // the text does not parse
	KindUnknown    = "unknown_field"  // names no field of the type
	KindNotAllowed = "not_filterable" // a field filter_fields does not list
	KindType       = "type_mismatch"  // compares or calls with the wrong types, or is not a bool
	KindCost       = "cost_exceeded"  // worst-case cost over MaxCost
	KindTarget     = "no_target"      // no message type to filter (or the type is not sent)
	KindCodec      = "codec"          // the connection's codec carries no fields (raw)
	KindTooLong    = "too_long"       // over MaxTextBytes or MaxDepth
)

// Error is why a filter was refused, with where. A refused filter refuses
// the connection (invalid_filter) or the control request: a filter is never
// ignored.
type Error struct {
	Form string // "cel" or "structured"
	// Pos is where: "line:column" (1-based) in a CEL expression, a JSON
	// pointer ("/all/1/field") in the structured form, "" for the filter
	// as a whole.
	Pos    string
	Kind   string // one of the Kind constants
	Reason string
}

func (e *Error) Error() string {
	if e.Pos == "" {
		return fmt.Sprintf("filter (%s): %s", e.Form, e.Reason)
	}
	return fmt.Sprintf("filter (%s) at %s: %s", e.Form, e.Pos, e.Reason)
}

// Filter is a compiled filter: safe for concurrent use, and a data.Filter.
type Filter struct {
	spec    Spec
	typ     *manifest.MessageType
	expr    string // the CEL text evaluated (the structured form's translation)
	prg     cel.Program
	fields  map[string]*field // by variable name: every top-level field
	jsonMsg bool              // the type has no proto: values are JSON objects
	cost    uint64
}

var _ data.Filter = (*Filter)(nil)

// field is one top-level field of the message type.
type field struct {
	name    string // the variable's name (the protobuf name, or the property)
	allowed bool   // listed in filter_fields
	celType *cel.Type
	get     func(any) (any, error)       // proto types: reads the field from a message
	fd      protoreflect.FieldDescriptor // proto types
	kind    string                       // JSON types: the schema's one type, if one
}

// Spec returns the filter as it was given.
func (f *Filter) Spec() Spec { return f.spec }

// Type returns the message type the filter selects.
func (f *Filter) Type() *manifest.MessageType { return f.typ }

// CEL returns the CEL expression evaluated (for the structured form, its
// translation).
func (f *Filter) CEL() string { return f.expr }

// Cost returns the filter's worst-case cost estimate.
func (f *Filter) Cost() uint64 { return f.cost }

// Compile compiles spec for messages the server of m sends, in the named
// codec. It returns nil, nil for an empty spec.
func Compile(m *manifest.Manifest, spec Spec, codecName string) (*Filter, error) {
	if spec.IsZero() {
		return nil, nil
	}
	fail := func(kind, pos, format string, args ...any) (*Filter, error) {
		return nil, &Error{Form: spec.Form(), Pos: pos, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if spec.CEL != "" && spec.Structured != "" {
		return fail(KindSyntax, "", "a filter has one form: CEL or structured, not both")
	}
	if n := len(spec.CEL) + len(spec.Structured); n > MaxTextBytes {
		return fail(KindTooLong, "", "the filter is %d bytes; at most %d are allowed", n, MaxTextBytes)
	}
	t, err := target(m, spec.Type)
	if err != nil {
		return fail(KindTarget, "", "%s", err)
	}
	return CompileType(t, m.Flow.MaxMessageBytes, spec, codecName)
}

// CompileType compiles spec for messages of type t of at most maxBytes
// (flow.max_message_bytes), whatever its direction; spec.Type is not
// looked at. Compile is the server's: it also picks and checks the type.
func CompileType(t *manifest.MessageType, maxBytes int, spec Spec, codecName string) (*Filter, error) {
	fail := func(kind, pos, format string, args ...any) (*Filter, error) {
		return nil, &Error{Form: spec.Form(), Pos: pos, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if spec.IsZero() {
		return nil, nil
	}
	if spec.CEL != "" && spec.Structured != "" {
		return fail(KindSyntax, "", "a filter has one form: CEL or structured, not both")
	}
	if n := len(spec.CEL) + len(spec.Structured); n > MaxTextBytes {
		return fail(KindTooLong, "", "the filter is %d bytes; at most %d are allowed", n, MaxTextBytes)
	}
	if codecName == "raw" {
		return fail(KindCodec, "", "the connection's codec is raw, whose messages are opaque bytes with no fields to filter on; connect with the proto or json codec")
	}
	fields, env, err := declare(t, maxBytes)
	if err != nil {
		return fail(KindType, "", "%s", err)
	}
	f := &Filter{spec: spec, typ: t, fields: fields, jsonMsg: t.Proto == nil}
	f.expr = spec.CEL
	if spec.Structured != "" {
		node, err := Parse([]byte(spec.Structured))
		if err != nil {
			return nil, err
		}
		if f.expr, err = f.translate(env, node); err != nil {
			return nil, err
		}
	}
	if err := f.check(env, spec.Form(), maxBytes); err != nil {
		return nil, err
	}
	return f, nil
}

// target returns the message type a filter for m selects.
func target(m *manifest.Manifest, name string) (*manifest.MessageType, error) {
	if !m.Direction.Sends() {
		return nil, fmt.Errorf("%s is a recv interface: the server sends no messages to filter", m.Name)
	}
	var filterable []string
	for _, t := range m.Types(manifest.Send) {
		if len(t.FilterFields) > 0 {
			filterable = append(filterable, t.Name)
		}
	}
	if name != "" {
		t, ok := m.Type(name)
		switch {
		case !ok || t.Direction != manifest.Send:
			return nil, fmt.Errorf("%s sends no message type %q", m.Name, name)
		case len(t.FilterFields) == 0:
			return nil, fmt.Errorf("%s.%s has no filter_fields, so it cannot be filtered", m.Name, name)
		}
		return t, nil
	}
	switch len(filterable) {
	case 0:
		return nil, fmt.Errorf("no message type %s sends has filter_fields, so nothing can be filtered", m.Name)
	case 1:
		t, _ := m.Type(filterable[0])
		return t, nil
	}
	return nil, fmt.Errorf("%s sends several filterable types (%s): name one", m.Name, strings.Join(filterable, ", "))
}

// check compiles f.expr, type-checks it, restricts it to the allowed
// fields and bounds its cost, then makes the program.
func (f *Filter) check(env *cel.Env, form string, maxBytes int) error {
	a, iss := env.Compile(f.expr)
	if iss.Err() != nil {
		return celError(form, iss, f.fields)
	}
	if a.OutputType() != cel.BoolType && a.OutputType() != cel.DynType {
		return &Error{Form: form, Pos: "1:1", Kind: KindType, Reason: fmt.Sprintf("a filter must be a bool, and this is a %s", a.OutputType())}
	}
	if err := f.restrict(a, form); err != nil {
		return err
	}
	est, err := env.EstimateCost(a, sizes(maxBytes))
	if err != nil {
		return &Error{Form: form, Kind: KindCost, Reason: "its cost cannot be estimated: " + err.Error()}
	}
	if est.Max > MaxCost {
		return &Error{Form: form, Kind: KindCost, Reason: fmt.Sprintf("its worst-case cost is %d, over the limit of %d (strings and lists counted at flow.max_message_bytes = %d); simplify it", est.Max, MaxCost, maxBytes)}
	}
	f.cost = est.Max
	prg, err := env.Program(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return &Error{Form: form, Kind: KindType, Reason: err.Error()}
	}
	f.prg = prg
	return nil
}

// restrict refuses a reference to a field filter_fields does not list.
func (f *Filter) restrict(a *cel.Ast, form string) error {
	native := a.NativeRep()
	refs := native.ReferenceMap()
	var bad *Error
	celast.PreOrderVisit(native.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if bad != nil || e.Kind() != celast.IdentKind {
			return
		}
		r, ok := refs[e.ID()]
		if !ok {
			return // a comprehension's variable
		}
		fl, ok := f.fields[r.Name]
		if !ok || fl.allowed {
			return
		}
		loc := native.SourceInfo().GetStartLocation(e.ID())
		bad = &Error{Form: form, Pos: fmt.Sprintf("%d:%d", loc.Line(), loc.Column()+1), Kind: KindNotAllowed,
			Reason: fmt.Sprintf("%s is a field of %s, but not one it may be filtered on (filter_fields: %s)", r.Name, f.typ.Name, strings.Join(f.typ.FilterFields, ", "))}
	}))
	if bad != nil {
		return bad
	}
	return nil
}

// celError turns CEL's first issue into an *Error.
func celError(form string, iss *cel.Issues, fields map[string]*field) error {
	first := iss.Errors()[0]
	kind, reason := KindType, first.Message
	switch {
	case strings.HasPrefix(reason, "Syntax error"), strings.Contains(reason, "mismatched input"), strings.Contains(reason, "expression code point size exceeds"):
		kind = KindSyntax
	case strings.HasPrefix(reason, "undeclared reference to '"):
		name := strings.TrimSuffix(strings.TrimPrefix(reason, "undeclared reference to '"), "'")
		if i := strings.Index(name, "'"); i >= 0 {
			name = name[:i]
		}
		kind = KindUnknown
		reason = fmt.Sprintf("%q is not a field of the message type; its fields are %s", name, strings.Join(sortedNames(fields), ", "))
	}
	return &Error{Form: form, Pos: fmt.Sprintf("%d:%d", first.Location.Line(), first.Location.Column()+1), Kind: kind, Reason: reason}
}

func sortedNames(fields map[string]*field) []string {
	var out []string
	for n := range fields {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// sizes bounds every field-derived size by the message's size.
type sizes int

func (s sizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if len(n.Path()) > 0 {
		return &checker.SizeEstimate{Min: 0, Max: uint64(s)}
	}
	return nil
}

func (sizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Match reports whether v, a message of the filter's type as given to
// Send (or a *Value), is to be sent: data.Filter. Messages of other types
// are Unfiltered. A message that cannot be evaluated (a JSON message
// without a field the filter reads) does not match.
func (f *Filter) Match(t *manifest.MessageType, v any) data.Verdict {
	if t != f.typ && t.Name != f.typ.Name {
		return data.Unfiltered
	}
	val, ok := v.(*Value)
	if !ok {
		val = NewValue(v)
	}
	act, err := val.activation(f)
	if err != nil {
		return data.Unfiltered // not a message of the type: encoding says why
	}
	if f.eval(act) {
		return data.Matched
	}
	return data.FilteredOut
}

// MatchValue evaluates the filter on val; a value that is not a message
// of the type does not match.
func (f *Filter) MatchValue(val *Value) bool {
	act, err := val.activation(f)
	return err == nil && f.eval(act)
}

func (f *Filter) eval(act interpreter.Activation) bool {
	out, _, err := f.prg.Eval(act)
	if err != nil {
		return false
	}
	b, ok := out.(types.Bool)
	return ok && bool(b)
}
