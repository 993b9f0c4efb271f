package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ifkit/ifkit/codec"
)

// Breaks says whom a change between two versions of a manifest breaks. The
// senders and receivers are those of the messages the change concerns (for
// a send type the server sends and clients receive). A change breaks
// senders when a sender built against the old manifest may be refused by a
// receiver that runs the new one (a type removed, a schema tightened,
// max_message_bytes lowered); it breaks receivers when a sender that runs
// the new manifest may send what a receiver built against the old one
// refuses or does not expect (a schema loosened, max_message_bytes raised, a
// reply turned into a stream).
type Breaks uint8

// The roles a change may break.
const (
	BreaksSenders Breaks = 1 << iota
	BreaksReceivers
	// Compatible is a change that breaks neither: a new type, a new
	// optional field, a new description.
	Compatible Breaks = 0
	breaksBoth        = BreaksSenders | BreaksReceivers
)

// String is "compatible", "breaks senders", "breaks receivers" or "breaks
// senders and receivers".
func (b Breaks) String() string {
	switch b {
	case Compatible:
		return "compatible"
	case BreaksSenders:
		return "breaks senders"
	case BreaksReceivers:
		return "breaks receivers"
	}
	return "breaks senders and receivers"
}

// Change is one difference between two versions of a manifest.
type Change struct {
	// Path is where, dotted as in the manifest: "flow.credits",
	// "messages.recv.Put", "messages.send.Row.fields.key".
	Path   string
	What   string // what changed, e.g. "lowered from 512 to 256"
	Breaks Breaks
}

func (c Change) String() string { return c.Path + ": " + c.What + " (" + c.Breaks.String() + ")" }

// Changes is the result of Diff.
type Changes []Change

// Breaking returns the changes that break senders or receivers.
func (cs Changes) Breaking() Changes {
	var out Changes
	for _, c := range cs {
		if c.Breaks != Compatible {
			out = append(out, c)
		}
	}
	return out
}

// Summary says in one line how many changes there are and what the
// breaking ones are: "3 changes, 1 breaking: messages.recv.Put: removed
// (breaks senders)". It is what a manifest_mismatch error shows.
func (cs Changes) Summary() string {
	if len(cs) == 0 {
		return "no changes"
	}
	br := cs.Breaking()
	s := fmt.Sprintf("%d change%s, %d breaking", len(cs), plural(len(cs)), len(br))
	shown := br
	if len(br) == 0 {
		shown = cs
	}
	const most = 3
	var parts []string
	for i, c := range shown {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(shown)-most))
			break
		}
		parts = append(parts, c.String())
	}
	return s + ": " + strings.Join(parts, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Diff lists what changed from old to new and whom each change breaks, in
// the order of the manifest's fields. Descriptions, titles, examples and
// metadata are reported as compatible.
func Diff(old, new *Manifest) Changes {
	d := &differ{}
	d.str("name", old.Name, new.Name, breaksBoth)
	d.str("version", old.Version, new.Version, Compatible)
	d.str("title", old.Title, new.Title, Compatible)
	if old.Description != new.Description {
		d.add("description", "changed", Compatible)
	}
	d.direction(old.Direction, new.Direction)
	d.set("codecs", old.Codecs, new.Codecs, breaksBoth, Compatible, "a peer that speaks only it cannot connect")
	d.flow(old.Flow, new.Flow)
	if old.MessageAuth != new.MessageAuth {
		d.add("message_auth", fmt.Sprintf("%s → %s: peers of the two versions refuse each other's messages", old.MessageAuth, new.MessageAuth), breaksBoth)
	}
	d.set("control", old.Control, new.Control, BreaksSenders, Compatible, "clients that use it are refused")
	oldSchemas, newSchemas := schemasOf(old), schemasOf(new)
	for _, dir := range []Direction{Send, Recv} {
		d.types(dir, old, new, oldSchemas, newSchemas)
	}
	if !reflect.DeepEqual(old.Metadata, new.Metadata) {
		d.add("metadata", "changed", Compatible)
	}
	return d.changes
}

type differ struct{ changes Changes }

func (d *differ) add(path, what string, b Breaks) {
	d.changes = append(d.changes, Change{Path: path, What: what, Breaks: b})
}

func (d *differ) str(path, old, new string, b Breaks) {
	if old != new {
		d.add(path, fmt.Sprintf("%q → %q", old, new), b)
	}
}

// set reports the items removed from and added to a list (codecs,
// control operations).
func (d *differ) set(path string, old, new []string, removed, added Breaks, why string) {
	for _, o := range old {
		if !slices.Contains(new, o) {
			d.add(path, fmt.Sprintf("%s removed: %s", o, why), removed)
		}
	}
	for _, n := range new {
		if !slices.Contains(old, n) {
			d.add(path, n+" added", added)
		}
	}
}

func (d *differ) direction(old, new Direction) {
	if old == new {
		return
	}
	var b Breaks
	var why []string
	if old.Receives() && !new.Receives() {
		b |= BreaksSenders
		why = append(why, "clients may no longer send")
	}
	if old.Sends() && !new.Sends() {
		b |= BreaksReceivers
		why = append(why, "clients receive nothing more")
	}
	what := fmt.Sprintf("%s → %s", old, new)
	if len(why) > 0 {
		what += ": " + strings.Join(why, ", ")
	}
	d.add("direction", what, b)
}

func (d *differ) flow(old, new Flow) {
	switch {
	case new.Credits < old.Credits:
		d.add("flow.credits", fmt.Sprintf("lowered from %d to %d: senders may send fewer messages ahead", old.Credits, new.Credits), BreaksSenders)
	case new.Credits > old.Credits:
		d.add("flow.credits", fmt.Sprintf("raised from %d to %d", old.Credits, new.Credits), Compatible)
	}
	switch {
	case new.MaxMessageBytes < old.MaxMessageBytes:
		d.add("flow.max_message_bytes", fmt.Sprintf("lowered from %d to %d: a receiver refuses what old senders may send", old.MaxMessageBytes, new.MaxMessageBytes), BreaksSenders)
	case new.MaxMessageBytes > old.MaxMessageBytes:
		d.add("flow.max_message_bytes", fmt.Sprintf("raised from %d to %d: old receivers refuse what new senders may send", old.MaxMessageBytes, new.MaxMessageBytes), BreaksReceivers)
	}
	if old.OnExhausted != new.OnExhausted {
		what := fmt.Sprintf("%s → %s", old.OnExhausted, new.OnExhausted)
		var b Breaks
		switch new.OnExhausted {
		case DropOldest, DropNewest:
			b, what = BreaksReceivers, what+": messages may be dropped"
		case FailFast:
			b, what = BreaksSenders, what+": a sender without credit fails"
		}
		d.add("flow.on_exhausted", what, b)
	}
}

func (d *differ) types(dir Direction, old, new *Manifest, oldSchemas, newSchemas map[string]any) {
	olds, news := byName(old.Types(dir)), byName(new.Types(dir))
	json := slices.Contains(new.Codecs, codec.NameJSON) || slices.Contains(old.Codecs, codec.NameJSON)
	for _, name := range sortedKeys(olds, news) {
		path := "messages." + string(dir) + "." + name
		o, n := olds[name], news[name]
		switch {
		case n == nil:
			d.add(path, "removed: receivers refuse it", BreaksSenders)
			continue
		case o == nil:
			d.add(path, "added", Compatible)
			continue
		}
		if o.Description != n.Description {
			d.add(path+".description", "changed", Compatible)
		}
		d.reply(path+".reply", o.Reply, n.Reply)
		switch {
		case o.Proto != nil && n.Proto != nil:
			if o.Proto.FullName() != n.Proto.FullName() {
				d.add(path+".proto", fmt.Sprintf("%s → %s", o.Proto.FullName(), n.Proto.FullName()), breaksBoth)
			}
			d.message(path+".fields", o.Proto, n.Proto, json, map[protoreflect.FullName]bool{})
		case o.Proto != nil:
			d.add(path+".proto", fmt.Sprintf("%s removed", o.Proto.FullName()), breaksBoth)
		case n.Proto != nil:
			d.add(path+".proto", fmt.Sprintf("%s added", n.Proto.FullName()), breaksBoth)
		}
		os, ns := oldSchemas[string(dir)+"/"+name], newSchemas[string(dir)+"/"+name]
		switch {
		case os != nil && ns != nil:
			d.schema(path+".schema", os, ns)
		case os != nil:
			d.add(path+".schema", "removed: receivers check less", BreaksReceivers)
		case ns != nil:
			d.add(path+".schema", "added: receivers check more", BreaksSenders)
		}
		for _, f := range o.FilterFields {
			if !slices.Contains(n.FilterFields, f) {
				d.add(path+".filter_fields", f+" removed: subscriptions that filter on it are refused", BreaksReceivers)
			}
		}
		for _, f := range n.FilterFields {
			if !slices.Contains(o.FilterFields, f) {
				d.add(path+".filter_fields", f+" added", Compatible)
			}
		}
		if !slices.EqualFunc(o.Examples, n.Examples, func(a, b []byte) bool { return string(a) == string(b) }) {
			d.add(path+".examples", "changed", Compatible)
		}
	}
}

func (d *differ) reply(path string, old, new *Reply) {
	switch {
	case old == nil && new == nil:
	case new == nil:
		d.add(path, fmt.Sprintf("removed (was %s): senders that wait for a reply never get one", old.Type), BreaksSenders)
	case old == nil:
		d.add(path, fmt.Sprintf("added (%s): old senders send it one-way", new.Type), Compatible)
	case old.Type != new.Type:
		d.add(path+".type", fmt.Sprintf("%s → %s", old.Type, new.Type), breaksBoth)
	case old.Stream != new.Stream:
		d.add(path+".stream", fmt.Sprintf("%t → %t: one reply and a stream of replies are read differently", old.Stream, new.Stream), breaksBoth)
	}
}

// message compares two protobuf messages field by field (by number, as the
// binary encoding does, and by name, as JSON does), into nested messages.
func (d *differ) message(path string, old, new protoreflect.MessageDescriptor, json bool, seen map[protoreflect.FullName]bool) {
	if seen[old.FullName()] {
		return
	}
	seen[old.FullName()] = true
	of, nf := old.Fields(), new.Fields()
	for i := range of.Len() {
		o := of.Get(i)
		fp := path + "." + string(o.Name())
		n := nf.ByNumber(o.Number())
		if n == nil {
			d.add(fp, fmt.Sprintf("field %d removed: receivers drop it or, in JSON, refuse it", o.Number()), BreaksSenders)
			continue
		}
		if n.Name() != o.Name() || n.JSONName() != o.JSONName() {
			d.add(fp, fmt.Sprintf("renamed to %s: JSON spells it differently", n.Name()), breaksBoth)
		}
		switch {
		case fieldShape(o) != fieldShape(n):
			d.add(fp, fmt.Sprintf("%s → %s", fieldShape(o), fieldShape(n)), breaksBoth)
		case o.Message() != nil && !o.IsMap():
			d.message(fp, o.Message(), n.Message(), json, seen)
		case o.Enum() != nil:
			d.enum(fp, o.Enum(), n.Enum())
		}
	}
	for i := range nf.Len() {
		n := nf.Get(i)
		if of.ByNumber(n.Number()) != nil {
			continue
		}
		if json {
			d.add(path+"."+string(n.Name()), fmt.Sprintf("field %d added: old receivers decoding JSON refuse it", n.Number()), BreaksReceivers)
		} else {
			d.add(path+"."+string(n.Name()), fmt.Sprintf("field %d added", n.Number()), Compatible)
		}
	}
}

// fieldShape names a field's cardinality and type: "repeated string",
// "map<string, int64>", "kv.v1.Row".
func fieldShape(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return "map<" + fieldShape(f.MapKey()) + ", " + fieldShape(f.MapValue()) + ">"
	}
	t := f.Kind().String()
	switch {
	case f.Message() != nil:
		t = string(f.Message().FullName())
	case f.Enum() != nil:
		t = string(f.Enum().FullName())
	}
	if f.IsList() {
		return "repeated " + t
	}
	return t
}

func (d *differ) enum(path string, old, new protoreflect.EnumDescriptor) {
	ov, nv := old.Values(), new.Values()
	for i := range ov.Len() {
		if nv.ByNumber(ov.Get(i).Number()) == nil {
			d.add(path, fmt.Sprintf("enum value %s removed", ov.Get(i).Name()), BreaksSenders)
		}
	}
	for i := range nv.Len() {
		if ov.ByNumber(nv.Get(i).Number()) == nil {
			d.add(path, fmt.Sprintf("enum value %s added: old receivers do not know it", nv.Get(i).Name()), BreaksReceivers)
		}
	}
}

// Schema keywords that only document.
var schemaDocs = map[string]bool{"title": true, "description": true, "examples": true, "default": true, "$comment": true, "deprecated": true, "readOnly": true, "writeOnly": true}

// Lower bounds (raising one tightens) and upper bounds (lowering one
// tightens).
var (
	lowerBounds = map[string]bool{"minimum": true, "exclusiveMinimum": true, "minLength": true, "minItems": true, "minProperties": true}
	upperBounds = map[string]bool{"maximum": true, "exclusiveMaximum": true, "maxLength": true, "maxItems": true, "maxProperties": true}
)

// schema compares two JSON Schemas: tightening one breaks senders,
// loosening it breaks receivers, and a change it cannot tell either way
// (a new oneOf) breaks both.
func (d *differ) schema(path string, old, new any) {
	if reflect.DeepEqual(old, new) {
		return
	}
	om, ok1 := old.(map[string]any)
	nm, ok2 := new.(map[string]any)
	if !ok1 || !ok2 {
		d.add(path, "changed", breaksBoth)
		return
	}
	for _, k := range sortedKeys(om, nm) {
		o, n := om[k], nm[k]
		if schemaDocs[k] || reflect.DeepEqual(o, n) {
			continue
		}
		kp := path + "." + k
		switch {
		case (k == "type" || k == "enum") && o != nil && n != nil:
			label := "type"
			if k == "enum" {
				label = "value"
			}
			d.values(kp, label, asList(o), asList(n))
		case k == "required":
			for _, r := range asList(n) {
				if !containsValue(asList(o), r) {
					d.add(kp, fmt.Sprintf("%s now required: old senders may leave it out", compact(r)), BreaksSenders)
				}
			}
			for _, r := range asList(o) {
				if !containsValue(asList(n), r) {
					d.add(kp, fmt.Sprintf("%s no longer required: new senders may leave it out", compact(r)), BreaksReceivers)
				}
			}
		case k == "properties":
			d.properties(path, asMap(o), asMap(n), om["additionalProperties"], nm["additionalProperties"])
		case k == "items" || k == "additionalProperties" && o != nil && n != nil && !isBool(o) && !isBool(n):
			d.schema(kp, o, n)
		case k == "additionalProperties":
			switch {
			case isFalse(n):
				d.add(kp, "now false: receivers refuse fields they do not know", BreaksSenders)
			case isFalse(o):
				d.add(kp, "no longer false: new senders may add fields old receivers refuse", BreaksReceivers)
			default:
				d.add(kp, "changed", breaksBoth)
			}
		case lowerBounds[k] || upperBounds[k]:
			d.bound(kp, o, n, lowerBounds[k])
		case o == nil:
			d.add(kp, fmt.Sprintf("added (%s): receivers check more", compact(n)), BreaksSenders)
		case n == nil:
			d.add(kp, fmt.Sprintf("removed (was %s): old receivers check more than new senders", compact(o)), BreaksReceivers)
		default:
			d.add(kp, fmt.Sprintf("%s → %s", compact(o), compact(n)), breaksBoth)
		}
	}
}

// values reports the items of a list that tightens as it shrinks (type,
// enum): removed ones break senders, added ones receivers.
func (d *differ) values(path, what string, old, new []any) {
	for _, o := range old {
		if !containsValue(new, o) {
			d.add(path, fmt.Sprintf("%s %s no longer allowed", what, compact(o)), BreaksSenders)
		}
	}
	for _, n := range new {
		if !containsValue(old, n) {
			d.add(path, fmt.Sprintf("%s %s now allowed: old receivers refuse it", what, compact(n)), BreaksReceivers)
		}
	}
}

func (d *differ) properties(path string, old, new map[string]any, oldExtra, newExtra any) {
	for _, k := range sortedKeys(old, new) {
		o, n := old[k], new[k]
		pp := path + ".properties." + k
		switch {
		case n == nil && isFalse(newExtra):
			d.add(pp, "removed: receivers refuse it", BreaksSenders)
		case n == nil:
			d.add(pp, "removed: receivers no longer read it", BreaksSenders)
		case o == nil && isFalse(oldExtra):
			d.add(pp, "added: old receivers refuse it", BreaksReceivers)
		case o == nil:
			d.add(pp, "added", Compatible)
		default:
			d.schema(pp, o, n)
		}
	}
}

func (d *differ) bound(path string, old, new any, lower bool) {
	of, oOK := old.(float64)
	nf, nOK := new.(float64)
	tighter := false
	switch {
	case !oOK: // added
		tighter = true
	case !nOK: // removed
	case lower:
		tighter = nf > of
	default:
		tighter = nf < of
	}
	what := fmt.Sprintf("%s → %s", compact(old), compact(new))
	switch {
	case !oOK:
		what = "added: " + compact(new)
	case !nOK:
		what = "removed (was " + compact(old) + ")"
	}
	if tighter {
		d.add(path, what+": tighter", BreaksSenders)
	} else {
		d.add(path, what+": looser", BreaksReceivers)
	}
}

// schemasOf returns the JSON Schemas embedded in m's canonical form, by
// "send/Name" and "recv/Name".
func schemasOf(m *Manifest) map[string]any {
	var doc struct {
		Messages map[string]map[string]struct {
			Schema any `json:"schema"`
		} `json:"messages"`
	}
	out := map[string]any{}
	if json.Unmarshal(m.Canonical(), &doc) != nil {
		return out
	}
	for dir, types := range doc.Messages {
		for name, t := range types {
			if t.Schema != nil {
				out[dir+"/"+name] = t.Schema
			}
		}
	}
	return out
}

func byName(ts []*MessageType) map[string]*MessageType {
	m := make(map[string]*MessageType, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

func sortedKeys[V any](a, b map[string]V) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
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

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func isBool(v any) bool { _, ok := v.(bool); return ok }

func isFalse(v any) bool { b, ok := v.(bool); return ok && !b }

func containsValue(list []any, v any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

// compact writes a schema value as short JSON.
func compact(v any) string {
	if v == nil {
		return "nothing"
	}
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}
