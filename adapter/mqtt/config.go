package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits and defaults of a configuration.
const (
	MaxConfigBytes         = 1 << 20
	MaxCredits             = 65535 // MQTT's Receive Maximum is 16 bits
	DefaultCredits         = 32
	DefaultMaxMessageBytes = 256 << 10
)

// Config names the message types (JSON Schemas) and the interfaces.
type Config struct {
	Types     map[string]Type `yaml:"types"`
	Subscribe []Subscribe     `yaml:"subscribe"`
	Publish   []Publish       `yaml:"publish"`
}

// Type is a message type: an inline JSON Schema, a description and
// examples.
type Type struct {
	Description string `yaml:"description"`
	Schema      any    `yaml:"schema"`
	Examples    []any  `yaml:"examples"`
}

// Subscribe serves a topic filter as a send interface.
type Subscribe struct {
	Interface   string `yaml:"interface"`
	Description string `yaml:"description"`
	Filter      string `yaml:"filter"`
	Type        string `yaml:"type"`
	// Exclusive gives each connection every message (its own
	// subscription) instead of sharing one subscription among them.
	Exclusive       bool `yaml:"exclusive"`
	Credits         int  `yaml:"credits"`
	MaxMessageBytes int  `yaml:"max_message_bytes"`
}

// Publish serves a topic as a recv interface.
type Publish struct {
	Interface       string `yaml:"interface"`
	Description     string `yaml:"description"`
	Topic           string `yaml:"topic"`
	Type            string `yaml:"type"`
	Retain          bool   `yaml:"retain"`
	Credits         int    `yaml:"credits"`
	MaxMessageBytes int    `yaml:"max_message_bytes"`
}

// ParseConfig reads a configuration (YAML or JSON); name is used in
// errors. Unknown fields are errors, and so is every setting that cannot
// work.
func ParseConfig(name string, data []byte) (*Config, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("%s: %d bytes; a configuration may have at most %d", name, len(data), MaxConfigBytes)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &c, nil
}

var typeRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validTopic says whether s is an MQTT topic name (wildcards false) or
// filter: '+' a whole level, '#' the last one.
func validTopic(s string, wildcards bool) bool {
	if s == "" || len(s) > 65535 || strings.ContainsRune(s, 0) || strings.HasPrefix(s, "$") {
		return false
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		switch {
		case l == "+" || l == "#":
			if !wildcards || (l == "#" && i != len(levels)-1) {
				return false
			}
		case strings.ContainsAny(l, "+#"):
			return false
		}
	}
	return true
}

func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for name := range c.Types {
		if !typeRE.MatchString(name) {
			bad("types.%s: a type name is a letter or '_' then letters, digits or '_'", name)
		}
	}
	seen := map[string]string{}
	common := func(at, iface, typ string, credits, maxBytes int) {
		if iface == "" {
			bad("%s.interface: give the interface's name (e.g. sensors.raw)", at)
		} else if other, ok := seen[iface]; ok {
			bad("%s.interface %q: also the name of %s", at, iface, other)
		}
		seen[iface] = at
		if _, ok := c.Types[typ]; !ok {
			bad("%s.type %q: not a type under types", at, typ)
		}
		if credits < 0 || credits > MaxCredits {
			bad("%s.credits %d: give 1 to %d (MQTT's Receive Maximum)", at, credits, MaxCredits)
		}
		if maxBytes < 0 || maxBytes > 256<<20 {
			bad("%s.max_message_bytes %d: give 1 to %d", at, maxBytes, 256<<20)
		}
	}
	for i, e := range c.Subscribe {
		at := fmt.Sprintf("subscribe[%d]", i)
		common(at, e.Interface, e.Type, e.Credits, e.MaxMessageBytes)
		if !validTopic(e.Filter, true) {
			bad("%s.filter %q is not a topic filter (levels separated by '/', '+' for one level, a last '#' for the rest)", at, e.Filter)
		}
	}
	for i, e := range c.Publish {
		at := fmt.Sprintf("publish[%d]", i)
		common(at, e.Interface, e.Type, e.Credits, e.MaxMessageBytes)
		if !validTopic(e.Topic, false) {
			bad("%s.topic %q: give a topic name without wildcards (e.g. sensors/in)", at, e.Topic)
		}
	}
	return errors.Join(errs...)
}

// DefaultConfigYAML is the configuration served without one: an Event type
// (any JSON object), mqtt.publish to publish to events/in and mqtt.feed to
// read what is published under events/.
const DefaultConfigYAML = `types:
  Event:
    description: An event, any JSON object.
    schema: {type: object}
    examples:
      - {kind: door.opened, zone: north}
subscribe:
  - interface: mqtt.feed
    description: What is published under events/, each message to one of the connections.
    filter: events/#
    type: Event
publish:
  - interface: mqtt.publish
    description: Publish events to events/in.
    topic: events/in
    type: Event
`

// DefaultConfig returns the configuration of DefaultConfigYAML.
func DefaultConfig() *Config {
	c, err := ParseConfig("default", []byte(DefaultConfigYAML))
	if err != nil {
		panic("adapter/mqtt: the default configuration is invalid: " + err.Error())
	}
	return c
}

// LoadConfig reads the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the configuration: %w", path, err)
	}
	if !info.Mode().IsRegular() || info.Size() > MaxConfigBytes {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", path, MaxConfigBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the configuration: %w", path, err)
	}
	return ParseConfig(path, data)
}
