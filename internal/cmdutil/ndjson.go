package cmdutil

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/manifest"
)

// maxLine bounds one NDJSON input line.
const maxLine = 64 << 20

// Record is how recv and call print one received message: its sequence
// number on the connection, its type, and its value as JSON.
type Record struct {
	Seq   uint64          `json:"seq"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// SendValue checks a JSON value locally against t, as the server will, and
// returns what to pass to Conn.Send for codecName: the JSON text itself for
// proto and json (iface converts it), the bytes a base64 string holds for
// raw. The error names the failing field (a JSON pointer) when it is known.
func SendValue(t *manifest.MessageType, codecName string, data []byte) (any, error) {
	if codecName == codec.NameRaw {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%s is sent as raw bytes: give a JSON string of base64 (\"aGVsbG8=\"), as recv prints them", t.Name)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s is sent as raw bytes: the string is not base64: %v", t.Name, err)
		}
		return b, nil
	}
	if t.Proto != nil {
		// Checks the schema, if any, and that protojson takes the value.
		if err := codec.JSON().Unmarshal(data, &t.Type, t.New()); err != nil {
			return nil, err
		}
	} else if _, err := codec.JSON().Append(nil, &t.Type, json.RawMessage(data)); err != nil {
		return nil, err
	}
	return json.RawMessage(data), nil
}

// Values reads the values of -d: inline JSON, @file or @- (stdin). Inline
// text and a file hold one JSON value (which may span lines) or NDJSON, one
// value per line; stdin is read as NDJSON as it arrives, so a stream can be
// piped in. Each value is passed to f with its line number (1-based); blank
// lines are skipped. An error of f stops the reading and is returned.
func Values(arg string, stdin io.Reader, f func(line int, value []byte) error) error {
	var r io.Reader
	switch {
	case arg == "@-":
		r = stdin
	case strings.HasPrefix(arg, "@"):
		data, err := os.ReadFile(arg[1:])
		if err != nil {
			return err
		}
		if t := bytes.TrimSpace(data); json.Valid(t) {
			return f(1, t)
		}
		r = bytes.NewReader(data)
	default:
		if t := bytes.TrimSpace([]byte(arg)); json.Valid(t) || !bytes.Contains(t, []byte("\n")) {
			return f(1, t)
		}
		r = strings.NewReader(arg)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		v := bytes.TrimSpace(sc.Bytes())
		if len(v) == 0 {
			continue
		}
		if err := f(line, v); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes", line+1, maxLine)
		}
		return err
	}
	return nil
}

// WriteRecord prints one received message in format f: NDJSON for json
// (the value alone when valueOnly), a YAML document for yaml, and
// "#seq Type value" for text, where a value holding characters JSON does
// not escape but a terminal acts on (C1 controls, bidi overrides) is
// quoted whole, as Untrusted does.
func WriteRecord(w io.Writer, f Format, r Record, valueOnly bool) error {
	switch f {
	case YAML:
		if valueOnly {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
			return JSONToYAML(w, r.Value)
		}
		return WriteYAMLDoc(w, r)
	case Text:
		if valueOnly {
			_, err := fmt.Fprintf(w, "%s\n", Untrusted(string(r.Value)))
			return err
		}
		_, err := fmt.Fprintf(w, "#%d %s %s\n", r.Seq, Untrusted(r.Type), Untrusted(string(r.Value)))
		return err
	}
	if valueOnly {
		_, err := fmt.Fprintf(w, "%s\n", r.Value)
		return err
	}
	return WriteJSONLine(w, r)
}
