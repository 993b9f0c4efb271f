package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// canonical writes the canonical form of m (spec/MANIFEST.md, "Canonical
// form"): every default filled in, descriptors and schemas embedded, keys
// sorted, no insignificant whitespace, no HTML escaping.
func (b *builder) canonical(m *Manifest) []byte {
	doc := map[string]any{
		"ifkit":     FormatVersion,
		"name":      m.Name,
		"version":   m.Version,
		"direction": m.Direction,
		"codecs":    m.Codecs,
		"control":   m.Control,
		"flow": map[string]any{
			"credits":           m.Flow.Credits,
			"max_message_bytes": m.Flow.MaxMessageBytes,
			"on_exhausted":      m.Flow.OnExhausted,
		},
	}
	// Absent means none, so manifests written before message_auth existed
	// keep their hash.
	if m.MessageAuth != MessageAuthNone {
		doc["message_auth"] = m.MessageAuth
	}
	putString(doc, "title", m.Title)
	putString(doc, "description", m.Description)
	if len(m.Metadata) > 0 {
		doc["metadata"] = m.Metadata
	}
	if m.Params != nil {
		doc["params"] = canonicalParams(m.Params)
	}
	if b.set != nil {
		doc["descriptors"] = encodeSet(b.set)
	}
	messages := map[string]any{}
	for _, d := range []Direction{Send, Recv} {
		if len(m.Types(d)) == 0 {
			continue
		}
		types := map[string]any{}
		for _, t := range m.Types(d) {
			types[t.Name] = b.canonicalType(t)
		}
		messages[string(d)] = types
	}
	doc["messages"] = messages
	return encodeCanonical(doc)
}

func (b *builder) canonicalType(t *MessageType) map[string]any {
	ct := map[string]any{}
	putString(ct, "description", t.Description)
	if t.Proto != nil {
		ct["proto"] = string(t.Proto.FullName())
	}
	if s, ok := b.schemas[t]; ok {
		ct["schema"] = s
	}
	if len(t.Examples) > 0 {
		examples := make([]json.RawMessage, len(t.Examples))
		for i, e := range t.Examples {
			examples[i] = e
		}
		ct["examples"] = examples
	}
	if t.Reply != nil {
		ct["reply"] = map[string]any{"type": t.Reply.Type, "stream": t.Reply.Stream}
	}
	if len(t.FilterFields) > 0 {
		ct["filter_fields"] = t.FilterFields
	}
	return ct
}

func putString(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// encodeCanonical writes v as compact JSON with sorted keys and without HTML
// escaping. Examples are re-encoded through a plain value so that their keys
// are sorted too.
func encodeCanonical(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("encoding a canonical manifest: " + err.Error()) // only plain JSON values reach here
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func hashOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}
