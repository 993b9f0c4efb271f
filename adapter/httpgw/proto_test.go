package httpgw_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/ifkit/ifkit/adapter/httpgw"
	"github.com/ifkit/ifkit/codes"
)

// TestProtoInterfaces: protobuf types go through their JSON mapping both
// ways, converted by the server (json codec, the default) or by the
// gateway (proto codec).
func TestProtoInterfaces(t *testing.T) {
	for _, c := range []string{"json", "proto"} {
		t.Run(c, func(t *testing.T) { testProto(t, httpgw.WithCodecs(c)) })
	}
}

func testProto(t *testing.T, opts ...httpgw.Option) {
	w := newWorld(t, opts...)
	st, _, body := w.do("POST", "/db.kv/Get", "application/json", `{"key":"a"}`)
	var v map[string]any
	if st != 200 || json.Unmarshal(body, &v) != nil || v["found"] != true || v["value"] != "aGk=" || v["revision"] != "7" {
		t.Fatalf("Get: %d %s", st, body)
	}
	st, _, body = w.do("POST", "/db.kv/Get", "application/json", `{"nokey":"a"}`)
	if e := errorOf(t, body); st != 400 || e.Code != codes.InvalidMessage {
		t.Fatalf("Get with an unknown field: %d %s", st, body)
	}
	st, _, body = w.do("POST", "/db.kv/Put", "application/json", `{"key":"a","ttl":"soon"}`)
	if e := errorOf(t, body); st != 400 || e.Code != codes.InvalidMessage {
		t.Fatalf("Put with a bad duration: %d %s", st, body)
	}
	st, _, body = w.do("POST", "/db.kv/Scan", "application/json", `{"start":"k"}`)
	if recs := records(t, body); st != 200 || len(recs) != 3 || recs[2].Type != "Row" || !strings.Contains(string(recs[2].Value), `"revision":"2"`) {
		t.Fatalf("Scan: %d %s", st, body)
	}
	st, _, body = w.do("GET", "/sensors.temperature/stream?n=2", "", "")
	recs := records(t, body)
	if st != 200 || len(recs) != 2 {
		t.Fatalf("stream: %d %s", st, body)
	}
	var r map[string]any
	if json.Unmarshal(recs[1].Value, &r) != nil || !strings.HasPrefix(r["probe"].(string), "p") || r["celsius"] != 21.5 || r["time"] != "2026-11-22T09:30:00Z" || (r["batteryPercent"] != nil && r["batteryPercent"] != 0.0) {
		t.Errorf("reading: %s", recs[1].Value)
	}
	// A filter, evaluated by the server; one that does not compile is 400.
	st, _, body = w.do("GET", "/sensors.temperature/stream?n=4&filter="+url.QueryEscape(`zone == "south"`), "", "")
	if recs := records(t, body); st != 200 || len(recs) != 4 {
		t.Fatalf("filtered stream: %d %s", st, body)
	}
	if strings.Contains(string(body), `"north"`) {
		t.Errorf("the filter let north through: %s", body)
	}
	st, _, body = w.do("GET", "/sensors.temperature/stream?filter="+url.QueryEscape(`zone ==`), "", "")
	if e := errorOf(t, body); st != 400 || e.Code != codes.InvalidFilter {
		t.Errorf("bad filter: %d %s", st, body)
	}
}
