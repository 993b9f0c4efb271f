// Addresses (spec/PROTOCOL.md §2.1): unix:///abs.sock, unix:rel.sock, tcp://host:port,
// host:port, tls://host:port; a comma-separated list means any of them (§2.2).

export type Addr =
  | { transport: 'unix'; path: string; text: string }
  | { transport: 'tcp' | 'tls'; host: string; port: number; text: string };

export function parseAddr(input: string): Addr {
  const s = input.trim();
  if (s.startsWith('unix://')) {
    const path = s.slice('unix://'.length);
    if (!path.startsWith('/')) throw new Error(`address ${JSON.stringify(s)}: unix:// needs an absolute path (write unix:${path} for a relative one)`);
    return { transport: 'unix', path, text: s };
  }
  if (s.startsWith('unix:')) {
    const path = s.slice('unix:'.length);
    if (path === '') throw new Error(`address ${JSON.stringify(s)}: no socket path`);
    return { transport: 'unix', path, text: s };
  }
  let transport: 'tcp' | 'tls' = 'tcp';
  let rest = s;
  if (s.startsWith('tcp://')) rest = s.slice(6);
  else if (s.startsWith('tls://')) {
    transport = 'tls';
    rest = s.slice(6);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw new Error(`address ${JSON.stringify(s)}: unknown scheme (use unix://, unix:, tcp://, tls:// or host:port)`);
  if (rest.includes('://') || rest.startsWith('unix:')) throw new Error(`address ${JSON.stringify(s)}: only host:port may follow ${transport}://`);
  const m = /^(\[[^\]]*\]|[^:\[\]]*):(\d+)$/.exec(rest);
  if (!m) throw new Error(`address ${JSON.stringify(s)}: want host:port`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`address ${JSON.stringify(s)}: port ${port} is out of range`);
  let host = m[1]!;
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { transport, host: host || 'localhost', port, text: s };
}

export function parseAddrList(s: string): Addr[] {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length === 0) throw new Error('no address');
  return parts.map(parseAddr);
}
