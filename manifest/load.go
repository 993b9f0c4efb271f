package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// MaxFileBytes bounds every file a manifest load reads: the manifest itself,
// and the .proto, descriptor-set and schema files it names.
const MaxFileBytes = 16 << 20

// Option configures Parse and Load.
type Option interface{ apply(*options) }

type options struct {
	fsys    fs.FS  // where relative file names resolve; nil: no files may be named
	display string // prefix for file names in errors
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithDir resolves the files a manifest names (protos, descriptor_sets,
// schema $refs) in the folder dir of the local file system. Load sets it to
// the manifest's own folder.
func WithDir(dir string) Option {
	return optionFunc(func(o *options) { o.fsys, o.display = os.DirFS(dir), dir })
}

// WithFS resolves the files a manifest names in fsys, for manifests embedded
// in a program with go:embed. Errors name the files as fsys does.
func WithFS(fsys fs.FS) Option {
	return optionFunc(func(o *options) { o.fsys, o.display = fsys, "" })
}

// Load reads, checks and resolves the manifest file at path, YAML or JSON.
// Files it names are resolved in its folder. When the manifest is invalid the
// error is an ErrorList with every problem found, each at file:line:col.
func Load(path string, opts ...Option) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, ErrorList{{File: path, Msg: "cannot read the manifest: " + err.Error()}}
	}
	defer f.Close()
	data, err := readAllBounded(f, path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data, append([]Option{WithDir(filepath.Dir(path))}, opts...)...)
}

// Parse checks and resolves a manifest held in memory; name is used in error
// messages and to tell JSON (a .json name, or a document starting with '{')
// from YAML. Without WithDir or WithFS the manifest may not name files, which
// holds for any canonical form.
func Parse(name string, data []byte, opts ...Option) (*Manifest, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if len(data) > MaxFileBytes {
		return nil, ErrorList{{File: name, Msg: fmt.Sprintf("the manifest is %d bytes; at most %d are allowed", len(data), MaxFileBytes)}}
	}
	root, errs := parseDocument(name, data)
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	if errs := checkFormat(name, root); len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	b := &builder{file: name, root: root, opts: o}
	m := b.build()
	if len(b.errs) > 0 {
		b.errs.sort()
		return nil, b.errs
	}
	return m, nil
}

// readBounded reads name from fsys, refusing files over MaxFileBytes before
// reading them whole.
func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, cleanPathError(err)
	}
	defer f.Close()
	return readAllBounded(f, name)
}

// readAllBounded reads r to its end, refusing more than MaxFileBytes.
func readAllBounded(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, cleanPathError(err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxFileBytes)
	}
	return data, nil
}

// cleanPathError drops the operation from an fs error: "open x: file does
// not exist" reads better as "x: file does not exist".
func cleanPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// rawManifest is the document decoded after it passed the format schema, so
// every field has the type the schema promises.
type rawManifest struct {
	Name           string                           `json:"name"`
	Version        string                           `json:"version"`
	Title          string                           `json:"title"`
	Description    string                           `json:"description"`
	Direction      Direction                        `json:"direction"`
	Codecs         []string                         `json:"codecs"`
	Protos         []string                         `json:"protos"`
	DescriptorSets []string                         `json:"descriptor_sets"`
	Descriptors    string                           `json:"descriptors"`
	Messages       map[Direction]map[string]rawType `json:"messages"`
	Flow           struct {
		Credits         *int        `json:"credits"`
		MaxMessageBytes *int        `json:"max_message_bytes"`
		OnExhausted     OnExhausted `json:"on_exhausted"`
	} `json:"flow"`
	Control     []string `json:"control"`
	MessageAuth string   `json:"message_auth"`
}

type rawType struct {
	Description  string   `json:"description"`
	Proto        string   `json:"proto"`
	Reply        *Reply   `json:"reply"`
	FilterFields []string `json:"filter_fields"`
}

// UnmarshalJSON reads a reply declaration's lower-case fields.
func (r *Reply) UnmarshalJSON(data []byte) error {
	var v struct {
		Type   string `json:"type"`
		Stream bool   `json:"stream"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	r.Type, r.Stream = v.Type, v.Stream
	return nil
}

// builder turns a format-valid document into a Manifest, collecting every
// semantic error on the way.
type builder struct {
	file string
	root *node
	opts options
	errs ErrorList

	declared map[*MessageType]bool            // types whose proto or schema was declared, resolved or not
	schemas  map[*MessageType]any             // each type's resolved JSON Schema, for the canonical form
	comments map[protoreflect.FullName]string // leading comments of protobuf messages
	set      *descriptorpb.FileDescriptorSet  // every protobuf file, sorted, without source info
}

// errorf records an error at the node under pointer p of the manifest.
func (b *builder) errorf(p string, format string, args ...any) {
	n := b.root.at(p)
	b.errs = append(b.errs, &Error{File: b.file, Line: n.line, Col: n.col, Path: dotted(p), Msg: fmt.Sprintf(format, args...)})
}

// displayName is how errors name a file the manifest refers to.
func (b *builder) displayName(rel string) string {
	if b.opts.display == "" {
		return rel
	}
	return filepath.Join(b.opts.display, filepath.FromSlash(rel))
}

// readFile reads a file named by the manifest at pointer p.
func (b *builder) readFile(p, rel string) ([]byte, bool) {
	if b.opts.fsys == nil {
		b.errorf(p, "cannot read %s: this manifest was parsed without a folder to resolve files in (load it from a file, or use WithDir)", rel)
		return nil, false
	}
	clean := path.Clean(filepath.ToSlash(rel))
	if !fs.ValidPath(clean) {
		b.errorf(p, "%q must be a relative path inside the manifest's folder", rel)
		return nil, false
	}
	data, err := readBounded(b.opts.fsys, clean)
	if err != nil {
		b.errorf(p, "cannot read %s", err)
		return nil, false
	}
	return data, true
}

func (b *builder) build() *Manifest {
	var r rawManifest
	doc, _ := json.Marshal(b.root.value())
	if err := json.Unmarshal(doc, &r); err != nil {
		b.errorf("", "internal error: decoding a schema-valid manifest: %v", err)
		return nil
	}
	m := &Manifest{
		Name:        r.Name,
		Version:     r.Version,
		Title:       r.Title,
		Description: r.Description,
		Direction:   r.Direction,
		Control:     r.Control,
	}
	if md := b.root.field("metadata"); md != nil {
		m.Metadata, _ = md.value().(map[string]any)
	}
	b.flow(m, &r)
	b.control(m)
	b.schemas = map[*MessageType]any{}
	b.declared = map[*MessageType]bool{}
	m.Files, _ = b.descriptors(&r)
	b.messageTypes(m, &r)
	b.codecs(m, &r)
	b.replies(m)
	if len(b.errs) > 0 {
		return nil
	}
	m.canonical = b.canonical(m)
	m.hash = hashOf(m.canonical)
	return m
}

func (b *builder) flow(m *Manifest, r *rawManifest) {
	m.MessageAuth = MessageAuthNone
	if r.MessageAuth != "" {
		m.MessageAuth = r.MessageAuth
	}
	m.Flow = Flow{Credits: DefaultCredits, MaxMessageBytes: DefaultMaxMessageBytes, OnExhausted: DefaultOnExhausted}
	if r.Flow.Credits != nil {
		m.Flow.Credits = *r.Flow.Credits
	}
	if r.Flow.MaxMessageBytes != nil {
		m.Flow.MaxMessageBytes = *r.Flow.MaxMessageBytes
	}
	if r.Flow.OnExhausted != "" {
		m.Flow.OnExhausted = r.Flow.OnExhausted
	}
	if total := int64(m.Flow.Credits) * int64(m.Flow.MaxMessageBytes); total > MaxBufferedBytes {
		b.errorf("/flow", "credits × max_message_bytes = %d × %d = %d bytes, more than the %d (1 GiB) a receiver may have to buffer per connection; lower one of them",
			m.Flow.Credits, m.Flow.MaxMessageBytes, total, MaxBufferedBytes)
	}
}

// controlOrder is the canonical order of control operations.
var controlOrder = []string{OpPing, OpStats, OpPause, OpResume, OpReset, OpClose}

func (b *builder) control(m *Manifest) {
	if m.Control == nil {
		m.Control = append([]string(nil), DefaultControl...)
	}
	ordered := make([]string, 0, len(m.Control))
	for _, op := range controlOrder {
		if m.Offers(op) {
			ordered = append(ordered, op)
		}
	}
	m.Control = ordered
}

func (b *builder) codecs(m *Manifest, r *rawManifest) {
	all := append(append([]*MessageType(nil), m.Send...), m.Recv...)
	allProto := true
	for _, t := range all {
		allProto = allProto && t.Proto != nil
	}
	m.Codecs = r.Codecs
	if m.Codecs == nil {
		m.Codecs = []string{"json"}
		if allProto {
			m.Codecs = []string{"proto", "json"}
		}
	}
	rawOnly := len(m.Codecs) == 1 && m.Codecs[0] == "raw"
	offersProto := false
	for _, c := range m.Codecs {
		offersProto = offersProto || c == "proto"
	}
	for _, t := range all {
		p := typePointer(t)
		switch {
		case offersProto && t.Proto == nil:
			b.errorf(p, "codecs offer proto, but type %s has no proto definition; add `proto: <message name>` or remove proto from codecs", t.Name)
		case !rawOnly && !b.declared[t]:
			b.errorf(p, "type %s has neither a proto nor a schema definition; add one, or set codecs to [raw] for untyped bytes", t.Name)
		}
	}
}

func typePointer(t *MessageType) string {
	return "/messages/" + string(t.Direction) + "/" + escapePointer(t.Name)
}

func escapePointer(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

func (b *builder) messageTypes(m *Manifest, r *rawManifest) {
	for _, d := range []Direction{Send, Recv} {
		names := make([]string, 0, len(r.Messages[d]))
		for name := range r.Messages[d] {
			names = append(names, name)
		}
		sort.Strings(names)
		var list []*MessageType
		for i, name := range names {
			t := &MessageType{Direction: d, ID: uint32(i + 1)}
			t.Name = name
			b.messageType(m, t, r.Messages[d][name])
			list = append(list, t)
		}
		if d == Send {
			m.Send = list
		} else {
			m.Recv = list
		}
	}
	switch {
	case m.Direction == Send && len(m.Recv) > 0:
		b.errorf("/messages/recv", "a send interface only sends: remove messages.recv, or make the direction duplex")
	case m.Direction == Recv && len(m.Send) > 0:
		b.errorf("/messages/send", "a recv interface only receives: remove messages.send, or make the direction duplex")
	}
	if m.Direction.Sends() && len(m.Send) == 0 {
		b.errorf("/messages", "direction %s needs message types under messages.send (what the server sends)", m.Direction)
	}
	if m.Direction.Receives() && len(m.Recv) == 0 {
		b.errorf("/messages", "direction %s needs message types under messages.recv (what the server receives)", m.Direction)
	}
	for _, t := range m.Recv {
		for _, s := range m.Send {
			if s.Name == t.Name {
				b.errorf(typePointer(t), "type name %s is also used under messages.send; a name means one type on an interface, rename one of them", t.Name)
			}
		}
	}
}

func (b *builder) messageType(m *Manifest, t *MessageType, r rawType) {
	p := typePointer(t)
	t.Description = r.Description
	t.Reply = r.Reply
	t.FilterFields = append([]string(nil), r.FilterFields...)
	sort.Strings(t.FilterFields)
	b.declared[t] = r.Proto != "" || b.root.at(p+"/schema") != b.root.at(p)
	if r.Proto != "" {
		b.resolveProto(m, t, p+"/proto", r.Proto)
	}
	if sn := b.root.at(p + "/schema"); sn != b.root.at(p) {
		b.resolveSchema(t, p+"/schema", sn)
	}
	if ex := b.root.at(p + "/examples"); ex != b.root.at(p) {
		for i, e := range ex.vals {
			b.checkExample(t, fmt.Sprintf("%s/examples/%d", p, i), e)
		}
	}
	b.checkFilterFields(t, p+"/filter_fields")
}

func (b *builder) replies(m *Manifest) {
	for _, d := range []Direction{Send, Recv} {
		for _, t := range m.Types(d) {
			if t.Reply == nil {
				continue
			}
			p := typePointer(t) + "/reply"
			if m.Direction != Duplex {
				b.errorf(p, "replies need a duplex interface (the reply travels the other way); make the direction duplex or remove the reply")
				continue
			}
			opposite := Send
			if d == Send {
				opposite = Recv
			}
			if !hasType(m.Types(opposite), t.Reply.Type) {
				where := "does not exist"
				if hasType(m.Types(d), t.Reply.Type) {
					where = "is under messages." + string(d) + ", the same direction as the request"
				}
				b.errorf(p+"/type", "reply type %s %s; a reply to a %s type must be a type under messages.%s", t.Reply.Type, where, d, opposite)
			}
		}
	}
}

func hasType(list []*MessageType, name string) bool {
	for _, t := range list {
		if t.Name == name {
			return true
		}
	}
	return false
}

// documentValue reads a JSON or YAML document as a plain value, reporting its
// problems in its own file.
func (b *builder) document(rel string, data []byte) (*node, bool) {
	n, errs := parseDocument(b.displayName(rel), data)
	b.errs = append(b.errs, errs...)
	return n, len(errs) == 0
}
