package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// proc is one program of the example, run as its own process.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: %v", args, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%v did not exit on SIGINT", args)
		}
	})
	return p
}

func (p *proc) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("%v ended", p.cmd.Args)
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatalf("%v printed nothing within 10 s", p.cmd.Args)
	}
	return ""
}

// quiet checks that p prints nothing more for a while.
func (p *proc) quiet(t *testing.T) {
	t.Helper()
	select {
	case l := <-p.lines:
		t.Errorf("%v printed %s, which its filter does not select", p.cmd.Args[2:], l)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestControlPlane runs a hub and four members as separate processes: each
// member receives exactly the notices its filter selects, from any member.
func TestControlPlane(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "controlplane")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := "unix://" + filepath.Join(dir, "bus.sock")
	hub := start(t, bin, "hub", addr)
	if l := hub.next(t); l != "listening on "+addr {
		t.Fatalf("hub printed %q", l)
	}
	members := map[string]*proc{}
	for name, filter := range map[string]string{
		"planner":  `kind == "status"`,
		"worker-1": `{"any":[{"field":"kind","eq":"config"},{"field":"level","in":[4,5]}]}`,
		"worker-2": `program.startsWith("worker-") && level >= 2`,
		"watcher":  "",
	} {
		args := []string{"member", addr, name}
		if filter != "" {
			args = append(args, filter)
		}
		members[name] = start(t, bin, args...)
		if l := members[name].next(t); l != "ready" {
			t.Fatalf("%s printed %q", name, l)
		}
	}
	posts := []struct{ from, post string }{
		{"planner", `{"kind":"config","level":2,"text":"workers: 3"}`},
		{"worker-1", `{"kind":"status","level":1,"text":"started"}`},
		{"worker-2", `{"kind":"status","level":4,"text":"disk 91%"}`},
		{"worker-2", `{"kind":"notice","level":2,"text":"slow"}`},
	}
	want := map[string][]int{"planner": {1, 2}, "worker-1": {0, 2}, "worker-2": {2, 3}, "watcher": {0, 1, 2, 3}}
	got := map[string][]int{}
	for i, p := range posts {
		if _, err := io.WriteString(members[p.from].stdin, p.post+"\n"); err != nil {
			t.Fatal(err)
		}
		// The watcher selects everything: once it has the notice, the hub
		// has published it to everyone.
		var n struct{ Program, Text string }
		if err := json.Unmarshal([]byte(members["watcher"].next(t)), &n); err != nil || n.Program != p.from {
			t.Fatalf("watcher got %+v (%v), want post %d from %s", n, err, i, p.from)
		}
		got["watcher"] = append(got["watcher"], i)
		for name, m := range members {
			if name == "watcher" || !contains(want[name], i) {
				continue
			}
			l := m.next(t)
			if !strings.Contains(l, `"text":`+mustJSON(t, p.post)) {
				t.Fatalf("%s got %s, want post %d", name, l, i)
			}
			got[name] = append(got[name], i)
		}
	}
	for name, m := range members {
		m.quiet(t)
		if len(got[name]) != len(want[name]) {
			t.Errorf("%s got posts %v, want %v", name, got[name], want[name])
		}
	}
}

func contains(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// mustJSON returns the JSON of post's text.
func mustJSON(t *testing.T, post string) string {
	var p struct{ Text string }
	if err := json.Unmarshal([]byte(post), &p); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p.Text)
	return string(b)
}
