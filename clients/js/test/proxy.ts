// A TCP proxy that cuts every byte stream into tiny pieces, written with pauses between them, so
// that a reader sees frames split at every possible offset.

import net from 'node:net';
import { parseAddr } from '../src/index.js';

export interface Proxy {
  addr: string;
  close(): Promise<void>;
}

export async function fragmentingProxy(target: string, maxPiece = 7): Promise<Proxy> {
  const a = parseAddr(target);
  const socks = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) => {
    let chain = Promise.resolve();
    from.on('data', (b: Buffer) => {
      from.pause();
      chain = chain.then(async () => {
        for (let i = 0; i < b.length; ) {
          const n = 1 + Math.floor(Math.random() * maxPiece);
          to.write(b.subarray(i, i + n));
          i += n;
          if (Math.random() < 0.05) await new Promise((r) => setImmediate(r));
        }
        from.resume();
      });
    });
    from.on('end', () => chain.then(() => to.end()));
    from.on('error', () => to.destroy());
    from.on('close', () => chain.then(() => to.destroy()));
  };
  const server = net.createServer((client) => {
    const up = a.transport === 'unix' ? net.connect(a.path) : net.connect(a.port, a.host);
    client.setNoDelay(true);
    up.setNoDelay?.(true);
    socks.add(client).add(up);
    pipe(client, up);
    pipe(up, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    addr: `tcp://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}
