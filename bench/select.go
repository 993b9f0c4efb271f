package main

import (
	"fmt"
	"slices"
	"strings"
)

// selection is what -only picked. Each list is empty when -only named
// nothing of its kind, which means all of that kind.
type selection struct {
	systems, measures, transports []string
	payloads                      []int
}

const onlyHelp = `select parts: a comma-separated list of
  systems     ifkit-proto, ifkit-json, ifkit-schema (json with a JSON Schema
              per type), ifkit-raw (the raw codec: bytes as they are, the
              receiver using the lent bytes), ifkit (all four), yamux, grpc,
              nats
  measures    throughput, rtt, memory, scaling
  transports  unix, tcp
  payloads    64, 1k, 64k (throughput only)
Terms of one kind are alternatives, kinds combine: -only=ifkit,grpc,throughput,unix
runs the throughput of ifkit (every codec) and gRPC over Unix sockets. A kind
not named means all of it. Ratios need the peer (grpc, yamux, nats) in the run.`

func parseOnly(s string) (selection, error) {
	var sel selection
	if s == "" {
		return sel, nil
	}
	for _, t := range strings.Split(s, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		switch t {
		case "":
		case "ifkit":
			sel.systems = append(sel.systems, "ifkit-proto", "ifkit-json", "ifkit-schema", "ifkit-raw")
		case "ifkit-proto", "ifkit-json", "ifkit-schema", "ifkit-raw", "yamux", "grpc", "nats":
			sel.systems = append(sel.systems, t)
		case mThroughput, mRTT, mMemory, mScaling:
			sel.measures = append(sel.measures, t)
		case "unix", "tcp":
			sel.transports = append(sel.transports, t)
		case "64", "64b":
			sel.payloads = append(sel.payloads, 64)
		case "1k", "1kib", "1024":
			sel.payloads = append(sel.payloads, 1<<10)
		case "64k", "64kib", "65536":
			sel.payloads = append(sel.payloads, 64<<10)
		default:
			return sel, fmt.Errorf("-only: unknown part %q\n%s", t, onlyHelp)
		}
	}
	return sel, nil
}

func pick[T comparable](list []T, v T) bool { return len(list) == 0 || slices.Contains(list, v) }

func (s selection) system(name string) bool { return pick(s.systems, name) }
func (s selection) measure(m string) bool   { return pick(s.measures, m) }
func (s selection) transport(t string) bool { return pick(s.transports, t) }
func (s selection) payload(n int) bool      { return pick(s.payloads, n) }
