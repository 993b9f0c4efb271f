package main_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestWalkthrough runs docs/WALKTHROUGH.md and the README's walkthrough as
// written: the serve command of the first console block, then every command
// of the others, comparing what each prints (stdout and stderr) and exit
// codes (echo $?) with the page. Only times and connection ids may differ.
// The page's socket is replaced by one in a temporary folder.
func TestWalkthrough(t *testing.T) {
	page, err := os.ReadFile("../../docs/WALKTHROUGH.md")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("docs/WALKTHROUGH.md", func(t *testing.T) { runWalkthrough(t, page) })
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Walkthrough\n")
	if !ok {
		t.Fatal(`README.md has no "## Walkthrough" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	t.Run("README.md", func(t *testing.T) { runWalkthrough(t, []byte(section)) })
}

func runWalkthrough(t *testing.T, page []byte) {
	const pageSock = "/tmp/ifkit.sock"
	sock := strings.TrimPrefix(listenAddr(t, "unix"), "unix://")
	text := strings.ReplaceAll(string(page), pageSock, sock)
	blocks := regexp.MustCompile("(?s)```console\n(.*?)```").FindAllStringSubmatch(text, -1)
	if len(blocks) < 2 {
		t.Fatal("no console blocks")
	}
	// Block 1: build (done by TestMain) and serve.
	var serveArgs []string
	for _, line := range strings.Split(blocks[0][1], "\n") {
		if rest, ok := strings.CutPrefix(line, "$ ./ifctl serve "); ok {
			serveArgs = strings.Fields(rest)
		}
	}
	var listen string
	for i, a := range serveArgs {
		if a == "--listen" {
			listen = serveArgs[i+1]
			serveArgs = append(serveArgs[:i:i], serveArgs[i+2:]...)
			break
		}
	}
	srv := serveBinary(t, listen, serveArgs...)
	if want := "listening on unix://" + sock; !strings.Contains(blocks[0][1], want) || srv.addr != "unix://"+sock {
		t.Errorf("serve listens on %s; the page says %q", srv.addr, want)
	}
	vary := []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(`\d+(\.\d+)?(µs|ms|s)\b`), "DURATION"},
		{regexp.MustCompile(`(?m)^connection(\s+)\d+`), "connection${1}ID"},
	}
	normalize := func(s string) string {
		for _, v := range vary {
			s = v.re.ReplaceAllString(s, v.with)
		}
		return s
	}
	lastCode := 0
	for _, b := range blocks[1:] {
		parts := strings.Split("\n"+b[1], "\n$ ")[1:]
		for _, p := range parts {
			cmdline, want, _ := strings.Cut(p, "\n")
			if cmdline == "echo $?" {
				if got := strconv.Itoa(lastCode); got != strings.TrimSpace(want) {
					t.Errorf("after the command before it, echo $? prints %q; the page says %q", got, want)
				}
				continue
			}
			line := strings.Replace(cmdline, "./ifctl", ifctl, 1)
			ctx, cancel := context.WithTimeout(context.Background(), waitLong)
			cmd := exec.CommandContext(ctx, "sh", "-c", line+" 2>&1")
			cmd.Dir = filepath.Join("..", "..")
			var out bytes.Buffer
			cmd.Stdout = &out
			err := cmd.Run()
			cancel()
			lastCode = 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				lastCode = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("%s: %v", cmdline, err)
			}
			if got := normalize(strings.TrimSuffix(out.String(), "\n")); got != normalize(strings.TrimSuffix(want, "\n")) {
				t.Errorf("$ %s\nprints:\n%s\nthe page says:\n%s", cmdline, out.String(), want)
			}
		}
	}
}
