// Command protogen regenerates the Go code of spec/ifkit/**/*.proto without
// protoc: it compiles the files with protocompile and runs protoc-gen-go's
// generator as a library. Run it from the repository root:
//
//	go run ./internal/protogen          # write internal/pb/...
//	go run ./internal/protogen -check   # fail if the checked-in code is stale (CI)
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/pluginpb"
)

const (
	protoRoot = "spec"
	module    = "github.com/ifkit/ifkit/"
)

func main() {
	check := flag.Bool("check", false, "compare with the checked-in files instead of writing them")
	flag.Parse()
	if err := run(*check); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(check bool) error {
	var files []string
	err := filepath.WalkDir(filepath.Join(protoRoot, "ifkit"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".proto") {
			rel, _ := filepath.Rel(protoRoot, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return err
	}
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{protoRoot}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := c.Compile(context.Background(), files...)
	if err != nil {
		return err
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: files, Parameter: proto.String("paths=import")}
	for _, f := range compiled {
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(f))
	}
	plugin, err := protogen.Options{}.New(req)
	if err != nil {
		return err
	}
	for _, f := range plugin.Files {
		if f.Generate {
			internal_gengo.GenerateFile(plugin, f)
		}
	}
	resp := plugin.Response()
	if resp.Error != nil {
		return fmt.Errorf("%s", resp.GetError())
	}
	stale := 0
	for _, out := range resp.File {
		path := strings.TrimPrefix(out.GetName(), module)
		content := []byte(out.GetContent())
		if check {
			old, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(old, content) {
				fmt.Fprintf(os.Stderr, "%s is not what spec/ generates; run go run ./internal/protogen\n", path)
				stale++
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return err
		}
	}
	if stale > 0 {
		return fmt.Errorf("%d generated files are stale", stale)
	}
	return nil
}
