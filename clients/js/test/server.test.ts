// The Go server seen from outside, written from spec/PROTOCOL.md alone: what a client that breaks
// the rules (on purpose, with raw frames) must get back. A failure here is a spec/server
// disagreement, not a client bug.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Suite, transports, settle } from './harness.js';
import { Client, Code, RemoteError, wire } from '../src/index.js';
import { ControlFrame, decode, encode, OpenResult, StreamKind } from '../src/pb.js';

let suite: Suite;
before(async () => (suite = await Suite.start()));
after(() => suite.stop());

/** frames collects the data frames the server sends on a stream until it ends. */
function collect(stream: import('../src/yamux.js').Stream, rest: Buffer): Promise<wire.Frame[]> {
  const r = new wire.FrameReader(1 << 24);
  const out: wire.Frame[] = [];
  return new Promise((resolve) => {
    const push = (b: Buffer) => {
      r.push(b);
      for (let f = r.next(); f; f = r.next()) out.push(f);
    };
    stream.on({ data: push, end: () => resolve(out), close: () => resolve(out) });
    if (rest.length > 0) push(rest);
  });
}

for (const transport of transports) {
  describe(`the Go server over ${transport}`, () => {
    const dial = () => Client.dial(suite.addr(transport, 'reference'));

    test('§3.6: 600 streams opened at once on one session are all answered (the client lets 64 opens await their ACK)', async () => {
      const c = await dial();
      try {
        const opened = await Promise.allSettled(Array.from({ length: 600 }, () => c.control({ interface: 'db.kv' })));
        const failed = opened.filter((r) => r.status === 'rejected');
        assert.equal(failed.length, 0, `${failed.length} of 600 failed, first: ${failed[0] && String((failed[0] as PromiseRejectedResult).reason)}`);
        for (const r of opened) if (r.status === 'fulfilled') r.value.close();
      } finally {
        c.close();
      }
    });

    test('§4.4 row 1: an OpenStream over 64 KiB is refused with limit_exceeded', async () => {
      const c = await dial();
      try {
        const r = await settle(c.openStream({ interface: 'db.kv', kind: StreamKind.DATA, client: 'x'.repeat(70_000) }));
        assert.ok(!r.ok && r.error instanceof RemoteError && r.error.code === Code.limit_exceeded, String(r.ok || r.error));
      } finally {
        c.close();
      }
    });

    test('§4.4 row 6: an unknown stream kind is refused with protocol_error', async () => {
      const c = await dial();
      try {
        // OpenStream{interface "db.kv", kind 7}, by hand: the encoder refuses an unknown enum value.
        const st = c.session.open();
        const reader = new wire.LDReader(1 << 20);
        const answer = new Promise<Buffer>((resolve) => st.on({ data: (b) => { reader.push(b); const m = reader.next(); if (m) resolve(m); } }));
        await st.write(wire.ld(Buffer.from([0x0a, 0x05, ...Buffer.from('db.kv'), 0x10, 0x07])));
        const r = decode(OpenResult, await answer);
        assert.equal(r.code, Code.protocol_error, JSON.stringify(r));
      } finally {
        c.close();
      }
    });

    test('§6.5 row 0: a client MESSAGE on a send interface ends the connection with CLOSE wrong_direction', async () => {
      const c = await dial();
      try {
        const o = await c.openStream({ interface: 'sensors.temperature', kind: StreamKind.DATA, codecs: ['json'], credits: 0 });
        const frames = collect(o.stream, o.rest);
        await o.stream.write(wire.encodeFrame({ kind: wire.FrameKind.MESSAGE, seq: 1, typeId: 1, body: Buffer.from('{}') }));
        const close = (await frames).find((f) => f.kind === wire.FrameKind.CLOSE);
        assert.equal(close?.code, Code.wrong_direction, JSON.stringify(close));
      } finally {
        c.close();
      }
    });

    test('§7.4: a MESSAGE beyond the credit granted ends the connection with CLOSE credit_violation', async () => {
      const c = await dial();
      try {
        const o = await c.openStream({ interface: 'conformance.echo', kind: StreamKind.DATA, codecs: ['json'], credits: 4 });
        assert.equal(o.result.credits, 4);
        const frames = collect(o.stream, o.rest);
        const batch = [1, 2, 3, 4, 5].map((seq) => wire.encodeFrame({ kind: wire.FrameKind.MESSAGE, seq, typeId: 3, body: Buffer.from('{}') }));
        await o.stream.write(Buffer.concat(batch)); // in one write: no CREDIT can come in between
        const close = (await frames).find((f) => f.kind === wire.FrameKind.CLOSE);
        assert.equal(close?.code, Code.credit_violation, JSON.stringify(close));
      } finally {
        c.close();
      }
    });

    test('§7.4: a grant that would make the server hold more than flow.credits ends it with CLOSE protocol_error', async () => {
      const c = await dial();
      try {
        const o = await c.openStream({ interface: 'conformance.echo', kind: StreamKind.DATA, codecs: ['json'], credits: 4 });
        const frames = collect(o.stream, o.rest);
        await o.stream.write(wire.encodeFrame({ kind: wire.FrameKind.CREDIT, credits: 1, seq: 0 }));
        const close = (await frames).find((f) => f.kind === wire.FrameKind.CLOSE);
        assert.equal(close?.code, Code.protocol_error, JSON.stringify(close));
      } finally {
        c.close();
      }
    });

    test('§6.3: a sequence gap from the client ends the connection with CLOSE protocol_error', async () => {
      const c = await dial();
      try {
        const o = await c.openStream({ interface: 'conformance.echo', kind: StreamKind.DATA, codecs: ['json'], credits: 4 });
        const frames = collect(o.stream, o.rest);
        await o.stream.write(wire.encodeFrame({ kind: wire.FrameKind.MESSAGE, seq: 2, typeId: 3, body: Buffer.from('{}') }));
        const close = (await frames).find((f) => f.kind === wire.FrameKind.CLOSE);
        assert.equal(close?.code, Code.protocol_error, JSON.stringify(close));
      } finally {
        c.close();
      }
    });

    test('§4.6 row 3, §13: a control stream cannot attach to a connection of another session', async () => {
      const a = await dial();
      const b = await dial();
      try {
        const conn = await a.connect('db.kv');
        const r = await settle(b.control({ interface: 'db.kv', attachTo: conn.id }));
        assert.ok(!r.ok && r.error instanceof RemoteError && r.error.code === Code.not_found, String(r.ok || r.error));
        const ctl = await b.control({ interface: 'db.kv' });
        const s = await settle(ctl.stats(conn.id));
        assert.ok(!s.ok && s.error.code === Code.not_found, 'nor reach it by id');
        await ctl.close();
      } finally {
        a.close();
        b.close();
      }
    });

    test('§10.1: a control frame that is not a request closes the control stream without an answer', async () => {
      const c = await dial();
      try {
        const o = await c.openStream({ kind: StreamKind.CONTROL });
        const ended = new Promise<Buffer>((resolve) => {
          const got: Buffer[] = [];
          o.stream.on({ data: (b) => got.push(b), end: () => resolve(Buffer.concat(got)), close: () => resolve(Buffer.concat(got)) });
        });
        await o.stream.write(wire.ld(encode(ControlFrame, { response: { id: 1 } })));
        assert.equal((await ended).length, 0);
      } finally {
        c.close();
      }
    });
  });
}
