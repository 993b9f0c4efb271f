package httpgw_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// resolve follows a local JSON pointer reference in doc.
func resolve(doc any, ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok, _ = url.PathUnescape(tok)
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// refs returns every $ref in v.
func refs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				*out = append(*out, s)
			}
			refs(e, out)
		}
	case []any:
		for _, e := range x {
			refs(e, out)
		}
	}
}

// TestDocumentsOfEveryExample: the OpenAPI and AsyncAPI documents of every
// example interface are JSON whose references all resolve, with a route or
// channel for each of its message types. (The standard validator runs in
// the module openapicheck, which keeps its dependencies out of ifkit's.)
func TestDocumentsOfEveryExample(t *testing.T) {
	w := newWorld(t)
	_, _, body := w.do("GET", "/", "", "")
	var idx struct {
		Interfaces []struct {
			Name     string
			Messages []struct{ Type string }
		}
	}
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatal(err)
	}
	for _, i := range idx.Interfaces {
		for _, which := range []string{"openapi.json", "asyncapi.json"} {
			st, _, body := w.do("GET", "/"+i.Name+"/"+which, "", "")
			var doc map[string]any
			if st != 200 || json.Unmarshal(body, &doc) != nil {
				t.Fatalf("%s %s: %d %s", i.Name, which, st, body)
			}
			var rs []string
			refs(doc, &rs)
			for _, r := range rs {
				if _, ok := resolve(doc, r); !ok {
					t.Errorf("%s %s: $ref %s does not resolve", i.Name, which, r)
				}
			}
			if which == "openapi.json" {
				if doc["openapi"] != "3.1.0" {
					t.Errorf("%s: openapi %v", i.Name, doc["openapi"])
				}
				paths := doc["paths"].(map[string]any)
				for _, m := range i.Messages {
					if paths["/"+i.Name+"/"+m.Type] == nil {
						t.Errorf("%s: no path for %s", i.Name, m.Type)
					}
				}
			} else if doc["asyncapi"] != "3.0.0" {
				t.Errorf("%s: asyncapi %v", i.Name, doc["asyncapi"])
			}
		}
	}
}

// TestTypeNamedRecord: a message type named as one of the gateway's own
// components (logs.sink's Record) keeps its schema in the OpenAPI document.
func TestTypeNamedRecord(t *testing.T) {
	w := newWorld(t)
	_, _, body := w.do("GET", "/logs.sink/openapi.json", "", "")
	var doc struct {
		Components struct{ Schemas map[string]map[string]any }
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	rec := doc.Components.Schemas["Record"]
	props, _ := rec["properties"].(map[string]any)
	if props["message"] == nil || props["seq"] != nil {
		t.Fatalf("logs.sink's Record schema is not its own: %v", rec)
	}
	if doc.Components.Schemas["gateway-Record"] == nil || doc.Components.Schemas["gateway-Error"] == nil {
		t.Fatalf("the gateway's components: %v", doc.Components.Schemas)
	}
}
