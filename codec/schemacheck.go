package codec

import (
	"bytes"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// This file checks JSON text against a compiled JSON Schema directly, in one
// walk over the text, without decoding it into an any for jsonschema and
// without allocating for the keywords it knows: type, enum and const of
// strings, booleans and null, the number bounds, minLength, maxLength,
// pattern, properties, required, patternProperties, additionalProperties,
// minProperties, maxProperties, prefixItems, items, additionalItems,
// minItems, maxItems, $ref, allOf, anyOf, oneOf, not, if/then/else and
// boolean schemas. A subschema with any other keyword (format, uniqueItems,
// multipleOf, dependencies, unevaluated*, contains, content*, …) is
// validated by jsonschema itself, on its value alone, decoded by decodeAny.
//
// The walk only ever proves a value valid: when it cannot (the value is
// invalid, or it is not sure, as with a duplicate key whose first value
// fails), the caller validates the whole value with jsonschema, whose verdict
// and error are the rule. So it never accepts what jsonschema refuses, and the
// errors are what they were.

// schemaPlan is what the walk needs of one compiled schema, built once per
// Type (see Type.plan).
type schemaPlan struct {
	src  *jsonschema.Schema
	root *schemaNode // nil: the walk cannot be used for this schema
}

// typeSet is a set of JSON Schema types, one bit each.
type typeSet uint8

const (
	typeNull typeSet = 1 << iota
	typeBoolean
	typeNumber
	typeInteger
	typeString
	typeArray
	typeObject
)

var typeBits = map[string]typeSet{
	"null": typeNull, "boolean": typeBoolean, "number": typeNumber, "integer": typeInteger,
	"string": typeString, "array": typeArray, "object": typeObject,
}

// scalarSet is the values of an enum or a const of strings, booleans and
// null.
type scalarSet struct {
	strs              []string
	yes, no, hasNulls bool
}

// bound is one of minimum, exclusiveMinimum, maximum, exclusiveMaximum.
type bound struct {
	r *big.Rat
	f float64 // r rounded to the nearest float64
	// a value x passes when cmp(x, r) is one of these
	lt, eq, gt bool
}

// propInfo is what an object node knows of one key.
type propInfo struct {
	node   *schemaNode
	isProp bool   // a key of properties (node may be nil: anything)
	req    uint64 // its bit among the required keys, or 0
}

// patternProp is one entry of patternProperties.
type patternProp struct {
	re   *regexp.Regexp
	node *schemaNode
}

// schemaNode is one compiled subschema. A nil *schemaNode allows any value.
type schemaNode struct {
	src      *jsonschema.Schema
	fallback bool // validated by jsonschema on its decoded value
	never    bool // the schema false

	types typeSet // 0: any type
	sets  []scalarSet

	minLen, maxLen int // -1: none
	pattern        *regexp.Regexp
	bounds         []bound

	keys               map[string]propInfo
	nreq               int // how many distinct required keys
	patterns           []patternProp
	addl               *schemaNode // the schema of other keys, when addlSchema
	addlSchema, noAddl bool
	minProps, maxProps int

	prefix              []*schemaNode
	items               *schemaNode // the schema of items past prefix, when itemsSchema
	itemsSchema, noMore bool
	minItems, maxItems  int

	all         []*schemaNode // $ref and allOf
	anyOf       []*schemaNode
	oneOf       []*schemaNode
	not         *schemaNode
	ifn         *schemaNode
	then, elsen *schemaNode // nil: no constraint
	hasIf       bool
}

// plan returns t's schema plan, building it on first use. Two goroutines
// may build it at once; they build the same thing.
func (t *Type) schemaPlan() *schemaPlan {
	s := t.schema()
	if s == nil {
		return nil
	}
	if p := t.plan.Load(); p != nil && p.src == s {
		return p
	}
	p := compilePlan(s)
	t.plan.Store(p)
	return p
}

// compilePlan builds the plan of s.
func compilePlan(s *jsonschema.Schema) *schemaPlan {
	p := &schemaPlan{src: s}
	if usesDynamicScope(s) {
		return p // $dynamicRef and $recursiveRef depend on the path taken
	}
	c := planCompiler{nodes: map[*jsonschema.Schema]*schemaNode{}}
	root := c.node(s)
	if c.cycle(root) {
		return p // jsonschema reports the loop; the walk would not end
	}
	p.root = root
	return p
}

// usesDynamicScope reports whether a schema reachable from s has
// $dynamicRef or $recursiveRef.
func usesDynamicScope(s *jsonschema.Schema) bool {
	seen := map[*jsonschema.Schema]bool{}
	var walk func(s *jsonschema.Schema) bool
	walk = func(s *jsonschema.Schema) bool {
		if s == nil || seen[s] {
			return false
		}
		seen[s] = true
		if s.DynamicRef != nil || s.RecursiveRef != nil {
			return true
		}
		return slices.ContainsFunc(subschemas(s), walk)
	}
	return walk(s)
}

// subschemas returns every schema s refers to directly.
func subschemas(s *jsonschema.Schema) []*jsonschema.Schema {
	out := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else, s.PropertyNames, s.UnevaluatedProperties,
		s.Items2020, s.Contains, s.UnevaluatedItems, s.ContentSchema}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	out = append(out, s.PrefixItems...)
	for _, p := range s.Properties {
		out = append(out, p)
	}
	for _, p := range s.PatternProperties {
		out = append(out, p)
	}
	for _, p := range s.DependentSchemas {
		out = append(out, p)
	}
	for _, d := range s.Dependencies {
		if d, ok := d.(*jsonschema.Schema); ok {
			out = append(out, d)
		}
	}
	for _, x := range []any{s.AdditionalProperties, s.Items, s.AdditionalItems} {
		switch x := x.(type) {
		case *jsonschema.Schema:
			out = append(out, x)
		case []*jsonschema.Schema:
			out = append(out, x...)
		}
	}
	return out
}

type planCompiler struct {
	nodes map[*jsonschema.Schema]*schemaNode
}

// node returns the node of s, compiling it (and what it refers to) once.
func (c *planCompiler) node(s *jsonschema.Schema) *schemaNode {
	if s == nil {
		return nil
	}
	if n, ok := c.nodes[s]; ok {
		return n
	}
	n := &schemaNode{src: s, minLen: -1, maxLen: -1, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1}
	c.nodes[s] = n
	if s.Always != nil {
		n.never = !*s.Always
		return n
	}
	if !knownKeywords(s) {
		n.fallback = true
		return n
	}
	for _, name := range s.Types {
		n.types |= typeBits[name]
	}
	for _, set := range [][]any{s.Enum, s.Constant[:min(len(s.Constant), 1)]} {
		if len(set) == 0 {
			continue
		}
		ss, ok := scalars(set)
		if !ok {
			n.fallback = true
			return n
		}
		n.sets = append(n.sets, ss)
	}
	n.minLen, n.maxLen, n.pattern = s.MinLength, s.MaxLength, s.Pattern
	for _, b := range []struct {
		r          *big.Rat
		lt, eq, gt bool
	}{{s.Minimum, false, true, true}, {s.ExclusiveMinimum, false, false, true}, {s.Maximum, true, true, false}, {s.ExclusiveMaximum, true, false, false}} {
		if b.r != nil {
			f, _ := b.r.Float64()
			n.bounds = append(n.bounds, bound{r: b.r, f: f, lt: b.lt, eq: b.eq, gt: b.gt})
		}
	}

	// Objects.
	n.minProps, n.maxProps = s.MinProperties, s.MaxProperties
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		n.keys = make(map[string]propInfo, len(s.Properties)+len(s.Required))
	}
	for name, sub := range s.Properties {
		n.keys[name] = propInfo{node: c.node(sub), isProp: true}
	}
	for _, name := range s.Required {
		pi := n.keys[name]
		if pi.req != 0 {
			continue // listed twice
		}
		pi.req = 1 << n.nreq
		n.nreq++
		n.keys[name] = pi
	}
	for re, sub := range s.PatternProperties {
		n.patterns = append(n.patterns, patternProp{re: re, node: c.node(sub)})
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.noAddl = !a
	case *jsonschema.Schema:
		n.addl, n.addlSchema = c.node(a), true
	}

	// Arrays.
	n.minItems, n.maxItems = s.MinItems, s.MaxItems
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		n.items, n.itemsSchema = c.node(items), true
	case []*jsonschema.Schema:
		for _, sub := range items {
			n.prefix = append(n.prefix, c.node(sub))
		}
		switch a := s.AdditionalItems.(type) {
		case bool:
			n.noMore = !a
		case *jsonschema.Schema:
			n.items, n.itemsSchema = c.node(a), true
		}
	}
	for _, sub := range s.PrefixItems {
		n.prefix = append(n.prefix, c.node(sub))
	}
	if s.Items2020 != nil {
		n.items, n.itemsSchema = c.node(s.Items2020), true
	}

	// In place.
	for _, sub := range append([]*jsonschema.Schema{s.Ref}, s.AllOf...) {
		if sub != nil {
			n.all = append(n.all, c.node(sub))
		}
	}
	for _, sub := range s.AnyOf {
		n.anyOf = append(n.anyOf, c.node(sub))
	}
	for _, sub := range s.OneOf {
		n.oneOf = append(n.oneOf, c.node(sub))
	}
	n.not = c.node(s.Not)
	if s.If != nil {
		n.hasIf, n.ifn, n.then, n.elsen = true, c.node(s.If), c.node(s.Then), c.node(s.Else)
	}
	return n
}

// knownKeywords reports whether the walk knows every keyword s has (enum
// and const aside, which node checks).
func knownKeywords(s *jsonschema.Schema) bool {
	_, oldItems := s.Items.([]*jsonschema.Schema)
	return s.Format == "" && s.ContentEncoding == "" && s.ContentMediaType == "" && s.ContentSchema == nil &&
		len(s.Dependencies) == 0 && len(s.DependentRequired) == 0 && len(s.DependentSchemas) == 0 &&
		s.PropertyNames == nil && !s.RegexProperties && s.UnevaluatedProperties == nil && s.UnevaluatedItems == nil &&
		!s.UniqueItems && s.Contains == nil && s.MultipleOf == nil && len(s.Extensions) == 0 &&
		len(s.Required) <= 64 && !(oldItems && (len(s.PrefixItems) > 0 || s.Items2020 != nil))
}

// scalars returns the values of an enum or const, if they are all strings,
// booleans and null.
func scalars(values []any) (scalarSet, bool) {
	var ss scalarSet
	for _, v := range values {
		switch v := v.(type) {
		case string:
			ss.strs = append(ss.strs, v)
		case bool:
			ss.yes = ss.yes || v
			ss.no = ss.no || !v
		case nil:
			ss.hasNulls = true
		default:
			return ss, false
		}
	}
	return ss, true
}

// cycle reports whether a node can reach itself in place (through $ref,
// allOf, anyOf, oneOf, not, if, then or else) without entering a property
// or an item: jsonschema calls that an infinite loop.
func (c *planCompiler) cycle(root *schemaNode) bool {
	const (
		unseen = iota
		open
		done
	)
	state := map[*schemaNode]int{}
	var visit func(n *schemaNode) bool
	visit = func(n *schemaNode) bool {
		if n == nil || n.fallback {
			return false
		}
		switch state[n] {
		case open:
			return true
		case done:
			return false
		}
		state[n] = open
		in := append(append(append(slices.Clip(n.all), n.anyOf...), n.oneOf...), n.not, n.ifn, n.then, n.elsen)
		if slices.ContainsFunc(in, visit) {
			return true
		}
		state[n] = done
		return false
	}
	for _, n := range c.nodes {
		if visit(n) {
			return true
		}
	}
	return false
}

// schemaValid reports whether text, which must be UTF-8, is sure to be
// valid against t's schema (see the top of this file). It applies checkText's
// limits itself (depth, exponents): text it reports valid is within them.
func schemaValid(t *Type, text []byte) bool {
	p := t.schemaPlan()
	if p == nil || p.root == nil {
		return false
	}
	w := schemaScan{jsonScan: jsonScan{b: text}}
	if !w.value(p.root, 0) {
		return false
	}
	w.space()
	return w.i == len(text)
}

// schemaScan walks JSON text against schema nodes. Its methods report
// whether the value at w.i is valid (and move w.i past it). When they report
// false without being sure the value is invalid, they set unsure: under not,
// anyOf, oneOf and if, only a sure failure may count as one.
type schemaScan struct {
	jsonScan
	unsure bool
	buf    []byte // unescaped strings
}

// value checks the value at w.i against n.
func (w *schemaScan) value(n *schemaNode, depth int) bool {
	w.space()
	start := w.i
	switch {
	case n == nil:
		return w.skip(depth)
	case n.fallback:
		return w.fallback(n, depth)
	case n.never:
		// Sure only once the value is known to be well formed.
		if w.skip(depth) {
			return false
		}
		w.unsure = true
		return false
	}
	if !w.own(n, depth) {
		return false
	}
	if len(n.all) == 0 && len(n.anyOf) == 0 && len(n.oneOf) == 0 && n.not == nil && !n.hasIf {
		return true
	}
	end := w.i
	again := func(sub *schemaNode) bool {
		w.i = start
		return w.value(sub, depth)
	}
	for _, sub := range n.all {
		if !again(sub) {
			return false
		}
	}
	if len(n.anyOf) > 0 {
		was, unsure := w.unsure, false
		matched := false
		for _, sub := range n.anyOf {
			w.unsure = false
			if again(sub) {
				matched = true
				break
			}
			unsure = unsure || w.unsure
		}
		w.unsure = was
		if !matched {
			w.unsure = w.unsure || unsure
			return false
		}
	}
	if len(n.oneOf) > 0 {
		was, unsure := w.unsure, false
		matched := 0
		for _, sub := range n.oneOf {
			w.unsure = false
			if again(sub) {
				matched++
			} else {
				unsure = unsure || w.unsure
			}
		}
		w.unsure = was
		if matched != 1 || unsure {
			w.unsure = w.unsure || (matched < 2 && unsure)
			return false
		}
	}
	if n.not != nil {
		was := w.unsure
		w.unsure = false
		ok := again(n.not)
		if ok || w.unsure {
			w.unsure = was || !ok
			return false
		}
		w.unsure = was
	}
	if n.hasIf {
		was := w.unsure
		w.unsure = false
		ok := again(n.ifn)
		if !ok && w.unsure {
			return false
		}
		w.unsure = was
		sub := n.elsen
		if ok {
			sub = n.then
		}
		if !again(sub) {
			return false
		}
	}
	w.i = end
	return true
}

// fail records that a false answer is not sure, and returns false.
func (w *schemaScan) fail() bool {
	w.unsure = true
	return false
}

// fallback checks the value at w.i against n with jsonschema.
func (w *schemaScan) fallback(n *schemaNode, depth int) bool {
	start := w.i
	if !w.skip(depth) {
		return false
	}
	text := w.b[start:w.i]
	v, ok := decodeAny(text)
	if !ok {
		var err error
		if v, err = decodeText(text); err != nil {
			return w.fail()
		}
	}
	err := guard("schema validation", func() error { return n.src.Validate(v) })
	if err != nil {
		return false
	}
	return true
}

// skip consumes one well-formed value of any kind.
func (w *schemaScan) skip(depth int) bool {
	return w.own(nil, depth)
}

// own checks the value at w.i against n's keywords other than the in-place
// ones; a nil n checks only that it is well formed.
func (w *schemaScan) own(n *schemaNode, depth int) bool {
	switch w.peek() {
	case '{':
		return w.object(n, depth)
	case '[':
		return w.array(n, depth)
	case '"':
		v, escaped, ok := w.str()
		if !ok {
			return w.fail()
		}
		if n == nil {
			return true
		}
		if !n.allows(typeString) {
			return false
		}
		s := w.b[v.start:v.end]
		if escaped && (len(n.sets) > 0 || n.minLen >= 0 || n.maxLen >= 0 || n.pattern != nil) {
			w.buf = appendUnescaped(w.buf[:0], s)
			s = w.buf
		}
		for i := range n.sets {
			if !slices.Contains(n.sets[i].strs, string(s)) {
				return false
			}
		}
		// A string of b bytes has from b/4 (rounded up) to b runes: they
		// are counted only when that leaves the answer open.
		if (n.minLen >= 0 && (len(s)+3)/4 < n.minLen) || (n.maxLen >= 0 && len(s) > n.maxLen) {
			l := utf8.RuneCount(s)
			if (n.minLen >= 0 && l < n.minLen) || (n.maxLen >= 0 && l > n.maxLen) {
				return false
			}
		}
		return n.pattern == nil || n.pattern.Match(s)
	case 't', 'f', 'n':
		c := w.b[w.i]
		word, typ := "null", typeNull
		switch c {
		case 't':
			word, typ = "true", typeBoolean
		case 'f':
			word, typ = "false", typeBoolean
		}
		if !w.literal(word) {
			return w.fail()
		}
		if n == nil {
			return true
		}
		if !n.allows(typ) {
			return false
		}
		for _, set := range n.sets {
			if (c == 't' && !set.yes) || (c == 'f' && !set.no) || (c == 'n' && !set.hasNulls) {
				return false
			}
		}
		return true
	}
	num, ok := w.number()
	if !ok {
		return w.fail()
	}
	if n == nil {
		return true
	}
	text := w.b[num.start:num.end]
	if n.types != 0 && n.types&typeNumber == 0 && (n.types&typeInteger == 0 || !isIntegerText(text)) {
		return false
	}
	if len(n.sets) > 0 {
		return false // enum and const here hold no numbers
	}
	for i := range n.bounds {
		if !n.bounds[i].allows(text) {
			return false
		}
	}
	return true
}

// allows reports whether n's type keyword allows typ (which is not
// typeInteger: numbers are checked apart).
func (n *schemaNode) allows(typ typeSet) bool {
	return n.types == 0 || n.types&typ != 0
}

// object checks an object at w.i against n (nil: only well formed).
func (w *schemaScan) object(n *schemaNode, depth int) bool {
	if depth++; depth > MaxJSONDepth {
		return w.fail()
	}
	objStart := w.i
	if n != nil && (!n.allows(typeObject) || len(n.sets) > 0) {
		return w.skip(depth-1) && false
	}
	w.i++ // '{'
	var seen uint64
	count := 0
	if !w.next('}') {
		for {
			k, escaped, ok := w.str()
			if !ok || !w.next(':') {
				return w.fail()
			}
			count++
			key := w.b[k.start:k.end]
			if n == nil {
				if !w.skip(depth) {
					return false
				}
			} else {
				if escaped {
					w.buf = appendUnescaped(w.buf[:0], key)
					key = w.buf
				}
				w.space()
				vstart := w.i
				if !w.member(n, key, depth, &seen) {
					if !w.unsure {
						w.unsure = w.keyAgain(vstart, depth, k, escaped)
					}
					return false
				}
			}
			if w.next('}') {
				break
			}
			if !w.next(',') {
				return w.fail()
			}
		}
	}
	if n == nil {
		return true
	}
	if n.nreq > 0 && seen != 1<<n.nreq-1 {
		return false
	}
	if (n.minProps >= 0 && count >= n.minProps) || (n.maxProps >= 0 && count > n.maxProps) {
		// Duplicate keys count once.
		distinct, ok := w.distinctKeys(objStart, count)
		if !ok {
			return w.fail()
		}
		count = distinct
	}
	return (n.minProps < 0 || count >= n.minProps) && (n.maxProps < 0 || count <= n.maxProps)
}

// member checks the value at w.i of key (unescaped) against the schemas of
// object node n, and marks it in seen if it is required.
func (w *schemaScan) member(n *schemaNode, key []byte, depth int, seen *uint64) bool {
	pi := n.keys[string(key)]
	*seen |= pi.req
	var nodes [4]*schemaNode
	list := nodes[:0]
	if pi.isProp {
		list = append(list, pi.node)
	}
	for _, pp := range n.patterns {
		if pp.re.Match(key) {
			list = append(list, pp.node)
		}
	}
	if len(list) == 0 {
		switch {
		case n.noAddl:
			// Sure: the key is there, whatever the rest of the object.
			return w.skip(depth) && false
		case n.addlSchema:
			list = append(list, n.addl)
		}
	}
	if len(list) <= 1 {
		var sub *schemaNode
		if len(list) == 1 {
			sub = list[0]
		}
		return w.value(sub, depth)
	}
	start := w.i
	for _, sub := range list {
		w.i = start
		if !w.value(sub, depth) {
			return false
		}
	}
	return true
}

// keyAgain reports whether the key k (escaped: it has escapes) comes again
// later in the object whose member value starts at vstart; it then is not
// sure that a failure of that value is a failure of the object, whose last
// value counts. Not being able to tell counts as coming again.
func (w *schemaScan) keyAgain(vstart, depth int, k span, escaped bool) bool {
	w.i = vstart
	if escaped || !w.skip(depth) {
		return true
	}
	key := w.b[k.start:k.end]
	for {
		if w.next('}') {
			return false
		}
		if !w.next(',') {
			return true
		}
		k2, escaped2, ok := w.str()
		if !ok || escaped2 || string(w.b[k2.start:k2.end]) == string(key) || !w.next(':') || !w.skip(depth) {
			return true
		}
	}
}

// maxDistinctKeys is the most keys of one object distinctKeys compares.
const maxDistinctKeys = 32

// distinctKeys counts the distinct keys of the object at start, which has
// count keys and is well formed; it reports false when it cannot tell.
func (w *schemaScan) distinctKeys(start, count int) (int, bool) {
	if count > maxDistinctKeys {
		return 0, false
	}
	end := w.i
	defer func() { w.i = end }()
	var keys [maxDistinctKeys][]byte
	n := 0
	w.i = start + 1
	for i := range count {
		if i > 0 {
			w.next(',')
		}
		k, escaped, _ := w.str()
		if escaped {
			return 0, false
		}
		key := w.b[k.start:k.end]
		w.next(':')
		w.skip(0)
		if !slices.ContainsFunc(keys[:n], func(b []byte) bool { return string(b) == string(key) }) {
			keys[n] = key
			n++
		}
	}
	return n, true
}

// array checks an array at w.i against n (nil: only well formed).
func (w *schemaScan) array(n *schemaNode, depth int) bool {
	if depth++; depth > MaxJSONDepth {
		return w.fail()
	}
	if n != nil && (!n.allows(typeArray) || len(n.sets) > 0) {
		return w.skip(depth-1) && false
	}
	w.i++ // '['
	count := 0
	if !w.next(']') {
		for {
			var sub *schemaNode
			if n != nil {
				switch {
				case count < len(n.prefix):
					sub = n.prefix[count]
				case n.noMore:
					return w.skip(depth-1) && false
				case n.itemsSchema:
					sub = n.items
				}
			}
			if !w.value(sub, depth) {
				return false
			}
			count++
			if w.next(']') {
				break
			}
			if !w.next(',') {
				return w.fail()
			}
		}
	}
	return n == nil || ((n.minItems < 0 || count >= n.minItems) && (n.maxItems < 0 || count <= n.maxItems))
}

// allows reports whether the number text passes b, comparing exactly as
// jsonschema does (as rationals) but through float64 where that is exact:
// rounding to the nearest float64 keeps order, so unequal roundings order
// the numbers themselves.
func (b *bound) allows(text []byte) bool {
	f, err := strconv.ParseFloat(string(text), 64)
	c := 0
	switch {
	case err != nil && !isRangeError(err):
		return false
	case f < b.f:
		c = -1
	case f > b.f:
		c = 1
	default:
		r, ok := new(big.Rat).SetString(string(text))
		if !ok {
			return false
		}
		c = r.Cmp(b.r)
	}
	return (c < 0 && b.lt) || (c == 0 && b.eq) || (c > 0 && b.gt)
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// isIntegerText reports whether the JSON number text has an integer value
// (1.0 and 1e2 do: jsonschema's "integer" is a value, not a spelling). The
// value is D × 10^(exp−frac), D the digits without the dot and frac how many
// follow it: an integer when D is zero or ends in at least frac−exp zeros.
func isIntegerText(text []byte) bool {
	mant, exp := text, 0
	if j := bytes.IndexAny(text, "eE"); j >= 0 {
		mant = text[:j]
		e, err := strconv.Atoi(string(text[j+1:]))
		if err != nil {
			return false
		}
		exp = e
	}
	frac := 0
	if dot := bytes.IndexByte(mant, '.'); dot >= 0 {
		frac = len(mant) - dot - 1
	}
	if frac <= exp {
		return true
	}
	zeros := 0
	for j := len(mant) - 1; j >= 0; j-- {
		switch c := mant[j]; {
		case c == '0':
			zeros++
		case c >= '1' && c <= '9':
			return zeros >= frac-exp
		}
	}
	return true // D is zero
}
