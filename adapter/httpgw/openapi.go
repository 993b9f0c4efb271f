package httpgw

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ifkit/ifkit/manifest"
)

// The media types of the routes.
const (
	mediaJSON   = "application/json"
	mediaNDJSON = "application/x-ndjson"
	mediaSSE    = "text/event-stream"
)

// The gateway's own components are named with a "-", which neither a type
// name nor a protobuf name may hold: a message type named Error or Record
// (logs.sink has one) keeps its own schema.
const (
	errorComponent  = "gateway-Error"
	recordComponent = "gateway-Record"
)

// openAPI returns the OpenAPI 3.1 document of m's routes, served under
// base ("/" or a prefix such as "/ifkit").
func openAPI(m *manifest.Manifest, base string) ([]byte, error) {
	s := newSchemas(m)
	s.out[errorComponent] = errorSchema()
	s.out[recordComponent] = recordSchema()
	prefix := "/" + m.Name
	paths := map[string]any{}
	errResp := map[string]any{"$ref": "#/components/responses/Error"}
	docs := func(summary string) map[string]any {
		return map[string]any{"get": map[string]any{
			"summary":   summary,
			"tags":      []any{"introspection"},
			"responses": map[string]any{"200": map[string]any{"description": summary, "content": map[string]any{mediaJSON: map[string]any{"schema": map[string]any{"type": "object"}}}}, "default": errResp},
		}}
	}
	paths[prefix+"/manifest"] = docs("The interface's canonical manifest (its ETag is the manifest hash)")
	paths[prefix+"/openapi.json"] = docs("This document")
	paths[prefix+"/asyncapi.json"] = docs("The AsyncAPI 3.0 document of the interface's streams")
	if len(pushed(m)) > 0 {
		paths[prefix+"/stream"] = streamPath(m, s, errResp)
	}
	for _, t := range m.Recv {
		paths[prefix+"/"+t.Name] = typePath(m, t, s, errResp)
	}
	title := m.Title
	if title == "" {
		title = m.Name
	}
	info := map[string]any{"title": title, "version": m.Version}
	desc := m.Description
	if desc != "" {
		desc += "\n\n"
	}
	info["description"] = desc + fmt.Sprintf("The ifkit interface `%s` %s through an HTTP gateway. Manifest hash: `%s`.", m.Name, m.Version, m.Hash())
	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    info,
		"servers": []any{map[string]any{"url": base}},
		"tags":    []any{map[string]any{"name": "messages"}, map[string]any{"name": "introspection"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": s.out,
			"responses": map[string]any{"Error": map[string]any{
				"description": "The request failed; code is the ifkit code (spec/PROTOCOL.md §9)",
				"content":     map[string]any{mediaJSON: map[string]any{"schema": ref(errorComponent)}},
			}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// typePath is the POST route of one message type the server receives.
func typePath(m *manifest.Manifest, t *manifest.MessageType, s *schemas, errResp any) map[string]any {
	req := map[string]any{mediaJSON: map[string]any{"schema": s.typeRef(t)}}
	if len(t.Examples) > 0 {
		req[mediaJSON].(map[string]any)["example"] = json.RawMessage(t.Examples[0])
	}
	op := map[string]any{
		"operationId": operationID(m, t.Name),
		"tags":        []any{"messages"},
		"requestBody": map[string]any{"required": true, "content": req},
	}
	desc := t.Description
	if desc != "" {
		desc += "\n\n"
	}
	responses := map[string]any{"default": errResp}
	reply, _ := m.Type(replyName(t))
	switch {
	case t.Reply != nil && !t.Reply.Stream && reply != nil:
		op["summary"] = fmt.Sprintf("Send a %s and get its %s", t.Name, reply.Name)
		responses["200"] = map[string]any{"description": "The " + reply.Name + " that answers it", "content": map[string]any{mediaJSON: map[string]any{"schema": s.typeRef(reply)}}}
	case t.Reply != nil && reply != nil:
		op["summary"] = fmt.Sprintf("Send a %s and read its stream of %s", t.Name, reply.Name)
		desc += "The replies come as NDJSON records, or as Server-Sent Events (event: the type, id: the sequence number, data: the value) when the request accepts text/event-stream; an `end` event ends an SSE stream, an `error` record or event says why a stream failed."
		item := map[string]any{"allOf": []any{ref(recordComponent), map[string]any{"properties": map[string]any{"value": s.typeRef(reply)}}}}
		responses["200"] = map[string]any{"description": "The stream of " + reply.Name, "content": map[string]any{
			mediaNDJSON: map[string]any{"schema": item},
			mediaSSE:    map[string]any{"schema": map[string]any{"type": "string"}},
		}}
	default:
		op["summary"] = "Send one " + t.Name + ", or many as NDJSON lines"
		desc += "A body of NDJSON lines (Content-Type: application/x-ndjson) sends one message per line, each as it is read: the gateway reads the next line only when the server has granted credit for it."
		req[mediaNDJSON] = map[string]any{"schema": map[string]any{"type": "string"}}
		responses["200"] = map[string]any{"description": "Every message was sent", "content": map[string]any{mediaJSON: map[string]any{"schema": map[string]any{
			"type": "object", "required": []any{"sent"},
			"properties": map[string]any{"sent": map[string]any{"type": "integer", "minimum": 0}},
		}}}}
	}
	op["responses"] = responses
	if desc != "" {
		op["description"] = strings.TrimSpace(desc)
	}
	return map[string]any{"post": op}
}

// streamPath is the GET route of the interface's long-lived stream.
func streamPath(m *manifest.Manifest, s *schemas, errResp any) map[string]any {
	var items []any
	for _, t := range pushed(m) {
		items = append(items, s.typeRef(t))
	}
	value := map[string]any{}
	if len(items) > 0 {
		value = map[string]any{"anyOf": items}
	}
	item := map[string]any{"allOf": []any{ref(recordComponent), map[string]any{"properties": map[string]any{"value": value}}}}
	desc := "What the server sends, as it sends it, for as long as the request lasts: NDJSON records, Server-Sent Events (Accept: text/event-stream), or a WebSocket (an Upgrade request), whose text messages from the client are sent to the server as {\"type\": T, \"value\": V}. The server may send only as many messages as the HTTP client has read, plus the credit window (the credits parameter): a client that stops reading stops the sender."
	return map[string]any{"get": map[string]any{
		"operationId": operationID(m, "stream"),
		"summary":     "Read what " + m.Name + " sends",
		"description": desc,
		"tags":        []any{"messages"},
		"parameters": []any{
			map[string]any{"name": "n", "in": "query", "description": "stop after this many messages", "schema": map[string]any{"type": "integer", "minimum": 0}},
			map[string]any{"name": "credits", "in": "query", "description": "messages the server may send ahead of the reader", "schema": map[string]any{"type": "integer", "minimum": 1}},
			map[string]any{"name": "filter", "in": "query", "description": "a CEL expression over the filter_fields of the type sent (spec/PROTOCOL.md §4.8): the server sends only the messages it selects", "schema": map[string]any{"type": "string"}},
			map[string]any{"name": "filter_type", "in": "query", "description": "the type the filter is about, when more than one can be filtered", "schema": map[string]any{"type": "string"}},
		},
		"responses": map[string]any{
			"200": map[string]any{"description": "The stream", "content": map[string]any{
				mediaNDJSON: map[string]any{"schema": item},
				mediaSSE:    map[string]any{"schema": map[string]any{"type": "string"}},
			}},
			"default": errResp,
		},
	}}
}

// replyName returns the name of t's reply type, "" if it has none.
func replyName(t *manifest.MessageType) string {
	if t.Reply == nil {
		return ""
	}
	return t.Reply.Type
}

// operationID is unique within the document.
func operationID(m *manifest.Manifest, name string) string {
	return componentName(m.Name + "." + name)
}

func errorSchema() map[string]any {
	return map[string]any{
		"type":     "object",
		"required": []any{"error"},
		"properties": map[string]any{"error": map[string]any{
			"type":     "object",
			"required": []any{"code", "status", "message"},
			"properties": map[string]any{
				"code":    map[string]any{"type": "string", "description": "the ifkit code: invalid_message, unknown_type, …"},
				"status":  map[string]any{"type": "integer"},
				"message": map[string]any{"type": "string"},
				"pointer": map[string]any{"type": "string", "description": "JSON pointer to the failing part of the value"},
				"line":    map[string]any{"type": "integer", "description": "the NDJSON line the error is about"},
				"sent":    map[string]any{"type": "integer", "description": "messages sent before the error"},
			},
		}},
	}
}

func recordSchema() map[string]any {
	return map[string]any{
		"type":     "object",
		"required": []any{"seq", "type", "value"},
		"properties": map[string]any{
			"seq":   map[string]any{"type": "integer", "minimum": 1},
			"type":  map[string]any{"type": "string"},
			"value": map[string]any{},
		},
	}
}
