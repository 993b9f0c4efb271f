// The scripted scenarios of cmd/ifkit-conformance (spec/conformance/scenarios.json), over Unix
// and TCP: what the client reports to its application, and the server's verdict on what it sent.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Suite, transports, settle, repoRoot, type Transport } from './harness.js';
import { Client, CloseError, Code, IfkitError, NotIfkitError, RefusedError, RemoteError, parseCode, type Connection } from '../src/index.js';

let suite: Suite;
before(async () => (suite = await Suite.start()));
after(() => suite.stop());

interface Scenario {
  name: string;
  level: string;
  secret?: boolean;
  code?: string;
  client_must: string;
}
const scenarios: Scenario[] = JSON.parse(readFileSync(path.join(repoRoot, 'spec/conformance/scenarios.json'), 'utf8'));

type Play = (t: Transport, sc: Scenario) => Promise<void>;

const dialSession = (t: Transport, sc: Scenario, secret?: string) => Client.dial(suite.addr(t, sc.name), { secret, handshakeTimeout: 1000, keepAliveInterval: 0 });

/** dialFails expects the session set-up to fail with an error that check accepts. */
function dialFails(check: (e: any) => boolean, secret = false): Play {
  return async (t, sc) => {
    const r = await settle(dialSession(t, sc, secret ? suite.secret : undefined));
    if (r.ok) r.value.close();
    assert.ok(!r.ok, 'the dial must fail');
    assert.ok(check(r.error), `${sc.name}: ${r.ok || r.error}`);
  };
}

const hasCode = (c: string) => (e: any) => e instanceof IfkitError && e.code === parseCode(c);

/** connect opens the scenario's interface on the scripted listener. */
async function connect(t: Transport, sc: Scenario, opts: Parameters<Client['connect']>[1] = {}): Promise<{ c: Client; conn: Connection }> {
  const c = await Client.dial(suite.addr(t, sc.secret ? 'auth-scenarios' : 'scenarios'), { secret: sc.secret ? suite.secret : undefined });
  try {
    return { c, conn: await c.connect(sc.name, opts) };
  } catch (e) {
    c.close();
    throw e;
  }
}

/** withConn connects to the scenario, runs f, and closes the session whatever happens. */
function withConn(f: (conn: Connection) => Promise<void>, opts: Parameters<Client['connect']>[1] = {}): Play {
  return async (t, sc) => {
    const { c, conn } = await connect(t, sc, opts);
    try {
      await f(conn);
    } finally {
      c.close();
    }
  };
}

/** violation: the client must end the connection itself with the scenario's code. */
const violation: Play = (t, sc) =>
  withConn(async (conn) => {
    const end = await conn.closed;
    assert.equal(end.codeName, sc.code, end.message);
    assert.equal(end.remote, false);
  })(t, sc);

const plays: Record<string, Play> = {
  'session.preface': async (t, sc) => {
    const c = await dialSession(t, sc);
    c.close();
  },
  'session.not_ifkit': dialFails((e) => e instanceof NotIfkitError),
  'session.bad_version': dialFails(hasCode('unsupported_version')), // this client's choice: the spec names no code
  'session.refused': dialFails((e) => e instanceof RefusedError),
  'session.not_allowed': dialFails(hasCode('auth_failed')),
  'session.no_secret': dialFails(hasCode('auth_failed')),
  'session.auth_rejected': dialFails(hasCode('auth_failed'), true),
  'session.impostor': dialFails(hasCode('auth_failed'), true),
  'session.exchange': async (t, sc) => {
    const c = await dialSession(t, sc, suite.secret);
    assert.ok(c.sessionKey);
    c.close();
  },
  'session.silent': dialFails((e) => e instanceof IfkitError && /did not finish within 1000 ms/.test(e.message)),

  'conformance.seq_gap': violation,
  'conformance.no_credit': violation,
  'conformance.frame_too_large': violation,
  'conformance.body_too_large': violation,
  'conformance.unknown_type': violation,
  'conformance.wrong_direction': violation,
  'conformance.unknown_kind': violation,
  'conformance.bad_varint': violation,
  'conformance.over_grant': violation,
  'conformance.unexpected_auth': violation,
  'conformance.reply_wrong_type': withConn(async (conn) => {
    const r = await settle(conn.call('Ask', {}));
    assert.ok(!r.ok && r.error instanceof CloseError && r.error.code === Code.protocol_error, String(r.ok || r.error));
  }),
  'conformance.manifest_mismatch': async (t, sc) => {
    // The manifest the client was "built against": the one the scenario serves, fetched first.
    const first = await connect(t, { ...sc, name: 'conformance.eof' });
    const m = first.conn.manifest;
    first.c.close();
    const c = await Client.dial(suite.addr(t, 'scenarios'));
    try {
      const r = await settle(c.connect(sc.name, { manifest: m }));
      assert.ok(!r.ok && r.error instanceof CloseError && r.error.code === Code.manifest_mismatch, String(r.ok || r.error));
    } finally {
      c.close();
    }
  },
  'conformance.bad_manifest': async (t, sc) => {
    const r = await settle(connect(t, sc));
    assert.ok(!r.ok && r.error instanceof CloseError && r.error.code === Code.protocol_error && /hash/.test(r.error.message), String(r.ok || r.error));
  },
  'conformance.refused': async (t, sc) => {
    const r = await settle(connect(t, sc));
    assert.ok(!r.ok && r.error instanceof RemoteError && r.error.code === Code.unknown_interface && r.error.reason === 'refused by the scenario');
  },
  'conformance.invalid_body': withConn(async (conn) => {
    const m = await conn.recv();
    assert.equal(m.seq, 2);
    assert.deepEqual(m.value, { n: 2 });
    const end = await conn.closed;
    assert.equal(end.code, Code.normal_close);
    assert.equal(end.remote, true);
    assert.equal(conn.stats().refused, 1);
  }),
  'conformance.remote_close': withConn(async (conn) => {
    const got: number[] = [];
    const r = await settle((async () => {
      for await (const m of conn) got.push(m.value.n);
    })());
    assert.deepEqual(got, [1, 2], 'messages before the CLOSE are delivered');
    assert.ok(!r.ok && r.error instanceof CloseError);
    assert.equal(r.error.code, Code.draining);
    assert.equal(r.error.reason, 'the server closed');
    assert.equal(r.error.remote, true);
  }),
  'conformance.eof': withConn(async (conn) => {
    assert.deepEqual((await conn.recv()).value, { n: 1 });
    const end = await conn.closed;
    assert.equal(end.code, Code.transport_error);
    assert.match(end.reason, /without a CLOSE/);
  }),
  'conformance.call_error': withConn(async (conn) => {
    const r = await settle(conn.call('Ask', {}));
    assert.ok(!r.ok && r.error instanceof RemoteError && r.error.code === Code.internal && r.error.reason === 'refused by the scenario', String(r.ok || r.error));
    assert.equal(conn.err, undefined, 'the connection goes on');
    await conn.close('done');
  }),
  'conformance.call_end': withConn(async (conn) => {
    const r = await settle(conn.call('Ask', {}));
    assert.ok(!r.ok && /ended the reply without answering/.test(r.error.message), String(r.ok || r.error));
    await conn.close('done');
  }),
  'conformance.call_stream': withConn(async (conn) => {
    const items: number[] = [];
    for await (const r of conn.callStream('Scan', {})) items.push(r.value.i);
    assert.deepEqual(items, [1, 2, 3]);
    assert.deepEqual((await conn.call('Ask', {})).value, { ok: true });
    await conn.close('done');
  }),
  'conformance.reply_unknown_corr': withConn(async (conn) => {
    assert.deepEqual((await conn.recv()).value, { n: 1 });
    assert.equal((await conn.closed).code, Code.normal_close);
  }),
  'conformance.credits_respected': withConn(async (conn) => {
    await Promise.all([1, 2, 3, 4, 5].map((i) => conn.send('Tell', { i })));
    assert.equal(conn.stats().sentMessages, 5);
    assert.equal((await conn.closed).code, Code.normal_close);
  }),
  'conformance.auto_credit': withConn(async (conn) => {
    for (let i = 1; i <= 4; i++) assert.deepEqual((await conn.recv()).value, { n: i });
    assert.equal((await conn.closed).code, Code.normal_close);
  }),
  'conformance.pull_mode': withConn(async (conn) => {
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(conn.request(3), 3);
    for (let i = 1; i <= 3; i++) assert.deepEqual((await conn.recv()).value, { n: i });
    await conn.close('done');
  }, { pull: true }),
  'conformance.auth_bad_tag': withConn(async (conn) => {
    const m = await conn.recv();
    assert.equal(m.seq, 2);
    assert.equal(conn.stats().authFailures, 1);
    assert.equal((await conn.closed).code, Code.normal_close);
  }),
  'conformance.auth_client_tags': withConn(async (conn) => {
    await conn.send('Tell', { hello: 'world' });
    assert.equal((await conn.closed).code, Code.normal_close);
  }),
};
plays['conformance.auth_missing_tag'] = plays['conformance.auth_bad_tag']!;

test('every scenario has a play', () => {
  assert.deepEqual(scenarios.map((s) => s.name).filter((n) => !plays[n]), []);
});

for (const transport of transports) {
  describe(`scenarios over ${transport}`, () => {
    for (const sc of scenarios) {
      test(`${sc.name}: ${sc.client_must}`, async () => {
        await plays[sc.name]!(transport, sc);
        const v = await suite.verdict(sc.name, transport);
        assert.ok(v.pass, `the server's verdict: ${v.detail}`);
      });
    }
  });
}
