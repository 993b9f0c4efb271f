package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseDocument parses YAML or JSON into a node tree. JSON is recognised by
// a .json file name, or by a first non-space byte of '{' or '['.
func parseDocument(file string, data []byte) (*node, ErrorList) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, ErrorList{{File: file, Msg: "the file is empty; a manifest starts with `ifkit: 1`"}}
	}
	if !utf8.Valid(data) {
		return nil, ErrorList{{File: file, Msg: "the file is not valid UTF-8"}}
	}
	if strings.EqualFold(path.Ext(file), ".json") || trimmed[0] == '{' || trimmed[0] == '[' {
		n, err := parseJSON(file, data)
		if err != nil {
			return nil, ErrorList{err}
		}
		return n, nil
	}
	return parseYAML(file, data)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the errors of yaml.v3's parser stage, whose line
// numbers it reports counted from 0 (its scanner's count from 1).
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

func parseYAML(file string, data []byte) (*node, ErrorList) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		e := &Error{File: file, Msg: "YAML syntax error: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			if yamlParserProblems[m[2]] {
				e.Line++ // yaml.v3 counts lines from 0 for parser (not scanner) errors
			}
			e.Col = 1
			e.Msg = "YAML syntax error: " + m[2]
		}
		return nil, ErrorList{e}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, ErrorList{{File: file, Line: extra.Line, Col: extra.Column,
			Msg: "more than one YAML document (---); a manifest file holds exactly one"}}
	}
	c := yamlConverter{file: file}
	root := c.convert(&doc, 0)
	return root, c.errs
}

type yamlConverter struct {
	file  string
	nodes int
	errs  ErrorList
}

func (c *yamlConverter) fail(y *yaml.Node, format string, args ...any) *node {
	c.errs = append(c.errs, &Error{File: c.file, Line: y.Line, Col: y.Column, Msg: fmt.Sprintf(format, args...)})
	return &node{kind: kindNull, line: y.Line, col: y.Column}
}

func (c *yamlConverter) convert(y *yaml.Node, depth int) *node {
	c.nodes++
	if c.nodes > maxNodes || depth > 256 {
		if c.nodes == maxNodes+1 || depth == 257 {
			return c.fail(y, "document too large or too deeply nested (aliases expanded)")
		}
		return &node{}
	}
	n := &node{line: y.Line, col: y.Column}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return c.fail(y, "the document is empty")
		}
		return c.convert(y.Content[0], depth+1)
	case yaml.AliasNode:
		return c.convert(y.Alias, depth+1)
	case yaml.MappingNode:
		n.kind = kindObject
		seen := map[string]bool{}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Tag == "!!merge" {
				c.fail(k, "YAML merge keys (<<) are not supported; write the fields out")
				continue
			}
			if k.Kind != yaml.ScalarNode {
				c.fail(k, "a mapping key must be a plain string")
				continue
			}
			if seen[k.Value] {
				c.fail(k, "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			n.keys = append(n.keys, &node{kind: kindString, text: k.Value, line: k.Line, col: k.Column})
			n.vals = append(n.vals, c.convert(v, depth+1))
		}
		n.indexKeys()
	case yaml.SequenceNode:
		n.kind = kindArray
		for _, item := range y.Content {
			n.vals = append(n.vals, c.convert(item, depth+1))
		}
	case yaml.ScalarNode:
		switch y.ShortTag() {
		case "!!null":
			n.kind = kindNull
		case "!!bool":
			n.kind = kindBool
			if err := y.Decode(&n.truth); err != nil {
				return c.fail(y, "invalid boolean %q", y.Value)
			}
		case "!!int", "!!float":
			text, ok := normalizeNumber(y.Value)
			if !ok {
				return c.fail(y, "%q is not a number JSON can represent", y.Value)
			}
			n.kind, n.text = kindNumber, text
		default: // !!str, !!timestamp, !!binary and custom tags read as strings
			n.kind, n.text = kindString, y.Value
		}
	}
	return n
}

// parseJSON parses one JSON value, recording where each value starts.
func parseJSON(file string, data []byte) (*node, *Error) {
	p := jsonParser{file: file, data: data, dec: json.NewDecoder(bytes.NewReader(data)), at: textPos{line: 1, col: 1}}
	p.dec.UseNumber()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, tokErr := p.dec.Token(); !errors.Is(tokErr, io.EOF) {
		return nil, p.errAt(p.start(), "unexpected data after the top-level JSON value")
	}
	return n, nil
}

type jsonParser struct {
	file  string
	data  []byte
	dec   *json.Decoder
	nodes int
	at    textPos // the last position computed
}

// textPos is an offset into a document with its 1-based line and column.
type textPos struct{ off, line, col int }

// start returns the offset where the next token begins: between tokens JSON
// has only whitespace, commas and colons.
func (p *jsonParser) start() int {
	off := int(p.dec.InputOffset())
	for off < len(p.data) && strings.IndexByte(" \t\r\n,:", p.data[off]) >= 0 {
		off++
	}
	return off
}

// position returns the line and column of offset off. Offsets mostly grow,
// so it counts on from the last one it was asked for: counting each from the
// start of its line took time quadratic in the length of a line, and a
// canonical form is one line (a 4 MB one took three minutes).
func (p *jsonParser) position(off int) (line, col int) {
	off = min(off, len(p.data))
	at := p.at
	if off < at.off {
		at = textPos{line: 1, col: 1}
	}
	seg := p.data[at.off:off]
	if nl := bytes.Count(seg, []byte{'\n'}); nl > 0 {
		at.line += nl
		at.col = 1
		seg = seg[bytes.LastIndexByte(seg, '\n')+1:]
	}
	at.col += utf8.RuneCount(seg)
	at.off = off
	if off == len(p.data) || utf8.RuneStart(p.data[off]) {
		p.at = at // counting on from inside a character would count it twice
	}
	return at.line, at.col
}

func (p *jsonParser) errAt(off int, format string, args ...any) *Error {
	line, col := p.position(off)
	return &Error{File: p.file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) token() (json.Token, int, *Error) {
	off := p.start()
	tok, err := p.dec.Token()
	if err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			return nil, 0, p.errAt(int(syn.Offset), "JSON syntax error: %s", syn.Error())
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, 0, p.errAt(len(p.data), "JSON syntax error: unexpected end of file")
		default:
			return nil, 0, p.errAt(off, "JSON syntax error: %v", err)
		}
	}
	return tok, off, nil
}

func (p *jsonParser) value(depth int) (*node, *Error) {
	tok, off, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.valueFrom(tok, off, depth)
}

func (p *jsonParser) valueFrom(tok json.Token, off, depth int) (*node, *Error) {
	p.nodes++
	if p.nodes > maxNodes || depth > 256 {
		return nil, p.errAt(off, "document too large or too deeply nested")
	}
	n := &node{}
	n.line, n.col = p.position(off)
	switch t := tok.(type) {
	case nil:
		n.kind = kindNull
	case bool:
		n.kind, n.truth = kindBool, t
	case json.Number:
		text, ok := normalizeNumber(string(t))
		if !ok {
			return nil, p.errAt(off, "%s is out of the range of a 64-bit float", t)
		}
		n.kind, n.text = kindNumber, text
	case string:
		n.kind, n.text = kindString, t
	case json.Delim:
		switch t {
		case '[':
			n.kind = kindArray
			for p.dec.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, item)
			}
		case '{':
			n.kind = kindObject
			seen := map[string]bool{}
			for p.dec.More() {
				ktok, koff, err := p.token()
				if err != nil {
					return nil, err
				}
				k, _ := ktok.(string)
				if seen[k] {
					return nil, p.errAt(koff, "duplicate key %q", k)
				}
				seen[k] = true
				key := &node{kind: kindString, text: k}
				key.line, key.col = p.position(koff)
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, v)
			}
			n.indexKeys()
		}
		if _, _, err := p.token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return n, nil
}
