package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/ifkit/ifkit/spec"
)

// formatSchema compiles spec/manifest.schema.json once. It is immutable after
// the first call, so sharing it is not shared mutable state.
var formatSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(spec.ManifestSchemaURL, bytes.NewReader(spec.ManifestSchema)); err != nil {
		return nil, err
	}
	return c.Compile(spec.ManifestSchemaURL)
})

// formatSchemaDoc is the format schema as plain JSON, for naming the fields an
// object allows when an unknown one is found.
var formatSchemaDoc = sync.OnceValue(func() any {
	var doc any
	if err := json.Unmarshal(spec.ManifestSchema, &doc); err != nil {
		panic("spec/manifest.schema.json is not JSON: " + err.Error()) // embedded at build time
	}
	return doc
})

// friendlier messages for the format schema's patterns, by keyword location.
var patternHelp = map[string]string{
	"/properties/name/pattern":                    "must be dot-separated lower-case identifiers, like sensors.temperature",
	"/properties/version/pattern":                 "must be a semantic version, like 1.4.0 or 2.0.0-rc.1",
	"/$defs/typeName/pattern":                     "a message type name must start with an upper-case letter and hold only letters, digits and _ (like Reading)",
	"/$defs/messageType/properties/proto/pattern": "must be a fully-qualified protobuf message name, like greenhouse.v1.Reading",
	"/properties/protos/items/pattern":            "must name a .proto file",
}

// checkFormat validates the document against the manifest format's schema.
func checkFormat(file string, root *node) ErrorList {
	sch, err := formatSchema()
	if err != nil {
		return ErrorList{{File: file, Msg: "internal error: the manifest format schema does not compile: " + err.Error()}}
	}
	return schemaErrors(file, root, "", sch.Validate(root.value()), formatSchemaDoc())
}

// schemaErrors turns a jsonschema validation error about the value at base
// (a JSON pointer into root) into positioned errors, one per failing leaf.
// doc, when not nil, is the schema as JSON, used to list allowed fields.
func schemaErrors(file string, root *node, base string, err error, doc any) ErrorList {
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return ErrorList{{File: file, Path: dotted(base), Msg: err.Error()}}
	}
	var out ErrorList
	for _, leaf := range leaves(ve) {
		out = append(out, leafErrors(file, root, base, leaf, doc)...)
	}
	return out
}

// leaves returns the failing leaves of a validation error tree. Under anyOf
// and oneOf, alternatives that failed only on their type are dropped when
// another alternative of the right type failed for a better reason: for
// `type: strnig` the useful error is the enum of type names, not "expected
// array".
func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	if k := lastSegment(ve.KeywordLocation); k == "anyOf" || k == "oneOf" {
		var typed []*jsonschema.ValidationError
		for _, l := range out {
			if lastSegment(l.KeywordLocation) != "type" {
				typed = append(typed, l)
			}
		}
		if len(typed) > 0 {
			out = typed
		}
	}
	return out
}

func lastSegment(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

var floatInText = regexp.MustCompile(`-?\d+(\.\d+)?e[+-]\d+`)

// semverLike pads a number such as 1.4 to a version such as 1.4.0.
func semverLike(n string) string {
	for strings.Count(n, ".") < 2 {
		n += ".0"
	}
	return n
}

var quotedName = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

func leafErrors(file string, root *node, base string, ve *jsonschema.ValidationError, doc any) ErrorList {
	ptr := base + ve.InstanceLocation
	n := root.at(ptr)
	at := func(n *node, path, msg string) *Error {
		return &Error{File: file, Line: n.line, Col: n.col, Path: dotted(path), Msg: msg}
	}
	keywordPath := ve.AbsoluteKeywordLocation
	if i := strings.IndexByte(keywordPath, '#'); i >= 0 {
		keywordPath = keywordPath[i+1:]
	}
	keyword := keywordPath[strings.LastIndexByte(keywordPath, '/')+1:]
	switch keyword {
	case "additionalProperties":
		allowed := allowedFields(doc, strings.TrimSuffix(keywordPath, "/additionalProperties"))
		var names []string
		for _, m := range quotedName.FindAllStringSubmatch(ve.Message, -1) {
			names = append(names, strings.ReplaceAll(m[1], `\'`, `'`))
		}
		sort.Strings(names)
		var out ErrorList
		for _, name := range names {
			msg := fmt.Sprintf("unknown field %q", name)
			if s := suggest(name, allowed); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else if len(allowed) > 0 {
				msg += "; allowed fields are " + strings.Join(allowed, ", ")
			}
			key := n.keyNode(name)
			if key == nil {
				key = n
			}
			out = append(out, at(key, ptr+"/"+name, msg))
		}
		return out
	case "required":
		return ErrorList{at(n, ptr, "missing required field "+strings.ReplaceAll(strings.TrimPrefix(ve.Message, "missing properties: "), "'", "\""))}
	case "pattern":
		if strings.Contains(ve.KeywordLocation, "/propertyNames/") {
			// The failing value is a key: point at it and name it.
			name := ptr[strings.LastIndexByte(ptr, '/')+1:]
			parent := root.at(ptr[:strings.LastIndexByte(ptr, '/')])
			if key := parent.keyNode(name); key != nil {
				n = key
			}
			if help, ok := patternHelp[keywordPath]; ok {
				return ErrorList{at(n, ptr, fmt.Sprintf("%q: %s", name, help))}
			}
		}
		if help, ok := patternHelp[keywordPath]; ok {
			return ErrorList{at(n, ptr, fmt.Sprintf("%q %s", n.text, help))}
		}
	case "type":
		if doc != nil && ptr == "/version" && n.kind == kindNumber {
			return ErrorList{at(n, ptr, fmt.Sprintf("expected a string, but %s is a number; write a quoted semantic version, like \"%s\"", n.text, semverLike(n.text)))}
		}
		if doc != nil && n.kind == kindNumber && strings.HasPrefix(ve.Message, "expected string") {
			return ErrorList{at(n, ptr, fmt.Sprintf("expected a string, but %s is a number; quote it", n.text))}
		}
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		// jsonschema prints limits with %v: 1.6777216e+07 for 16777216.
		return ErrorList{at(n, ptr, floatInText.ReplaceAllStringFunc(ve.Message, func(f string) string {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return f
			}
			return formatNumber(v)
		}))}
	case "enum":
		return ErrorList{at(n, ptr, fmt.Sprintf("%s is not allowed; %s", describe(n), ve.Message))}
	}
	return ErrorList{at(n, ptr, ve.Message)}
}

func describe(n *node) string {
	switch n.kind {
	case kindString:
		return fmt.Sprintf("%q", n.text)
	case kindNumber:
		return n.text
	case kindBool:
		return fmt.Sprint(n.truth)
	case kindNull:
		return "null"
	case kindArray:
		return "a list"
	}
	return "an object"
}

// allowedFields lists the properties the schema object at pointer p declares.
func allowedFields(doc any, p string) []string {
	cur := doc
	for _, seg := range splitPointer(p) {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	m, _ := cur.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// suggest returns the candidate closest to name, if it is close enough to be
// a likely typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", len(name)/2+1
	if bestDist > 3 {
		bestDist = 3
	}
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d <= bestDist && (best == "" || d < editDistance(name, best)) {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
