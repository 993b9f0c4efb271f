package manifest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Option configures Parse and Load.
type Option interface{ apply(*options) }

type options struct {
	dir     string // WithDir: where relative file names resolve
	fsys    fs.FS  // WithFS: where relative file names resolve
	display string // prefix for file names in errors
}

// names reports whether the options give a folder to resolve file names in.
func (o *options) names() bool { return o.dir != "" || o.fsys != nil }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithDir resolves the files a manifest names (protos, descriptor_sets,
// schema $refs) in the folder dir of the local file system. Load sets it to
// the manifest's own folder. Only regular files inside dir are read: a name,
// or a symbolic link on the way to the file, that leads outside dir is
// refused (ErrOutsideFolder), and so is a folder, named pipe, device or
// socket (ErrNotRegular), without opening it.
func WithDir(dir string) Option {
	return optionFunc(func(o *options) { o.dir, o.fsys, o.display = dir, nil, dir })
}

// WithFS resolves the files a manifest names in fsys, for manifests embedded
// in a program with go:embed. Errors name the files as fsys does. fsys alone
// decides what is inside it (an os.DirFS follows symbolic links out of its
// folder): for a folder on disk use WithDir.
func WithFS(fsys fs.FS) Option {
	return optionFunc(func(o *options) { o.dir, o.fsys, o.display = "", fsys, "" })
}

// Load reads, checks and resolves the manifest file at path, YAML or JSON.
// Files it names are resolved in its folder. When the manifest is invalid the
// error is an ErrorList with every problem found, each at file:line:col.
func Load(path string, opts ...Option) (*Manifest, error) {
	return LoadContext(context.Background(), path, opts...)
}

// LoadContext is Load, stopping early when ctx is done: it then returns an
// error matching ctx.Err() with errors.Is, not an ErrorList. A load reads and
// compiles a bounded amount (limits.go), so without a ctx it ends too, in
// seconds at most; ctx lets a program stop it sooner (on SIGTERM, say).
func LoadContext(ctx context.Context, path string, opts ...Option) (*Manifest, error) {
	data, err := readManifest(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: "cannot read the manifest: " + err.why, Err: err.err}}
	}
	return parse(ctx, path, data, append([]Option{WithDir(filepath.Dir(path))}, opts...))
}

// readManifest reads the manifest file, refusing what is not a regular file
// before it reads (a named pipe would block) and more than MaxFileBytes.
func readManifest(path string) ([]byte, *fileError) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(path, info.Mode())
	}
	// O_NONBLOCK: should a named pipe replace the file after the Stat, the
	// open does not wait for a writer; readRegular then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathError(path, err)
	}
	defer f.Close()
	return readRegular(f, path, MaxFileBytes, "the "+sizeText(MaxFileBytes)+" a manifest may have")
}

// Parse checks and resolves a manifest held in memory; name is used in error
// messages and to tell JSON (a .json name, or a document starting with '{')
// from YAML. Without WithDir or WithFS the manifest may not name files, which
// holds for any canonical form.
func Parse(name string, data []byte, opts ...Option) (*Manifest, error) {
	return parse(context.Background(), name, data, opts)
}

func parse(ctx context.Context, name string, data []byte, opts []Option) (*Manifest, error) {
	var o options
	for _, opt := range opts {
		opt.apply(&o)
	}
	if len(data) > MaxFileBytes {
		return nil, ErrorList{{File: name, Msg: fmt.Sprintf("the manifest is %d bytes; at most %d are allowed", len(data), MaxFileBytes), Err: ErrTooLarge}}
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
	files := &folder{ctx: ctx, dir: o.dir, fsys: o.fsys, loaded: int64(len(data))}
	defer files.close()
	b := &builder{ctx: ctx, file: name, root: root, opts: o, files: files}
	m := b.build()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: loading stopped: %w", name, err)
	}
	if len(b.errs) > 0 {
		b.errs.sort()
		return nil, b.errs
	}
	return m, nil
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
	ctx   context.Context
	file  string
	root  *node
	opts  options
	files *folder
	errs  ErrorList

	schemaObjects int  // objects and booleans of the schemas compiled so far (MaxSchemaObjectsTotal)
	patternBytes  int  // of their regular expressions (MaxPatternBytes)
	schemasOver   bool // the schemas together went over a limit: compile no more

	declared map[*MessageType]bool            // types whose proto or schema was declared, resolved or not
	schemas  map[*MessageType]any             // each type's resolved JSON Schema, for the canonical form
	comments map[protoreflect.FullName]string // leading comments of protobuf messages
	set      *descriptorpb.FileDescriptorSet  // every protobuf file, sorted, without source info
}

// errorf records an error at the node under pointer p of the manifest.
func (b *builder) errorf(p string, format string, args ...any) {
	b.errorCause(p, nil, format, args...)
}

// errorCause is errorf with the error's cause, for errors.Is.
func (b *builder) errorCause(p string, cause error, format string, args ...any) {
	n := b.root.at(p)
	b.errs = append(b.errs, &Error{File: b.file, Line: n.line, Col: n.col, Path: dotted(p), Msg: fmt.Sprintf(format, args...), Err: cause})
}

// displayName is how errors name a file the manifest refers to.
func (b *builder) displayName(rel string) string {
	if b.opts.display == "" {
		return rel
	}
	return filepath.Join(b.opts.display, filepath.FromSlash(rel))
}

// readFile reads a file named by the manifest at pointer p; source marks a
// schema file, which counts against MaxSourceBytes.
func (b *builder) readFile(p, rel string, source bool) ([]byte, bool) {
	if !b.opts.names() {
		b.errorf(p, "cannot read %s: this manifest was parsed without a folder to resolve files in (load it from a file, or use WithDir)", rel)
		return nil, false
	}
	clean := path.Clean(filepath.ToSlash(rel))
	if !fs.ValidPath(clean) {
		b.errorCause(p, ErrOutsideFolder, "%q must be a relative path inside the manifest's folder", rel)
		return nil, false
	}
	data, err := b.files.read(clean, source)
	if err != nil {
		b.errorCause(p, err.err, "cannot read %s", err)
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
	b.params(m)
	b.codecs(m, &r)
	b.replies(m)
	if len(b.errs) > 0 {
		return nil
	}
	m.canonical = b.canonical(m)
	if len(m.canonical) > MaxFileBytes {
		b.errs = append(b.errs, &Error{File: b.file, Err: ErrTooLarge, Msg: fmt.Sprintf(
			"the canonical form, with every descriptor and schema embedded, would be %d bytes, over the %s a receiver accepts; use fewer or smaller protobuf files and schemas",
			len(m.canonical), sizeText(MaxFileBytes))})
		return nil
	}
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

// pointerEscaper is immutable: sharing it is not shared mutable state.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return pointerEscaper.Replace(s)
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
