//go:build unix

package manifest_test

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ifkit/ifkit/manifest"
)

func TestNotARegularFileIsRefusedWithoutBlocking(t *testing.T) {
	fifo := func(t *testing.T, dir, name string) {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	mkdir := func(t *testing.T, dir, name string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	socket := func(t *testing.T, dir, name string) {
		l, err := net.Listen("unix", filepath.Join(dir, name))
		if err != nil {
			t.Skipf("listen unix: %v", err)
		}
		t.Cleanup(func() { l.Close() })
	}
	for _, c := range []struct {
		name, manifest, file, prefix, kind string
		make                               func(*testing.T, string, string)
	}{
		{"fifo as proto", protoManifest, "x.proto", "DIR/m.yaml:5:10: protos[0]: cannot read x.proto: it is a named pipe (FIFO)", "", fifo},
		{"fifo as schema", schemaManifest, "s.json", "DIR/m.yaml:5:38: messages.send.A.schema.$ref: cannot read s.json: it is a named pipe (FIFO)", "", fifo},
		{"fifo as descriptor set", setManifest, "x.binpb", "DIR/m.yaml:5:19: descriptor_sets[0]: cannot read x.binpb: it is a named pipe (FIFO)", "", fifo},
		{"folder as proto", protoManifest, "x.proto", "DIR/m.yaml:5:10: protos[0]: cannot read x.proto: it is a folder, not a regular file", "", mkdir},
		{"socket as schema", schemaManifest, "s.json", "DIR/m.yaml:5:38: messages.send.A.schema.$ref: cannot read s.json: it is a socket", "", socket},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := folder(t, map[string]string{"m.yaml": c.manifest})
			c.make(t, dir, c.file)
			_, err := loadWithin(t, dir)
			wantRefused(t, err, dir, manifest.ErrNotRegular, c.prefix, "not a regular file")
		})
	}
	t.Run("fifo as the manifest", func(t *testing.T) {
		dir := t.TempDir()
		fifo(t, dir, "m.yaml")
		_, err := loadWithin(t, dir)
		wantRefused(t, err, dir, manifest.ErrNotRegular, "DIR/m.yaml: cannot read the manifest: it is a named pipe (FIFO), not a regular file")
	})
}
