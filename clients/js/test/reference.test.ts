// Normal operation against the Go server of this commit (the suite's reference listeners):
// every test runs over Unix and TCP.

import { test, before, after, describe } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { Suite, transports, settle } from './harness.js';
import { Client, CloseError, Code, Manifest, RemoteError, type Notification } from '../src/index.js';

let suite: Suite;
before(async () => (suite = await Suite.start()));
after(() => suite.stop());

async function withClient<T>(transport: (typeof transports)[number], f: (c: Client) => Promise<T>, listener = 'reference', secret?: string): Promise<T> {
  const c = await Client.dial(suite.addr(transport, listener), { secret, clientName: 'js-test' });
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

for (const transport of transports) {
  describe(`reference server over ${transport}`, () => {
    test('list, and each manifest fetched hashes to its listed hash', () =>
      withClient(transport, async (c) => {
        const list = await c.list();
        assert.deepEqual(list.map((i) => i.name), ['blob.stream', 'conformance.echo', 'db.kv', 'events.topic', 'jobs.queue', 'logs.sink', 'sensors.temperature']);
        for (const i of list) {
          const r = await c.manifest(i.name);
          assert.equal(r.hash, i.manifestHash);
          assert.equal(r.manifest!.name, i.name);
          assert.equal(r.manifest!.version, i.version);
          const again = await c.manifest(i.name, r.hash);
          assert.equal(again.notModified, true);
          assert.equal(again.manifest, undefined);
        }
        const kv = (await c.manifest('db.kv')).manifest!;
        assert.deepEqual(kv.recv.map((t) => [t.name, t.id, t.reply?.type, t.reply?.stream]), [['Get', 1, 'Value', false], ['Put', 2, 'Ack', false], ['Scan', 3, 'Row', true]]);
        const e = await settle(c.manifest('no.such'));
        assert.ok(!e.ok && e.error instanceof RemoteError && e.error.code === Code.unknown_interface);
      }));

    test('tail a stream with the async iterator (proto codec), then close it', () =>
      withClient(transport, async (c) => {
        const conn = await c.connect('sensors.temperature');
        assert.equal(conn.codec.name, 'proto');
        const seen: any[] = [];
        for await (const m of conn) {
          assert.equal(m.type, 'Reading');
          assert.equal(m.seq, seen.length + 1);
          seen.push(m.value);
          if (seen.length === 600) break; // more than the window (512): credits must come back
        }
        assert.deepEqual(seen[0], { probe: 'p1', celsius: 21.5, time: '2026-11-22T09:30:00Z', zone: 'north' });
        assert.deepEqual(seen[1], { probe: 'bench-3/south', celsius: -2.25, time: '2026-11-22T09:30:01.250Z', zone: 'south', batteryPercent: 87 });
        const end = await conn.close('done');
        assert.equal(end.code, Code.normal_close);
        assert.equal(end.remote, false);
      }));

    test('handlers, the json codec, and a small window in pull mode', () =>
      withClient(transport, async (c) => {
        const got: number[] = [];
        let resolve!: () => void;
        const three = new Promise<void>((r) => (resolve = r));
        const conn = await c.connect('sensors.temperature', {
          codecs: ['json'],
          pull: true,
          credits: 8,
          handlers: {
            Reading: (m) => {
              got.push(m.seq);
              if (got.length === 3) resolve();
            },
          },
        });
        assert.equal(conn.codec.name, 'json');
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(got.length, 0, 'nothing arrives before a grant');
        assert.equal(conn.request(3), 3);
        await three;
        await new Promise((r) => setTimeout(r, 50));
        assert.deepEqual(got, [1, 2, 3], 'exactly what was granted');
        assert.equal(conn.request(100), 8, 'a request is bounded by the window');
        await conn.close();
      }));

    test('call, call stream, and a one-way message of a request type', () =>
      withClient(transport, async (c) => {
        const kv = await c.connect('db.kv');
        const v = await kv.call('Get', { key: 'config/greenhouse/north' });
        assert.equal(v.type, 'Value');
        assert.deepEqual(v.value, { key: 'config/greenhouse/north', found: true, value: 'eyJ0YXJnZXQiOjIxLjV9', revision: '41' });
        assert.deepEqual((await kv.call('Get', { key: 'other' })).value, { key: 'other' }, 'false and empty fields are absent in protobuf JSON');
        assert.deepEqual((await kv.call('Put', { key: 'k', value: 'eA==', ttl: '30s', ifRevision: '41' })).value, { revision: '42', applied: true });
        const rows: string[] = [];
        for await (const r of kv.callStream('Scan', { start: 'a/', limit: 5 })) rows.push(r.value.key);
        assert.deepEqual(rows, ['a/0', 'a/1', 'a/2', 'a/3', 'a/4']);
        // Calls in parallel, more than the window (64): replies match by corr.
        const keys = Array.from({ length: 200 }, (_, i) => `config/${i}`);
        const answers = await Promise.all(keys.map((key) => kv.call('Get', { key })));
        assert.deepEqual(answers.map((a) => a.value.key), keys);
        await kv.send('Get', { key: 'x' }); // one-way: no reply, not an error (§8)
        const bad = await settle(kv.call('Get', { nope: 1 }));
        assert.ok(!bad.ok && /no field/.test(bad.error.message), 'a value that does not fit the type fails locally');
        const wrong = await settle(kv.send('Value', { key: 'x' }));
        assert.ok(!wrong.ok && /wrong direction/.test(wrong.error.message));
        await kv.close();
      }));

    test('send with the json codec and a JSON Schema; the server counts what arrived', () =>
      withClient(transport, async (c) => {
        const sink = await c.connect('logs.sink');
        assert.equal(sink.codec.name, 'json');
        for (let i = 0; i < 2500; i++) await sink.send('Record', { time: '2026-11-22T09:30:00Z', level: 'info', message: `m${i}` }); // beyond the 1024 credits
        const bad = await settle(sink.send('Record', { level: 'loud' }));
        assert.ok(!bad.ok, 'the schema is checked before sending');
        const ctl = await c.control({ attachTo: sink });
        for (let i = 0; i < 100; i++) {
          if ((await ctl.stats()).receivedMessages === 2500) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        const st = await ctl.stats();
        assert.equal(st.receivedMessages, 2500);
        assert.equal(st.connectionId, sink.id);
        assert.equal(st.interface, 'logs.sink');
        assert.equal(sink.stats().sentMessages, 2500);
        await ctl.close();
        await sink.close();
      }));

    test('jobs.queue: the server prefers json; proto when asked', () =>
      withClient(transport, async (c) => {
        const j = await c.connect('jobs.queue');
        assert.equal(j.codec.name, 'json');
        assert.deepEqual((await j.call('Submit', { kind: 'thumbnail', args: { sizes: [128, 512] } })).value, { id: 'job-thumbnail' });
        await j.close();
        const p = await c.connect('jobs.queue', { codecs: ['proto'] });
        assert.equal(p.codec.name, 'proto');
        assert.deepEqual((await p.call('Submit', { kind: 'report.daily', args: { date: '2026-11-21' }, notBefore: '2026-11-22T06:00:00Z' })).value, { id: 'job-report.daily' });
        await p.close();
      }));

    test('events.topic (json with a schema) and blob.stream (raw)', () =>
      withClient(transport, async (c) => {
        const ev = await c.connect('events.topic', { codecs: ['json'] });
        const first = await ev.recv();
        assert.equal(first.value.topic, 'irrigation.valve.opened');
        await ev.close();
        const blob = await c.connect('blob.stream');
        assert.equal(blob.codec.name, 'raw');
        const b = await blob.recv();
        assert.ok(Buffer.isBuffer(b.value) && b.value.toString().startsWith('blob '));
        await blob.close();
      }));

    test('control: ping, stats, pause and resume, reset, close; notifications', () =>
      withClient(transport, async (c) => {
        const watch = await c.control();
        const notes: Notification[] = [];
        watch.onNotification((n) => notes.push(n));
        assert.equal((await watch.ping(Buffer.from('hi'))).toString(), 'hi');
        const kv = await c.connect('db.kv');
        const ctl = await c.control({ attachTo: kv });
        assert.equal((await ctl.ping(Buffer.from('x'))).toString(), 'x');
        await ctl.pause();
        assert.equal((await ctl.stats()).paused, true);
        const pending = kv.call('Get', { key: 'config/a' });
        const early = await Promise.race([pending.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 100))]);
        assert.equal(early, 'waiting', 'a paused server sends no reply');
        await ctl.resume();
        assert.equal((await pending).value.key, 'config/a');
        await ctl.reset('now');
        const wrong = await settle(ctl.stats(999999));
        assert.ok(!wrong.ok && wrong.error.code === Code.not_found);
        const standalone = await settle(watch.stats());
        assert.ok(!standalone.ok && standalone.error.code === Code.unimplemented, 'a stream without an interface offers only ping');
        await ctl.closeConnection('bye from control');
        const end = await kv.closed;
        assert.equal(end.code, Code.normal_close);
        assert.equal(end.reason, 'bye from control');
        assert.equal(end.remote, true);
        const after = await settle(kv.call('Get', { key: 'x' }));
        assert.ok(!after.ok && after.error instanceof CloseError);
        for (let i = 0; i < 50 && !notes.some((n) => n.type === 'connection_closed' && n.connectionId === kv.id); i++) await new Promise((r) => setTimeout(r, 20));
        const opened = notes.find((n) => n.type === 'connection_opened' && n.connectionId === kv.id);
        assert.ok(opened && opened.type === 'connection_opened' && opened.interface === 'db.kv' && opened.client === 'js-test', JSON.stringify(notes));
        const closed = notes.find((n) => n.type === 'connection_closed' && n.connectionId === kv.id);
        assert.ok(closed && closed.type === 'connection_closed' && closed.code === Code.normal_close && closed.reason === 'bye from control');
        await watch.close();
        await ctl.close();
      }));

    test('a client built against another manifest declines with manifest_mismatch; the same one is accepted without the manifest', () =>
      withClient(transport, async (c) => {
        const served = (await c.manifest('conformance.echo')).manifest!;
        const same = await c.connect('conformance.echo', { manifest: served });
        assert.equal(same.manifest, served);
        assert.equal((await same.call('Ask', { q: 1 })).value.q, 1);
        await same.close();
        const other = Manifest.load(Buffer.from(served.canonical.toString().replace('An ifkit conformance scenario', 'Another scenario')));
        const r = await settle(c.connect('conformance.echo', { manifest: other }));
        assert.ok(!r.ok && r.error instanceof CloseError && r.error.code === Code.manifest_mismatch, String(r.ok || r.error));
        const refused = await settle(c.connect('no.such.interface'));
        assert.ok(!refused.ok && refused.error instanceof RemoteError && refused.error.code === Code.unknown_interface);
      }));

    test('per-message authentication with the shared secret', async () => {
      await withClient(
        transport,
        async (c) => {
          assert.ok(c.sessionKey);
          const a = await c.connect('conformance.auth');
          assert.equal(a.manifest.messageAuth, true);
          assert.deepEqual((await a.call('Ask', { hello: 'world' })).value, { hello: 'world' });
          const items: number[] = [];
          for await (const r of a.callStream('Scan', { n: 3 })) items.push(r.value.i);
          assert.deepEqual(items, [1, 2, 3]);
          const ctl = await c.control({ attachTo: a });
          assert.equal((await ctl.stats()).authFailures, 0);
          await ctl.close();
          await a.close();
        },
        'reference-auth',
        suite.secret,
      );
      const wrong = await settle(Client.dial(suite.addr(transport, 'reference-auth'), { secret: 'not-the-secret-at-all' }));
      assert.ok(!wrong.ok && wrong.error.code === Code.auth_failed);
      const none = await settle(Client.dial(suite.addr(transport, 'reference-auth')));
      assert.ok(!none.ok && none.error.code === Code.auth_failed);
    });

    test('closing the session ends every connection on it', () =>
      withClient(transport, async (c) => {
        const conn = await c.connect('sensors.temperature');
        await conn.recv();
        c.close();
        const end = await conn.closed;
        assert.equal(end.code, Code.transport_error);
      }));
  });
}

test('TLS: the server certificate is verified against the given CA, for 127.0.0.1', async () => {
  const addr = suite.addr('tcp', 'reference-tls');
  const c = await Client.dial(addr, { tls: { ca: readFileSync(suite.caFile) } });
  try {
    assert.ok((await c.list()).length > 0);
    const kv = await c.connect('db.kv');
    assert.equal((await kv.call('Get', { key: 'config/x' })).value.found, true);
    await kv.close();
  } finally {
    c.close();
  }
  const untrusted = await settle(Client.dial(addr));
  assert.ok(!untrusted.ok && /certificate/i.test(untrusted.error.message), String(untrusted.ok || untrusted.error));
});
