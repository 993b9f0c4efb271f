package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// Format is an output format chosen with -o.
type Format string

// The output formats.
const (
	Text Format = "text" // for people
	JSON Format = "json" // for scripts
	YAML Format = "yaml"
)

// Set implements pflag.Value.
func (f *Format) Set(s string) error {
	switch Format(s) {
	case Text, JSON, YAML:
		*f = Format(s)
		return nil
	}
	return fmt.Errorf("unknown output format %q; use text, json or yaml", s)
}

func (f *Format) String() string { return string(*f) }

// Type implements pflag.Value.
func (f *Format) Type() string { return "format" }

// AddOutputFlag adds -o/--output to cmd, with def as the default.
func AddOutputFlag(cmd *cobra.Command, f *Format, def Format) {
	*f = def
	cmd.Flags().VarP(f, "output", "o", "output format: text, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{string(Text), string(JSON), string(YAML)}, cobra.ShellCompDirectiveNoFileComp
	})
}

// WriteJSON writes v as indented JSON without HTML escaping.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// JSONToYAML re-encodes a JSON document as YAML, keys sorted, numbers kept
// as written.
func JSONToYAML(w io.Writer, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(yamlValue(v)); err != nil {
		return err
	}
	return enc.Close()
}

// yamlValue turns json.Number into the int or float YAML should print, so
// numbers are not quoted as strings.
func yamlValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlValue(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil && !strings.ContainsAny(x.String(), "xX") {
			return f
		}
	}
	return v
}

// WriteJSONLine writes v as one line of JSON (an NDJSON record).
func WriteJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// WriteYAMLDoc writes v, a value with json tags, as one YAML document
// starting with ---.
func WriteYAMLDoc(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "---\n"); err != nil {
		return err
	}
	return JSONToYAML(w, data)
}
