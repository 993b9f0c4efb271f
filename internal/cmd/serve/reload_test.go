package serve

import (
	"bytes"
	"context"
	"github.com/ifkit/ifkit/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/iface"
	"github.com/ifkit/ifkit/internal/cmdutil"
)

const noteV1 = `ifkit: 1
name: demo.notes
version: 1.0.0
direction: recv
messages:
  recv:
    Note: {schema: {type: object}}
`

// SIGHUP reloads the manifest files: a changed manifest is registered
// again, a new one added, a removed one's connections end, and each change
// is announced to control streams; a file that no longer loads keeps what
// it served.
func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	notes, tasks := filepath.Join(dir, "notes.yaml"), filepath.Join(dir, "tasks.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(notes, noteV1)
	write(tasks, strings.ReplaceAll(noteV1, "demo.notes", "demo.tasks"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan []string, 1)
	log := &testutil.SyncBuffer{}
	opts := &Options{
		IO:     &cmdutil.IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: log},
		Files:  []string{notes, tasks},
		Listen: []string{"tcp://127.0.0.1:0"},
		Grace:  time.Second,
		Ready:  func(a []string) { ready <- a },
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	addr := (<-ready)[0]

	cl, err := iface.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	watch, err := cl.Control(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	tasksConn, err := cl.Connect(ctx, "demo.tasks")
	if err != nil {
		t.Fatal(err)
	}

	// notes changes, tasks now describes demo.jobs: tasks is removed, jobs added.
	write(notes, strings.ReplaceAll(noteV1, "1.0.0", "1.1.0"))
	write(tasks, strings.ReplaceAll(noteV1, "demo.notes", "demo.jobs"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	want := map[string]bool{"changed demo.notes": false, "added demo.jobs": false, "removed demo.tasks": false}
	heardAll := func() bool {
		for _, seen := range want {
			if !seen {
				return false
			}
		}
		return true
	}
	for timeout := time.After(10 * time.Second); !heardAll(); {
		select {
		case n := <-watch.Notifications():
			switch n := n.(type) {
			case *control.ManifestChanged:
				want["changed "+n.Interface] = true
			case *control.InterfacesChanged:
				for _, a := range n.Added {
					want["added "+a] = true
				}
				for _, r := range n.Removed {
					want["removed "+r] = true
				}
			}
		case <-timeout:
			t.Fatalf("after SIGHUP, heard %v; log:\n%s", want, log)
		}
	}
	<-tasksConn.Done()
	if iface.CodeOf(tasksConn.Err()) != iface.CodeUnknownInterface {
		t.Fatalf("the removed interface's connection ended with %v", tasksConn.Err())
	}
	list, err := watch.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "demo.jobs" || list[1].Name != "demo.notes" || list[1].Version != "1.1.0" {
		t.Fatalf("after reload the server lists %+v, %v", list, err)
	}

	// A file that no longer loads keeps serving what it served.
	write(notes, "ifkit: 1\nname: [broken\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); strings.Count(log.String(), "reloaded: serving demo.notes 1.1.0, demo.jobs 1.0.0") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no second reload with the broken file kept; log:\n%s", log)
		}
	}
	if !strings.Contains(log.String(), "reload: "+notes) {
		t.Errorf("the log does not say why %s was kept:\n%s", notes, log)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// An interface with message_auth on a server without a shared secret could
// open no stream: serve refuses to start, saying why.
func TestMessageAuthNeedsASecretToServe(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "auth.yaml")
	if err := os.WriteFile(f, []byte(strings.Replace(noteV1, "direction: recv", "direction: recv\nmessage_auth: hmac-sha256", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut := &bytes.Buffer{}
	opts := &Options{IO: &cmdutil.IOStreams{Out: &bytes.Buffer{}, ErrOut: errOut}, Files: []string{f}, Listen: []string{"tcp://127.0.0.1:0"}, Grace: time.Second}
	if err := Run(context.Background(), opts); err == nil || !strings.Contains(errOut.String(), "give --secret-file or --secret-env") {
		t.Fatalf("Run = %v; stderr %q", err, errOut)
	}
}
