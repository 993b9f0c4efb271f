package iface

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/ifkit/ifkit/codec"
	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/control"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/controlpb"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
	"github.com/ifkit/ifkit/manifest"
)

// The language-neutral conformance vectors of spec/conformance/ (its
// README.md says what each file holds). TestConformanceVectors computes every
// vector with this implementation's own functions and compares it with the
// file, so the data a client in another language is tested against cannot
// drift from the Go code; -conformance.update rewrites the files.
var updateConformance = flag.Bool("conformance.update", false, "rewrite spec/conformance/*.json from the implementation")

const conformanceDir = "../spec/conformance"

func TestConformanceVectors(t *testing.T) {
	files := map[string]func(t *testing.T) any{
		"varints.json":    conformanceVarints,
		"frames.json":     conformanceFrames,
		"handshakes.json": conformanceHandshakes,
		"auth.json":       conformanceAuth,
		"credits.json":    conformanceCredits,
		"manifests.json":  conformanceManifests,
		"codes.json":      conformanceCodes,
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			v := files[name](t)
			want, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			path := filepath.Join(conformanceDir, name)
			if *updateConformance {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./iface -run TestConformanceVectors -conformance.update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what the implementation computes; if the change is intended, run go test ./iface -run TestConformanceVectors -conformance.update and review the diff", path)
			}
		})
	}
}

type hexBytes []byte

func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// --- varints ---------------------------------------------------------------

type varintVector struct {
	Value string   `json:"value"` // decimal: a uint64 does not fit a JSON number everywhere
	Hex   hexBytes `json:"hex"`
}

type malformedVector struct {
	Name string   `json:"name"`
	Hex  hexBytes `json:"hex"`
	// MaxLen is the receiver's frame length limit (flow.max_message_bytes + 54).
	MaxLen int `json:"max_len,omitempty"`
	// Error is what the receiver must conclude: a code of codes.json, or
	// "truncated" (the stream ended inside it: transport_error on a data stream).
	Error string `json:"error"`
}

func conformanceVarints(t *testing.T) any {
	var ok []varintVector
	for _, v := range []uint64{0, 1, 127, 128, 255, 300, 16383, 16384, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 40, 1<<53 - 1, 1 << 53, 1<<63 - 1, 1<<64 - 1} {
		b := protowire.AppendVarint(nil, v)
		got, n := protowire.ConsumeVarint(b)
		if n != len(b) || got != v {
			t.Fatalf("varint %d does not round-trip", v)
		}
		ok = append(ok, varintVector{strconv.FormatUint(v, 10), b})
	}
	bad := []malformedVector{
		{Name: "truncated: continuation bit on the last byte", Hex: []byte{0x80}, Error: "truncated"},
		{Name: "truncated: two continuation bytes", Hex: []byte{0xff, 0xff}, Error: "truncated"},
		{Name: "eleven bytes", Hex: append(bytes.Repeat([]byte{0x80}, 10), 0x01), Error: "protocol_error"},
		{Name: "ten bytes overflowing 64 bits", Hex: append(bytes.Repeat([]byte{0xff}, 9), 0x7f), Error: "protocol_error"},
	}
	for _, v := range bad {
		if _, n := protowire.ConsumeVarint(v.Hex); n >= 0 {
			t.Fatalf("varint %x decodes", []byte(v.Hex))
		}
	}
	return map[string]any{"valid": ok, "malformed": bad}
}

// --- frames ----------------------------------------------------------------

type frameVector struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Flags   byte     `json:"flags"`
	Seq     uint64   `json:"seq,omitempty"`     // MESSAGE seq, CREDIT consumed, ERROR seq
	TypeID  uint32   `json:"type_id,omitempty"` // MESSAGE
	Corr    uint64   `json:"corr,omitempty"`    // MESSAGE, END
	Credits uint64   `json:"credits,omitempty"` // CREDIT
	Code    uint32   `json:"code,omitempty"`    // ERROR, CLOSE
	Reason  string   `json:"reason,omitempty"`  // ERROR, CLOSE
	Tag     hexBytes `json:"tag,omitempty"`     // MESSAGE with AUTH
	Body    hexBytes `json:"body,omitempty"`    // MESSAGE
	Hex     hexBytes `json:"hex"`
}

var frameKinds = map[byte]string{data.FrameMessage: "MESSAGE", data.FrameCredit: "CREDIT", data.FrameError: "ERROR", data.FrameEnd: "END", data.FrameClose: "CLOSE"}

func conformanceFrames(t *testing.T) any {
	tag := bytes.Repeat([]byte{0xa5}, data.AuthTagLen)
	frames := []struct {
		name string
		f    data.Frame
	}{
		{"MESSAGE, empty body", data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: 1}},
		{"MESSAGE, proto body (A.4)", data.Frame{Kind: data.FrameMessage, Seq: 1, TypeID: 1, Body: []byte{0x11, 0, 0, 0, 0, 0, 0x80, 0x35, 0x40, 0x22, 0x05, 'n', 'o', 'r', 't', 'h', 0x0a, 0x02, 'p', '1'}}},
		{"MESSAGE, two-byte varints (A.9)", data.Frame{Kind: data.FrameMessage, Seq: 300, TypeID: 2, Corr: 7, Body: []byte(`{"key":"a"}`)}},
		{"MESSAGE, REPLY (A.9)", data.Frame{Kind: data.FrameMessage, Flags: data.FlagReply, Seq: 5, TypeID: 3, Corr: 7, Body: []byte(`{}`)}},
		{"MESSAGE, AUTH with a tag", data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 9, TypeID: 1, Tag: tag, Body: []byte("hi")}},
		{"MESSAGE, REPLY and AUTH", data.Frame{Kind: data.FrameMessage, Flags: data.FlagReply | data.FlagAuth, Seq: 2, TypeID: 1, Corr: 1, Tag: tag, Body: []byte("ok")}},
		{"MESSAGE, large ids", data.Frame{Kind: data.FrameMessage, Seq: 1<<53 - 1, TypeID: 1 << 31, Corr: 1 << 40, Body: []byte{0}}},
		{"CREDIT (A.5)", data.Frame{Kind: data.FrameCredit, Credits: 2, Seq: 2}},
		{"CREDIT, two-byte varint (A.9)", data.Frame{Kind: data.FrameCredit, Credits: 256, Seq: 17}},
		{"CREDIT, zero consumed", data.Frame{Kind: data.FrameCredit, Credits: 64}},
		{"ERROR (A.9)", data.Frame{Kind: data.FrameError, Code: codes.InvalidMessage, Seq: 4, Reason: []byte("bad")}},
		{"ERROR, auth_failed, no reason", data.Frame{Kind: data.FrameError, Code: codes.AuthFailed, Seq: 1}},
		{"END (A.9)", data.Frame{Kind: data.FrameEnd, Corr: 7}},
		{"CLOSE (A.7)", data.Frame{Kind: data.FrameClose, Code: codes.NormalClose, Reason: []byte("done")}},
		{"CLOSE, UTF-8 reason", data.Frame{Kind: data.FrameClose, Code: codes.Draining, Reason: []byte("the server closed — bye")}},
		{"CLOSE, no reason", data.Frame{Kind: data.FrameClose, Code: codes.ProtocolError}},
	}
	var out []frameVector
	for _, v := range frames {
		b := data.AppendFrame(nil, &v.f)
		got, err := data.NewFrameReader(bufio.NewReader(bytes.NewReader(b)), 1<<20).Read()
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if !bytes.Equal(data.AppendFrame(nil, got), b) {
			t.Fatalf("%s: does not round-trip: %s", v.name, got)
		}
		out = append(out, frameVector{
			Name: v.name, Kind: frameKinds[v.f.Kind], Flags: v.f.Flags, Seq: v.f.Seq, TypeID: v.f.TypeID,
			Corr: v.f.Corr, Credits: v.f.Credits, Code: uint32(v.f.Code), Reason: string(v.f.Reason),
			Tag: v.f.Tag, Body: v.f.Body, Hex: b,
		})
	}
	hdr := func(kind, flags byte, n uint32) []byte {
		return []byte{kind, flags, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	bad := []malformedVector{
		{Name: "unknown kind 0x06", Hex: cat(hdr(0x06, 0, 1), []byte{0}), MaxLen: 1078, Error: "protocol_error"},
		{Name: "kind 0x00", Hex: hdr(0x00, 0, 0), MaxLen: 1078, Error: "protocol_error"},
		{Name: "length over the limit (checked before the payload arrives)", Hex: hdr(data.FrameMessage, 0, 1079), MaxLen: 1078, Error: "message_too_large"},
		{Name: "MESSAGE, empty payload", Hex: hdr(data.FrameMessage, 0, 0), MaxLen: 1078, Error: "protocol_error"},
		{Name: "MESSAGE, payload ends inside corr", Hex: cat(hdr(data.FrameMessage, 0, 2), []byte{1, 1}), MaxLen: 1078, Error: "protocol_error"},
		{Name: "MESSAGE, over-long seq varint", Hex: cat(hdr(data.FrameMessage, 0, 13), bytes.Repeat([]byte{0x80}, 10), []byte{1, 1, 0}), MaxLen: 1078, Error: "protocol_error"},
		{Name: "MESSAGE, type_id above 2^31", Hex: cat(hdr(data.FrameMessage, 0, 7), []byte{1}, protowire.AppendVarint(nil, 1<<31+1), []byte{0}), MaxLen: 1078, Error: "protocol_error"},
		{Name: "MESSAGE, AUTH with a 15-byte tag", Hex: cat(hdr(data.FrameMessage, data.FlagAuth, 18), []byte{1, 1, 0}, bytes.Repeat([]byte{0xa5}, 15)), MaxLen: 1078, Error: "protocol_error"},
		{Name: "CREDIT, missing consumed", Hex: cat(hdr(data.FrameCredit, 0, 1), []byte{4}), MaxLen: 1078, Error: "protocol_error"},
		{Name: "ERROR, missing seq", Hex: cat(hdr(data.FrameError, 0, 1), []byte{4}), MaxLen: 1078, Error: "protocol_error"},
		{Name: "END, empty", Hex: hdr(data.FrameEnd, 0, 0), MaxLen: 1078, Error: "protocol_error"},
		{Name: "CLOSE, empty", Hex: hdr(data.FrameClose, 0, 0), MaxLen: 1078, Error: "protocol_error"},
		{Name: "header cut short", Hex: []byte{data.FrameMessage, 0, 0, 0, 0}, MaxLen: 1078, Error: "truncated"},
		{Name: "payload cut short", Hex: cat(hdr(data.FrameMessage, 0, 10), []byte{1, 1, 0}), MaxLen: 1078, Error: "truncated"},
	}
	for _, v := range bad {
		_, err := data.NewFrameReader(bufio.NewReader(bytes.NewReader(v.Hex)), v.MaxLen).Read()
		var got string
		switch {
		case errors.Is(err, data.ErrFrameTooLarge):
			got = "message_too_large"
		case errors.Is(err, data.ErrMalformed):
			got = "protocol_error"
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			got = "truncated"
		default:
			got = fmt.Sprint(err)
		}
		if got != v.Error {
			t.Errorf("malformed frame %q: the reader says %v (%s), the vector %s", v.Name, err, got, v.Error)
		}
	}
	return map[string]any{"valid": out, "malformed": bad}
}

// --- handshakes ------------------------------------------------------------

type messageVector struct {
	Name   string   `json:"name"`
	Fields any      `json:"fields"` // the message, in protobuf's JSON mapping with the proto field names
	Hex    hexBytes `json:"hex"`    // LD(message): uvarint length, then the proto3 binary encoding
}

func conformanceHandshakes(t *testing.T) any {
	const hash = "sha256:16a244f573ff48d7ea7da18b1965e4dbc140ea42887026bfcf0ef44c308155c9"
	prefaces := map[string]hexBytes{
		"client":                  preface(prefaceOK),
		"server_ok":               preface(prefaceOK),
		"server_bad_version":      preface(prefaceBadVersion),
		"server_refused":          preface(prefaceRefused),
		"server_auth_required":    preface(prefaceAuthRequired),
		"server_not_allowed":      preface(prefaceNotAllowed),
		"not_ifkit_example_bytes": []byte("HTTP/1.1"),
	}
	open := []struct {
		name   string
		fields any
		m      *sessionpb.OpenStream
	}{
		{"DATA, hash known, 4 credits (A.3)", map[string]any{"interface": "sensors.temperature", "kind": 1, "codecs": []string{"proto", "json", "raw"}, "manifest_hash": hash, "credits": 4},
			&sessionpb.OpenStream{Interface: "sensors.temperature", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"proto", "json", "raw"}, ManifestHash: hash, Credits: 4}},
		{"DATA, no hash, pull mode, client name", map[string]any{"interface": "db.kv", "kind": 1, "codecs": []string{"json"}, "client": "conformance"},
			&sessionpb.OpenStream{Interface: "db.kv", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Codecs: []string{"json"}, Client: "conformance"}},
		{"CONTROL, attached to connection 1 (A.6)", map[string]any{"interface": "sensors.temperature", "kind": 2, "connection_id": 1},
			&sessionpb.OpenStream{Interface: "sensors.temperature", Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL, ConnectionId: 1}},
		{"CONTROL, standalone, no interface", map[string]any{"kind": 2},
			&sessionpb.OpenStream{Kind: sessionpb.StreamKind_STREAM_KIND_CONTROL}},
		{"DATA with a CEL filter (§4.8)", map[string]any{"interface": "sensors.temperature", "kind": 1, "credits": 4, "filter": map[string]any{"cel": `zone == "north"`}},
			&sessionpb.OpenStream{Interface: "sensors.temperature", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Credits: 4, Filter: &sessionpb.Filter{Cel: `zone == "north"`}}},
		{"DATA with a structured filter on a named type (§4.8)", map[string]any{"interface": "events.topic", "kind": 1, "filter": map[string]any{"type": "Event", "structured": `{"field":"severity","in":["warning","critical"]}`}},
			&sessionpb.OpenStream{Interface: "events.topic", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Filter: &sessionpb.Filter{Type: "Event", Structured: `{"field":"severity","in":["warning","critical"]}`}}},
		{"DATA with spawn parameters (§4.9)", map[string]any{"interface": "demo.counter", "kind": 1, "credits": 64, "params": `{"start":10,"step":5}`},
			&sessionpb.OpenStream{Interface: "demo.counter", Kind: sessionpb.StreamKind_STREAM_KIND_DATA, Credits: 64, Params: `{"start":10,"step":5}`}},
	}
	result := []struct {
		name   string
		fields any
		m      *sessionpb.OpenResult
	}{
		{"DATA accepted, hash equal, no manifest (A.3)", map[string]any{"connection_id": 1, "codec": "proto", "manifest_hash": hash},
			&sessionpb.OpenResult{ConnectionId: 1, Codec: "proto", ManifestHash: hash}},
		{"DATA accepted on a duplex interface, credits granted", map[string]any{"connection_id": 7, "codec": "json", "manifest_hash": hash, "manifest": "e30=", "credits": 64},
			&sessionpb.OpenResult{ConnectionId: 7, Codec: "json", ManifestHash: hash, Manifest: []byte("{}"), Credits: 64}},
		{"refused: unknown_interface", map[string]any{"code": 7, "reason": "no interface \"x\""},
			&sessionpb.OpenResult{Code: uint32(codes.UnknownInterface), Reason: "no interface \"x\""}},
		{"CONTROL accepted (A.6)", map[string]any{"connection_id": 1, "manifest_hash": hash},
			&sessionpb.OpenResult{ConnectionId: 1, ManifestHash: hash}},
		{"refused: invalid_filter, with the position (§4.8.3)", map[string]any{"code": 21, "reason": "filter (cel) at 1:1: celsius is a field of Reading, but not one it may be filtered on (filter_fields: probe, zone)"},
			&sessionpb.OpenResult{Code: uint32(codes.InvalidFilter), Reason: "filter (cel) at 1:1: celsius is a field of Reading, but not one it may be filtered on (filter_fields: probe, zone)"}},
	}
	req := func(r *controlpb.Request) *controlpb.ControlFrame {
		return &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Request{Request: r}}
	}
	resp := func(r *controlpb.Response) *controlpb.ControlFrame {
		return &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Response{Response: r}}
	}
	note := func(n *controlpb.Notification) *controlpb.ControlFrame {
		return &controlpb.ControlFrame{Frame: &controlpb.ControlFrame_Notification{Notification: n}}
	}
	frames := []struct {
		name   string
		fields any
		m      *controlpb.ControlFrame
	}{
		{"request list", map[string]any{"request": map[string]any{"id": 1, "list": map[string]any{}}}, req(&controlpb.Request{Id: 1, Op: &controlpb.Request_List{List: &controlpb.ListInterfaces{}}})},
		{"request manifest with known hash", map[string]any{"request": map[string]any{"id": 2, "manifest": map[string]any{"interface": "db.kv", "known_hash": hash}}}, req(&controlpb.Request{Id: 2, Op: &controlpb.Request_Manifest{Manifest: &controlpb.GetManifest{Interface: "db.kv", KnownHash: hash}}})},
		{"request ping, empty (A.6)", map[string]any{"request": map[string]any{"id": 1, "ping": map[string]any{}}}, req(&controlpb.Request{Id: 1, Op: &controlpb.Request_Ping{Ping: &controlpb.Ping{}}})},
		{"request stats of connection 3", map[string]any{"request": map[string]any{"id": 3, "stats": map[string]any{"connection_id": 3}}}, req(&controlpb.Request{Id: 3, Op: &controlpb.Request_Stats{Stats: &controlpb.Stats{ConnectionId: 3}}})},
		{"request close with a reason", map[string]any{"request": map[string]any{"id": 4, "close": map[string]any{"reason": "bye"}}}, req(&controlpb.Request{Id: 4, Op: &controlpb.Request_Close{Close: &controlpb.Close{Reason: "bye"}}})},
		{"request filter: replace the attached connection's (§10.2)", map[string]any{"request": map[string]any{"id": 6, "filter": map[string]any{"structured": `{"field":"zone","eq":"south"}`}}},
			req(&controlpb.Request{Id: 6, Op: &controlpb.Request_Filter{Filter: &controlpb.SetFilter{Structured: `{"field":"zone","eq":"south"}`}}})},
		{"request filter: remove connection 3's", map[string]any{"request": map[string]any{"id": 7, "filter": map[string]any{"connection_id": 3}}},
			req(&controlpb.Request{Id: 7, Op: &controlpb.Request_Filter{Filter: &controlpb.SetFilter{ConnectionId: 3}}})},
		{"response stats with filter counts", map[string]any{"response": map[string]any{"id": 3, "stats": map[string]any{"connection_id": 3, "sent_messages": 2, "matched": 2, "filtered_out": 8}}},
			resp(&controlpb.Response{Id: 3, Result: &controlpb.Response_Stats{Stats: &controlpb.ConnStats{ConnectionId: 3, SentMessages: 2, Matched: 2, FilteredOut: 8}}})},
		{"response pong empty (A.6)", map[string]any{"response": map[string]any{"id": 1, "pong": ""}}, resp(&controlpb.Response{Id: 1, Result: &controlpb.Response_Pong{Pong: []byte{}}})},
		{"response failed: unimplemented", map[string]any{"response": map[string]any{"id": 5, "code": 18, "reason": "no"}}, resp(&controlpb.Response{Id: 5, Code: uint32(codes.Unimplemented), Reason: "no"})},
		{"response list", map[string]any{"response": map[string]any{"id": 1, "interfaces": map[string]any{"interfaces": []any{map[string]any{"name": "a", "version": "1.0.0", "direction": "send", "manifest_hash": hash}}}}},
			resp(&controlpb.Response{Id: 1, Result: &controlpb.Response_Interfaces{Interfaces: &controlpb.InterfaceList{Interfaces: []*controlpb.InterfaceInfo{{Name: "a", Version: "1.0.0", Direction: "send", ManifestHash: hash}}}}})},
		{"response manifest not modified", map[string]any{"response": map[string]any{"id": 2, "manifest": map[string]any{"hash": hash, "not_modified": true}}}, resp(&controlpb.Response{Id: 2, Result: &controlpb.Response_Manifest{Manifest: &controlpb.ManifestResult{Hash: hash, NotModified: true}}})},
		{"notification draining (A.6)", map[string]any{"notification": map[string]any{"draining": map[string]any{"deadline_unix_ms": 1795000000000}}}, note(&controlpb.Notification{Event: &controlpb.Notification_Draining{Draining: &controlpb.Draining{DeadlineUnixMs: 1795000000000}}})},
		{"notification connection_closed", map[string]any{"notification": map[string]any{"connection_closed": map[string]any{"connection_id": 3, "code": 3, "reason": "message 9 arrived without credit", "interface": "db.kv"}}},
			note(&controlpb.Notification{Event: &controlpb.Notification_ConnectionClosed{ConnectionClosed: &controlpb.ConnectionClosed{ConnectionId: 3, Code: 3, Reason: "message 9 arrived without credit", Interface: "db.kv"}}})},
		{"request operator_challenge (§10.4)", map[string]any{"request": map[string]any{"id": 8, "operator_challenge": map[string]any{}}},
			req(&controlpb.Request{Id: 8, Op: &controlpb.Request_OperatorChallenge{OperatorChallenge: &controlpb.OperatorChallenge{}}})},
		{"request connections of db.kv (§10.4)", map[string]any{"request": map[string]any{"id": 10, "connections": map[string]any{"interface": "db.kv"}}},
			req(&controlpb.Request{Id: 10, Op: &controlpb.Request_Connections{Connections: &controlpb.ListConnections{Interface: "db.kv"}}})},
		{"request server_stats of every interface (§10.4)", map[string]any{"request": map[string]any{"id": 11, "server_stats": map[string]any{}}},
			req(&controlpb.Request{Id: 11, Op: &controlpb.Request_ServerStats{ServerStats: &controlpb.GetServerStats{}}})},
		{"request pause of another session's connection 12 (§10.4)", map[string]any{"request": map[string]any{"id": 12, "pause": map[string]any{"connection_id": 12}}},
			req(&controlpb.Request{Id: 12, Op: &controlpb.Request_Pause{Pause: &controlpb.Pause{ConnectionId: 12}}})},
		{"response connections: one Unix peer", map[string]any{"response": map[string]any{"id": 10, "connections": map[string]any{"connections": []any{map[string]any{
			"connection_id": 12, "interface": "db.kv", "client": "loader", "codec": "json", "peer": map[string]any{"uid": 1000, "gid": 1000, "pid": 4242},
			"stats": map[string]any{"connection_id": 12, "interface": "db.kv", "received_messages": 5, "credits_granted": 59, "uptime_ms": 61000, "credit_stalls": 1}}}}}},
			resp(&controlpb.Response{Id: 10, Result: &controlpb.Response_Connections{Connections: &controlpb.ConnectionList{Connections: []*controlpb.ConnectionInfo{{
				ConnectionId: 12, Interface: "db.kv", Client: "loader", Codec: "json", Peer: &controlpb.PeerCredentials{Uid: 1000, Gid: 1000, Pid: 4242},
				Stats: &controlpb.ConnStats{ConnectionId: 12, Interface: "db.kv", ReceivedMessages: 5, CreditsGranted: 59, UptimeMs: 61000, CreditStalls: 1}}}}}})},
		{"response server_stats: per type", map[string]any{"response": map[string]any{"id": 11, "server_stats": map[string]any{
			"interfaces": []any{map[string]any{"interface": "db.kv", "connections_open": 1, "connections_opened": 3,
				"totals": map[string]any{"interface": "db.kv", "received_messages": 9},
				"ended":  []any{map[string]any{"code": 1, "count": 2}},
				"types":  []any{map[string]any{"type": "Get", "handled": 9, "errors": 1, "processing_ns": 90000, "last_error": "no such key", "latency": []any{0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0}}}}},
			"refusals": []any{map[string]any{"code": 13, "count": 1}}}}},
			resp(&controlpb.Response{Id: 11, Result: &controlpb.Response_ServerStats{ServerStats: &controlpb.ServerStats{
				Interfaces: []*controlpb.InterfaceStats{{Interface: "db.kv", ConnectionsOpen: 1, ConnectionsOpened: 3,
					Totals: &controlpb.ConnStats{Interface: "db.kv", ReceivedMessages: 9},
					Ended:  []*controlpb.CodeCount{{Code: 1, Count: 2}},
					Types:  []*controlpb.TypeStats{{Type: "Get", Handled: 9, Errors: 1, ProcessingNs: 90000, LastError: "no such key", Latency: []uint64{0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0}}}}},
				Refusals: []*controlpb.CodeCount{{Code: 13, Count: 1}}}}})},
		{"response failed: the operator scope is needed", map[string]any{"response": map[string]any{"id": 10, "code": 13, "reason": "listing the connections needs the operator scope"}},
			resp(&controlpb.Response{Id: 10, Code: uint32(codes.AuthFailed), Reason: "listing the connections needs the operator scope"})},
		{"request monitor a connection (§10.6)", map[string]any{"request": map[string]any{"id": 8, "monitor": map[string]any{"ref": 1, "connection_id": 29600322334721}}},
			req(&controlpb.Request{Id: 8, Op: &controlpb.Request_Monitor{Monitor: &controlpb.Monitor{Ref: 1, ConnectionId: 29600322334721}}})},
		{"request monitor an interface", map[string]any{"request": map[string]any{"id": 9, "monitor": map[string]any{"ref": 2, "interface": "db.kv"}}},
			req(&controlpb.Request{Id: 9, Op: &controlpb.Request_Monitor{Monitor: &controlpb.Monitor{Ref: 2, Interface: "db.kv"}}})},
		{"request monitor the server", map[string]any{"request": map[string]any{"id": 10, "monitor": map[string]any{"ref": 3, "server": true}}},
			req(&controlpb.Request{Id: 10, Op: &controlpb.Request_Monitor{Monitor: &controlpb.Monitor{Ref: 3, Server: true}}})},
		{"request demonitor", map[string]any{"request": map[string]any{"id": 11, "demonitor": map[string]any{"ref": 2}}},
			req(&controlpb.Request{Id: 11, Op: &controlpb.Request_Demonitor{Demonitor: &controlpb.Demonitor{Ref: 2}}})},
		{"response monitor: already gone (noproc)", map[string]any{"response": map[string]any{"id": 8, "down": map[string]any{"ref": 1, "code": 12, "reason": "connection 29600322334721 is gone, or never existed (noproc)", "noproc": true, "connection_id": 29600322334721}}},
			resp(&controlpb.Response{Id: 8, Result: &controlpb.Response_Down{Down: &controlpb.MonitorDown{Ref: 1, Code: uint32(codes.NotFound), Reason: "connection 29600322334721 is gone, or never existed (noproc)", Noproc: true, ConnectionId: 29600322334721}}})},
		{"notification monitor_down", map[string]any{"notification": map[string]any{"monitor_down": map[string]any{"ref": 3, "code": 16, "reason": "the server closed", "server": true}}},
			note(&controlpb.Notification{Event: &controlpb.Notification_MonitorDown{MonitorDown: &controlpb.MonitorDown{Ref: 3, Code: uint32(codes.Draining), Reason: "the server closed", Server: true}}})},
		{"request servers (a relay's, §2.5)", map[string]any{"request": map[string]any{"id": 12, "servers": map[string]any{}}},
			req(&controlpb.Request{Id: 12, Op: &controlpb.Request_Servers{Servers: &controlpb.ListServers{}}})},
		{"response servers", map[string]any{"response": map[string]any{"id": 12, "servers": map[string]any{"names": []string{"greenhouse", "kv"}}}},
			resp(&controlpb.Response{Id: 12, Result: &controlpb.Response_Servers{Servers: &controlpb.ServerList{Names: []string{"greenhouse", "kv"}}}})},
		{"notification servers_changed", map[string]any{"notification": map[string]any{"servers_changed": map[string]any{"learned": []string{"kv"}}}},
			note(&controlpb.Notification{Event: &controlpb.Notification_ServersChanged{ServersChanged: &controlpb.ServersChanged{Learned: []string{"kv"}}}})},
		{"notification notifications_lost", map[string]any{"notification": map[string]any{"notifications_lost": map[string]any{"count": 12}}}, note(&controlpb.Notification{Event: &controlpb.Notification_NotificationsLost{NotificationsLost: &controlpb.NotificationsLost{Count: 12}}})},
	}
	var os, or, cf []messageVector
	for _, v := range open {
		os = append(os, messageVector{v.name, v.fields, encodeMsg(v.m)})
	}
	for _, v := range result {
		or = append(or, messageVector{v.name, v.fields, encodeMsg(v.m)})
	}
	for _, v := range frames {
		cf = append(cf, messageVector{v.name, v.fields, encodeMsg(v.m)})
	}

	// Shared-secret exchanges (§3.5): the nonces are fixed, as in A.2.
	type exchange struct {
		Secret        string              `json:"secret"`
		ServerNonce   hexBytes            `json:"server_nonce"`
		ClientNonce   hexBytes            `json:"client_nonce"`
		ClientProof   hexBytes            `json:"client_proof"`   // C→S: client_nonce ‖ MAC("client", server_nonce, client_nonce)
		ServerProof   hexBytes            `json:"server_proof"`   // S→C: 00 ‖ MAC("server", client_nonce, server_nonce)
		SessionKey    hexBytes            `json:"session_key"`    // MAC("session", server_nonce, client_nonce)
		MessageKeys   map[string]hexBytes `json:"message_keys"`   // by connection id (§12)
		ServerRefusal hexBytes            `json:"server_refusal"` // S→C when the client's MAC is wrong
	}
	var ex []exchange
	for _, s := range []struct {
		secret string
		sn, cn []byte
	}{
		{"0123456789abcdef0123456789abcdef", seq(0x00, 32), seq(0x20, 32)},
		{"sixteen-bytes-ok", bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0x00}, 32)},
	} {
		secret := []byte(s.secret)
		sk := sessionKey(secret, s.sn, s.cn)
		keys := map[string]hexBytes{}
		for _, id := range []uint64{1, 2, 1 << 32} {
			keys[strconv.FormatUint(id, 10)] = messageKey(sk, id)
		}
		ex = append(ex, exchange{
			Secret: s.secret, ServerNonce: s.sn, ClientNonce: s.cn,
			ClientProof: append(append([]byte{}, s.cn...), authMAC(secret, "client", s.sn, s.cn)...),
			ServerProof: append([]byte{authOK}, authMAC(secret, "server", s.cn, s.sn)...),
			SessionKey:  sk, MessageKeys: keys, ServerRefusal: []byte{authFailed},
		})
	}

	// Operator proofs (§10.4): a fixed challenge and client nonce.
	type operatorProof struct {
		AdminSecret string   `json:"admin_secret"`
		Challenge   hexBytes `json:"challenge"`    // the server's nonce: Response.challenge
		ClientNonce hexBytes `json:"client_nonce"` // OperatorProof.client_nonce
		Proof       hexBytes `json:"proof"`        // OperatorProof.mac: MAC("operator-client", challenge, client_nonce)
		Answer      hexBytes `json:"answer"`       // Response.operator: MAC("operator-server", client_nonce, challenge)
	}
	var ops []operatorProof
	for _, o := range []struct {
		secret string
		ch, cn []byte
	}{
		{"an-admin-secret-0123456789abcdef", seq(0x40, 32), seq(0x60, 32)},
		{"sixteen-bytes-ok", bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0x55}, 32)},
	} {
		secret := []byte(o.secret)
		ops = append(ops, operatorProof{
			AdminSecret: o.secret, Challenge: o.ch, ClientNonce: o.cn,
			Proof: control.OperatorProof(secret, o.ch, o.cn), Answer: control.OperatorAnswer(secret, o.ch, o.cn),
		})
	}
	return map[string]any{
		"prefaces": prefaces, "shared_secret": ex, "operator": ops,
		"open_stream": os, "open_result": or, "control_frame": cf,
	}
}

// --- per-message authentication -------------------------------------------

func conformanceAuth(t *testing.T) any {
	type tagVector struct {
		Name       string      `json:"name"`
		MessageKey hexBytes    `json:"message_key"`
		FromServer bool        `json:"from_server"`
		Frame      frameVector `json:"frame"` // with flags AUTH and the tag in place
		TagInput   hexBytes    `json:"tag_input"`
	}
	key := messageKey(sessionKey([]byte("0123456789abcdef0123456789abcdef"), seq(0x00, 32), seq(0x20, 32)), 1)
	var out []tagVector
	for _, v := range []struct {
		name       string
		fromServer bool
		f          data.Frame
	}{
		{"client to server, A.8", false, data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 1, TypeID: 1, Body: []byte("hi")}},
		{"server to client, A.8", true, data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 1, TypeID: 1, Body: []byte("hi")}},
		{"a reply: the REPLY bit is covered", true, data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth | data.FlagReply, Seq: 2, TypeID: 3, Corr: 7, Body: []byte(`{"found":true}`)}},
		{"an empty body, large seq", false, data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: 1 << 40, TypeID: 2, Corr: 0}},
	} {
		f := v.f
		f.Tag = data.Tag(key, v.fromServer, &f)
		in := []byte{2}
		if v.fromServer {
			in[0] = 1
		}
		in = append(in, be64(f.Seq)...)
		in = append(in, byte(f.TypeID>>24), byte(f.TypeID>>16), byte(f.TypeID>>8), byte(f.TypeID))
		in = append(in, be64(f.Corr)...)
		in = append(in, f.Flags&data.FlagReply)
		in = append(in, f.Body...)
		out = append(out, tagVector{
			Name: v.name, MessageKey: key, FromServer: v.fromServer, TagInput: in,
			Frame: frameVector{Name: v.name, Kind: "MESSAGE", Flags: f.Flags, Seq: f.Seq, TypeID: f.TypeID, Corr: f.Corr, Tag: f.Tag, Body: f.Body, Hex: data.AppendFrame(nil, &f)},
		})
	}
	return map[string]any{"tags": out}
}

func be64(v uint64) []byte {
	return []byte{byte(v >> 56), byte(v >> 48), byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// --- credits ---------------------------------------------------------------

// A credit sequence is what a receiver in automatic mode (§7.3) grants as
// messages arrive and are consumed: the window W is granted at the start (in
// the handshake), each "arrive" uses one credit, each "consume" frees one, and
// after each consume the receiver grants room = W − G − H when 2 × room ≥ W.
// Each step records the CREDIT frame written after it, if any.
type creditStep struct {
	Event   string `json:"event"`              // "arrive" or "consume"
	Grant   uint64 `json:"grant,omitempty"`    // CREDIT.credits written after the event; absent: none
	Consumd uint64 `json:"consumed,omitempty"` // CREDIT.consumed of that frame
}

type creditSequence struct {
	Name   string       `json:"name"`
	Window int          `json:"window"`
	Steps  []creditStep `json:"steps"`
}

func conformanceCredits(t *testing.T) any {
	model := func(w int, events string) []creditStep {
		g, h, consumed := w, 0, 0
		var steps []creditStep
		for _, e := range events {
			switch e {
			case 'a':
				g, h = g-1, h+1
				steps = append(steps, creditStep{Event: "arrive"})
			case 'c':
				h, consumed = h-1, consumed+1
				s := creditStep{Event: "consume"}
				if room := w - g - h; 2*room >= w && room > 0 {
					g += room
					s.Grant, s.Consumd = uint64(room), uint64(consumed)
				}
				steps = append(steps, s)
			}
		}
		return steps
	}
	seqs := []struct {
		name   string
		w      int
		events string
	}{
		{"window 4: two arrive, both consumed (A.5)", 4, "aacc"},
		{"window 4: one at a time", 4, "acacacacac"},
		{"window 1: every consume grants one", 1, "acacac"},
		{"window 5: odd window, grants at room 3", 5, "aaaaaccccc"},
		{"window 8: the whole window arrives before any consume", 8, "aaaaaaaacccccccc"},
		{"window 3: interleaved", 3, "aacaccaacc"},
	}
	var out []creditSequence
	for _, s := range seqs {
		steps := model(s.w, s.events)
		checkCreditsAgainstConn(t, s.name, s.w, steps)
		out = append(out, creditSequence{s.name, s.w, steps})
	}
	return map[string]any{"auto": out}
}

// checkCreditsAgainstConn plays a sequence against a data.Conn in automatic
// mode, as a hand-written peer on a pipe, and checks the CREDIT frames it
// writes against the model's.
func checkCreditsAgainstConn(t *testing.T, name string, w int, steps []creditStep) {
	t.Helper()
	m, err := manifest.Parse("credits.yaml", []byte(`ifkit: 1
name: conformance.credits
version: 1.0.0
direction: send
codecs: [raw]
messages: {send: {Blob: {}}}
flow: {credits: 64}
`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := codec.Standard().Lookup(codec.NameRaw)
	a, b := net.Pipe()
	c := data.New(a, nil, data.Config{ID: 1, Manifest: m, Codec: raw, Window: int64(w), AutoGrant: true}).Start()
	defer func() {
		b.SetDeadline(time.Now().Add(2 * time.Second))
		go io.Copy(io.Discard, b)
		c.Close("done")
		b.Close()
	}()
	frames := make(chan *data.Frame, 64)
	go func() {
		fr := data.NewFrameReader(bufio.NewReader(b), 1<<20)
		for {
			f, err := fr.Read()
			if err != nil {
				close(frames)
				return
			}
			if f.Kind == data.FrameCredit {
				frames <- f
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var sent uint64
	for i, s := range steps {
		switch s.Event {
		case "arrive":
			sent++
			if _, err := b.Write(data.AppendFrame(nil, &data.Frame{Kind: data.FrameMessage, Seq: sent, TypeID: 1, Body: []byte{byte(sent)}})); err != nil {
				t.Fatalf("credits %q step %d: %v", name, i, err)
			}
		case "consume":
			if _, err := c.Recv(ctx); err != nil {
				t.Fatalf("credits %q step %d: %v", name, i, err)
			}
			if s.Grant == 0 {
				continue
			}
			select {
			case f := <-frames:
				if f.Credits != s.Grant || f.Seq != s.Consumd {
					t.Errorf("credits %q step %d: the connection granted %d (consumed %d), the model %d (consumed %d)", name, i, f.Credits, f.Seq, s.Grant, s.Consumd)
				}
			case <-ctx.Done():
				t.Fatalf("credits %q step %d: no CREDIT frame", name, i)
			}
		}
	}
	select {
	case f := <-frames:
		t.Errorf("credits %q: an unexpected CREDIT frame %s", name, f)
	case <-time.After(20 * time.Millisecond):
	}
}

// --- manifests -------------------------------------------------------------

func conformanceManifests(t *testing.T) any {
	type manifestVector struct {
		File      string            `json:"file"`
		Name      string            `json:"name"`
		Hash      string            `json:"hash"`
		Canonical string            `json:"canonical"` // the canonical form (MANIFEST.md §12), as text
		SendIDs   map[string]uint32 `json:"send_type_ids,omitempty"`
		RecvIDs   map[string]uint32 `json:"recv_type_ids,omitempty"`
	}
	var paths []string
	for _, g := range []string{"../testdata/manifests/*.yaml", "../testdata/manifests/*.json", "../testdata/parity/*.yaml", "../testdata/parity/*.json"} {
		more, _ := filepath.Glob(g)
		paths = append(paths, more...)
	}
	var out []manifestVector
	for _, p := range paths {
		m, err := manifest.Load(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		sum := sha256.Sum256(m.Canonical())
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != m.Hash() {
			t.Fatalf("%s: hash %s, sha256 of the canonical form %s", p, m.Hash(), got)
		}
		v := manifestVector{File: filepath.ToSlash(p[3:]), Name: m.Name, Hash: m.Hash(), Canonical: string(m.Canonical())}
		ids := func(types []*manifest.MessageType) map[string]uint32 {
			if len(types) == 0 {
				return nil
			}
			r := map[string]uint32{}
			for i, mt := range types {
				r[mt.Name] = uint32(i + 1)
			}
			return r
		}
		v.SendIDs, v.RecvIDs = ids(m.Send), ids(m.Recv)
		out = append(out, v)
	}
	return map[string]any{"manifests": out}
}

// --- codes -----------------------------------------------------------------

func conformanceCodes(t *testing.T) any {
	type codeVector struct {
		Code uint32 `json:"code"`
		Name string `json:"name"`
	}
	var out []codeVector
	for _, c := range codes.All() {
		back, err := codes.Parse(c.String())
		if err != nil || back != c {
			t.Fatalf("code %d: %q does not parse back", c, c.String())
		}
		out = append(out, codeVector{uint32(c), c.String()})
	}
	return map[string]any{"codes": out}
}
