package httpgw

import (
	"net/http"
	"strings"

	"github.com/ifkit/ifkit/manifest"
)

// ifaceSummary is one interface in the index, with its routes.
type ifaceSummary struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Title        string            `json:"title,omitempty"`
	Direction    string            `json:"direction"`
	ManifestHash string            `json:"manifest_hash"`
	Links        map[string]string `json:"links"`
	Messages     []messageRoute    `json:"messages,omitempty"`
}

// messageRoute is the route of one message type the server receives.
type messageRoute struct {
	Type   string `json:"type"`
	Kind   string `json:"kind"` // "request", "request_stream" or "message"
	Reply  string `json:"reply,omitempty"`
	Method string `json:"method"`
	Path   string `json:"path"`
}

func (g *Gateway) summary(m *manifest.Manifest) ifaceSummary {
	s := ifaceSummary{
		Name: m.Name, Version: m.Version, Title: m.Title, Direction: string(m.Direction), ManifestHash: m.Hash(),
		Links: map[string]string{
			"self":     g.link(m.Name, ""),
			"manifest": g.link(m.Name, "manifest"),
			"openapi":  g.link(m.Name, "openapi.json"),
			"asyncapi": g.link(m.Name, "asyncapi.json"),
		},
	}
	if len(pushed(m)) > 0 || len(oneWay(m)) > 0 {
		s.Links["stream"] = g.link(m.Name, "stream")
	}
	for _, t := range m.Recv {
		mr := messageRoute{Type: t.Name, Kind: "message", Method: http.MethodPost, Path: g.link(m.Name, t.Name)}
		if t.Reply != nil {
			mr.Kind, mr.Reply = "request", t.Reply.Type
			if t.Reply.Stream {
				mr.Kind = "request_stream"
			}
		}
		s.Messages = append(s.Messages, mr)
	}
	return s
}

// pushed returns the types the server sends on its own: those that answer
// no request (a reply type comes only in answer to its request).
func pushed(m *manifest.Manifest) []*manifest.MessageType {
	replies := map[string]bool{}
	for _, t := range m.Recv {
		if t.Reply != nil {
			replies[t.Reply.Type] = true
		}
	}
	var out []*manifest.MessageType
	for _, t := range m.Send {
		if !replies[t.Name] {
			out = append(out, t)
		}
	}
	return out
}

// oneWay returns the types the server receives that answer nothing.
func oneWay(m *manifest.Manifest) []*manifest.MessageType {
	var out []*manifest.MessageType
	for _, t := range m.Recv {
		if t.Reply == nil {
			out = append(out, t)
		}
	}
	return out
}

// serveIndex answers GET /: every interface, with its routes.
func (g *Gateway) serveIndex(w http.ResponseWriter, r *http.Request) {
	es, err := g.entries()
	if err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		Interfaces []ifaceSummary `json:"interfaces"`
	}{Interfaces: []ifaceSummary{}}
	for _, e := range es {
		out.Interfaces = append(out.Interfaces, g.summary(e.m))
	}
	w.Header().Set("Content-Type", mediaJSON)
	writeJSON(w, out)
}

// serveDoc answers GET /NAME, /NAME/manifest, /NAME/openapi.json and
// /NAME/asyncapi.json. Each is tagged with the manifest hash, so a client
// can revalidate with If-None-Match.
func (g *Gateway) serveDoc(w http.ResponseWriter, r *http.Request, e *entry, which string) {
	var data []byte
	var err error
	switch which {
	case "":
		w.Header().Set("Content-Type", mediaJSON)
		writeJSON(w, g.summary(e.m))
		return
	case "manifest":
		data = e.m.Canonical()
	case "openapi.json":
		data, err = e.openapi.get(func() ([]byte, error) { return openAPI(e.m, g.o.base) })
	case "asyncapi.json":
		data, err = asyncAPI(e.m, r.Host, g.o.base) // it names the host asked
	}
	if err != nil {
		writeError(w, err)
		return
	}
	etag := `"` + strings.TrimPrefix(e.m.Hash(), "sha256:") + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", mediaJSON)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Write(data)
}
