package nats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits of a configuration.
const (
	// MaxConfigBytes bounds a configuration file.
	MaxConfigBytes = 1 << 20
	// MaxCredits bounds an interface's credit window (flow.credits): the
	// messages one ifkit connection may hold unconsumed, fetched from or
	// on their way to JetStream.
	MaxCredits = 65536
	// DefaultCredits is an interface's credit window when the
	// configuration gives none.
	DefaultCredits = 64
	// DefaultMaxMessageBytes bounds one message when the configuration
	// gives no bound.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultAckWait is how long JetStream waits for the adapter's
	// acknowledgement of a delivered message before delivering it again;
	// the adapter renews it (in progress) for messages its client holds.
	DefaultAckWait = 30 * time.Second
	// DefaultFetchWait is how long one fetch from a pull consumer waits
	// for messages before the adapter asks again.
	DefaultFetchWait = 5 * time.Second
	// DefaultPublishTimeout bounds one publish's wait for JetStream's
	// acknowledgement.
	DefaultPublishTimeout = 10 * time.Second
	// DefaultDuplicateWindow is how long JetStream remembers message ids
	// (Nats-Msg-Id) to drop re-sent messages, in streams the adapter
	// creates.
	DefaultDuplicateWindow = 2 * time.Minute
)

// Config says what the adapter serves: the JetStream streams it makes
// sure exist, the message types, and one ifkit interface per consume,
// publish and topic entry. Read one with LoadConfig or ParseConfig; the
// package documentation has an example.
type Config struct {
	// Streams are created if absent (and left as they are if present).
	Streams []Stream `yaml:"streams" json:"streams,omitempty"`
	// Types are the message types, by name: each a JSON Schema.
	Types map[string]Type `yaml:"types" json:"types,omitempty"`
	// Consume entries are send interfaces: messages from a pull consumer.
	Consume []Consume `yaml:"consume" json:"consume,omitempty"`
	// Publish entries are recv interfaces: messages published to a subject.
	Publish []Publish `yaml:"publish" json:"publish,omitempty"`
	// Topics are send interfaces every ifkit server of the subject shares:
	// each message stored on the subject goes to every subscriber of every
	// server (no acknowledgements; see Topic).
	Topics []Topic `yaml:"topics" json:"topics,omitempty"`

	dir string // where schema files resolve
}

// Stream is a JetStream stream the adapter creates if it does not exist.
type Stream struct {
	Name     string   `yaml:"name" json:"name"`
	Subjects []string `yaml:"subjects" json:"subjects"`
	// Storage is "file" (the default) or "memory".
	Storage string `yaml:"storage" json:"storage,omitempty"`
	// Replicas is the number of copies in a cluster (default 1).
	Replicas int `yaml:"replicas" json:"replicas,omitempty"`
	// DuplicateWindow is how long message ids are remembered (default 2m).
	DuplicateWindow Duration `yaml:"duplicate_window" json:"duplicate_window,omitempty"`
}

// Type is a message type: a JSON Schema (inline, or a file beside the
// configuration), with a description and examples.
type Type struct {
	Description string `yaml:"description" json:"description,omitempty"`
	Schema      any    `yaml:"schema" json:"schema,omitempty"`
	SchemaFile  string `yaml:"schema_file" json:"schema_file,omitempty"`
	Examples    []any  `yaml:"examples" json:"examples,omitempty"`
}

// Consume serves a durable pull consumer as a send interface.
type Consume struct {
	Interface   string `yaml:"interface" json:"interface"`
	Description string `yaml:"description" json:"description,omitempty"`
	Stream      string `yaml:"stream" json:"stream"`
	// Consumer is the durable consumer's name; it is created (deliver all,
	// explicit acknowledgements) if absent. Connections to the interface
	// share it: each message goes to one of them.
	Consumer string `yaml:"consumer" json:"consumer"`
	// FilterSubject narrows a consumer the adapter creates.
	FilterSubject   string   `yaml:"filter_subject" json:"filter_subject,omitempty"`
	Type            string   `yaml:"type" json:"type"`
	Credits         int      `yaml:"credits" json:"credits,omitempty"`
	MaxMessageBytes int      `yaml:"max_message_bytes" json:"max_message_bytes,omitempty"`
	AckWait         Duration `yaml:"ack_wait" json:"ack_wait,omitempty"`
	FetchWait       Duration `yaml:"fetch_wait" json:"fetch_wait,omitempty"`
}

// Publish serves a subject as a recv interface.
type Publish struct {
	Interface   string `yaml:"interface" json:"interface"`
	Description string `yaml:"description" json:"description,omitempty"`
	Subject     string `yaml:"subject" json:"subject"`
	Type        string `yaml:"type" json:"type"`
	// MsgID names the top-level fields whose values make each message's
	// id (Nats-Msg-Id): a message re-sent with the same values within the
	// stream's duplicate window is stored once. Without it messages carry
	// no id unless the program sets a MsgID hook (WithMsgID).
	MsgID           []string `yaml:"msg_id" json:"msg_id,omitempty"`
	Credits         int      `yaml:"credits" json:"credits,omitempty"`
	MaxMessageBytes int      `yaml:"max_message_bytes" json:"max_message_bytes,omitempty"`
	PublishTimeout  Duration `yaml:"publish_timeout" json:"publish_timeout,omitempty"`
}

// Topic serves a subject of a stream as a topic (iface.Topic): every
// connection to the interface, on every ifkit server configured with it,
// gets the messages stored on the subject from when it connects.
type Topic struct {
	Interface   string `yaml:"interface" json:"interface"`
	Description string `yaml:"description" json:"description,omitempty"`
	Stream      string `yaml:"stream" json:"stream"`
	Subject     string `yaml:"subject" json:"subject"`
	Type        string `yaml:"type" json:"type"`
	// OnExhausted is what a subscriber without credit gets: drop_oldest
	// (the default), drop_newest, error (ended with slow_subscriber) or
	// block (every subscriber of this server waits for it).
	OnExhausted     string `yaml:"on_exhausted" json:"on_exhausted,omitempty"`
	Credits         int    `yaml:"credits" json:"credits,omitempty"`
	MaxMessageBytes int    `yaml:"max_message_bytes" json:"max_message_bytes,omitempty"`
}

// Duration is a time.Duration written as Go writes one ("30s", "2m").
type Duration time.Duration

// UnmarshalYAML reads "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write 30s, 2m, 1h)", n.Line, s)
	}
	if v < 0 {
		return fmt.Errorf("line %d: the duration %q is negative", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

// DefaultConfigYAML is the configuration the adapter serves without one: a
// stream EVENTS of subjects events.>, an Event type (any JSON object with a
// string id), events.publish to publish events (deduplicated by id) and
// events.feed to consume them.
const DefaultConfigYAML = `streams:
  - name: EVENTS
    subjects: ["events.>"]
types:
  Event:
    description: An event, any JSON object with a string id; the id deduplicates re-sent events.
    schema:
      type: object
      required: [id]
      properties:
        id: {type: string, minLength: 1, maxLength: 256}
    examples:
      - {id: evt-0001, kind: door.opened, zone: north}
consume:
  - interface: events.feed
    description: The events stored on stream EVENTS.
    stream: EVENTS
    consumer: ifkit-feed
    type: Event
publish:
  - interface: events.publish
    description: Publish events to events.in, stored on stream EVENTS.
    subject: events.in
    type: Event
    msg_id: [id]
`

// DefaultConfig returns the configuration of DefaultConfigYAML.
func DefaultConfig() *Config {
	c, err := ParseConfig("default", []byte(DefaultConfigYAML), "")
	if err != nil {
		panic("adapter/nats: the default configuration is invalid: " + err.Error())
	}
	return c
}

// LoadConfig reads the configuration file at path (YAML or JSON); schema
// files resolve in its folder.
func LoadConfig(path string) (*Config, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the configuration: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if info.Size() > MaxConfigBytes {
		return nil, fmt.Errorf("%s: %d bytes; a configuration may have at most %d", path, info.Size(), MaxConfigBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the configuration: %w", path, err)
	}
	return ParseConfig(path, data, filepath.Dir(path))
}

// ParseConfig reads a configuration held in memory; name is used in
// errors, dir is where schema files resolve ("" refuses schema files).
// Unknown fields are errors, and so is every setting that cannot work.
func ParseConfig(name string, data []byte, dir string) (*Config, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s: %d bytes; a configuration may have at most %d", name, len(data), MaxConfigBytes)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty, which serves nothing
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	c.dir = dir
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

var (
	// A stream or consumer name: JetStream forbids spaces, '.', '*', '>'
	// and path separators.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// A subject: tokens separated by '.', wildcards '*' and a final '>'.
	tokenRE = regexp.MustCompile(`^[^\s.*>]+$`)
	// A top-level field name of a message.
	fieldRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func validSubject(s string, wildcards bool) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case wildcards && t == "*":
		case wildcards && t == ">" && i == len(toks)-1:
		case !tokenRE.MatchString(t):
			return false
		}
	}
	return true
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	streams := map[string]bool{}
	for i, s := range c.Streams {
		at := fmt.Sprintf("streams[%d]", i)
		if !nameRE.MatchString(s.Name) {
			bad("%s.name %q: a stream name is 1 to 64 letters, digits, '-' or '_'", at, s.Name)
		}
		if streams[s.Name] {
			bad("%s.name %q: named twice", at, s.Name)
		}
		streams[s.Name] = true
		if len(s.Subjects) == 0 {
			bad("%s.subjects: give at least one subject (e.g. [\"events.>\"])", at)
		}
		for j, sub := range s.Subjects {
			if !validSubject(sub, true) {
				bad("%s.subjects[%d] %q is not a subject (tokens separated by '.', wildcards '*' and a last '>')", at, j, sub)
			}
		}
		if s.Storage != "" && s.Storage != "file" && s.Storage != "memory" {
			bad("%s.storage %q: give file or memory", at, s.Storage)
		}
		if s.Replicas < 0 || s.Replicas > 5 {
			bad("%s.replicas %d: JetStream keeps 1 to 5 replicas", at, s.Replicas)
		}
	}
	for name, t := range c.Types {
		at := fmt.Sprintf("types.%s", name)
		if !fieldRE.MatchString(name) {
			bad("%s: a type name is a letter or '_' then letters, digits or '_'", at)
		}
		if t.Schema != nil && t.SchemaFile != "" {
			bad("%s: give schema or schema_file, not both", at)
		}
		if t.SchemaFile != "" && c.dir == "" {
			bad("%s.schema_file: this configuration is not read from a file, so it cannot name one; give the schema inline", at)
		}
	}
	ifaces := map[string]string{}
	iface := func(at, name string) {
		if name == "" {
			bad("%s.interface: give the interface's name (e.g. events.feed)", at)
			return
		}
		if other, ok := ifaces[name]; ok {
			bad("%s.interface %q: also the name of %s", at, name, other)
		}
		ifaces[name] = at
	}
	typ := func(at, name string) {
		if _, ok := c.Types[name]; !ok {
			bad("%s.type %q: not a type under types (%s)", at, name, c.typeNames())
		}
	}
	flow := func(at string, credits, maxBytes int) {
		if credits < 0 || credits > MaxCredits {
			bad("%s.credits %d: give 1 to %d", at, credits, MaxCredits)
		}
		if maxBytes < 0 || maxBytes > 64<<20 {
			bad("%s.max_message_bytes %d: give 1 to %d", at, maxBytes, 64<<20)
		}
	}
	for i, e := range c.Consume {
		at := fmt.Sprintf("consume[%d]", i)
		iface(at, e.Interface)
		typ(at, e.Type)
		flow(at, e.Credits, e.MaxMessageBytes)
		if !nameRE.MatchString(e.Stream) {
			bad("%s.stream %q: give the stream's name", at, e.Stream)
		}
		if !nameRE.MatchString(e.Consumer) {
			bad("%s.consumer %q: a durable consumer's name is 1 to 64 letters, digits, '-' or '_'", at, e.Consumer)
		}
		if e.FilterSubject != "" && !validSubject(e.FilterSubject, true) {
			bad("%s.filter_subject %q is not a subject", at, e.FilterSubject)
		}
		if e.AckWait != 0 && time.Duration(e.AckWait) < time.Second {
			bad("%s.ack_wait %v: give at least 1s", at, time.Duration(e.AckWait))
		}
		if e.FetchWait != 0 && time.Duration(e.FetchWait) < 100*time.Millisecond {
			bad("%s.fetch_wait %v: give at least 100ms", at, time.Duration(e.FetchWait))
		}
	}
	for i, e := range c.Publish {
		at := fmt.Sprintf("publish[%d]", i)
		iface(at, e.Interface)
		typ(at, e.Type)
		flow(at, e.Credits, e.MaxMessageBytes)
		if !validSubject(e.Subject, false) {
			bad("%s.subject %q: give a subject without wildcards (e.g. events.in)", at, e.Subject)
		}
		for j, f := range e.MsgID {
			if !fieldRE.MatchString(f) {
				bad("%s.msg_id[%d] %q: give a top-level field name of the message", at, j, f)
			}
		}
	}
	for i, e := range c.Topics {
		at := fmt.Sprintf("topics[%d]", i)
		iface(at, e.Interface)
		typ(at, e.Type)
		flow(at, e.Credits, e.MaxMessageBytes)
		if !nameRE.MatchString(e.Stream) {
			bad("%s.stream %q: give the stream's name", at, e.Stream)
		}
		if !validSubject(e.Subject, true) {
			bad("%s.subject %q is not a subject", at, e.Subject)
		}
		switch e.OnExhausted {
		case "", "block", "drop_oldest", "drop_newest", "error":
		default:
			bad("%s.on_exhausted %q: give drop_oldest, drop_newest, error or block", at, e.OnExhausted)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) typeNames() string {
	if len(c.Types) == 0 {
		return "there are none"
	}
	names := make([]string, 0, len(c.Types))
	for n := range c.Types {
		names = append(names, n)
	}
	slices.Sort(names)
	return "there are " + strings.Join(names, ", ")
}
