//go:build unix

package iface_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ifkit/ifkit/iface"
)

// TestListenUnixOwnerOnlyFromTheStart: with umask 000 in a world-writable
// folder (as /tmp), the socket file is never seen at its path with any
// permission for group or others, not even for a moment while Listen runs;
// the only other thing that appears in the folder is Listen's private
// folder, 0700, and nothing is left behind. (The socket used to be bound at
// its path, with mode 0777 under umask 000, and chmodded after: another user
// connected in 25-31 of 40 starts of ifctl serve.)
func TestListenUnixOwnerOnlyFromTheStart(t *testing.T) {
	old := syscall.Umask(0) // process-wide: this test must not run in parallel
	defer syscall.Umask(old)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.sock")

	// A watcher looks at the folder as fast as it can while Listen runs.
	var mu sync.Mutex
	var bad []string
	looks, sockets := 0, 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			entries, _ := os.ReadDir(dir)
			mu.Lock()
			looks++
			for _, e := range entries {
				fi, err := os.Lstat(filepath.Join(dir, e.Name()))
				if err != nil {
					continue // gone meanwhile
				}
				perm := fi.Mode().Perm()
				switch {
				case e.Name() == "s.sock":
					sockets++
					if perm&0o077 != 0 {
						bad = append(bad, fmt.Sprintf("the socket with mode %v", perm))
					}
				case strings.HasPrefix(e.Name(), ".ifkit-") && fi.IsDir():
					if perm != 0o700 {
						bad = append(bad, fmt.Sprintf("the private folder with mode %v", perm))
					}
				default:
					bad = append(bad, fmt.Sprintf("%s with mode %v", e.Name(), fi.Mode()))
				}
			}
			mu.Unlock()
		}
	})

	const starts = 300
	for range starts {
		l, err := iface.Listen(context.Background(), "unix://"+path)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("right after Listen: %v, %v; want a socket with mode 0600", fi.Mode(), err)
		}
		if got := l.Addr().String(); got != path {
			t.Errorf("Addr() = %s, want %s", got, path)
		}
		l.Close()
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("seen in %d looks at the folder over %d starts: %d times something wider than owner-only, first %s", looks, starts, len(bad), bad[0])
	}
	t.Logf("%d looks at the folder over %d starts saw the socket %d times, never wider than 0600", looks, starts, sockets)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in the folder: %v", entries)
	}
}
