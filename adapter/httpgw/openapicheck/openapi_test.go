package openapicheck_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/manifest"
	manifests "github.com/ifkit/ifkit/testdata/manifests"
)

// refs is an interface whose schemas refer inside themselves, which the
// document must rebase.
const refs = `
ifkit: 1
name: t.refs
version: 1.0.0
direction: duplex
messages:
  recv:
    Note:
      schema: {type: object, properties: {tags: {$ref: "#/$defs/tags"}, self: {$ref: "#"}}, $defs: {tags: {type: array, items: {type: string}}}}
      reply: {type: Ack, stream: true}
  send:
    Ack: {schema: {type: object}}
`

// TestOpenAPIValidates: the document of every example interface is a
// valid OpenAPI 3.1 document whose references all resolve.
func TestOpenAPIValidates(t *testing.T) {
	ctx := context.Background()
	srv := iface.NewServer()
	var names []string
	files, _ := fs.Glob(manifests.FS, "*.yaml")
	jsons, _ := fs.Glob(manifests.FS, "*.json")
	for _, f := range append(files, jsons...) {
		data, _ := fs.ReadFile(manifests.FS, f)
		m, err := manifest.Parse(f, data, manifest.WithFS(manifests.FS))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Name)
		srv.Register(iface.Interface{Manifest: m, OnReset: func(context.Context, *iface.Conn, string) error { return nil }})
	}
	m, err := manifest.Parse("refs.yaml", []byte(refs))
	if err != nil {
		t.Fatal(err)
	}
	srv.Register(iface.Interface{Manifest: m})
	names = append(names, m.Name)
	l, err := iface.Listen(ctx, "mem://openapicheck")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	gw, err := httpgw.New(ctx, func(ctx context.Context) (*iface.Client, error) { return iface.Dial(ctx, "mem://openapicheck") })
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	hs := httptest.NewServer(gw)
	defer hs.Close()

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			res, err := http.Get(hs.URL + "/" + name + "/openapi.json")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			doc, err := libopenapi.NewDocument(body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := doc.BuildV3Model(); err != nil {
				t.Errorf("building the model: %v", err)
			}
			v, errs := validator.NewValidator(doc)
			if len(errs) > 0 {
				t.Fatalf("validator: %v", errs)
			}
			if ok, verrs := v.ValidateDocument(); !ok {
				for _, e := range verrs {
					var b strings.Builder
					for _, s := range e.SchemaValidationErrors {
						fmt.Fprintf(&b, "\n  %s", s.Reason)
					}
					t.Errorf("%s: %s%s", e.Message, e.Reason, b.String())
				}
			}
		})
	}
}
