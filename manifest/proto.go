package manifest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// descriptors gathers the protobuf files of a manifest from its three
// sources (.proto files compiled here, descriptor-set files, the embedded
// set), strips their source info after reading message comments, and links
// them into one registry. It also returns the set, sorted by file name.
func (b *builder) descriptors(r *rawManifest) (*protoregistry.Files, *descriptorpb.FileDescriptorSet) {
	files := map[string]*descriptorpb.FileDescriptorProto{}
	add := func(p string, fdp *descriptorpb.FileDescriptorProto) {
		if old, ok := files[fdp.GetName()]; ok && !proto.Equal(old, fdp) {
			b.errorf(p, "two different definitions of %s; each protobuf file may come from one source only", fdp.GetName())
			return
		}
		files[fdp.GetName()] = fdp
	}
	if len(r.Protos) > 0 {
		b.compileProtos(r.Protos, add)
	}
	for i, rel := range r.DescriptorSets {
		p := fmt.Sprintf("/descriptor_sets/%d", i)
		data, ok := b.readFile(p, rel, false)
		if !ok {
			continue
		}
		b.addSet(p, data, rel, add)
	}
	if r.Descriptors != "" {
		data, err := base64.StdEncoding.DecodeString(r.Descriptors)
		if err != nil {
			b.errorf("/descriptors", "not valid standard base64: %v", err)
		} else {
			b.addSet("/descriptors", data, "descriptors", add)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	addWellKnownImports(files)

	set := &descriptorpb.FileDescriptorSet{}
	for _, fdp := range files {
		set.File = append(set.File, fdp)
	}
	sort.Slice(set.File, func(i, j int) bool { return set.File[i].GetName() < set.File[j].GetName() })
	withComments, err := protodesc.NewFiles(set)
	if err != nil {
		b.errorf(descriptorSource(r), "the protobuf files do not link: %v", err)
		return nil, nil
	}
	b.comments = map[protoreflect.FullName]string{}
	withComments.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		collectComments(fd.Messages(), fd.SourceLocations(), b.comments)
		return true
	})
	for _, fdp := range set.File {
		fdp.SourceCodeInfo = nil
	}
	reg, err := protodesc.NewFiles(set)
	if err != nil {
		b.errorf(descriptorSource(r), "the protobuf files do not link: %v", err)
		return nil, nil
	}
	b.set = set
	return reg, set
}

func descriptorSource(r *rawManifest) string {
	switch {
	case len(r.Protos) > 0:
		return "/protos"
	case len(r.DescriptorSets) > 0:
		return "/descriptor_sets"
	}
	return "/descriptors"
}

func collectComments(msgs protoreflect.MessageDescriptors, locs protoreflect.SourceLocations, out map[protoreflect.FullName]string) {
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		if c := strings.TrimSpace(locs.ByDescriptor(md).LeadingComments); c != "" {
			lines := strings.Split(c, "\n")
			for j := range lines {
				lines[j] = strings.TrimSpace(lines[j])
			}
			out[md.FullName()] = strings.Join(lines, "\n")
		}
		collectComments(md.Messages(), locs, out)
	}
}

// addWellKnownImports adds the google/protobuf files that the set imports but
// does not carry, so that a descriptor set made without --include_imports
// still links and the canonical form is self-contained.
func addWellKnownImports(files map[string]*descriptorpb.FileDescriptorProto) {
	for changed := true; changed; {
		changed = false
		for _, fdp := range files {
			for _, dep := range fdp.GetDependency() {
				if _, ok := files[dep]; ok || !strings.HasPrefix(dep, "google/protobuf/") {
					continue
				}
				if fd, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
					files[dep] = protodesc.ToFileDescriptorProto(fd)
					changed = true
				}
			}
		}
	}
}

func (b *builder) addSet(p string, data []byte, what string, add func(string, *descriptorpb.FileDescriptorProto)) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		b.errorf(p, "%s is not a binary google.protobuf.FileDescriptorSet: %v", what, err)
		return
	}
	for _, fdp := range set.File {
		add(p, fdp)
	}
}

// compileProtos compiles .proto files with protocompile, reporting syntax and
// link errors at their place in the .proto file.
func (b *builder) compileProtos(names []string, add func(string, *descriptorpb.FileDescriptorProto)) {
	if !b.opts.names() {
		b.errorf("/protos", "cannot compile .proto files: this manifest was parsed without a folder to resolve files in (load it from a file, or use WithDir)")
		return
	}
	// The listed files are read first, in order, so that the one that takes
	// the load over a limit is always the same (the compiler reads files from
	// several goroutines); their imports are read as the compiler asks.
	listed := map[string][]byte{}
	var compile []string
	for i, name := range names {
		data, err := b.files.read(name, true)
		switch {
		case err == nil:
			listed[name] = data
		case !errors.Is(err, fs.ErrNotExist):
			b.errorCause(fmt.Sprintf("/protos/%d", i), err.err, "cannot read %s", err)
			continue
		}
		// Not in the folder: the compiler may have it (the well-known
		// types), or report it missing.
		compile = append(compile, name)
	}
	if len(compile) < len(names) {
		return
	}
	var protoErrs []error
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(name string) (io.ReadCloser, error) {
				data, ok := listed[name]
				if !ok {
					var err *fileError
					if data, err = b.files.read(name, true); err != nil {
						return nil, err
					}
				}
				if line := longLine(data); line > 0 {
					return nil, &Error{File: b.displayName(name), Line: line, Col: 1, Err: ErrTooLarge,
						Msg: fmt.Sprintf("the line is longer than the %s a line of a .proto file may have (the protobuf compiler takes time quadratic in a line's length); break it up", sizeText(MaxProtoLineBytes))}
				}
				return io.NopCloser(bytes.NewReader(data)), nil
			},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			protoErrs = append(protoErrs, err)
			return nil // keep going: report every error
		}, nil),
	}
	result, err := c.Compile(b.ctx, compile...)
	if err != nil && len(protoErrs) == 0 {
		protoErrs = append(protoErrs, err)
	}
	for _, e := range protoErrs {
		b.protoError(names, e)
	}
	if len(protoErrs) > 0 {
		return
	}
	var walk func(fd protoreflect.FileDescriptor)
	seen := map[string]bool{}
	walk = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		add("/protos", protodesc.ToFileDescriptorProto(fd))
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			walk(imports.Get(i).FileDescriptor)
		}
	}
	for _, fd := range result {
		walk(fd)
	}
}

// protoError records an error of compiling the .proto files names: at its
// place in a .proto file when it has one, else at the file's entry in protos.
func (b *builder) protoError(names []string, e error) {
	var own *Error
	var pe reporter.ErrorWithPos
	var fe *fileError
	switch {
	case errors.As(e, &own):
		b.errs = append(b.errs, own)
	case errors.As(e, &pe):
		pos := pe.GetPosition()
		b.errs = append(b.errs, &Error{File: b.displayName(pos.Filename), Line: pos.Line, Col: pos.Col, Msg: pe.Unwrap().Error(), Err: pe.Unwrap()})
	case errors.As(e, &fe):
		at := "/protos"
		for i, n := range names {
			if n == fe.name {
				at = fmt.Sprintf("/protos/%d", i)
				break
			}
		}
		b.errorCause(at, fe.err, "cannot read %s", fe)
	default:
		at := "/protos"
		for i, n := range names {
			if strings.Contains(e.Error(), n) {
				at = fmt.Sprintf("/protos/%d", i)
				break
			}
		}
		b.errorCause(at, e, "%v", e)
	}
}

// longLine returns the number of the first line of data longer than
// MaxProtoLineBytes, or 0.
func longLine(data []byte) int {
	for line := 1; len(data) > 0; line++ {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			end = len(data)
		}
		if end > MaxProtoLineBytes {
			return line
		}
		data = data[min(end+1, len(data)):]
	}
	return 0
}

// resolveProto finds the message type t names under pointer p.
func (b *builder) resolveProto(m *Manifest, t *MessageType, p, name string) {
	if m.Files == nil {
		if len(b.errs) == 0 {
			b.errorf(p, "%s needs protobuf definitions: list the .proto files under protos (or a descriptor set under descriptor_sets)", name)
		}
		return
	}
	d, err := m.Files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		var known []string
		m.Files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			if !strings.HasPrefix(string(fd.Package()), "google.protobuf") {
				listMessages(fd.Messages(), &known)
			}
			return true
		})
		msg := fmt.Sprintf("protobuf message %s is not defined in the manifest's protobuf files", name)
		if s := suggest(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		} else if len(known) > 0 {
			msg += "; they define " + strings.Join(known, ", ")
		}
		b.errorf(p, "%s", msg)
		return
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		b.errorf(p, "%s is not a protobuf message (it is a %T); name a message", name, d)
		return
	}
	t.Proto = md
	if t.Description == "" {
		t.Description = b.comments[md.FullName()]
	}
}

func listMessages(msgs protoreflect.MessageDescriptors, out *[]string) {
	for i := 0; i < msgs.Len(); i++ {
		*out = append(*out, string(msgs.Get(i).FullName()))
		listMessages(msgs.Get(i).Messages(), out)
	}
}

// encodeSet writes a descriptor set in the canonical form's encoding.
func encodeSet(set *descriptorpb.FileDescriptorSet) string {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		panic("marshalling a linked FileDescriptorSet: " + err.Error()) // cannot happen: it was just linked
	}
	return base64.StdEncoding.EncodeToString(data)
}
