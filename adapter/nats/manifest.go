package nats

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ifkit/ifkit/manifest"
)

// maxSchemaBytes bounds a schema file.
const maxSchemaBytes = 1 << 20

// schema returns type name's JSON Schema as a value, read from its file if
// it names one.
func (c *Config) schema(name string) (any, error) {
	t := c.Types[name]
	if t.SchemaFile == "" {
		if t.Schema == nil {
			return true, nil // any JSON value
		}
		return t.Schema, nil
	}
	if !filepath.IsLocal(t.SchemaFile) {
		return nil, fmt.Errorf("types.%s.schema_file %q: name a file inside the configuration's folder", name, t.SchemaFile)
	}
	path := filepath.Join(c.dir, t.SchemaFile)
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("types.%s.schema_file: %w", name, err)
	}
	if !info.Mode().IsRegular() || info.Size() > maxSchemaBytes {
		return nil, fmt.Errorf("types.%s.schema_file %s: not a regular file of at most %d bytes", name, path, maxSchemaBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("types.%s.schema_file: %w", name, err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil { // YAML reads JSON too
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return v, nil
}

// jsonManifest is the part of the manifest format the adapter writes.
type jsonManifest struct {
	Ifkit       int                            `json:"ifkit"`
	Name        string                         `json:"name"`
	Version     string                         `json:"version"`
	Title       string                         `json:"title,omitempty"`
	Description string                         `json:"description,omitempty"`
	Direction   string                         `json:"direction"`
	Codecs      []string                       `json:"codecs"`
	Messages    map[string]map[string]jsonType `json:"messages"`
	Flow        jsonFlow                       `json:"flow"`
	Control     []string                       `json:"control"`
	Metadata    map[string]any                 `json:"metadata,omitempty"`
}

type jsonType struct {
	Description string `json:"description,omitempty"`
	Schema      any    `json:"schema"`
	Examples    []any  `json:"examples,omitempty"`
}

type jsonFlow struct {
	Credits         int    `json:"credits"`
	MaxMessageBytes int    `json:"max_message_bytes"`
	OnExhausted     string `json:"on_exhausted"`
}

// ManifestVersion is the version of every manifest the adapter makes.
const ManifestVersion = "1.0.0"

// dataID is the $id of a message's schema inside a delivery's: its own
// references (#/$defs/...) resolve inside it.
const dataID = "urn:ifkit:adapter:nats:data"

// deliverySchema is the schema of a message delivered from a stream: the
// stored message (data, which the type's schema checks) and where it is
// in the stream.
func deliverySchema(data any) any {
	if m, ok := data.(map[string]any); ok {
		if _, has := m["$id"]; !has {
			c := make(map[string]any, len(m)+1)
			for k, v := range m {
				c[k] = v
			}
			c["$id"] = dataID
			data = c
		}
	}
	return map[string]any{
		"type":                 "object",
		"required":             []string{"seq", "subject", "data"},
		"additionalProperties": false,
		"properties": map[string]any{
			"seq":       map[string]any{"type": "integer", "minimum": 1, "description": "The message's sequence number in its stream: reset to seq+1 resumes after it."},
			"subject":   map[string]any{"type": "string", "description": "The subject it was published to."},
			"time":      map[string]any{"type": "string", "format": "date-time", "description": "When the stream stored it."},
			"delivered": map[string]any{"type": "integer", "minimum": 1, "description": "How many times JetStream has delivered it (more than 1: delivered before and not acknowledged)."},
			"data":      map[string]any{"$ref": "#/$defs/data"},
		},
		"$defs": map[string]any{"data": data},
	}
}

// Delivery is the value of a message delivered from a stream (a consume or
// topic interface): the stored message and where it is in the stream.
type Delivery struct {
	Seq       uint64          `json:"seq"`
	Subject   string          `json:"subject"`
	Time      string          `json:"time,omitempty"`
	Delivered uint64          `json:"delivered,omitempty"`
	Data      json.RawMessage `json:"data"`
}

// buildManifest makes and checks the manifest of one interface.
func buildManifest(m jsonManifest) (*manifest.Manifest, error) {
	m.Ifkit, m.Version, m.Codecs = 1, ManifestVersion, []string{"json"}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", m.Name, err)
	}
	man, err := manifest.Parse(m.Name+".json", data)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", m.Name, err)
	}
	return man, nil
}

func flowOf(credits, maxBytes int, onExhausted string) jsonFlow {
	if credits == 0 {
		credits = DefaultCredits
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	if onExhausted == "" {
		onExhausted = "block"
	}
	return jsonFlow{Credits: credits, MaxMessageBytes: maxBytes, OnExhausted: onExhausted}
}

func (c *Config) consumeManifest(e Consume) (*manifest.Manifest, error) {
	s, err := c.schema(e.Type)
	if err != nil {
		return nil, err
	}
	t := c.Types[e.Type]
	desc := e.Description
	if desc == "" {
		desc = fmt.Sprintf("The messages of JetStream stream %s, from durable consumer %s.", e.Stream, e.Consumer)
	}
	desc += fmt.Sprintf("\n\nEach message goes to one connection and is acknowledged to JetStream once the client has consumed it (its credit grant says so); a connection that ends first leaves it to be delivered again. `seq` is its stream sequence; the control operation reset moves the consumer (shared by every connection) to `seq:N`, `time:RFC3339`, `first`, `last` or `new`.")
	return buildManifest(jsonManifest{
		Name:        e.Interface,
		Title:       fmt.Sprintf("JetStream %s/%s", e.Stream, e.Consumer),
		Description: desc,
		Direction:   "send",
		Messages: map[string]map[string]jsonType{"send": {e.Type: {
			Description: t.Description,
			Schema:      deliverySchema(s),
			Examples:    deliveryExamples(t.Examples, e.Stream),
		}}},
		Flow:     flowOf(e.Credits, e.MaxMessageBytes, "block"),
		Control:  []string{"ping", "stats", "pause", "resume", "reset", "close"},
		Metadata: map[string]any{"adapter": "nats", "stream": e.Stream, "consumer": e.Consumer},
	})
}

func deliveryExamples(examples []any, stream string) []any {
	out := make([]any, len(examples))
	for i, x := range examples {
		out[i] = map[string]any{"seq": i + 1, "subject": strings.ToLower(stream) + ".example", "time": "2026-12-01T09:30:00Z", "delivered": 1, "data": x}
	}
	return out
}

func (c *Config) publishManifest(e Publish) (*manifest.Manifest, error) {
	s, err := c.schema(e.Type)
	if err != nil {
		return nil, err
	}
	t := c.Types[e.Type]
	desc := e.Description
	if desc == "" {
		desc = fmt.Sprintf("Publish to JetStream subject %s.", e.Subject)
	}
	desc += "\n\nA message's credit comes back once JetStream has stored it (its PubAck); a message it did not store is refused with the reason."
	if len(e.MsgID) > 0 {
		desc += fmt.Sprintf(" Its id is made of its fields %s: one re-sent with the same values is stored once.", strings.Join(e.MsgID, ", "))
	}
	return buildManifest(jsonManifest{
		Name:        e.Interface,
		Title:       "JetStream publish to " + e.Subject,
		Description: desc,
		Direction:   "recv",
		Messages:    map[string]map[string]jsonType{"recv": {e.Type: {Description: t.Description, Schema: s, Examples: t.Examples}}},
		Flow:        flowOf(e.Credits, e.MaxMessageBytes, "block"),
		Control:     []string{"ping", "stats", "pause", "resume", "close"},
		Metadata:    map[string]any{"adapter": "nats", "subject": e.Subject, "msg_id": e.MsgID},
	})
}

func (c *Config) topicManifest(e Topic) (*manifest.Manifest, error) {
	s, err := c.schema(e.Type)
	if err != nil {
		return nil, err
	}
	t := c.Types[e.Type]
	desc := e.Description
	if desc == "" {
		desc = fmt.Sprintf("Every message stored on JetStream subject %s (stream %s), on every ifkit server that serves it.", e.Subject, e.Stream)
	}
	onEx := e.OnExhausted
	if onEx == "" {
		onEx = "drop_oldest"
	}
	return buildManifest(jsonManifest{
		Name:        e.Interface,
		Title:       "JetStream topic " + e.Subject,
		Description: desc + "\n\nEach connection gets the messages stored from when it connects; `seq` is the stream sequence.",
		Direction:   "send",
		Messages: map[string]map[string]jsonType{"send": {e.Type: {
			Description: t.Description,
			Schema:      deliverySchema(s),
			Examples:    deliveryExamples(t.Examples, e.Stream),
		}}},
		Flow:     flowOf(e.Credits, e.MaxMessageBytes, onEx),
		Control:  []string{"ping", "stats", "pause", "resume", "close"},
		Metadata: map[string]any{"adapter": "nats", "stream": e.Stream, "subject": e.Subject},
	})
}
