package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestParamsFlag: recv --params opens the connection with parameters the
// server checks against the manifest's params (serve logs them); ones that
// do not match exit 68 (invalid_message) saying where; an interface without
// params refuses them; describe shows the params and suggests them.
func TestParamsFlag(t *testing.T) {
	s := serveBinary(t, "unix://"+filepath.Join(t.TempDir(), "p.sock"), "testdata/spawn/demo.counter.yaml", "testdata/manifests/sensors.temperature.yaml", "--mock")
	r := run(t, "recv", s.addr, "demo.counter", "--params", `{"start":10,"step":5}`, "-n", "1", "--values")
	check(t, r, 0)
	s.logged(t, `params {"start":10,"step":5}`)
	r = run(t, "recv", s.addr, "demo.counter", "--params", `{"start":-3}`, "-n", "1")
	check(t, r, 68, "invalid_message", "at /start")
	r = run(t, "recv", s.addr, "sensors.temperature", "--params", `{"start":1}`, "-n", "1")
	check(t, r, 68, "takes no parameters")
	r = run(t, "recv", s.addr, "demo.counter", "--params", `{start:1}`, "-n", "1")
	check(t, r, 2, "--params")
	d := run(t, "describe", s.addr, "demo.counter")
	check(t, d, 0)
	for _, want := range []string{"params (a connection opens with them", "start", "integer", `example: {"start":10,"step":5}`, `--params '{"start":10,"step":5}'`} {
		if !strings.Contains(d.stdout, want) {
			t.Errorf("describe lacks %q:\n%s", want, d.stdout)
		}
	}
}
