// The multiplexer alone, against hashicorp/yamux (the suite's yamux-echo listener): framing split
// at every offset, windows under load on many streams at once, FIN both ways, RST, Pings.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Suite, transports } from './harness.js';
import { fragmentingProxy } from './proxy.js';
import { Client, parseAddr } from '../src/index.js';
import type { YamuxStream } from '../src/index.js';

let suite: Suite;
before(async () => (suite = await Suite.start()));
after(() => suite.stop());

/** echo writes data on a stream in random-sized writes, half-closes, and resolves with all it read back. */
function echo(s: YamuxStream, data: Buffer): Promise<Buffer> {
  const got: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    s.on({ data: (b) => got.push(b), end: () => resolve(Buffer.concat(got)), close: (e) => e && reject(e) });
  });
  (async () => {
    for (let i = 0; i < data.length; ) {
      const n = 1 + Math.floor(Math.random() * 200_000);
      await s.write(data.subarray(i, i + n));
      i += n;
    }
    await s.closeWrite();
  })().catch(() => {});
  return done;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

for (const transport of transports) {
  test(`yamux over ${transport}: 16 streams of 3 MiB each, echoed, at once`, async () => {
    const c = await Client.dial(suite.addr(transport, 'yamux-echo'));
    try {
      const datas = Array.from({ length: 16 }, () => randomBytes(3 << 20));
      const back = await Promise.all(datas.map((d) => echo(c.session.open(), d)));
      back.forEach((b, i) => assert.equal(sha(b), sha(datas[i]!), `stream ${i}`));
    } finally {
      c.close();
    }
  });
}

test('yamux through a proxy that splits every frame into 1 to 7 bytes: 4 streams of 64 KiB', async () => {
  const p = await fragmentingProxy(suite.addr('tcp', 'yamux-echo'));
  const c = await Client.dial(p.addr);
  try {
    const datas = Array.from({ length: 4 }, () => randomBytes(64 << 10));
    const [back] = await Promise.all([Promise.all(datas.map((d) => echo(c.session.open(), d))), c.ping()]);
    back.forEach((b, i) => assert.equal(sha(b), sha(datas[i]!), `stream ${i}`));
    assert.ok((await c.ping()) >= 0);
  } finally {
    c.close();
    await p.close();
  }
});

test('yamux: the server\'s Pings are answered (it pings every 50 ms and drops a session 3 s late)', async () => {
  const c = await Client.dial(suite.addr('unix', 'yamux-echo'), { keepAliveInterval: 0 });
  try {
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(c.session.err, undefined, 'the session is still up');
    const d = randomBytes(1000);
    assert.equal(sha(await echo(c.session.open(), d)), sha(d));
  } finally {
    c.close();
  }
});

test('yamux: a stream reset by this side does not disturb the others; an empty stream echoes nothing', async () => {
  const c = await Client.dial(suite.addr('unix', 'yamux-echo'));
  try {
    const doomed = c.session.open();
    await doomed.write(Buffer.from('half'));
    doomed.reset();
    assert.ok(doomed.isClosed);
    assert.equal((await echo(c.session.open(), Buffer.alloc(0))).length, 0);
    const d = randomBytes(100_000);
    assert.equal(sha(await echo(c.session.open(), d)), sha(d));
  } finally {
    c.close();
  }
});

test('yamux: a frame for a stream the server opens is refused with RST, and the session goes on', async () => {
  // A fake server: preface, then a SYN for stream 2, then an echo of nothing; the client must answer RST.
  const seen: Buffer[] = [];
  const server = net.createServer((s) => {
    s.once('data', () => {
      s.write(Buffer.from('IFKT\x01\x00\x00\x00', 'latin1'));
      const syn = Buffer.alloc(12);
      syn.writeUInt8(1, 1); // window update
      syn.writeUInt16BE(1, 2); // SYN
      syn.writeUInt32BE(2, 4);
      s.write(syn);
      s.on('data', (b) => seen.push(b));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const c = await Client.dial(`tcp://127.0.0.1:${port}`, { keepAliveInterval: 0 });
  await new Promise((r) => setTimeout(r, 100));
  const all = Buffer.concat(seen);
  assert.equal(all.length, 12);
  assert.equal(all.readUInt16BE(2), 8, 'RST');
  assert.equal(all.readUInt32BE(4), 2);
  assert.equal(c.session.err, undefined);
  c.close();
  server.close();
  parseAddr('tcp://127.0.0.1:1');
});
