package cmdutil

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ifkit/ifkit/filter"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
)

// FilterHelp is the --filter flag's help text.
const FilterHelp = `--filter selects, at the server, which messages it sends: a CEL expression
over the fields the manifest's filter_fields lists (zone == "north" &&
probe.startsWith("bench-")), or the structured form, JSON beginning with {
({"all":[{"field":"zone","eq":"north"},{"field":"probe","prefix":"bench-"}]};
nodes: field with eq, in or prefix; all, any, not). The server refuses a filter
that names another field, compares the wrong types or costs too much, with the
position (exit 85, invalid_filter); the others never cross the socket.
ifctl describe shows the filterable fields and an example.`

// ParseFilter reads a --filter value: the structured form if it starts
// with "{", else CEL.
func ParseFilter(s string) iface.Filter {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return iface.Filter{Structured: s}
	}
	return iface.Filter{CEL: s}
}

// ExampleFilter returns a filter on t's filter_fields, in both forms, made
// from its first example's values (equality on up to two fields), or ""
// when t has no filter_fields or no example gives them a value. It is
// checked: it compiles.
func ExampleFilter(t *manifest.MessageType) (cel, structured string) {
	if len(t.FilterFields) == 0 || len(t.Examples) == 0 {
		return "", ""
	}
	var ex map[string]any
	if json.Unmarshal(t.Examples[0], &ex) != nil {
		return "", ""
	}
	var terms, nodes []string
	for _, f := range t.FilterFields {
		v, ok := ex[f]
		if t.Proto != nil { // the variable is the protobuf name; the example may use either
			fs := t.Proto.Fields()
			for i := range fs.Len() {
				if fd := fs.Get(i); string(fd.Name()) == f || fd.JSONName() == f {
					f = string(fd.Name())
					if !ok {
						v, ok = ex[fd.JSONName()]
					}
					if !ok {
						v, ok = ex[f]
					}
				}
			}
		}
		s, isString := v.(string)
		if !ok || !isString || len(terms) == 2 {
			continue
		}
		lit := strconv.Quote(s)
		if len(terms) == 1 && len(s) > 2 {
			prefix := strconv.Quote(s[:len(s)/2])
			terms = append(terms, fmt.Sprintf("%s.startsWith(%s)", f, prefix))
			nodes = append(nodes, fmt.Sprintf(`{"field":%q,"prefix":%s}`, f, prefix))
			continue
		}
		terms = append(terms, fmt.Sprintf("%s == %s", f, lit))
		nodes = append(nodes, fmt.Sprintf(`{"field":%q,"eq":%s}`, f, lit))
	}
	if len(terms) == 0 {
		return "", ""
	}
	cel = strings.Join(terms, " && ")
	structured = nodes[0]
	if len(nodes) > 1 {
		structured = `{"all":[` + strings.Join(nodes, ",") + `]}`
	}
	codecName := "json"
	for _, spec := range []filter.Spec{{CEL: cel}, {Structured: structured}} {
		if _, err := filter.CompileType(t, 1<<16, spec, codecName); err != nil {
			return "", ""
		}
	}
	return cel, structured
}

// describeFilter prints what a subscriber may filter t on, and an example.
func describeFilter(w *errWriter, t *manifest.MessageType) {
	fields := slices.Clone(t.FilterFields)
	w.printf("      filter on: %s\n", UntrustedList(fields))
	if t.Direction != manifest.Send {
		return
	}
	if cel, structured := ExampleFilter(t); cel != "" {
		w.printf("      filter example: --filter %s\n", Untrusted(shellQuote(cel)))
		w.printf("                      --filter %s\n", Untrusted(shellQuote(structured)))
	}
}
