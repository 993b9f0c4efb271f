// A small throughput benchmark of this client, to compare with `ifctl bench` (the Go client)
// against the same server:
//
//   go run ./cmd/ifctl serve testdata/manifests/*.yaml --listen unix:///tmp/ifkit-bench.sock --mock --rate 0
//   node dist/bench/bench.js unix:///tmp/ifkit-bench.sock [seconds]
//
// and, for the Go client, `ifctl bench ADDR sensors.temperature`, `ifctl bench ADDR logs.sink`
// and `ifctl bench ADDR db.kv --type Get`. It measures, one connection each: messages/s received
// from sensors.temperature (proto), messages/s sent to logs.sink (json, as fast as credits
// allow), and round trips/s of db.kv Get.

import { dial } from '../src/index.js';

const addr = process.argv[2] ?? 'unix:///tmp/ifkit-bench.sock';
const seconds = Number(process.argv[3] ?? 5);

async function main() {
  const client = await dial(addr);
  const rate = (n: number, t0: number) => Math.round(n / ((performance.now() - t0) / 1000));

  let n = 0;
  let t0 = 0;
  for (const decode of [false, true]) {
    const recv = await client.connect('sensors.temperature');
    n = 0;
    t0 = performance.now();
    const until = t0 + seconds * 1000;
    for await (const m of recv) {
      if (decode) void m.value;
      if (++n % 1024 === 0 && performance.now() > until) break;
    }
    console.log(`receive  sensors.temperature  ${rate(n, t0)} msg/s  (${n} messages${decode ? ', each decoded to its JSON value' : ', checked, not decoded'})`);
    await recv.close();
  }

  const sink = await client.connect('logs.sink');
  const rec = sink.manifest.type('Record')!.examples[0]; // what ifctl bench sends
  n = 0;
  t0 = performance.now();
  const until2 = t0 + seconds * 1000;
  const inflight: Promise<void>[] = [];
  while (performance.now() < until2) {
    for (let i = 0; i < 256; i++) inflight.push(sink.send('Record', rec));
    await Promise.all(inflight.splice(0));
    n += 256;
  }
  console.log(`send     logs.sink            ${rate(n, t0)} msg/s  (${n} messages)`);
  await sink.close();

  const kv = await client.connect('db.kv');
  n = 0;
  t0 = performance.now();
  const until3 = t0 + seconds * 1000;
  while (performance.now() < until3) {
    await kv.call('Get', { key: 'config/greenhouse/north' });
    n++;
  }
  console.log(`call     db.kv Get            ${rate(n, t0)} round trips/s`);
  await kv.close();
  client.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
