// spec/conformance's vectors (README.md there): every encoder and decoder of this client against
// the data the Go implementation computes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './harness.js';
import { wire, authMAC, sessionKey, messageKey, preface, tag, Manifest, sha256Hash, codeName, parseCode, Code } from '../src/index.js';
import { CreditLedger } from '../src/conn.js';
import { ControlFrame, OpenResult, OpenStream, decode, encode } from '../src/pb.js';
import { controlProto, sessionProto } from '../src/protos.js';

const dir = path.join(repoRoot, 'spec', 'conformance');
const load = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');
const kindOf: Record<string, number> = { MESSAGE: 1, CREDIT: 2, ERROR: 3, END: 4, CLOSE: 5 };

test('varints', () => {
  const v = load('varints.json');
  for (const { value, hex: h } of v.valid) {
    assert.equal(wire.encodeUvarint(BigInt(value)).toString('hex'), h, value);
    const got = wire.readUvarintBig(hex(h));
    assert.equal(got.value, BigInt(value));
    assert.equal(got.next, h.length / 2);
    if (BigInt(value) <= BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(wire.encodeUvarint(Number(value)).toString('hex'), h);
  }
  for (const m of v.malformed) {
    if (m.error === 'truncated') assert.equal(wire.readUvarint(hex(m.hex), 0).next, -1, m.name);
    else assert.throws(() => wire.readUvarint(hex(m.hex), 0), (e: any) => e.code === parseCode(m.error), m.name);
  }
});

test('frames: encode and decode', () => {
  const v = load('frames.json');
  for (const f of v.valid) {
    const frame = {
      kind: kindOf[f.kind]!, flags: f.flags, seq: f.seq ?? 0, typeId: f.type_id ?? 0, corr: f.corr ?? 0,
      credits: f.credits ?? 0, code: f.code ?? 0, reason: f.reason ?? '',
      tag: f.tag ? hex(f.tag) : undefined, body: f.body ? hex(f.body) : undefined,
    };
    assert.equal(wire.encodeFrame(frame).toString('hex'), f.hex, f.name);
    // Decode byte by byte: a frame may arrive in any number of pieces.
    const r = new wire.FrameReader(1 << 20);
    const b = hex(f.hex);
    let got: wire.Frame | undefined;
    for (let i = 0; i < b.length; i++) {
      assert.equal(got, undefined, `${f.name}: a frame before its last byte`);
      r.push(b.subarray(i, i + 1));
      got = r.next();
    }
    assert.ok(got, f.name);
    assert.equal(got.kind, frame.kind);
    assert.equal(got.flags, frame.flags);
    if (frame.kind === 1) {
      assert.equal(got.seq, frame.seq, f.name);
      assert.equal(got.typeId, frame.typeId);
      assert.equal(got.corr, frame.corr);
      assert.equal(got.body?.toString('hex') ?? '', f.body ?? '');
      assert.equal(got.tag?.toString('hex'), f.tag);
    }
    if (frame.kind === 2) assert.deepEqual([got.credits, got.seq], [frame.credits, frame.seq]);
    if (frame.kind === 3) assert.deepEqual([got.code, got.seq, got.reason], [frame.code, frame.seq, frame.reason]);
    if (frame.kind === 4) assert.equal(got.corr, frame.corr);
    if (frame.kind === 5) assert.deepEqual([got.code, got.reason], [frame.code, frame.reason]);
  }
});

test('frames: malformed', () => {
  for (const m of load('frames.json').malformed) {
    const r = new wire.FrameReader(m.max_len);
    r.push(hex(m.hex));
    if (m.error === 'truncated') {
      assert.equal(r.next(), undefined, m.name);
      assert.ok(r.pending > 0, m.name);
    } else {
      assert.throws(() => r.next(), (e: any) => codeName(e.code) === m.error, m.name);
    }
  }
});

test('handshakes: prefaces and the shared-secret exchange', () => {
  const v = load('handshakes.json');
  assert.equal(preface(0).toString('hex'), v.prefaces.client);
  assert.equal(preface(3).toString('hex'), v.prefaces.server_auth_required);
  for (const x of v.shared_secret) {
    const secret = Buffer.from(x.secret);
    const sn = hex(x.server_nonce);
    const cn = hex(x.client_nonce);
    assert.equal(Buffer.concat([cn, authMAC(secret, 'client', sn, cn)]).toString('hex'), x.client_proof);
    assert.equal(Buffer.concat([Buffer.from([0]), authMAC(secret, 'server', cn, sn)]).toString('hex'), x.server_proof);
    const sk = sessionKey(secret, sn, cn);
    assert.equal(sk.toString('hex'), x.session_key);
    for (const [id, key] of Object.entries(x.message_keys)) assert.equal(messageKey(sk, BigInt(id)).toString('hex'), key);
  }
  // The operator proofs of PROTOCOL.md §10.4 (this client does not ask for the operator scope, but
  // the MACs are those of §3.5 under other labels, keyed with the admin secret).
  for (const x of v.operator) {
    const secret = Buffer.from(x.admin_secret);
    const ch = hex(x.challenge);
    const cn = hex(x.client_nonce);
    assert.equal(authMAC(secret, 'operator-client', ch, cn).toString('hex'), x.proof);
    assert.equal(authMAC(secret, 'operator-server', cn, ch).toString('hex'), x.answer);
  }
});

test('handshakes: OpenStream, OpenResult, ControlFrame', () => {
  const v = load('handshakes.json');
  for (const m of v.open_stream) assert.equal(wire.ld(encode(OpenStream, m.fields)).toString('hex'), m.hex, m.name);
  for (const m of v.open_result) {
    const r = new wire.LDReader(1 << 25);
    r.push(hex(m.hex));
    const got = decode(OpenResult, r.next()!);
    const want = { ...m.fields };
    if (want.manifest) want.manifest = Buffer.from(want.manifest, 'base64');
    assert.deepEqual({ ...got }, want, m.name);
  }
  for (const m of v.control_frame) {
    const r = new wire.LDReader(1 << 25);
    r.push(hex(m.hex));
    const raw = r.next()!;
    if (m.fields.request) assert.equal(wire.ld(encode(ControlFrame, m.fields)).toString('hex'), m.hex, m.name);
    // Decoding must give back the fields (bytes fields shown as text in the vectors).
    const got = JSON.parse(JSON.stringify(decode(ControlFrame, raw), (_k, x) => (x?.type === 'Buffer' ? Buffer.from(x.data).toString() : x)));
    delete got.frame;
    if (got.request) delete got.request.op;
    if (got.response) delete got.response.result;
    if (got.notification) delete got.notification.event;
    assert.deepEqual(got, m.fields, m.name);
  }
});

test('per-message authentication tags', () => {
  for (const t of load('auth.json').tags) {
    const f = t.frame;
    const frame = { seq: f.seq, typeId: f.type_id, corr: f.corr ?? 0, flags: f.flags, body: f.body ? hex(f.body) : Buffer.alloc(0) };
    const got = tag(hex(t.message_key), t.from_server, frame);
    assert.equal(got.toString('hex'), f.tag, t.name);
    assert.equal(wire.encodeFrame({ kind: 1, ...frame, tag: got }).toString('hex'), f.hex, t.name);
  }
});

test('credit sequences (automatic mode)', () => {
  for (const s of load('credits.json').auto) {
    const l = new CreditLedger(s.window, s.window);
    s.steps.forEach((step: { event: string; grant?: number; consumed?: number }, i: number) => {
      if (step.event === 'arrive') assert.ok(l.arrive(), `${s.name} step ${i}: no credit`);
      else {
        const g = l.consume();
        assert.equal(g, step.grant ?? 0, `${s.name} step ${i}`);
        if (g > 0) assert.equal(l.consumed, step.consumed, `${s.name} step ${i}`);
      }
    });
  }
  const l = new CreditLedger(2, 2);
  assert.ok(l.arrive() && l.arrive());
  assert.equal(l.arrive(), false, 'a third message without credit');
  const p = new CreditLedger(4, 0, true);
  assert.equal(p.arrive(), false, 'pull mode grants nothing at the start');
  assert.equal(p.request(10), 4, 'a request is bounded by the window');
  assert.equal(p.request(1), 0);
});

test('canonical manifests: hashes and type ids', () => {
  for (const m of load('manifests.json').manifests) {
    const bytes = Buffer.from(m.canonical, 'utf8');
    assert.equal(sha256Hash(bytes), m.hash, m.file);
    const got = Manifest.load(bytes, m.hash);
    assert.equal(got.name, m.name);
    for (const [dirName, ids] of [['send', m.send_type_ids], ['recv', m.recv_type_ids]] as const) {
      const types = got[dirName];
      assert.deepEqual(Object.fromEntries(types.map((t) => [t.name, t.id])), ids ?? {}, `${m.file} ${dirName}`);
    }
    assert.throws(() => Manifest.load(bytes, 'sha256:' + '0'.repeat(64)), /hash/);
  }
});

test('codes', () => {
  for (const c of load('codes.json').codes) {
    assert.equal(codeName(c.code), c.name);
    assert.equal(parseCode(c.name), c.code);
  }
  assert.ok(Object.keys(Code).length >= load('codes.json').codes.length, 'every code of codes.json is in src/codes.ts');
  assert.equal(codeName(999), 'code(999)');
});

test('the embedded .proto files are the spec\'s', () => {
  assert.equal(sessionProto, readFileSync(path.join(repoRoot, 'spec/ifkit/session/v1/session.proto'), 'utf8'));
  assert.equal(controlProto, readFileSync(path.join(repoRoot, 'spec/ifkit/control/v1/control.proto'), 'utf8'));
});
