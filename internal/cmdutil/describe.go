package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ifkit/ifkit/manifest"
)

// Describe writes a manifest as text for people: what the interface is,
// which way data flows, its message types with their fields, replies, flow
// limits and control operations. The manifest may be a live server's, so
// its free text (titles, descriptions, field names and formats, examples)
// is printed as Untrusted shows it, a description line by line.
func Describe(w io.Writer, m *manifest.Manifest) error {
	ew := &errWriter{w: w}
	title := ""
	if m.Title != "" {
		title = " — " + Untrusted(m.Title)
	}
	ew.printf("%s %s%s\n", Untrusted(m.Name), Untrusted(m.Version), title)
	ew.printf("hash %s\n", m.Hash())
	if m.Description != "" {
		ew.printf("\n%s\n", indent(strings.TrimSpace(m.Description), ""))
	}
	ew.printf("\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "direction\t%s\n", directionText(m.Direction))
	fmt.Fprintf(tw, "codecs\t%s\n", UntrustedList(m.Codecs))
	fmt.Fprintf(tw, "flow\t%d credits, messages up to %s, %s\n", m.Flow.Credits, byteSize(m.Flow.MaxMessageBytes), exhaustedText(m.Flow.OnExhausted))
	control := "none (no control sub-interface)"
	if len(m.Control) > 0 {
		control = "list, manifest, " + UntrustedList(m.Control)
	}
	fmt.Fprintf(tw, "control\t%s\n", control)
	tw.Flush()
	if p := m.Params; p != nil {
		ew.printf("\nparams (a connection opens with them: --params JSON):\n")
		if p.Description != "" {
			ew.printf("%s\n", indent(strings.TrimSpace(p.Description), "      "))
		}
		if fields := schemaFields(p.Schema); len(fields) > 0 {
			ew.printf("      fields:\n")
			tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
			for _, f := range fields {
				fmt.Fprintf(tw, "        %s\t%s\n", Untrusted(f[0]), Untrusted(f[1]))
			}
			tw.Flush()
		}
		for _, e := range p.Examples {
			ew.printf("      example: %s\n", Untrusted(string(e)))
		}
	}
	for _, d := range []manifest.Direction{manifest.Send, manifest.Recv} {
		if len(m.Types(d)) == 0 {
			continue
		}
		who := "server sends (client receives)"
		if d == manifest.Recv {
			who = "server receives (client sends)"
		}
		ew.printf("\n%s:\n", who)
		for _, t := range m.Types(d) {
			describeType(ew, t)
		}
	}
	return ew.err
}

// Usage writes ifctl commands that exercise a served interface, with the
// manifest's first examples as data: a "try it" section for describe.
func Usage(w io.Writer, m *manifest.Manifest, addr string) error {
	ew := &errWriter{w: w}
	ew.printf("\ntry it:\n")
	if m.Direction.Sends() {
		spontaneous := false
		replies := map[string]bool{}
		for _, t := range m.Recv {
			if t.Reply != nil {
				replies[t.Reply.Type] = true
			}
		}
		for _, t := range m.Send {
			spontaneous = spontaneous || !replies[t.Name]
		}
		if spontaneous {
			params := ""
			if m.Params != nil && len(m.Params.Examples) > 0 {
				params = " --params " + Untrusted(shellQuote(string(m.Params.Examples[0])))
			}
			ew.printf("  ifctl recv %s %s%s -n 3\n", addr, Untrusted(m.Name), params)
		}
	}
	oneWay := 0
	for _, t := range m.Recv {
		if t.Reply == nil {
			oneWay++
		}
	}
	for _, t := range m.Recv {
		data := suggestedValue(m, t)
		if t.Reply != nil {
			ew.printf("  ifctl call %s %s %s -d %s\n", addr, Untrusted(m.Name), Untrusted(t.Name), Untrusted(shellQuote(data)))
			continue
		}
		typ := ""
		if oneWay > 1 {
			typ = " --type " + Untrusted(t.Name)
		}
		ew.printf("  ifctl send %s %s%s -d %s\n", addr, Untrusted(m.Name), typ, Untrusted(shellQuote(data)))
	}
	if m.Offers(manifest.OpStats) {
		ew.printf("  ifctl stats %s %s\n", addr, Untrusted(m.Name))
	}
	return ew.err
}

// suggestedValue is the -d value Usage suggests for t: the first of its
// SampleValues that is JSON (so it passes t's checks), else {}.
func suggestedValue(m *manifest.Manifest, t *manifest.MessageType) string {
	vals, _ := SampleValues(m, t)
	for _, v := range vals {
		if j, ok := v.(json.RawMessage); ok {
			return string(j)
		}
	}
	return "{}"
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func describeType(w *errWriter, t *manifest.MessageType) {
	head := "  " + Untrusted(t.Name)
	if t.Proto != nil {
		head += "  (" + Untrusted(string(t.Proto.FullName())) + ")"
	}
	if t.Reply != nil {
		if t.Reply.Stream {
			head += "  → stream of " + Untrusted(t.Reply.Type)
		} else {
			head += "  → " + Untrusted(t.Reply.Type)
		}
	}
	w.printf("%s\n", head)
	if t.Description != "" {
		w.printf("%s\n", indent(strings.TrimSpace(t.Description), "      "))
	}
	if fields := typeFields(t); len(fields) > 0 {
		w.printf("      fields:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range fields {
			fmt.Fprintf(tw, "        %s\t%s\n", Untrusted(f[0]), Untrusted(f[1]))
		}
		tw.Flush()
	}
	if len(t.FilterFields) > 0 {
		describeFilter(w, t)
	}
	for _, e := range t.Examples {
		w.printf("      example: %s\n", Untrusted(string(e)))
	}
}

// typeFields lists a type's top-level fields and their types, from its
// protobuf message or else its JSON Schema's properties.
func typeFields(t *manifest.MessageType) [][2]string {
	var out [][2]string
	if t.Proto != nil {
		fields := t.Proto.Fields()
		for i := 0; i < fields.Len(); i++ {
			// The JSON name: what send, call and recv read and print
			// (protojson also accepts the proto name when reading).
			fd := fields.Get(i)
			out = append(out, [2]string{fd.JSONName(), protoFieldType(fd) + jsonNote(fd)})
		}
		return out
	}
	return schemaFields(t.Schema)
}

// schemaFields lists the top-level properties of a JSON Schema and their
// types.
func schemaFields(sch *jsonschema.Schema) [][2]string {
	if sch == nil {
		return nil
	}
	var out [][2]string
	var names []string
	for name := range sch.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	required := map[string]bool{}
	for _, r := range sch.Required {
		required[r] = true
	}
	for _, name := range names {
		p := sch.Properties[name]
		typ := strings.Join(p.Types, "|")
		if len(p.Enum) > 0 {
			var vals []string
			for _, v := range p.Enum {
				b, _ := json.Marshal(v)
				vals = append(vals, string(b))
			}
			typ = "one of " + strings.Join(vals, ", ")
		}
		if typ == "" {
			typ = "any"
		}
		if p.Format != "" {
			typ += " (" + p.Format + ")"
		}
		if required[name] {
			typ += " (required)"
		}
		out = append(out, [2]string{name, typ})
	}
	return out
}

func protoFieldType(fd protoreflect.FieldDescriptor) string {
	var typ string
	switch {
	case fd.IsMap():
		typ = "map<" + protoFieldType(fd.MapKey()) + ", " + protoFieldType(fd.MapValue()) + ">"
		return typ
	case fd.Message() != nil:
		typ = string(fd.Message().FullName())
	case fd.Enum() != nil:
		typ = string(fd.Enum().FullName())
	default:
		typ = fd.Kind().String()
	}
	if fd.IsList() {
		typ = "repeated " + typ
	}
	return typ
}

// jsonNote says how a proto field that JSON does not write as its kind
// suggests is written in JSON.
func jsonNote(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() || fd.Message() != nil {
		switch {
		case fd.Message() == nil:
		case fd.Message().FullName() == "google.protobuf.Timestamp":
			return " (JSON: RFC 3339 string)"
		case fd.Message().FullName() == "google.protobuf.Duration":
			return " (JSON: string like \"30s\")"
		}
		return ""
	}
	switch fd.Kind() {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return " (JSON: string or number)"
	case protoreflect.BytesKind:
		return " (JSON: base64 string)"
	}
	return ""
}

func directionText(d manifest.Direction) string {
	switch d {
	case manifest.Send:
		return "send (server → client)"
	case manifest.Recv:
		return "recv (client → server)"
	}
	return "duplex (both ways)"
}

func exhaustedText(p manifest.OnExhausted) string {
	switch p {
	case manifest.DropOldest:
		return "a sender without credit drops its oldest queued message"
	case manifest.DropNewest:
		return "a sender without credit drops the new message"
	case manifest.FailFast:
		return "a sender without credit gets an error"
	}
	return "a sender without credit waits"
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// indent is text of several lines, each made Untrusted and prefixed.
func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + Untrusted(l)
	}
	return strings.Join(lines, "\n")
}

// errWriter keeps the first write error so a long report can be written
// without checking each line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
