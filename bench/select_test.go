package main

import (
	"slices"
	"testing"
)

func TestParseOnly(t *testing.T) {
	sel, err := parseOnly("ifkit, grpc,throughput,unix,1k")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sel.systems, []string{"ifkit-proto", "ifkit-json", "ifkit-schema", "ifkit-raw", "grpc"}) ||
		!slices.Equal(sel.measures, []string{mThroughput}) || !slices.Equal(sel.transports, []string{"unix"}) ||
		!slices.Equal(sel.payloads, []int{1 << 10}) {
		t.Errorf("selection %+v", sel)
	}
	if !sel.system("grpc") || sel.system("nats") || sel.measure(mRTT) || sel.transport("tcp") || !sel.payload(1<<10) || sel.payload(64) {
		t.Errorf("matching of %+v", sel)
	}
	all, _ := parseOnly("")
	if !all.system("nats") || !all.measure(mMemory) || !all.transport("tcp") || !all.payload(64<<10) {
		t.Errorf("empty -only must select everything: %+v", all)
	}
	if _, err := parseOnly("ifkit,bogus"); err == nil {
		t.Error("an unknown part must be an error")
	}
}

func TestRatios(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rs := []Result{
		{Measure: mThroughput, System: "ifkit-proto", Transport: "unix", Payload: 64, Conns: 1, MsgsPerS: f(300)},
		{Measure: mThroughput, System: "grpc", Transport: "unix", Payload: 64, Conns: 1, MsgsPerS: f(100)},
		{Measure: mThroughput, System: "yamux", Transport: "unix", Payload: 64, Conns: 1, MsgsPerS: f(600)},
		{Measure: mThroughput, System: "nats", Transport: "tcp", Payload: 64, Conns: 1, MsgsPerS: f(150)},
		{Measure: mThroughput, System: "grpc", Transport: "tcp", Payload: 64, Conns: 1, MsgsPerS: f(1)},
		{Measure: mRTT, System: "ifkit-proto", Transport: "unix", Payload: 64, Conns: 1, RTTP50us: f(30)},
		{Measure: mRTT, System: "yamux", Transport: "unix", Payload: 64, Conns: 1, RTTP50us: f(20)},
		{Measure: mScaling, System: "ifkit-proto", Transport: "unix", Payload: 1024, Conns: 1, MsgsPerS: f(100)},
		{Measure: mScaling, System: "ifkit-proto", Transport: "unix", Payload: 1024, Conns: 1000, MsgsPerS: f(90)},
	}
	addRatios(rs)
	check := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || *got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("throughput ×gRPC", rs[0].RatioGRPC, 3)
	check("throughput ×yamux", rs[0].RatioYamux, 0.5)
	check("throughput ×NATS (tcp)", rs[0].RatioNATS, 2)
	check("rtt ×yamux", rs[5].RatioYamux, 1.5)
	if rs[5].RatioGRPC != nil {
		t.Error("no gRPC rtt in the run: the ratio must be null")
	}
	check("scaling ×1 conn", rs[8].VsOneConn, 0.9)
	if rs[7].VsOneConn != nil {
		t.Error("one connection has no ×1 conn")
	}
}
