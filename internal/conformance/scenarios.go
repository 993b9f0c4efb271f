package conformance

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ifkit/ifkit/codes"
	"github.com/ifkit/ifkit/data"
	"github.com/ifkit/ifkit/internal/pb/sessionpb"
)

// Scenario is one scripted situation. Stream scenarios are interfaces of the
// "scenarios" (or, with Secret, "auth-scenarios") listener, chosen by the
// interface name a client opens; session scenarios have a listener each,
// named by the scenario.
type Scenario struct {
	Name string `json:"name"`
	// Level is "session" (the preface and the exchange) or "stream" (one DATA stream).
	Level string `json:"level"`
	// Secret: the client must dial with the suite's shared secret.
	Secret bool `json:"secret,omitempty"`
	// Does says what the server does; ClientMust what the client must do,
	// and report to its application.
	Does       string `json:"server_does"`
	ClientMust string `json:"client_must"`
	// Code is the code the client must report (or send), when there is one.
	Code string `json:"code,omitempty"`
	// Verdict says what the server checks of the client's bytes.
	Verdict string `json:"verdict"`

	// stream scenarios: adjust the OpenResult, then play.
	open func(p *peer, res *sessionpb.OpenResult) (pass bool, detail string, done bool)
	play func(p *peer) (pass bool, detail string)
	// session scenarios: play the whole socket.
	session func(c net.Conn, secret []byte) (pass bool, detail string)
}

// closeWith plays a violation: write it, then expect the client's CLOSE.
// A write error alone decides nothing: hashicorp/yamux can report
// "session shutdown" for a frame it did hand to the socket when the client
// reacts and closes the session first; the frames the client sent decide.
func closeWith(code codes.Code, write func(p *peer) error) func(p *peer) (bool, string) {
	return func(p *peer) (bool, string) {
		if err := write(p); err != nil {
			if ok, detail := p.expectClose(code); ok {
				return ok, detail
			}
			return false, err.Error()
		}
		return p.expectClose(code)
	}
}

func hdr(kind, flags byte, n uint32) []byte {
	return []byte{kind, flags, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

const (
	typeNote  = 1 // send types
	typeReply = 2
	typeAsk   = 1 // recv types
	typeScan  = 2
	typeTell  = 3
)

// Scenarios returns every scripted scenario, in the order a suite runs them.
func Scenarios() []*Scenario {
	return []*Scenario{
		// --- session level ---
		{Name: "session.preface", Level: "session",
			Does:       "reads 8 bytes before writing anything, then answers status 00 and closes the socket",
			ClientMust: "write its preface 49 46 4b 54 01 00 00 00 at once, without waiting for the server (§3.4)",
			Verdict:    "the 8 bytes are the client preface",
			session: func(c net.Conn, _ []byte) (bool, string) {
				if err := readClientPreface(c); err != nil {
					return false, err.Error()
				}
				c.Write(preface(0))
				return true, "the client sent its preface first"
			}},
		{Name: "session.not_ifkit", Level: "session",
			Does:       "answers the preface with an HTTP response",
			ClientMust: "fail as 'not an ifkit peer' and not retry other addresses (§3.4)",
			Verdict:    "none (the client's report is the check)",
			session: func(c net.Conn, _ []byte) (bool, string) {
				readClientPreface(c)
				c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
				return true, ""
			}},
		{Name: "session.bad_version", Level: "session",
			Does:       "answers a preface of protocol version 2",
			ClientMust: "fail: the server does not speak protocol version 1 (§3.4; the spec names no code for it)",
			Verdict:    "none",
			session: func(c net.Conn, _ []byte) (bool, string) {
				readClientPreface(c)
				c.Write([]byte{'I', 'F', 'K', 'T', 2, 0, 0, 0})
				return true, ""
			}},
		{Name: "session.refused", Level: "session",
			Does:       "answers status 02 (refused: draining or full) and closes",
			ClientMust: "fail the dial as refused (a next address may be tried)",
			Verdict:    "none",
			session: func(c net.Conn, _ []byte) (bool, string) {
				readClientPreface(c)
				c.Write(preface(0x02))
				return true, ""
			}},
		{Name: "session.not_allowed", Level: "session",
			Does:       "answers status 05 (not on the allow-list) and closes",
			ClientMust: "fail with auth_failed (§3.4)",
			Code:       "auth_failed", Verdict: "none",
			session: func(c net.Conn, _ []byte) (bool, string) {
				readClientPreface(c)
				c.Write(preface(0x05))
				return true, ""
			}},
		{Name: "session.no_secret", Level: "session",
			Does:       "answers status 03 and a nonce to a client dialed without a secret",
			ClientMust: "fail with auth_failed and close the socket without writing anything more (§3.5)",
			Code:       "auth_failed", Verdict: "the client writes nothing after its preface",
			session: func(c net.Conn, _ []byte) (bool, string) {
				if err := readClientPreface(c); err != nil {
					return false, err.Error()
				}
				c.Write(preface(0x03))
				c.Write(make([]byte, 32))
				return silent(c)
			}},
		{Name: "session.auth_rejected", Level: "session", Secret: true,
			Does:       "runs the exchange and answers the client's proof with 04 (auth failed), then closes",
			ClientMust: "fail with auth_failed",
			Code:       "auth_failed", Verdict: "the client's proof is 64 bytes",
			session: func(c net.Conn, _ []byte) (bool, string) {
				if err := challenge(c); err != nil {
					return false, err.Error()
				}
				c.Write([]byte{0x04})
				return true, ""
			}},
		{Name: "session.impostor", Level: "session", Secret: true,
			Does:       "runs the exchange without knowing the secret: accepts any proof and answers 00 with a wrong MAC",
			ClientMust: "fail with auth_failed and close the socket without sending anything else (§3.5)",
			Code:       "auth_failed", Verdict: "the client writes nothing after its proof",
			session: func(c net.Conn, _ []byte) (bool, string) {
				if err := challenge(c); err != nil {
					return false, err.Error()
				}
				c.Write(append([]byte{0x00}, make([]byte, 32)...))
				return silent(c)
			}},
		{Name: "session.exchange", Level: "session", Secret: true,
			Does:       "runs the exchange with the suite's secret, checks the client's MAC, then closes the socket",
			ClientMust: "prove the secret (§3.5); the dial then succeeds and the session ends when the socket closes",
			Verdict:    "the client's MAC is right",
			session: func(c net.Conn, secret []byte) (bool, string) {
				if err := readClientPreface(c); err != nil {
					return false, err.Error()
				}
				c.Write(preface(0x03))
				c.SetReadDeadline(time.Now().Add(waitFrame))
				if _, err := serverExchange(c, secret); err != nil {
					return false, err.Error()
				}
				return true, "the client proved the secret"
			}},
		{Name: "session.silent", Level: "session",
			Does:       "reads the preface and never answers",
			ClientMust: "give up after its handshake timeout (§3.4 step 1) and close the socket",
			Verdict:    "the client closes the socket within 5 s (its timeout must be shorter)",
			session: func(c net.Conn, _ []byte) (bool, string) {
				readClientPreface(c)
				return silent(c)
			}},

		// --- stream level: misbehaviour the client must detect ---
		{Name: "conformance.seq_gap", Level: "stream",
			Does: "sends a MESSAGE with seq 2 as its first", ClientMust: "end the connection with CLOSE protocol_error (§6.3)",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			play: closeWith(codes.ProtocolError, func(p *peer) error { p.seq = 1; return p.message(typeNote, 0, 0, `{"n":2}`) })},
		{Name: "conformance.no_credit", Level: "stream",
			Does: "sends one MESSAGE more than the credits the client granted", ClientMust: "end the connection with CLOSE credit_violation (§7.4)",
			Code: "credit_violation", Verdict: "the client sends CLOSE credit_violation",
			play: closeWith(codes.CreditViolation, func(p *peer) error {
				n := min(p.req.GetCredits(), uint64(p.m.Flow.Credits))
				if n == 0 {
					return fmt.Errorf("the client granted no credit (OpenStream.credits 0): connect in automatic mode for this scenario")
				}
				for i := uint64(0); i <= n; i++ {
					if err := p.message(typeNote, 0, 0, fmt.Sprintf(`{"n":%d}`, i+1)); err != nil {
						return err
					}
				}
				return nil
			})},
		{Name: "conformance.frame_too_large", Level: "stream",
			Does: "sends a frame header whose length is flow.max_message_bytes + 55", ClientMust: "end the connection with CLOSE message_too_large before the payload arrives (§6.1)",
			Code: "message_too_large", Verdict: "the client sends CLOSE message_too_large",
			play: closeWith(codes.MessageTooLarge, func(p *peer) error { return p.write(hdr(data.FrameMessage, 0, uint32(p.m.Flow.MaxMessageBytes+55))) })},
		{Name: "conformance.body_too_large", Level: "stream",
			Does: "sends a MESSAGE whose body is flow.max_message_bytes + 1 bytes (the frame is within its limit)", ClientMust: "end the connection with CLOSE message_too_large (§6.5 row 3)",
			Code: "message_too_large", Verdict: "the client sends CLOSE message_too_large",
			play: closeWith(codes.MessageTooLarge, func(p *peer) error {
				return p.message(typeNote, 0, 0, `{"n":1,"pad":"`+strings.Repeat("x", p.m.Flow.MaxMessageBytes)+`"}`)
			})},
		{Name: "conformance.unknown_type", Level: "stream",
			Does: "sends a MESSAGE of type id 9", ClientMust: "end the connection with CLOSE unknown_type (§6.5 row 4)",
			Code: "unknown_type", Verdict: "the client sends CLOSE unknown_type",
			play: closeWith(codes.UnknownType, func(p *peer) error { return p.message(9, 0, 0, `{}`) })},
		{Name: "conformance.wrong_direction", Level: "stream",
			Does: "sends a MESSAGE of type id 3: no send type has it, the recv type Tell does", ClientMust: "end the connection with CLOSE wrong_direction (§6.5 row 4)",
			Code: "wrong_direction", Verdict: "the client sends CLOSE wrong_direction",
			play: closeWith(codes.WrongDirection, func(p *peer) error { return p.message(typeTell, 0, 0, `{}`) })},
		{Name: "conformance.unknown_kind", Level: "stream",
			Does: "sends a frame of kind 0x07", ClientMust: "end the connection with CLOSE protocol_error (§6.1)",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			play: closeWith(codes.ProtocolError, func(p *peer) error { return p.write(append(hdr(0x07, 0, 1), 0)) })},
		{Name: "conformance.bad_varint", Level: "stream",
			Does: "sends a MESSAGE whose seq is an 11-byte varint", ClientMust: "end the connection with CLOSE protocol_error (§1.4, §6.1)",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			play: closeWith(codes.ProtocolError, func(p *peer) error {
				b := append(hdr(data.FrameMessage, 0, 14), append([]byte{0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 1, 0, '{')...)
				return p.write(b)
			})},
		{Name: "conformance.over_grant", Level: "stream",
			Does: "grants the client flow.credits in OpenResult, then one credit more", ClientMust: "end the connection with CLOSE protocol_error (§7.4)",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			play: closeWith(codes.ProtocolError, func(p *peer) error { return p.frame(&data.Frame{Kind: data.FrameCredit, Credits: 1}) })},
		{Name: "conformance.unexpected_auth", Level: "stream",
			Does: "sends a MESSAGE with flag AUTH and a tag on an interface without message_auth", ClientMust: "end the connection with CLOSE protocol_error (§6.5 row 5)",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			play: closeWith(codes.ProtocolError, func(p *peer) error {
				p.seq++
				return p.frame(&data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: p.seq, TypeID: typeNote, Tag: make([]byte, 16), Body: []byte(`{"n":1}`)})
			})},
		{Name: "conformance.reply_wrong_type", Level: "stream",
			Does: "answers the client's Ask call with a Note (the reply type is Reply)", ClientMust: "end the connection with CLOSE protocol_error (§8.3); the call fails",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			play: func(p *peer) (bool, string) {
				ask, err := p.nextOf(data.FrameMessage, waitFrame)
				if err != nil || ask.TypeID != typeAsk || ask.Corr == 0 {
					return false, fmt.Sprintf("the client must call Ask first: %v %v", ask, err)
				}
				if err := p.message(typeNote, ask.Corr, data.FlagReply, `{"n":1}`); err != nil {
					return false, err.Error()
				}
				return p.expectClose(codes.ProtocolError)
			}},
		{Name: "conformance.manifest_mismatch", Level: "stream",
			Does: "answers a client that sent a manifest_hash with another hash", ClientMust: "decline the connection with CLOSE manifest_mismatch (§4.5 step 1)",
			Code: "manifest_mismatch", Verdict: "the client sends CLOSE manifest_mismatch",
			open: func(p *peer, res *sessionpb.OpenResult) (bool, string, bool) {
				if p.req.GetManifestHash() == "" {
					return false, "the client must send the hash of the manifest it was built against (connect to the scenario once without one to get it)", false
				}
				res.ManifestHash = "sha256:" + strings.Repeat("0", 64)
				res.Manifest = p.m.Canonical()
				return true, "", false
			},
			play: func(p *peer) (bool, string) { return p.expectClose(codes.ManifestMismatch) }},
		{Name: "conformance.bad_manifest", Level: "stream",
			Does: "sends manifest bytes that do not hash to OpenResult.manifest_hash", ClientMust: "decline the connection with CLOSE protocol_error: the served manifest does not load as the one named (§4.5 step 3, §13)",
			Code: "protocol_error", Verdict: "the client sends CLOSE protocol_error",
			open: func(p *peer, res *sessionpb.OpenResult) (bool, string, bool) {
				res.Manifest = []byte(strings.Replace(string(p.m.Canonical()), "An ifkit conformance scenario", "A tampered conformance scenario", 1))
				return true, "", false
			},
			play: func(p *peer) (bool, string) { return p.expectClose(codes.ProtocolError) }},

		// --- stream level: codes the client must report, and go on ---
		{Name: "conformance.refused", Level: "stream",
			Does: "refuses the stream: OpenResult{code unknown_interface}", ClientMust: "fail the connect with code unknown_interface and the reason (§4.3)",
			Code: "unknown_interface", Verdict: "none",
			open: func(p *peer, res *sessionpb.OpenResult) (bool, string, bool) {
				*res = sessionpb.OpenResult{Code: uint32(codes.UnknownInterface), Reason: "refused by the scenario"}
				return true, "", true
			}},
		{Name: "conformance.invalid_body", Level: "stream",
			Does: `sends Note {"n":"x"} (fails its schema), then Note {"n":2}, then CLOSE normal_close`, ClientMust: "send ERROR invalid_message for seq 1, deliver the second message (seq 2), and end with the server's normal_close (§6.5 row 7)",
			Code: "invalid_message", Verdict: "the client sends ERROR invalid_message for seq 1 and no CLOSE",
			play: func(p *peer) (bool, string) {
				if err := p.message(typeNote, 0, 0, `{"n":"x"}`); err != nil {
					return false, err.Error()
				}
				e, err := p.nextOf(data.FrameError, waitFrame)
				if err != nil {
					return false, fmt.Sprintf("the client must refuse the message with ERROR invalid_message: %v", err)
				}
				if e.Code != codes.InvalidMessage || e.Seq != 1 {
					return false, fmt.Sprintf("the client sent ERROR %s for seq %d, not invalid_message for seq 1", e.Code, e.Seq)
				}
				if err := p.message(typeNote, 0, 0, `{"n":2}`); err != nil {
					return false, err.Error()
				}
				time.Sleep(quiet) // let it be delivered before the CLOSE
				return p.finish()
			}},
		{Name: "conformance.remote_close", Level: "stream",
			Does: `sends Note {"n":1} and {"n":2}, then CLOSE draining "the server closed", then FIN`, ClientMust: "deliver both messages, end with the server's draining and its reason, and close its side without a CLOSE (§11.1)",
			Code: "draining", Verdict: "the client closes its side without sending CLOSE",
			play: func(p *peer) (bool, string) {
				p.message(typeNote, 0, 0, `{"n":1}`)
				p.message(typeNote, 0, 0, `{"n":2}`)
				p.frame(&data.Frame{Kind: data.FrameClose, Code: codes.Draining, Reason: []byte("the server closed")})
				closeWrite(p.st)
				for {
					f, err := p.next(waitFrame)
					if err == io.EOF {
						return true, ""
					}
					if err != nil {
						return false, fmt.Sprintf("the client must close its side after the server's CLOSE: %v", err)
					}
					if f.Kind == data.FrameClose {
						return false, "the client answered CLOSE with a CLOSE"
					}
				}
			}},
		{Name: "conformance.eof", Level: "stream",
			Does: `sends Note {"n":1}, then FIN without CLOSE`, ClientMust: "deliver the message and end the connection with transport_error (§11.2)",
			Code: "transport_error", Verdict: "none",
			play: func(p *peer) (bool, string) {
				p.message(typeNote, 0, 0, `{"n":1}`)
				closeWrite(p.st)
				return true, ""
			}},
		{Name: "conformance.call_error", Level: "stream",
			Does: "answers the client's Ask call with ERROR internal for the request's seq", ClientMust: "fail the call with code internal and the reason; the connection goes on (§8.1, §8.2)",
			Code: "internal", Verdict: "the client's Ask carries corr ≠ 0",
			play: func(p *peer) (bool, string) {
				ask, err := p.nextOf(data.FrameMessage, waitFrame)
				if err != nil || ask.TypeID != typeAsk || ask.Corr == 0 {
					return false, fmt.Sprintf("the client must call Ask: %v %v", ask, err)
				}
				p.frame(&data.Frame{Kind: data.FrameError, Code: codes.Internal, Seq: ask.Seq, Reason: []byte("refused by the scenario")})
				return p.finishAfterClient()
			}},
		{Name: "conformance.call_end", Level: "stream",
			Does: "answers the client's Ask call (a single reply) with END", ClientMust: "fail the call: the peer ended the reply without answering (§8.2)",
			Verdict: "the client's Ask carries corr ≠ 0",
			play: func(p *peer) (bool, string) {
				ask, err := p.nextOf(data.FrameMessage, waitFrame)
				if err != nil || ask.TypeID != typeAsk || ask.Corr == 0 {
					return false, fmt.Sprintf("the client must call Ask: %v %v", ask, err)
				}
				p.frame(&data.Frame{Kind: data.FrameEnd, Corr: ask.Corr})
				return p.finishAfterClient()
			}},
		{Name: "conformance.call_stream", Level: "stream",
			Does: `answers the client's Scan call with Reply {"i":1}, {"i":2}, {"i":3} and END; then Ask with one Reply {"ok":true}`, ClientMust: "deliver the three replies then end the stream, then resolve the Ask call (§8)",
			Verdict: "the client's calls carry distinct non-zero corr",
			play: func(p *peer) (bool, string) {
				scan, err := p.nextOf(data.FrameMessage, waitFrame)
				if err != nil || scan.TypeID != typeScan || scan.Corr == 0 {
					return false, fmt.Sprintf("the client must call Scan first: %v %v", scan, err)
				}
				for i := 1; i <= 3; i++ {
					p.message(typeReply, scan.Corr, data.FlagReply, fmt.Sprintf(`{"i":%d}`, i))
				}
				p.frame(&data.Frame{Kind: data.FrameEnd, Corr: scan.Corr})
				ask, err := p.nextOf(data.FrameMessage, waitFrame)
				if err != nil || ask.TypeID != typeAsk || ask.Corr == 0 || ask.Corr == scan.Corr {
					return false, fmt.Sprintf("the client must then call Ask with a new corr: %v %v", ask, err)
				}
				p.message(typeReply, ask.Corr, data.FlagReply, `{"ok":true}`)
				return p.finishAfterClient()
			}},
		{Name: "conformance.reply_unknown_corr", Level: "stream",
			Does: `sends a Reply for corr 99 (no such call), then Note {"n":1}`, ClientMust: "drop the reply silently, consuming it, and deliver the Note; consuming the Note grants 2 credits, consumed 2 (window 4, §8.3, §7.3)",
			Verdict: "the client's first CREDIT is credits 2, consumed 2, with no ERROR or CLOSE before it",
			play: func(p *peer) (bool, string) {
				if w := min(p.req.GetCredits(), uint64(p.m.Flow.Credits)); w != 4 {
					return false, fmt.Sprintf("connect in automatic mode with the default window (flow.credits, 4); the client's window is %d", w)
				}
				p.message(typeReply, 99, data.FlagReply, `{}`)
				p.message(typeNote, 0, 0, `{"n":1}`)
				f, err := p.next(waitFrame)
				if err != nil {
					return false, fmt.Sprintf("the client must grant credit once it consumed the Note: %v", err)
				}
				if f.Kind != data.FrameCredit || f.Credits != 2 || f.Seq != 2 {
					return false, fmt.Sprintf("the client sent %s, not CREDIT credits 2 consumed 2", f)
				}
				return p.finish()
			}},

		// --- stream level: limits the client must respect ---
		{Name: "conformance.credits_respected", Level: "stream",
			Does: "grants the client 2 credits; after 2 messages watches that no third comes, then grants 3 more", ClientMust: "send 5 Tell messages (flow policy block): the third waits for the grant; sequence numbers 1 to 5 (§6.3, §7)",
			Verdict: "no MESSAGE without credit; seqs 1..5; type id 3 (Tell)",
			open:    func(p *peer, res *sessionpb.OpenResult) (bool, string, bool) { res.Credits = 2; return true, "", false },
			play: func(p *peer) (bool, string) {
				got := func(n int, from uint64) (bool, string) {
					for i := 0; i < n; i++ {
						f, err := p.nextOf(data.FrameMessage, waitFrame)
						if err != nil {
							return false, fmt.Sprintf("waiting for message %d: %v", from+uint64(i), err)
						}
						if f.Seq != from+uint64(i) || f.TypeID != typeTell {
							return false, fmt.Sprintf("the client sent %s, not Tell seq %d", f, from+uint64(i))
						}
					}
					return true, ""
				}
				if ok, d := got(2, 1); !ok {
					return ok, d
				}
				if f, err := p.next(quiet); err == nil {
					return false, fmt.Sprintf("the client sent %s without credit", f)
				}
				p.frame(&data.Frame{Kind: data.FrameCredit, Credits: 3, Seq: 2})
				if ok, d := got(3, 3); !ok {
					return ok, d
				}
				return p.finish()
			}},
		{Name: "conformance.auto_credit", Level: "stream",
			Does: `sends 4 Notes to a client with window 4`, ClientMust: "as its application consumes them, grant credits 2 consumed 2, then credits 2 consumed 4 (§7.3, credits.json); a receiver that merges grants not yet written may send one CREDIT credits 4 consumed 4 instead (§5.2)",
			Verdict: "CREDIT frames whose consumed counts are 2 and 4 and whose credits add up to 4",
			play: func(p *peer) (bool, string) {
				if w := min(p.req.GetCredits(), uint64(p.m.Flow.Credits)); w != 4 {
					return false, fmt.Sprintf("connect in automatic mode with the default window (flow.credits, 4); the client's window is %d", w)
				}
				for i := 1; i <= 4; i++ {
					p.message(typeNote, 0, 0, fmt.Sprintf(`{"n":%d}`, i))
				}
				var sum uint64
				for consumed := uint64(0); consumed < 4; {
					f, err := p.next(waitFrame)
					if err != nil {
						return false, fmt.Sprintf("waiting for CREDIT frames up to consumed 4 (after consumed %d): %v", consumed, err)
					}
					if f.Kind != data.FrameCredit || (f.Seq != 2 && f.Seq != 4) || f.Seq <= consumed {
						return false, fmt.Sprintf("the client sent %s; want CREDIT frames with consumed 2 and 4", f)
					}
					if sum += f.Credits; sum != f.Seq {
						return false, fmt.Sprintf("the client sent %s: %d credits granted by consumed %d, want %d (window 4, half-window batches)", f, sum, f.Seq, f.Seq)
					}
					consumed = f.Seq
				}
				return p.finish()
			}},
		{Name: "conformance.pull_mode", Level: "stream",
			Does: "waits for the client's grant, then sends as many Notes as granted", ClientMust: "connect in pull mode (OpenStream.credits 0), grant 3 when its application asks, and receive 3 Notes (§7.3)",
			Verdict: "OpenStream.credits is 0; no CREDIT until the application asks; then CREDIT 3",
			play: func(p *peer) (bool, string) {
				if p.req.GetCredits() != 0 {
					return false, fmt.Sprintf("a client in pull mode sends OpenStream.credits 0, not %d", p.req.GetCredits())
				}
				f, err := p.next(waitFrame)
				if err != nil || f.Kind != data.FrameCredit || f.Credits != 3 || f.Seq != 0 {
					return false, fmt.Sprintf("the client must grant credits 3 consumed 0: %v %v", f, err)
				}
				for i := 1; i <= 3; i++ {
					p.message(typeNote, 0, 0, fmt.Sprintf(`{"n":%d}`, i))
				}
				return p.finishAfterClient()
			}},

		// --- per-message authentication (the session ran the exchange) ---
		{Name: "conformance.auth_bad_tag", Level: "stream", Secret: true,
			Does: `on an interface with message_auth, sends Note {"n":1} with a wrong tag, then Note {"n":2} with a right one`, ClientMust: "drop the first, send ERROR auth_failed for seq 1, deliver the second (§12)",
			Code: "auth_failed", Verdict: "the client sends ERROR auth_failed for seq 1 and no CLOSE",
			play: func(p *peer) (bool, string) {
				p.seq++
				bad := &data.Frame{Kind: data.FrameMessage, Flags: data.FlagAuth, Seq: p.seq, TypeID: typeNote, Body: []byte(`{"n":1}`)}
				bad.Tag = data.Tag(p.key, true, bad)
				bad.Tag[0] ^= 0xff
				p.frame(bad)
				return p.authRefusedThenGood()
			}},
		{Name: "conformance.auth_missing_tag", Level: "stream", Secret: true,
			Does: `on an interface with message_auth, sends Note {"n":1} without AUTH, then Note {"n":2} signed`, ClientMust: "drop the first, send ERROR auth_failed for seq 1, deliver the second (§12)",
			Code: "auth_failed", Verdict: "the client sends ERROR auth_failed for seq 1 and no CLOSE",
			play: func(p *peer) (bool, string) {
				p.seq++
				p.frame(&data.Frame{Kind: data.FrameMessage, Seq: p.seq, TypeID: typeNote, Body: []byte(`{"n":1}`)})
				return p.authRefusedThenGood()
			}},
		{Name: "conformance.auth_client_tags", Level: "stream", Secret: true,
			Does: "checks the tags of what the client sends", ClientMust: `send Tell {"hello":"world"} with flag AUTH and a right tag (direction 02, §12)`,
			Verdict: "the client's MESSAGE carries AUTH and the right tag",
			play: func(p *peer) (bool, string) {
				f, err := p.nextOf(data.FrameMessage, waitFrame)
				if err != nil {
					return false, err.Error()
				}
				want := data.Tag(p.key, false, f)
				if f.Flags&data.FlagAuth == 0 || string(f.Tag) != string(want) {
					return false, fmt.Sprintf("the client's tag is %x, want %x (flags %02x)", f.Tag, want, f.Flags)
				}
				return p.finish()
			}},
	}
}

// finishAfterClient waits for the client to end the connection (its CLOSE
// normal_close, then FIN) and answers with FIN; when the client sends
// nothing for waitFrame, the server ends it.
func (p *peer) finishAfterClient() (bool, string) {
	for {
		f, err := p.next(waitFrame)
		if err == io.EOF {
			return true, ""
		}
		if err == errTimeout {
			return p.finish()
		}
		if err != nil {
			return false, err.Error()
		}
		if f.Kind == data.FrameClose {
			if f.Code != codes.NormalClose {
				return false, fmt.Sprintf("the client ended the connection with %s (%q)", f.Code, f.Reason)
			}
			closeWrite(p.st)
			return true, ""
		}
	}
}

func (p *peer) authRefusedThenGood() (bool, string) {
	e, err := p.nextOf(data.FrameError, waitFrame)
	if err != nil {
		return false, fmt.Sprintf("the client must refuse the message with ERROR auth_failed: %v", err)
	}
	if e.Code != codes.AuthFailed || e.Seq != 1 {
		return false, fmt.Sprintf("the client sent ERROR %s for seq %d, not auth_failed for seq 1", e.Code, e.Seq)
	}
	p.message(typeNote, 0, 0, `{"n":2}`)
	time.Sleep(quiet)
	return p.finish()
}

// challenge plays a server that asks for the secret without knowing it: it
// reads the client's preface, answers 03 and a zero nonce, and reads the
// client's 64-byte proof.
func challenge(c net.Conn) error {
	if err := readClientPreface(c); err != nil {
		return err
	}
	c.Write(preface(0x03))
	c.Write(make([]byte, 32))
	c.SetReadDeadline(time.Now().Add(waitFrame))
	if _, err := io.ReadFull(c, make([]byte, 64)); err != nil {
		return fmt.Errorf("reading the client's 64-byte proof: %w", err)
	}
	return nil
}

// silent passes when the client closes the socket without writing a byte.
func silent(c net.Conn) (bool, string) {
	c.SetReadDeadline(time.Now().Add(waitFrame))
	b := make([]byte, 1)
	n, err := c.Read(b)
	if n > 0 {
		return false, fmt.Sprintf("the client wrote % x; it must close without sending anything", b[:n])
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false, "the client kept the socket open (it must close it)"
	}
	return true, "the client closed the socket without writing"
}
