// Package gogen writes typed Go client and server stubs for ifkit
// interfaces from their manifests (ifctl gen go): one Go package per
// manifest, holding the protobuf types its messages use (generated as
// protoc-gen-go would, without protoc), Go structs for the types a JSON
// Schema defines, a Client with one method per message type, a Server
// interface with its iface.Interface, and a test that round-trips every
// example of the manifest through both.
package gogen

import (
	"encoding/json"
	"fmt"
	"go/format"
	"path"
	"sort"
	"strings"
	"unicode"

	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/manifest"
)

// File is one generated file, named relative to the package's folder.
type File struct {
	Name    string
	Content []byte
}

// Package is the generated code of one manifest.
type Package struct {
	Name  string // the Go package name, also its folder's
	Files []File
}

// PackageName is the Go package name for the interface name: its letters
// and digits, lower-cased ("db.kv" → "dbkv").
func PackageName(iface string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(iface) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" || unicode.IsDigit(rune(s[0])) {
		s = "ifkit" + s
	}
	return s
}

// Generate writes the package for m. importPath is the package's Go import
// path (it matters only to the protobuf code's registration).
func Generate(m *manifest.Manifest, importPath string) (*Package, error) {
	g := &gen{m: m, pkg: PackageName(m.Name), goNames: map[protoreflect.FullName]string{}, types: map[string]*goType{}}
	p := &Package{Name: g.pkg}
	pbFiles, err := g.protos(importPath)
	if err != nil {
		return nil, err
	}
	p.Files = append(p.Files, pbFiles...)
	for _, d := range []manifest.Direction{manifest.Send, manifest.Recv} {
		for _, t := range m.Types(d) {
			if err := g.typeOf(t); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range []struct {
		name string
		fn   func(*strings.Builder)
	}{{"ifkit.go", g.stubs}, {"ifkit_test.go", g.test}} {
		var b strings.Builder
		f.fn(&b)
		src, err := format.Source([]byte(b.String()))
		if err != nil {
			return nil, fmt.Errorf("%s: generated %s does not parse: %w\n%s", m.Name, f.name, err, b.String())
		}
		p.Files = append(p.Files, File{f.name, src})
	}
	return p, nil
}

type gen struct {
	m       *manifest.Manifest
	pkg     string
	goNames map[protoreflect.FullName]string // protobuf messages' Go names
	types   map[string]*goType               // by message type name
	decls   []string                         // Go declarations made from schemas
	used    map[string]bool                  // Go names taken
}

// goType is the Go type of one message type.
type goType struct {
	Name string // the Go type name; values are passed as *Name
	Kind kind
}

type kind int

const (
	kindProto  kind = iota // a generated protobuf message
	kindStruct             // a struct made from a JSON Schema
	kindJSON               // json.RawMessage: a JSON type without a schema
	kindRaw                // []byte: the raw codec
)

// protos generates the protobuf files m's types use, all into this package.
func (g *gen) protos(importPath string) ([]File, error) {
	if g.m.Files == nil || g.m.Files.NumFiles() == 0 {
		return nil, nil
	}
	req := &pluginpb.CodeGeneratorRequest{}
	var params []string
	var gen []string
	g.m.Files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		fdp := protodesc.ToFileDescriptorProto(fd)
		req.ProtoFile = append(req.ProtoFile, fdp)
		if !strings.HasPrefix(fd.Path(), "google/protobuf/") {
			gen = append(gen, fd.Path())
			params = append(params, "M"+fd.Path()+"="+importPath+";"+g.pkg)
		}
		return true
	})
	// Dependencies first, as protoc sends them.
	req.ProtoFile = sortFiles(req.ProtoFile)
	sort.Strings(gen)
	req.FileToGenerate = gen
	params = append(params, "paths=source_relative")
	req.Parameter = proto.String(strings.Join(params, ","))
	plugin, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, fmt.Errorf("%s: protobuf code: %w", g.m.Name, err)
	}
	var walk func(ms []*protogen.Message)
	walk = func(ms []*protogen.Message) {
		for _, msg := range ms {
			g.goNames[msg.Desc.FullName()] = msg.GoIdent.GoName
			walk(msg.Messages)
		}
	}
	for _, f := range plugin.Files {
		if f.Generate {
			internal_gengo.GenerateFile(plugin, f)
			walk(f.Messages)
		}
	}
	resp := plugin.Response()
	if resp.Error != nil {
		return nil, fmt.Errorf("%s: protobuf code: %s", g.m.Name, resp.GetError())
	}
	var out []File
	for _, f := range resp.File {
		// Flat: kv/v1/kv.pb.go → kv_v1_kv.pb.go.
		out = append(out, File{strings.ReplaceAll(f.GetName(), "/", "_"), []byte(f.GetContent())})
	}
	return out, nil
}

// sortFiles orders files so that each comes after its dependencies.
func sortFiles(files []*descriptorpb.FileDescriptorProto) []*descriptorpb.FileDescriptorProto {
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	for _, f := range files {
		byName[f.GetName()] = f
	}
	var out []*descriptorpb.FileDescriptorProto
	done := map[string]bool{}
	var visit func(f *descriptorpb.FileDescriptorProto)
	visit = func(f *descriptorpb.FileDescriptorProto) {
		if done[f.GetName()] {
			return
		}
		done[f.GetName()] = true
		for _, d := range f.GetDependency() {
			if df := byName[d]; df != nil {
				visit(df)
			}
		}
		out = append(out, f)
	}
	for _, f := range files {
		visit(f)
	}
	return out
}

// typeOf decides the Go type of t, declaring a struct for a schema.
func (g *gen) typeOf(t *manifest.MessageType) error {
	if g.used == nil {
		g.used = map[string]bool{"Client": true, "Server": true, "Connect": true, "Interface": true, "Manifest": true, "Name": true}
		for _, n := range g.goNames {
			g.used[n] = true
		}
	}
	rawOnly := len(g.m.Codecs) == 1 && g.m.Codecs[0] == codec.NameRaw
	switch {
	case t.Proto != nil:
		name, ok := g.goNames[t.Proto.FullName()]
		if !ok {
			return fmt.Errorf("%s: type %s: no Go type was generated for %s", g.m.Name, t.Name, t.Proto.FullName())
		}
		g.types[t.Name] = &goType{name, kindProto}
	case rawOnly:
		g.types[t.Name] = &goType{g.declare(exported(t.Name), "= []byte", t.Description), kindRaw}
	case t.Schema != nil:
		var root any
		if err := json.Unmarshal(schemaOf(g.m, t), &root); err != nil {
			return err
		}
		s := &schemaGen{g: g, root: root, defs: map[string]string{}}
		name := g.unique(exported(t.Name))
		g.used[name] = true
		typ := s.goType(root, name)
		if typ != name { // not an object with properties: name what it is
			g.decls = append(g.decls, doc(t.Description)+"type "+name+" = "+typ)
		}
		g.types[t.Name] = &goType{name, kindStruct}
	default:
		g.types[t.Name] = &goType{g.declare(exported(t.Name), "= json.RawMessage", t.Description), kindJSON}
	}
	return nil
}

func (g *gen) declare(name, def, description string) string {
	name = g.unique(name)
	g.used[name] = true
	g.decls = append(g.decls, doc(description)+"type "+name+" "+def)
	return name
}

func (g *gen) unique(name string) string {
	base := name
	for i := 2; g.used[name]; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	return name
}

func doc(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return "// " + strings.ReplaceAll(s, "\n", "\n// ") + "\n"
}

// schemaOf returns t's JSON Schema as embedded in m's canonical form.
func schemaOf(m *manifest.Manifest, t *manifest.MessageType) []byte {
	var doc struct {
		Messages map[string]map[string]struct {
			Schema json.RawMessage `json:"schema"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(m.Canonical(), &doc)
	return doc.Messages[string(t.Direction)][t.Name].Schema
}

// exported makes a Go identifier of s: "trace_id" → "TraceId", "Get" → "Get".
func exported(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if up {
				r = unicode.ToUpper(r)
				up = false
			}
			b.WriteRune(r)
		default:
			up = true
		}
	}
	out := b.String()
	if out == "" || unicode.IsDigit(rune(out[0])) {
		out = "X" + out
	}
	return out
}

// schemaGen makes Go types from one JSON Schema.
type schemaGen struct {
	g    *gen
	root any
	defs map[string]string // $ref → Go type
}

// goType returns the Go type for schema s, declaring a struct named name
// for an object with properties.
func (s *schemaGen) goType(v any, name string) string {
	sch, ok := v.(map[string]any)
	if !ok {
		return "any"
	}
	if ref, ok := sch["$ref"].(string); ok {
		if t, ok := s.defs[ref]; ok {
			return t
		}
		target := s.resolve(ref)
		tn := s.g.unique(exported(path.Base(ref)))
		s.g.used[tn] = true
		s.defs[ref] = tn
		t := s.goType(target, tn)
		if t != tn {
			s.g.decls = append(s.g.decls, "type "+tn+" = "+t)
		}
		return tn
	}
	types := typesOf(sch)
	nullable := false
	if len(types) == 2 && (types[0] == "null" || types[1] == "null") {
		nullable = true
		if types[0] == "null" {
			types = types[1:]
		} else {
			types = types[:1]
		}
	}
	if len(types) != 1 {
		return "any"
	}
	var t string
	switch types[0] {
	case "object":
		props, _ := sch["properties"].(map[string]any)
		if len(props) == 0 {
			t = "map[string]any"
			break
		}
		s.object(sch, props, name)
		t = name
	case "array":
		t = "[]" + s.goType(sch["items"], name+"Item")
	case "string":
		t = "string"
	case "integer":
		t = "int64"
	case "number":
		t = "float64"
	case "boolean":
		t = "bool"
	default:
		return "any"
	}
	if nullable {
		return "*" + t
	}
	return t
}

// typesOf is the JSON types a schema allows, or none when it cannot tell.
func typesOf(sch map[string]any) []string {
	switch t := sch["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, x := range t {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if _, ok := sch["properties"]; ok {
		return []string{"object"}
	}
	var kinds []string
	for _, e := range append(asList(sch["enum"]), asList(sch["const"])...) {
		k := "any"
		switch e.(type) {
		case string:
			k = "string"
		case bool:
			k = "boolean"
		case float64:
			k = "number"
		}
		if len(kinds) == 0 || kinds[0] != k {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 1 && kinds[0] != "any" {
		return kinds
	}
	return nil
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// object declares a struct for an object schema: required fields as
// values, optional ones as pointers left out when nil.
func (s *schemaGen) object(sch, props map[string]any, name string) {
	required := map[string]bool{}
	for _, r := range asList(sch["required"]) {
		if k, ok := r.(string); ok {
			required[k] = true
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	if d, ok := sch["description"].(string); ok {
		b.WriteString(doc(d))
	}
	fmt.Fprintf(&b, "type %s struct {\n", name)
	fields := map[string]bool{}
	for _, k := range keys {
		fn := exported(k)
		for i := 2; fields[fn]; i++ {
			fn = fmt.Sprintf("%s%d", exported(k), i)
		}
		fields[fn] = true
		ft := s.goType(props[k], name+exported(k))
		tag := k
		if !required[k] {
			tag += ",omitempty"
			if ft != "any" && !strings.HasPrefix(ft, "*") {
				ft = "*" + ft
			}
		}
		if p, ok := props[k].(map[string]any); ok {
			if d, ok := p["description"].(string); ok {
				b.WriteString(doc(d))
			}
		}
		fmt.Fprintf(&b, "\t%s %s `json:%q`\n", fn, ft, tag)
	}
	b.WriteString("}")
	s.g.decls = append(s.g.decls, b.String())
}

// resolve finds a "#/$defs/X" reference in the root schema.
func (s *schemaGen) resolve(ref string) any {
	cur := s.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	return cur
}
