// A client session (spec/PROTOCOL.md §2–§4): the socket, the preface, the shared-secret
// exchange, yamux, and the stream handshake every data connection and control stream starts with.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { parseAddrList, type Addr } from './addr.js';
import { Code, CloseError, IfkitError, NotIfkitError, RemoteError } from './codes.js';
import { Chunks, ld, LDReader } from './wire.js';
import { Session, Stream } from './yamux.js';
import { decode, encode, OpenResult, OpenStream, StreamKind, type OpenResultMsg } from './pb.js';
import { Connection, type ConnectOptions } from './conn.js';
import { Control, type InterfaceInfo, type ManifestResult } from './control.js';
import { Manifest } from './manifest.js';

export const Magic = Buffer.from('IFKT');
export const ProtocolVersion = 1;
export const PrefaceStatus = { ok: 0x00, badVersion: 0x01, refused: 0x02, authRequired: 0x03, authFailed: 0x04, notAllowed: 0x05 } as const;
const OpenResultMax = 32 << 20;

export interface DialOptions {
  /** The shared secret (§3.5), when the server requires one. */
  secret?: string | Uint8Array;
  /** TLS settings for tls:// addresses (ca, cert, key, servername, …). */
  tls?: tls.ConnectionOptions;
  /** Free text naming this program, sent in every data stream's handshake. */
  clientName?: string;
  /** Bounds the session set-up and each stream handshake (ms; default 10 000). */
  handshakeTimeout?: number;
  /** A yamux keepalive Ping every this many ms (default 15 000; 0: none). */
  keepAliveInterval?: number;
  /** The yamux per-stream receive window (default 1 MiB). */
  streamWindow?: number;
  /** How long a connection that sent CLOSE waits for the peer's FIN (ms; default 5 000). */
  closeTimeout?: number;
  signal?: AbortSignal;
}

/** The server answered the preface with refused (0x02): draining, closed, or full. */
export class RefusedError extends Error {
  constructor(addr: string) {
    super(`ifkit: ${addr} refused the session (draining, closed, or at its connection limit)`);
    this.name = 'RefusedError';
  }
}

export function preface(status = 0): Buffer {
  return Buffer.from([0x49, 0x46, 0x4b, 0x54, ProtocolVersion, status, 0, 0]);
}

export function authMAC(secret: Uint8Array, label: string, a: Uint8Array, b: Uint8Array): Buffer {
  return createHmac('sha256', secret).update('ifkit-auth-v1 ' + label).update(a).update(b).digest();
}

export function sessionKey(secret: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array): Buffer {
  return authMAC(secret, 'session', serverNonce, clientNonce);
}

export function messageKey(sessKey: Uint8Array, connectionId: number | bigint): Buffer {
  const id = Buffer.alloc(8);
  id.writeBigUInt64BE(BigInt(connectionId));
  return authMAC(sessKey, 'message', id, Buffer.alloc(0));
}

/** SocketReader reads exact byte counts from a socket until it is handed over to yamux. */
class SocketReader {
  private chunks = new Chunks();
  private want?: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private err?: Error;
  private onData = (b: Buffer) => {
    this.chunks.push(b);
    this.wake();
  };
  private onEnd = () => this.fail(new Error('the server closed the socket'));
  private onError = (e: Error) => this.fail(e);

  constructor(private sock: Duplex) {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('error', this.onError);
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.want = { n, resolve, reject };
      this.wake();
    });
  }

  /** readSome returns what has arrived, up to n bytes, once at least one has (or the end). */
  get buffered(): Buffer {
    return this.chunks.length > 0 ? this.chunks.take(this.chunks.length) : Buffer.alloc(0);
  }

  private wake(): void {
    const w = this.want;
    if (!w) return;
    if (this.chunks.length >= w.n) {
      this.want = undefined;
      w.resolve(Buffer.from(this.chunks.take(w.n)));
    } else if (this.err) {
      this.want = undefined;
      const partial = this.chunks.length > 0 ? this.chunks.take(this.chunks.length) : Buffer.alloc(0);
      w.reject(Object.assign(this.err, { partial }));
    }
  }

  private fail(e: Error): void {
    this.err ??= e;
    this.wake();
  }

  /** release stops reading and returns the bytes that arrived beyond what was read. */
  release(): Buffer {
    this.sock.off('data', this.onData);
    this.sock.off('end', this.onEnd);
    this.sock.off('error', this.onError);
    return this.buffered;
  }
}

function connectSocket(a: Addr, opts: DialOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let s: net.Socket;
    const ready = a.transport === 'tls' ? 'secureConnect' : 'connect';
    if (a.transport === 'unix') s = net.connect({ path: a.path });
    else if (a.transport === 'tcp') s = net.connect({ host: a.host, port: a.port });
    else s = tls.connect({ host: a.host, port: a.port, servername: net.isIP(a.host) ? undefined : a.host, minVersion: 'TLSv1.2', ...opts.tls });
    s.once(ready, () => {
      s.off('error', reject);
      if (a.transport !== 'unix') s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new IfkitError(Code.transport_error, `${what} did not finish within ${ms} ms`));
    }, ms);
    const abort = () => {
      clearTimeout(t);
      onTimeout();
      reject(signal!.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', abort, { once: true });
    p.then(
      (v) => {
        clearTimeout(t);
        signal?.removeEventListener('abort', abort);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        signal?.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

/** setUp runs the preface and, if asked, the shared-secret exchange (§3.4, §3.5) on a socket. */
async function setUp(sock: Duplex, addr: string, secret?: Uint8Array): Promise<{ sessionKey?: Buffer; rest: Buffer }> {
  const r = new SocketReader(sock);
  sock.write(preface(0));
  let p: Buffer;
  try {
    p = await r.read(8);
  } catch (e) {
    const partial: Buffer = (e as { partial?: Buffer }).partial ?? Buffer.alloc(0);
    if (partial.length > 0 && !Magic.subarray(0, partial.length).equals(partial.subarray(0, 4))) {
      throw new NotIfkitError(`ifkit: not an ifkit peer: ${addr} sent ${JSON.stringify(partial.toString('latin1'))}`);
    }
    throw new IfkitError(Code.transport_error, `reading the ifkit preface from ${addr}: ${(e as Error).message}`, { cause: e });
  }
  if (!p.subarray(0, 4).equals(Magic)) throw new NotIfkitError(`ifkit: not an ifkit peer: ${addr} sent ${JSON.stringify(p.toString('latin1'))}`);
  if (p[4] !== ProtocolVersion) throw new IfkitError(Code.unsupported_version, `${addr} speaks ifkit protocol version ${p[4]}; this client speaks ${ProtocolVersion}`);
  switch (p[5]) {
    case PrefaceStatus.ok:
      return { rest: r.release() };
    case PrefaceStatus.refused:
      throw new RefusedError(addr);
    case PrefaceStatus.notAllowed:
      throw new IfkitError(Code.auth_failed, `${addr} does not allow this user (the peer-credential allow-list, preface status 0x05)`);
    case PrefaceStatus.authRequired:
      break;
    default:
      throw new IfkitError(Code.unsupported_version, `${addr} does not speak ifkit protocol version 1 (preface status 0x${p[5]!.toString(16).padStart(2, '0')})`);
  }
  if (!secret) throw new IfkitError(Code.auth_failed, `${addr} requires a shared secret (the secret option)`);
  const serverNonce = await r.read(32);
  const clientNonce = randomBytes(32);
  sock.write(Buffer.concat([clientNonce, authMAC(secret, 'client', serverNonce, clientNonce)]));
  const status = await r.read(1).catch((e) => {
    throw new IfkitError(Code.auth_failed, `${addr}: the shared-secret exchange failed: ${(e as Error).message}`);
  });
  if (status[0] !== 0) throw new IfkitError(Code.auth_failed, `${addr} refused the shared secret`);
  const serverMAC = await r.read(32);
  if (!timingSafeEqual(serverMAC, authMAC(secret, 'server', clientNonce, serverNonce))) {
    throw new IfkitError(Code.auth_failed, `${addr} does not know the shared secret (an impostor?)`);
  }
  return { sessionKey: sessionKey(secret, serverNonce, clientNonce), rest: r.release() };
}

/** The answer to a stream handshake, and the bytes that followed it on the stream. */
export interface OpenedStream {
  stream: Stream;
  result: OpenResultMsg;
  rest: Buffer;
}

export class Client {
  readonly address: string;
  readonly sessionKey?: Buffer;
  readonly options: DialOptions;
  private closedErr?: Error;

  private constructor(
    readonly session: Session,
    address: string,
    options: DialOptions,
    key?: Buffer,
  ) {
    this.address = address;
    this.options = options;
    this.sessionKey = key;
    session.onClose((e) => (this.closedErr = e));
  }

  /**
   * dial connects to an ifkit server and sets up the session: connect (and TLS), the preface, the
   * shared-secret exchange, yamux. A list of addresses is tried in order; a peer that is not an
   * ifkit server, or an auth_failed, stops the search.
   */
  static async dial(address: string, options: DialOptions = {}): Promise<Client> {
    const addrs = parseAddrList(address);
    const timeout = options.handshakeTimeout ?? 10_000;
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret.trim()) : options.secret;
    let last: unknown;
    for (const a of addrs) {
      let sock: Duplex | undefined;
      try {
        const up = (async () => {
          sock = await connectSocket(a, options);
          return setUp(sock, a.text, secret);
        })();
        const { sessionKey: key, rest } = await withTimeout(up, timeout, `the session set-up with ${a.text}`, () => sock?.destroy(), options.signal);
        const session = new Session(sock!, { keepAliveInterval: options.keepAliveInterval, maxStreamWindow: options.streamWindow }, rest);
        return new Client(session, a.text, options, key);
      } catch (e) {
        sock?.destroy();
        last = e;
        if (e instanceof NotIfkitError || (e instanceof IfkitError && e.code === Code.auth_failed)) break;
      }
    }
    throw last;
  }

  /** fromSocket sets a session up over a socket the caller connected. */
  static async fromSocket(sock: Duplex, options: DialOptions = {}): Promise<Client> {
    const secret = typeof options.secret === 'string' ? Buffer.from(options.secret.trim()) : options.secret;
    const { sessionKey: key, rest } = await withTimeout(setUp(sock, 'the peer', secret), options.handshakeTimeout ?? 10_000, 'the session set-up', () => sock.destroy(), options.signal);
    return new Client(new Session(sock, { keepAliveInterval: options.keepAliveInterval, maxStreamWindow: options.streamWindow }, rest), 'the peer', options, key);
  }

  get closed(): boolean {
    return this.closedErr !== undefined;
  }

  /**
   * openStream opens a yamux stream and runs its handshake (§4): LD(OpenStream) out,
   * LD(OpenResult) back. A refusal is a RemoteError with the server's code and reason.
   */
  async openStream(req: Record<string, unknown>, signal?: AbortSignal): Promise<OpenedStream> {
    if (this.closedErr) throw new CloseError(Code.transport_error, this.closedErr.message, false, { cause: this.closedErr });
    const stream = await this.session.openWhenRoom();
    const reader = new LDReader(OpenResultMax);
    const got = new Promise<Buffer>((resolve, reject) => {
      const fail = (e: unknown) => reject(e instanceof Error ? e : new Error(String(e)));
      stream.on({
        data: (b) => {
          reader.push(b);
          try {
            const m = reader.next();
            if (m) {
              stream.on({}); // the owner sets its own handlers next; bytes wait for it
              resolve(m);
            }
          } catch (e) {
            fail(e);
          }
        },
        end: () => fail(new IfkitError(Code.transport_error, 'the server closed the stream before its handshake answer (too many streams?)')),
        close: (e) => fail(e ?? new IfkitError(Code.transport_error, 'the stream closed before its handshake answer')),
      });
    });
    stream.write(ld(encode(OpenStream, req))).catch(() => {});
    let raw: Buffer;
    try {
      raw = await withTimeout(got, this.options.handshakeTimeout ?? 10_000, 'the stream handshake', () => stream.reset(), signal);
    } catch (e) {
      stream.reset();
      throw e;
    }
    const result = decode<OpenResultMsg>(OpenResult, raw);
    if (result.code) {
      stream.closeWrite().catch(() => {});
      throw new RemoteError(result.code, result.reason ?? '');
    }
    return { stream, result, rest: reader.drain() };
  }

  /** control opens a control stream (§4.6): standalone, on an interface, or attached to a connection. */
  async control(opts: { interface?: string; attachTo?: Connection | number } = {}): Promise<Control> {
    const id = typeof opts.attachTo === 'number' ? opts.attachTo : (opts.attachTo?.id ?? 0);
    const name = opts.interface ?? (typeof opts.attachTo === 'object' ? opts.attachTo.manifest.name : '');
    const o = await this.openStream({ interface: name, kind: StreamKind.CONTROL, connection_id: id });
    return new Control(o.stream, o.rest, name, o.result.manifest_hash);
  }

  /** list lists the server's interfaces (on a short-lived control stream). */
  async list(): Promise<InterfaceInfo[]> {
    const c = await this.control();
    try {
      return await c.list();
    } finally {
      await c.close();
    }
  }

  /** manifest fetches an interface's manifest and checks that it hashes to the hash served. */
  async manifest(name: string, knownHash?: string): Promise<ManifestResult> {
    const c = await this.control();
    try {
      return await c.manifest(name, knownHash);
    } finally {
      await c.close();
    }
  }

  /** connect opens a data connection to an interface (§4.5). */
  connect(name: string, opts: ConnectOptions = {}): Promise<Connection> {
    return Connection.open(this, name, opts);
  }

  /** ping measures a yamux round trip. */
  ping(): Promise<number> {
    return this.session.ping();
  }

  /** close ends the session (yamux Go Away, then the socket); every connection on it ends. */
  close(): void {
    this.session.close();
  }
}

export { Manifest };
