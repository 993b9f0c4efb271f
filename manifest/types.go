package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"
)

// errorIn records an error at pointer p of a document other than the
// manifest (a schema file it refers to), or of the manifest itself.
func (b *builder) errorIn(file string, root *node, p string, format string, args ...any) {
	n := root.at(p)
	b.errs = append(b.errs, &Error{File: file, Line: n.line, Col: n.col, Path: dotted(p), Msg: fmt.Sprintf(format, args...)})
}

// resolveSchema reads the JSON Schema of t, inline or from the file its $ref
// names, and compiles it. Any reference out of the schema is refused, so the
// embedded schema in the canonical form is complete.
func (b *builder) resolveSchema(t *MessageType, p string, sn *node) {
	value, sch := b.compileSchema("mem:///messages/"+string(t.Direction)+"/"+t.Name+".schema.json", p, sn)
	if sch != nil {
		b.schemas[t] = value
		t.Schema = sch
	}
}

// compileSchema reads the JSON Schema at pointer p (node sn), inline or from
// the file its $ref names, and compiles it under url. It returns the
// schema's value, for the canonical form, and the compiled schema, or nil
// after recording what is wrong.
func (b *builder) compileSchema(url, p string, sn *node) (any, *jsonschema.Schema) {
	file, root, base := b.file, b.root, p
	if ref := sn.field("$ref"); ref != nil && ref.kind == kindString && !strings.HasPrefix(ref.text, "#") {
		switch {
		case len(sn.keys) > 1:
			b.errorf(p+"/$ref", "a $ref to a file must stand alone: move the other keywords into %s", ref.text)
			return nil, nil
		case strings.Contains(ref.text, "#"):
			b.errorf(p+"/$ref", "%q: a $ref must name a whole file, without a #fragment", ref.text)
			return nil, nil
		case strings.Contains(ref.text, "://"):
			b.errorf(p+"/$ref", "%q: schemas are not fetched from URLs; save it beside the manifest and name the file", ref.text)
			return nil, nil
		}
		data, ok := b.readFile(p+"/$ref", ref.text, true)
		if !ok {
			return nil, nil
		}
		fileRoot, ok := b.document(ref.text, data)
		if !ok {
			return nil, nil
		}
		file, root, base, sn = b.displayName(ref.text), fileRoot, "", fileRoot
	}
	if !b.withinLimits(file, root, base, sn) || b.externalRefs(file, root, base, sn) || b.ctx.Err() != nil {
		return nil, nil
	}
	value := sn.value()
	doc, _ := json.Marshal(value)
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	c.LoadURL = func(s string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("%s: references out of a message schema are not allowed; put the definitions under $defs", s)
	}
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		b.errorIn(file, root, base, "invalid JSON Schema: %v", err)
		return nil, nil
	}
	sch, err := c.Compile(url)
	if err != nil {
		var se *jsonschema.SchemaError
		var ve *jsonschema.ValidationError
		if errors.As(err, &se) && errors.As(se.Err, &ve) {
			for _, e := range schemaErrors(file, root, base, ve, nil) {
				e.Msg = "invalid JSON Schema: " + e.Msg
				b.errs = append(b.errs, e)
			}
			return nil, nil
		}
		b.errorIn(file, root, base, "invalid JSON Schema: %s", strings.TrimPrefix(err.Error(), "jsonschema: "))
		return nil, nil
	}
	return value, sch
}

// externalRefs reports every $ref under n (at pointer p of root, in file)
// that leaves the schema, and whether there was one. Only references inside
// the schema (#/$defs/...) keep the embedded schema self-contained.
func (b *builder) externalRefs(file string, root *node, p string, n *node) bool {
	found := false
	switch n.kind {
	case kindObject:
		for i, k := range n.keys {
			cp := p + "/" + escapePointer(k.text)
			v := n.vals[i]
			if k.text == "$ref" && v.kind == kindString && !strings.HasPrefix(v.text, "#") {
				b.errorIn(file, root, cp, "%q: a message schema may refer only inside itself (#/$defs/...); inline the definition under $defs", v.text)
				found = true
				continue
			}
			found = b.externalRefs(file, root, cp, v) || found
		}
	case kindArray:
		for i, v := range n.vals {
			found = b.externalRefs(file, root, fmt.Sprintf("%s/%d", p, i), v) || found
		}
	}
	return found
}

// withinLimits counts what compiling the schema n (at pointer p of root, in
// file) would cost, and reports whether it is within MaxSchemaObjects,
// MaxSchemaObjectsTotal and MaxPatternBytes, reporting the place where it is
// not. Once the manifest's schemas together are over a limit, later schemas
// are refused without another error. It counts every object and boolean (each
// may be a subschema) and, as regular expressions, every string under a
// "pattern" key and every key of a "patternProperties" object, wherever they
// are (in a const too), so that none escapes the count.
func (b *builder) withinLimits(file string, root *node, p string, n *node) bool {
	if b.schemasOver {
		return false
	}
	objects, patterns := 0, 0
	fail := func(at, format string, args ...any) bool {
		an := root.at(at)
		b.errs = append(b.errs, &Error{File: file, Line: an.line, Col: an.col, Path: dotted(at), Msg: fmt.Sprintf(format, args...), Err: ErrTooLarge})
		return false
	}
	pattern := func(at, re string) bool {
		patterns += len(re)
		if b.patternBytes+patterns <= MaxPatternBytes {
			return true
		}
		b.schemasOver = true
		return fail(at, "this regular expression is %d bytes; with it the schemas' patterns come to %d, over the %s a manifest's patterns may have together (compiling them takes time in proportion); shorten it",
			len(re), b.patternBytes+patterns, sizeText(MaxPatternBytes))
	}
	var walk func(p string, n *node) bool
	walk = func(p string, n *node) bool {
		if n.kind == kindObject || n.kind == kindBool {
			objects++
			if objects > MaxSchemaObjects {
				return fail(p, "the schema has more than %d objects and booleans (each may be a subschema, and the JSON Schema compiler takes time quadratic in their number); split the type, or write repeated parts once under $defs and $ref them",
					MaxSchemaObjects)
			}
			if b.schemaObjects+objects > MaxSchemaObjectsTotal {
				b.schemasOver = true
				return fail(p, "with this schema the manifest's schemas have more than %d objects and booleans together (compiling them takes time in proportion); make them smaller, or write repeated parts once under $defs",
					MaxSchemaObjectsTotal)
			}
		}
		for i, v := range n.vals {
			cp := fmt.Sprintf("%s/%d", p, i)
			if n.kind == kindObject {
				k := n.keys[i].text
				cp = p + "/" + escapePointer(k)
				if k == "pattern" && v.kind == kindString && !pattern(cp, v.text) {
					return false
				}
				if k == "patternProperties" && v.kind == kindObject {
					for _, re := range v.keys {
						if !pattern(cp+"/"+escapePointer(re.text), re.text) {
							return false
						}
					}
				}
			}
			if !walk(cp, v) {
				return false
			}
		}
		return true
	}
	if !walk(p, n) {
		return false
	}
	b.schemaObjects += objects
	b.patternBytes += patterns
	return true
}

var protojsonPosition = regexp.MustCompile(`^proto:[\s\p{Zs}]*(\(line \d+:\d+\):[\s\p{Zs}]*)?`)

// checkExample checks one example value against the type's definitions.
func (b *builder) checkExample(t *MessageType, p string, e *node) {
	v := e.value()
	data := encodeCanonical(v)
	t.Examples = append(t.Examples, data)
	if t.Schema != nil {
		for _, err := range schemaErrors(b.file, b.root, p, t.Schema.Validate(v), nil) {
			err.Msg = "example does not match the schema: " + err.Msg
			b.errs = append(b.errs, err)
		}
	}
	if t.Proto != nil {
		if err := protojson.Unmarshal(data, dynamicpb.NewMessage(t.Proto)); err != nil {
			b.errorf(p, "example is not a valid %s in protobuf JSON: %s", t.Proto.FullName(), protojsonPosition.ReplaceAllString(err.Error(), ""))
		}
	}
}

// checkFilterFields checks that each filter field is a top-level field of t.
func (b *builder) checkFilterFields(t *MessageType, p string) {
	if len(t.FilterFields) == 0 || (b.declared[t] && t.Proto == nil && t.Schema == nil) {
		return // nothing to check, or the type did not resolve (reported already)
	}
	var known []string
	switch {
	case t.Proto != nil:
		fields := t.Proto.Fields()
		for i := 0; i < fields.Len(); i++ {
			known = append(known, string(fields.Get(i).Name()))
			if j := fields.Get(i).JSONName(); j != string(fields.Get(i).Name()) {
				known = append(known, j)
			}
		}
	case t.Schema != nil:
		obj, _ := b.schemas[t].(map[string]any)
		props, _ := obj["properties"].(map[string]any)
		for k := range props {
			known = append(known, k)
		}
	}
	sort.Strings(known)
	items := b.root.at(p)
	for i, f := range items.vals {
		if f.kind != kindString || contains(known, f.text) {
			continue
		}
		ip := fmt.Sprintf("%s/%d", p, i)
		switch {
		case len(known) == 0:
			b.errorf(ip, "cannot filter on %q: type %s declares no fields (give it a proto message or a schema with properties)", f.text, t.Name)
		case suggest(f.text, known) != "":
			b.errorf(ip, "%q is not a field of %s; did you mean %q?", f.text, t.Name, suggest(f.text, known))
		default:
			b.errorf(ip, "%q is not a field of %s; its fields are %s", f.text, t.Name, strings.Join(known, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
