// A client-side yamux session (hashicorp/yamux protocol version 0, spec.md), as spec/PROTOCOL.md
// §3.6 uses it: this end opens every stream (odd ids), answers Pings, honours and tops up
// windows, half-closes with FIN, resets with RST, and refuses streams the server tries to open.
//
// Written for ifkit rather than taken from yamux-js (which loses bytes when a socket read ends
// inside a yamux frame and mistakes FIN for SYN) or @libp2p/yamux (shaped for libp2p's stream
// interfaces). Frames are parsed from a chunk list, so a read may end anywhere.

import type { Duplex } from 'node:stream';
import { Chunks } from './wire.js';

const Version = 0;
export const TypeData = 0;
export const TypeWindowUpdate = 1;
export const TypePing = 2;
export const TypeGoAway = 3;
export const FlagSYN = 1;
export const FlagACK = 2;

/** The most streams a session's openWhenRoom lets await their ACK at once (the Go client's 64). */
export const MaxUnansweredOpens = 64;
export const FlagFIN = 4;
export const FlagRST = 8;
const HeaderLen = 12;
/** Every stream starts with this receive window, both ways. */
export const InitialWindow = 256 * 1024;

export interface YamuxConfig {
  /** The most this end lets a stream's peer send ahead (at least 256 KiB; default 1 MiB). */
  maxStreamWindow?: number;
  /** A keepalive Ping every this many ms (0: none; default 15 000). */
  keepAliveInterval?: number;
  /** How long a keepalive Ping may go unanswered before the session ends (default 10 000). */
  keepAliveTimeout?: number;
}

export class YamuxError extends Error {
  constructor(
    message: string,
    readonly keepalive = false,
  ) {
    super(message);
    this.name = 'YamuxError';
  }
}

export function header(type: number, flags: number, id: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(HeaderLen);
  h[0] = Version;
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(id >>> 0, 4);
  h.writeUInt32BE(length >>> 0, 8);
  return h;
}

/** StreamEvents are how a stream's owner hears of it; each runs synchronously on the reader. */
export interface StreamHandlers {
  data?(chunk: Buffer): void;
  /** The peer half-closed (FIN): no more data will come. */
  end?(): void;
  /** The stream is gone: reset by either side, or the session ended. */
  close?(err?: Error): void;
}

export class Stream {
  private sendWindow = InitialWindow;
  private pendingWrites: { buf: Buffer; resolve: () => void; reject: (e: Error) => void }[] = [];
  private recvWindow = InitialWindow;
  private unacked = 0; // bytes received and consumed, not yet returned in a Window Update
  private localFin = false;
  private remoteFin = false;
  private closed = false;
  /** Opened with openWhenRoom, and not yet acknowledged (ACK), refused (RST) or gone. */
  awaitingAck = false;
  handlers: StreamHandlers = {};
  private early: Buffer[] = [];
  private earlyEnd = false;

  constructor(
    readonly session: Session,
    readonly id: number,
  ) {}

  /** on sets the handlers; data and an end that arrived before are delivered at once. */
  on(h: StreamHandlers): void {
    this.handlers = h;
    const early = this.early;
    this.early = [];
    for (const b of early) h.data?.(b);
    if (this.earlyEnd) h.end?.();
  }

  /** write queues b; the promise resolves when all of it went to the socket, within the window. */
  write(b: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(new YamuxError('yamux: the stream is closed'));
    if (this.localFin) return Promise.reject(new YamuxError('yamux: write after the stream was half-closed'));
    return new Promise((resolve, reject) => {
      this.pendingWrites.push({ buf: b, resolve, reject });
      this.flush();
    });
  }

  private flush(): void {
    while (this.pendingWrites.length > 0 && this.sendWindow > 0 && !this.closed) {
      const w = this.pendingWrites[0]!;
      const n = Math.min(w.buf.length, this.sendWindow, this.session.maxFrame);
      const chunk = w.buf.subarray(0, n);
      this.sendWindow -= n;
      this.session.send(header(TypeData, 0, this.id, n), chunk);
      if (n === w.buf.length) {
        this.pendingWrites.shift();
        w.resolve();
      } else {
        w.buf = w.buf.subarray(n);
      }
    }
  }

  /** closeWrite half-closes the stream (FIN) after what was written. */
  async closeWrite(): Promise<void> {
    if (this.localFin || this.closed) return;
    await Promise.all(this.pendingWrites.map((w) => new Promise<void>((res) => {
      const prev = w.resolve;
      w.resolve = () => { prev(); res(); };
      const prevRej = w.reject;
      w.reject = (e) => { prevRej(e); res(); };
    })));
    if (this.localFin || this.closed) return;
    this.localFin = true;
    this.session.send(header(TypeWindowUpdate, FlagFIN, this.id, 0));
    if (this.remoteFin) this.gone();
  }

  /** reset ends the stream at once, both ways (RST). */
  reset(): void {
    if (this.closed) return;
    this.session.send(header(TypeWindowUpdate, FlagRST, this.id, 0));
    this.gone(new YamuxError('yamux: the stream was reset by this side'));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // --- from the session's reader ---

  onWindowUpdate(flags: number, delta: number): void {
    this.sendWindow += delta;
    this.onFlags(flags);
    this.flush();
  }

  onData(flags: number, b: Buffer): void {
    if (b.length > this.recvWindow) {
      this.session.fail(new YamuxError(`yamux: stream ${this.id} received ${b.length} bytes over its window of ${this.recvWindow}`));
      return;
    }
    this.recvWindow -= b.length;
    if (b.length > 0 && !this.closed && !this.remoteFin) {
      // ifkit's credits bound what the data plane holds, so the window is returned as soon as bytes
      // are handed on (§3.6: the window only needs to keep the pipe full).
      this.unacked += b.length;
      if (this.unacked >= this.session.maxStreamWindow / 2 || this.recvWindow < this.session.maxStreamWindow / 2) {
        this.recvWindow += this.unacked;
        this.session.send(header(TypeWindowUpdate, 0, this.id, this.unacked));
        this.unacked = 0;
      }
      if (this.handlers.data) this.handlers.data(b);
      else this.early.push(b);
    }
    this.onFlags(flags);
  }

  /** The initial window beyond 256 KiB this end offers, sent with SYN. */
  openDelta(): number {
    const d = this.session.maxStreamWindow - InitialWindow;
    this.recvWindow += d;
    return d;
  }

  private onFlags(flags: number): void {
    if (this.awaitingAck && flags & (FlagACK | FlagRST)) this.answered();
    if (flags & FlagRST) {
      this.gone(new YamuxError('yamux: the stream was reset by the peer'));
      return;
    }
    if (flags & FlagFIN && !this.remoteFin) {
      this.remoteFin = true;
      if (this.handlers.end) this.handlers.end();
      else this.earlyEnd = true;
      if (this.localFin) this.gone();
    }
  }

  /** answered: the peer has answered this stream's SYN (or the stream is gone). */
  private answered(): void {
    this.awaitingAck = false;
    this.session.openAnswered();
  }

  gone(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.awaitingAck) this.answered();
    this.session.forget(this.id);
    const e = err ?? new YamuxError('yamux: the stream is closed');
    for (const w of this.pendingWrites.splice(0)) w.reject(e);
    this.handlers.close?.(err);
  }
}

/**
 * Session is the client side of one yamux session over a socket that has already carried the
 * ifkit preface (and the shared-secret exchange).
 */
export class Session {
  private chunks = new Chunks();
  private streams = new Map<number, Stream>();
  private unanswered = 0; // openWhenRoom's streams awaiting their ACK
  private roomWaiters: (() => void)[] = [];
  private nextId = 1;
  private goAway = false;
  private dead?: Error;
  private pings = new Map<number, () => void>();
  private pingId = 0;
  private keepTimer?: NodeJS.Timeout;
  readonly maxStreamWindow: number;
  /** The largest Data frame this end writes. */
  readonly maxFrame = 64 * 1024;
  private closeHandlers: ((err: Error) => void)[] = [];

  constructor(
    private sock: Duplex,
    cfg: YamuxConfig = {},
    initial?: Buffer,
  ) {
    this.maxStreamWindow = Math.max(cfg.maxStreamWindow ?? 1 << 20, InitialWindow);
    sock.on('data', (b: Buffer) => this.onBytes(b));
    sock.on('end', () => this.fail(new YamuxError('yamux: the server closed the socket')));
    sock.on('error', (e: Error) => this.fail(e));
    sock.on('close', () => this.fail(new YamuxError('yamux: the socket closed')));
    if (initial && initial.length > 0) this.onBytes(initial);
    const every = cfg.keepAliveInterval ?? 15_000;
    const timeout = cfg.keepAliveTimeout ?? 10_000;
    if (every > 0) {
      this.keepTimer = setInterval(() => {
        const t = setTimeout(() => this.fail(new YamuxError('the peer stopped answering keepalives', true)), timeout);
        t.unref();
        this.ping().then(() => clearTimeout(t), () => clearTimeout(t));
      }, every);
      this.keepTimer.unref();
    }
  }

  /** The error the session ended with, once it has. */
  get err(): Error | undefined {
    return this.dead;
  }

  onClose(f: (err: Error) => void): void {
    if (this.dead) f(this.dead);
    else this.closeHandlers.push(f);
  }

  /**
   * openWhenRoom opens a stream once fewer than MaxUnansweredOpens of the streams it opened await
   * the server's ACK, as a Go yamux client does (spec §3.6): a burst of opens waits for answers
   * instead of overflowing the server's accept backlog, which answers a SYN beyond it with RST.
   */
  async openWhenRoom(): Promise<Stream> {
    while (this.unanswered >= MaxUnansweredOpens && !this.dead && !this.goAway) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    const s = this.open();
    s.awaitingAck = true;
    this.unanswered++;
    return s;
  }

  /** openAnswered: one of openWhenRoom's streams was answered; the next waiting open may go. */
  openAnswered(): void {
    this.unanswered--;
    this.roomWaiters.shift()?.();
  }

  /** open opens a stream (a Window Update with SYN and the extra window) at once, however many
   * opens await their ACK (openWhenRoom waits for room). */
  open(): Stream {
    if (this.dead) throw this.dead;
    if (this.goAway) throw new YamuxError('yamux: the server sent Go Away: no new streams');
    const id = this.nextId;
    this.nextId += 2;
    const s = new Stream(this, id);
    this.streams.set(id, s);
    this.send(header(TypeWindowUpdate, FlagSYN, id, s.openDelta()));
    return s;
  }

  /** ping sends a Ping and resolves with its round trip in ms. */
  ping(): Promise<number> {
    if (this.dead) return Promise.reject(this.dead);
    const id = (this.pingId = (this.pingId + 1) >>> 0);
    const start = performance.now();
    return new Promise((resolve, reject) => {
      this.pings.set(id, () => resolve(performance.now() - start));
      this.onClose(reject);
      this.send(header(TypePing, FlagSYN, 0, id));
    });
  }

  /** close sends Go Away and closes the socket; every stream ends. */
  close(): void {
    if (this.dead) return;
    this.send(header(TypeGoAway, 0, 0, 0));
    this.sock.end();
    this.fail(new YamuxError('yamux: the session was closed by this side'));
    setTimeout(() => this.sock.destroy(), 1000).unref();
  }

  send(h: Buffer, body?: Buffer): void {
    if (this.dead) return;
    if (body && body.length > 0) this.sock.write(Buffer.concat([h, body]));
    else this.sock.write(h);
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  fail(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    if (this.keepTimer) clearInterval(this.keepTimer);
    for (const s of [...this.streams.values()]) s.gone(err);
    for (const w of this.roomWaiters.splice(0)) w(); // they find the session dead
    this.pings.clear();
    for (const f of this.closeHandlers.splice(0)) f(err);
    this.sock.destroy();
  }

  private onBytes(b: Buffer): void {
    if (this.dead) return;
    this.chunks.push(b);
    try {
      while (this.chunks.length >= HeaderLen) {
        const h = this.chunks.peek(HeaderLen);
        if (h[0] !== Version) throw new YamuxError(`yamux: unknown protocol version ${h[0]}`);
        const type = h[1]!;
        const flags = h.readUInt16BE(2);
        const id = h.readUInt32BE(4);
        const length = h.readUInt32BE(8);
        if (type === TypeData) {
          if (length > this.maxStreamWindow) throw new YamuxError(`yamux: a Data frame of ${length} bytes is over any window`);
          if (this.chunks.length < HeaderLen + length) return;
          this.chunks.skip(HeaderLen);
          const body = length > 0 ? Buffer.from(this.chunks.take(length)) : Buffer.alloc(0);
          this.onStreamFrame(type, flags, id, length, body);
        } else {
          this.chunks.skip(HeaderLen);
          switch (type) {
            case TypeWindowUpdate:
              this.onStreamFrame(type, flags, id, length);
              break;
            case TypePing:
              if (flags & FlagSYN) this.send(header(TypePing, FlagACK, 0, length));
              else if (flags & FlagACK) {
                const f = this.pings.get(length);
                this.pings.delete(length);
                f?.();
              }
              break;
            case TypeGoAway:
              this.goAway = true;
              for (const w of this.roomWaiters.splice(0)) w(); // they find no new streams allowed
              break;
            default:
              throw new YamuxError(`yamux: unknown frame type ${type}`);
          }
        }
        if (this.dead) return;
      }
    } catch (e) {
      if (this.dead) return;
      this.send(header(TypeGoAway, 0, 0, 1));
      this.fail(e as Error);
    }
  }

  private onStreamFrame(type: number, flags: number, id: number, length: number, body?: Buffer): void {
    const s = this.streams.get(id);
    if (!s) {
      if (flags & FlagSYN) {
        // The server MUST NOT open streams (§3.6): refuse it.
        this.send(header(TypeWindowUpdate, FlagRST, id, 0));
      }
      // A frame for a stream already gone (a late window update or data after RST) is dropped.
      return;
    }
    if (type === TypeData) s.onData(flags, body!);
    else s.onWindowUpdate(flags, length);
  }
}
