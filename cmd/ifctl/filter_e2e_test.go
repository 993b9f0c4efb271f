package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRecvFilter: recv --filter receives only what the filter selects, in
// both forms; a filter on a field filter_fields does not list exits 85
// (invalid_filter) with the position; describe shows the filterable
// fields and an example filter that works.
func TestRecvFilter(t *testing.T) {
	s := serveBinary(t, "unix://"+filepath.Join(t.TempDir(), "f.sock"), "testdata/manifests/sensors.temperature.yaml", "--mock")
	for _, f := range []string{`zone == "south"`, `{"field":"zone","in":["south"]}`} {
		r := run(t, "recv", s.addr, "sensors.temperature", "-n", "2", "--values", "--filter", f)
		check(t, r, 0)
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.Contains(line, `"zone":"south"`) {
				t.Errorf("--filter %s let through %s", f, line)
			}
		}
	}
	r := run(t, "recv", s.addr, "sensors.temperature", "-n", "1", "--filter", "celsius > 3.0")
	check(t, r, 85, "invalid_filter", "at 1:1", "celsius is a field of Reading, but not one it may be filtered on")
	d := run(t, "describe", s.addr, "sensors.temperature")
	check(t, d, 0)
	for _, want := range []string{"filter on: probe, zone", `filter example: --filter 'probe == "p1" && zone.startsWith("no")'`} {
		if !strings.Contains(d.stdout, want) {
			t.Errorf("describe lacks %q:\n%s", want, d.stdout)
		}
	}
	r = run(t, "recv", s.addr, "sensors.temperature", "-n", "1", "--values", "--filter", `probe == "p1" && zone.startsWith("no")`)
	check(t, r, 0)
	if !strings.Contains(r.stdout, `"probe":"p1"`) {
		t.Errorf("describe's example filter received %s", r.stdout)
	}
}
