package httpgw

import (
	"encoding/json"

	"github.com/ifkit/ifkit/manifest"
)

// asyncAPI returns the AsyncAPI 3.0 document of m's streaming side, as
// served from host under base: the
// channel /NAME/stream (SSE, NDJSON or WebSocket), with the messages the
// server sends on it (operation "send": the interface sends) and, on a
// WebSocket, those it receives; and a channel per request/stream type.
func asyncAPI(m *manifest.Manifest, host, base string) ([]byte, error) {
	s := newSchemas(m)
	messages := map[string]any{}
	message := func(t *manifest.MessageType) map[string]any {
		name := componentName(t.Name)
		if _, ok := messages[name]; !ok {
			msg := map[string]any{"name": t.Name, "payload": s.typeRef(t), "contentType": mediaJSON}
			if t.Description != "" {
				msg["description"] = t.Description
			}
			messages[name] = msg
		}
		return map[string]any{"$ref": "#/components/messages/" + name}
	}
	channels := map[string]any{}
	operations := map[string]any{}
	stream := map[string]any{}
	var sends, receives []any
	for _, t := range pushed(m) {
		stream[componentName(t.Name)] = message(t)
		sends = append(sends, map[string]any{"$ref": "#/channels/stream/messages/" + componentName(t.Name)})
	}
	for _, t := range m.Recv {
		if t.Reply != nil {
			continue
		}
		stream[componentName(t.Name)] = message(t)
		receives = append(receives, map[string]any{"$ref": "#/channels/stream/messages/" + componentName(t.Name)})
	}
	if len(stream) > 0 {
		channels["stream"] = map[string]any{
			"address":     "/" + m.Name + "/stream",
			"description": "GET it as NDJSON or Server-Sent Events for what the server sends; open a WebSocket to also send it messages ({\"type\": T, \"value\": V} text messages).",
			"messages":    stream,
		}
	}
	if len(sends) > 0 {
		operations["send"] = map[string]any{"action": "send", "channel": map[string]any{"$ref": "#/channels/stream"}, "messages": sends,
			"summary": "What " + m.Name + " sends, with credits following the reader"}
	}
	if len(receives) > 0 {
		operations["receive"] = map[string]any{"action": "receive", "channel": map[string]any{"$ref": "#/channels/stream"}, "messages": receives,
			"summary": "What " + m.Name + " receives (WebSocket, or POST /" + m.Name + "/TYPE)"}
	}
	for _, t := range m.Recv {
		reply, ok := m.Type(replyName(t))
		if t.Reply == nil || !t.Reply.Stream || !ok {
			continue
		}
		id := componentName(t.Name)
		channels[id] = map[string]any{
			"address":  "/" + m.Name + "/" + t.Name,
			"messages": map[string]any{componentName(t.Name): message(t), componentName(reply.Name): message(reply)},
		}
		operations[id] = map[string]any{
			"action":   "receive",
			"summary":  "POST a " + t.Name + "; its " + reply.Name + " replies stream back (NDJSON or SSE)",
			"channel":  map[string]any{"$ref": "#/channels/" + id},
			"messages": []any{map[string]any{"$ref": "#/channels/" + id + "/messages/" + componentName(t.Name)}},
			"reply": map[string]any{
				"channel":  map[string]any{"$ref": "#/channels/" + id},
				"messages": []any{map[string]any{"$ref": "#/channels/" + id + "/messages/" + componentName(reply.Name)}},
			},
		}
	}
	title := m.Title
	if title == "" {
		title = m.Name
	}
	info := map[string]any{"title": title, "version": m.Version}
	if m.Description != "" {
		info["description"] = m.Description
	}
	doc := map[string]any{
		"asyncapi":           "3.0.0",
		"info":               info,
		"defaultContentType": mediaJSON,
		"servers": map[string]any{"gateway": map[string]any{
			"host": host, "pathname": base, "protocol": "http",
			"description": "the gateway this document came from (streams also as ws)",
		}},
		"channels":   channels,
		"operations": operations,
		"components": map[string]any{"messages": messages, "schemas": s.out},
	}
	return json.MarshalIndent(doc, "", "  ")
}
