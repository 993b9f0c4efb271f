package mqtt

import (
	"encoding/json"
	"fmt"

	"github.com/ifkit/ifkit/manifest"
)

// Delivery is the value of a message delivered from a subscription.
type Delivery struct {
	Topic    string          `json:"topic"`
	Retained bool            `json:"retained,omitempty"`
	Data     json.RawMessage `json:"data"`
}

func deliverySchema(data any) any {
	if m, ok := data.(map[string]any); ok {
		if _, has := m["$id"]; !has {
			c := map[string]any{"$id": "urn:ifkit:adapter:mqtt:data"}
			for k, v := range m {
				c[k] = v
			}
			data = c
		}
	}
	return map[string]any{
		"type":                 "object",
		"required":             []string{"topic", "data"},
		"additionalProperties": false,
		"properties": map[string]any{
			"topic":    map[string]any{"type": "string", "description": "The topic it was published to."},
			"retained": map[string]any{"type": "boolean", "description": "The broker's retained message for the topic, sent on subscribing."},
			"data":     map[string]any{"$ref": "#/$defs/data"},
		},
		"$defs": map[string]any{"data": data},
	}
}

func schemaOf(t Type) any {
	if t.Schema == nil {
		return true
	}
	return t.Schema
}

func flow(credits, maxBytes int) map[string]any {
	if credits == 0 {
		credits = DefaultCredits
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxMessageBytes
	}
	return map[string]any{"credits": credits, "max_message_bytes": maxBytes, "on_exhausted": "block"}
}

func build(m map[string]any) (*manifest.Manifest, error) {
	m["ifkit"], m["version"], m["codecs"] = 1, "1.0.0", []string{"json"}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	man, err := manifest.Parse(fmt.Sprint(m["name"], ".json"), data)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", m["name"], err)
	}
	return man, nil
}

func (c *Config) subscribeManifest(e Subscribe) (*manifest.Manifest, error) {
	t := c.Types[e.Type]
	desc := e.Description
	if desc == "" {
		desc = "The messages published on MQTT topics " + e.Filter + "."
	}
	desc += "\n\nThe broker has at most the credit window of messages in flight to a connection (its Receive Maximum); each is acknowledged (PUBACK) once the client has consumed it."
	examples := []any{}
	for _, x := range t.Examples {
		examples = append(examples, map[string]any{"topic": "example", "data": x})
	}
	return build(map[string]any{
		"name": e.Interface, "title": "MQTT subscription " + e.Filter, "description": desc, "direction": "send",
		"messages": map[string]any{"send": map[string]any{e.Type: map[string]any{"description": t.Description, "schema": deliverySchema(schemaOf(t)), "examples": examples}}},
		"flow":     flow(e.Credits, e.MaxMessageBytes),
		"control":  []string{"ping", "stats", "pause", "resume", "close"},
		"metadata": map[string]any{"adapter": "mqtt", "filter": e.Filter},
	})
}

func (c *Config) publishManifest(e Publish) (*manifest.Manifest, error) {
	t := c.Types[e.Type]
	desc := e.Description
	if desc == "" {
		desc = "Publish to MQTT topic " + e.Topic + "."
	}
	desc += "\n\nEach message is published with QoS 1; its credit comes back once the broker's PUBACK says it took it."
	return build(map[string]any{
		"name": e.Interface, "title": "MQTT publish to " + e.Topic, "description": desc, "direction": "recv",
		"messages": map[string]any{"recv": map[string]any{e.Type: map[string]any{"description": t.Description, "schema": schemaOf(t), "examples": append([]any{}, t.Examples...)}}},
		"flow":     flow(e.Credits, e.MaxMessageBytes),
		"control":  []string{"ping", "stats", "pause", "resume", "close"},
		"metadata": map[string]any{"adapter": "mqtt", "topic": e.Topic},
	})
}
