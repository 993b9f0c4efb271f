// A data connection (spec/PROTOCOL.md §4.5, §6–§8, §11, §12): typed, sequenced messages under
// credit-based flow control, calls and reply streams, per-message authentication, and the close
// handshake. The client end: it sends the manifest's recv types and receives its send types.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { Code, CloseError, DroppedError, NoCreditError, RemoteError } from './codes.js';
import { codecs, type Codec, type CodecName, type Value } from './codec.js';
import { Manifest, type MessageType } from './manifest.js';
import { StreamKind } from './pb.js';
import { AuthTagLen, encodeFrame, FlagAuth, FlagReply, FrameKind, FrameOverhead, FrameReader, WireError, type Frame } from './wire.js';
import type { Stream } from './yamux.js';
import { YamuxError } from './yamux.js';
import { messageKey, type Client } from './client.js';

export type Handler = (msg: Message) => void | Promise<void>;

export interface ConnectOptions {
  /** The manifest this program was built against: its hash is sent, and a server serving another fails with manifest_mismatch. */
  manifest?: Manifest;
  /** Codecs this client accepts (default: proto, json, raw); the server picks by its preference. */
  codecs?: CodecName[];
  /** The credit window W (default: the manifest's flow.credits, or 256 without one), at most the served flow.credits. */
  credits?: number;
  /**
   * A subscriber's filter (OpenStream.filter, spec/PROTOCOL.md §4.8): the server sends only the
   * messages it selects. A server that cannot compile it refuses the stream (invalid_filter).
   */
  filter?: { type?: string; cel?: string; structured?: string };
  /** Pull mode (§7.3): grant nothing until request(n). */
  pull?: boolean;
  /** Handlers by type name; messages of other types wait for recv() or the async iterator. */
  handlers?: Record<string, Handler>;
  /** A handler for every type without one of its own. */
  catchAll?: Handler;
  /** Hears the server's ERROR frames about messages that were not calls in flight. */
  onRefused?: (err: RemoteError) => void;
  signal?: AbortSignal;
}

export interface SendOptions {
  signal?: AbortSignal;
}

/** The counters both ends keep of a connection (the server's are ConnStats, §10.2). */
export interface Counters {
  connectionId: number;
  interface: string;
  sentMessages: number;
  receivedMessages: number;
  sentBytes: number;
  receivedBytes: number;
  refused: number;
  dropped: number;
  creditsHeld: number;
  creditsGranted: number;
  queued: number;
  authFailures: number;
}

/** This end's counters. */
export interface LocalStats extends Counters {
  /** How many of the messages this end sent the server has consumed, as its last CREDIT said. */
  peerConsumed: number;
}

/**
 * CreditLedger is a receiver's account of §7.1: W (window), G (granted, unused), H (arrived, not
 * consumed) and the consumed count, with the automatic grant rule of §7.3.
 */
export class CreditLedger {
  granted: number;
  held = 0;
  consumed = 0;
  constructor(
    readonly window: number,
    /** Credit granted at the start (OpenStream.credits): W in automatic mode, 0 in pull mode. */
    initial: number,
    readonly pull = false,
  ) {
    this.granted = initial;
  }

  /** arrive uses one credit for an arriving MESSAGE; false means it came without credit. */
  arrive(): boolean {
    if (this.granted <= 0) return false;
    this.granted--;
    this.held++;
    return true;
  }

  /** consume frees one held message and returns the credits to grant now (0: none). */
  consume(): number {
    this.held--;
    this.consumed++;
    if (this.pull) return 0;
    const room = this.window - this.granted - this.held;
    if (room > 0 && 2 * room >= this.window) {
      this.granted += room;
      return room;
    }
    return 0;
  }

  /** request is pull mode's grant: min(n, W − G − H) if positive, else 0. */
  request(n: number): number {
    const g = Math.min(n, this.window - this.granted - this.held);
    if (g <= 0) return 0;
    this.granted += g;
    return g;
  }
}

/** Message is one received message. */
export class Message {
  constructor(
    readonly conn: Connection,
    readonly typeInfo: MessageType,
    readonly seq: number,
    readonly corr: number,
    readonly flags: number,
    /** The body in the connection's codec, already checked against the type. */
    readonly data: Buffer,
  ) {}

  get type(): string {
    return this.typeInfo.name;
  }

  private decoded?: { v: unknown };
  /** value is the message decoded: a JSON value (proto in protobuf's JSON mapping), or a Buffer for raw. */
  get value(): any {
    this.decoded ??= { v: this.conn.codec.decode(this.typeInfo, this.data) };
    return this.decoded.v;
  }

  /** isRequest: the sender expects a reply (the type declares one and the sender used a call). */
  get isRequest(): boolean {
    return !!this.typeInfo.reply && this.corr !== 0 && (this.flags & FlagReply) === 0;
  }

  /** reply answers this request; for a streamed reply call it once per item, then end(). */
  reply(v: Value, opts?: SendOptions): Promise<void> {
    if (!this.isRequest) return Promise.reject(new Error(`ifkit: message ${this.seq} (${this.type}) is not a request`));
    return this.conn.enqueueMessage(this.typeInfo.reply!.type, v, this.corr, true, opts);
  }

  /** end ends this request's reply stream. */
  end(): Promise<void> {
    if (!this.isRequest) return Promise.reject(new Error(`ifkit: message ${this.seq} (${this.type}) is not a request`));
    return this.conn.enqueueEnd(this.corr);
  }
}

interface OutItem {
  end?: boolean;
  typeId: number;
  corr: number;
  flags: number;
  body: Buffer;
  reply: boolean;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface PendingCall {
  replyType: string;
  stream?: ReplyStream;
  resolve?: (m: Message) => void;
  reject?: (e: Error) => void;
  seq?: number;
}

/** ReplyStream is the stream of replies to one request (reply.stream: true), an async iterable. */
export class ReplyStream implements AsyncIterable<Message> {
  private items: Message[] = [];
  private done = false;
  private err?: Error;
  private wake?: () => void;

  constructor(
    private conn: Connection,
    readonly corr: number,
  ) {}

  push(m: Message): void {
    this.items.push(m);
    this.wake?.();
  }

  finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    this.err = err;
    this.wake?.();
  }

  /** next returns the next reply, or undefined after the last one; it throws if the call failed. */
  async next(): Promise<Message | undefined> {
    for (;;) {
      const m = this.items.shift();
      if (m) {
        this.conn.consume();
        return m;
      }
      if (this.done) {
        if (this.err) throw this.err;
        return undefined;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** close gives up on the remaining replies; those still arriving are dropped. */
  close(): void {
    this.conn.forgetCall(this.corr);
    for (const _ of this.items.splice(0)) this.conn.consume();
    this.finish();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    try {
      for (let m = await this.next(); m; m = await this.next()) yield m;
    } finally {
      if (!this.done) this.close();
    }
  }
}

export class Connection implements AsyncIterable<Message> {
  readonly id: number;
  readonly manifest: Manifest;
  readonly codec: Codec;
  private stream: Stream;
  private reader: FrameReader;
  private key?: Buffer;
  private closeTimeout: number;

  private seqOut = 0;
  private seqIn = 0;
  private sendCredit: number;
  private ledger: CreditLedger;
  private peerConsumed = 0;

  private outbox: OutItem[] = [];
  private inbox: Message[] = [];
  private inboxWake?: () => void;
  private handlerChain: Promise<void> = Promise.resolve();
  private calls = new Map<number, PendingCall>();
  private seqToCorr = new Map<number, number>();
  private nextCorr = 0;
  private opts: ConnectOptions;
  private ended?: CloseError;
  private endedResolve!: (e: CloseError) => void;
  /** Resolves with why the connection ended, once it has and its stream is closed. */
  readonly closed: Promise<CloseError>;
  private counters = { sentMessages: 0, receivedMessages: 0, sentBytes: 0, receivedBytes: 0, refused: 0, dropped: 0, authFailures: 0 };

  private constructor(stream: Stream, manifest: Manifest, codec: Codec, id: number, opts: ConnectOptions, window: number, granted: number, sendCredit: number, closeTimeout: number, key?: Buffer) {
    this.stream = stream;
    this.manifest = manifest;
    this.codec = codec;
    this.id = id;
    this.opts = opts;
    this.ledger = new CreditLedger(window, granted, !!opts.pull);
    this.sendCredit = sendCredit;
    this.key = key;
    this.closeTimeout = closeTimeout;
    this.reader = new FrameReader(manifest.flow.max_message_bytes + FrameOverhead);
    let resolve!: (e: CloseError) => void;
    this.closed = new Promise((r) => (resolve = r));
    this.endedResolve = resolve;
  }

  /** open runs a DATA stream's handshake and the client's checks of its answer (§4.5). */
  static async open(client: Client, name: string, opts: ConnectOptions): Promise<Connection> {
    const want = opts.credits ?? opts.manifest?.flow.credits ?? 256;
    if (!Number.isInteger(want) || want < 1) throw new Error(`ifkit: credits must be a positive integer, not ${want}`);
    const sentHash = opts.manifest?.hash ?? '';
    const o = await client.openStream(
      { interface: name, kind: StreamKind.DATA, codecs: opts.codecs ?? ['proto', 'json', 'raw'], manifest_hash: sentHash, credits: opts.pull ? 0 : want, client: client.options.clientName ?? '', ...(opts.filter ? { filter: opts.filter } : {}) },
      opts.signal,
    );
    const r = o.result;
    const id = r.connection_id ?? 0;
    const decline = async (code: number, reason: string): Promise<never> => {
      const frame = encodeFrame({ kind: FrameKind.CLOSE, code, reason });
      o.stream.write(frame).catch(() => {});
      await o.stream.closeWrite().catch(() => {});
      setTimeout(() => o.stream.reset(), client.options.closeTimeout ?? 5000).unref();
      throw new CloseError(code, reason, false);
    };
    if (sentHash && r.manifest_hash !== sentHash) {
      return decline(Code.manifest_mismatch, `the server serves ${name} with manifest ${r.manifest_hash}, not ${sentHash} this client was built against`);
    }
    let m: Manifest;
    if (r.manifest && r.manifest.length > 0) {
      try {
        m = Manifest.load(r.manifest, r.manifest_hash);
      } catch (e) {
        return decline(Code.protocol_error, `the served manifest does not load: ${(e as Error).message}`);
      }
    } else if (opts.manifest) {
      m = opts.manifest;
    } else {
      return decline(Code.protocol_error, 'the server sent no manifest');
    }
    const codec = codecs[r.codec as CodecName];
    if (!codec) return decline(Code.unsupported_codec, `this client does not implement codec ${JSON.stringify(r.codec)}`);
    let key: Buffer | undefined;
    if (m.messageAuth) {
      if (!client.sessionKey) return decline(Code.auth_failed, 'the interface authenticates every message (message_auth: hmac-sha256) and this session ran no shared-secret exchange');
      key = messageKey(client.sessionKey, id);
    }
    const window = Math.min(want, m.flow.credits);
    const c = new Connection(o.stream, m, codec, id, opts, window, opts.pull ? 0 : window, r.credits ?? 0, client.options.closeTimeout ?? 5000, key);
    c.start(o.rest);
    return c;
  }

  private start(rest: Buffer): void {
    this.stream.on({
      data: (b) => this.onBytes(b),
      end: () => {
        if (this.ended) {
          this.finish();
          return;
        }
        const mid = this.reader.pending > 0;
        this.endWith(new CloseError(Code.transport_error, mid ? 'the stream ended in the middle of a frame' : 'the stream ended without a CLOSE frame', true), false);
        this.stream.closeWrite().catch(() => {});
        this.finish();
      },
      close: (err) => {
        if (!this.ended) {
          const keep = err instanceof YamuxError && err.keepalive;
          this.endWith(new CloseError(keep ? Code.keepalive_timeout : Code.transport_error, keep ? 'the peer stopped answering keepalives' : (err?.message ?? 'the stream closed'), false, { cause: err }), false);
        }
        this.finish();
      },
    });
    if (rest.length > 0) this.onBytes(rest);
  }

  // --- receiving ---

  private onBytes(b: Buffer): void {
    if (this.ended) return; // after CLOSE (either way) frames are not processed
    this.reader.push(b);
    try {
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        this.onFrame(f);
        if (this.ended) return;
      }
    } catch (e) {
      if (e instanceof WireError) this.fail(e.code, e.message);
      else this.fail(Code.internal, String(e));
    }
  }

  private onFrame(f: Frame): void {
    switch (f.kind) {
      case FrameKind.MESSAGE:
        return this.onMessage(f);
      case FrameKind.CREDIT: {
        const grant = Math.min(f.credits, 2 ** 40);
        if (this.sendCredit + grant > this.manifest.flow.credits) {
          return this.fail(Code.protocol_error, `a grant of ${grant} credits would hold more than flow.credits (${this.manifest.flow.credits})`);
        }
        this.sendCredit += grant;
        this.peerConsumed = f.seq;
        this.pump();
        return;
      }
      case FrameKind.ERROR: {
        const err = new RemoteError(f.code, f.reason, f.seq);
        const corr = this.seqToCorr.get(f.seq);
        const call = corr !== undefined ? this.calls.get(corr) : undefined;
        if (call) {
          this.forgetCall(corr!);
          if (call.stream) call.stream.finish(err);
          else call.reject!(err);
        } else this.opts.onRefused?.(err);
        return;
      }
      case FrameKind.END: {
        const call = this.calls.get(f.corr);
        if (!call) return;
        this.forgetCall(f.corr);
        if (call.stream) call.stream.finish();
        else call.reject!(new RemoteError(Code.internal, 'the peer ended the reply without answering'));
        return;
      }
      case FrameKind.CLOSE:
        this.endWith(new CloseError(f.code, f.reason, true), true);
        return;
    }
  }

  private onMessage(f: Frame): void {
    if (f.seq !== this.seqIn + 1) return this.fail(Code.protocol_error, `message sequence number ${f.seq} after ${this.seqIn}: a message is missing or repeated`);
    this.seqIn = f.seq;
    if (!this.ledger.arrive()) return this.fail(Code.credit_violation, `message ${f.seq} arrived without credit`);
    const body = f.body!;
    if (body.length > this.manifest.flow.max_message_bytes) return this.fail(Code.message_too_large, `message ${f.seq} has ${body.length} bytes, at most ${this.manifest.flow.max_message_bytes} allowed`);
    const t = this.manifest.send[f.typeId - 1];
    if (!t) {
      if (this.manifest.recv[f.typeId - 1]) return this.fail(Code.wrong_direction, `message ${f.seq} has type id ${f.typeId}, a type this client sends`);
      return this.fail(Code.unknown_type, `message ${f.seq} has unknown type id ${f.typeId}`);
    }
    if (f.flags & FlagAuth && !this.key) return this.fail(Code.protocol_error, `message ${f.seq} is authenticated and the interface declares no message_auth`);
    this.counters.receivedMessages++;
    this.counters.receivedBytes += body.length;
    if (this.key) {
      const want = tag(this.key, true, f);
      if (!(f.flags & FlagAuth) || !f.tag || !timingSafeEqual(f.tag, want)) {
        this.counters.authFailures++;
        this.refuse(Code.auth_failed, f.seq, 'the message\'s authentication tag is missing or wrong (message_auth: hmac-sha256); it was dropped');
        return;
      }
    }
    try {
      this.codec.check(t, body);
    } catch (e) {
      this.counters.refused++;
      this.refuse(Code.invalid_message, f.seq, (e as Error).message);
      return;
    }
    const msg = new Message(this, t, f.seq, f.corr, f.flags, body);
    if (f.flags & FlagReply) {
      const call = this.calls.get(f.corr);
      if (!call) return this.consume(); // nobody waits for it (§8.3)
      if (call.replyType !== t.name) return this.fail(Code.protocol_error, `the reply to call ${f.corr} is a ${t.name}, not a ${call.replyType}`);
      if (call.stream) call.stream.push(msg);
      else {
        this.forgetCall(f.corr);
        this.consume();
        call.resolve!(msg);
      }
      return;
    }
    const h = this.opts.handlers?.[t.name] ?? this.opts.catchAll;
    if (h) {
      this.handlerChain = this.handlerChain.then(async () => {
        try {
          await h(msg);
        } catch (e) {
          if (!this.ended) this.writeFrame(encodeFrame({ kind: FrameKind.ERROR, code: Code.internal, seq: msg.seq, reason: e instanceof Error ? e.message : String(e) }));
        }
        this.consume();
      });
      return;
    }
    this.inbox.push(msg);
    this.inboxWake?.();
  }

  private refuse(code: number, seq: number, reason: string): void {
    this.writeFrame(encodeFrame({ kind: FrameKind.ERROR, code, seq, reason }));
    this.consume();
  }

  /** consume marks one held message consumed and, in automatic mode, grants what is due (§7.3). */
  consume(): void {
    const g = this.ledger.consume();
    if (g > 0 && !this.ended) this.writeFrame(encodeFrame({ kind: FrameKind.CREDIT, credits: g, seq: this.ledger.consumed }));
  }

  /** request grants the server n more credits (pull mode) as far as the window allows; it returns how many. */
  request(n: number): number {
    if (this.ended) return 0;
    const g = this.ledger.request(n);
    if (g > 0) this.writeFrame(encodeFrame({ kind: FrameKind.CREDIT, credits: g, seq: this.ledger.consumed }));
    return g;
  }

  /** recv returns the next message no handler took; it rejects with the CloseError once the connection ended. */
  async recv(opts: { signal?: AbortSignal } = {}): Promise<Message> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) {
        this.consume();
        return m;
      }
      if (this.ended) throw this.ended;
      opts.signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        this.inboxWake = resolve;
        opts.signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      this.inboxWake = undefined;
    }
  }

  /** Iterating a connection yields its messages; it ends quietly on normal_close and throws any other end. */
  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      let m: Message;
      try {
        m = await this.recv();
      } catch (e) {
        if (e instanceof CloseError && e.code === Code.normal_close) return;
        throw e;
      }
      yield m;
    }
  }

  // --- sending ---

  /**
   * send encodes v as a message of the named type (one of the manifest's recv types) and sends it
   * under the manifest's flow policy (§7.5): block waits for credit (the promise resolves when the
   * message is written), error and drop_newest fail at once without credit, drop_oldest queues and
   * discards the oldest queued message when flow.credits are queued.
   */
  send(typeName: string, v: Value, opts?: SendOptions): Promise<void> {
    // A request type sent this way is a one-way message: corr 0, no reply (§8).
    return this.enqueueMessage(typeName, v, 0, false, opts);
  }

  /** call sends a request and resolves with its single reply. */
  call(typeName: string, v: Value, opts?: SendOptions): Promise<Message> {
    const t = this.manifest.type(typeName);
    if (!t?.reply) return Promise.reject(new Error(`ifkit: ${typeName} is not a request type`));
    if (t.reply.stream) return Promise.reject(new Error(`ifkit: ${typeName} is answered by a stream: use callStream`));
    const corr = ++this.nextCorr;
    return new Promise<Message>((resolve, reject) => {
      this.calls.set(corr, { replyType: t.reply!.type, resolve, reject });
      this.enqueueMessage(typeName, v, corr, false, opts).catch((e) => {
        this.forgetCall(corr);
        reject(e);
      });
      opts?.signal?.addEventListener('abort', () => {
        this.forgetCall(corr);
        reject(opts.signal!.reason);
      }, { once: true });
    });
  }

  /** callStream sends a request whose type is answered by a stream of replies. */
  callStream(typeName: string, v: Value, opts?: SendOptions): ReplyStream {
    const t = this.manifest.type(typeName);
    if (!t?.reply) throw new Error(`ifkit: ${typeName} is not a request type`);
    if (!t.reply.stream) throw new Error(`ifkit: ${typeName} has a single reply: use call`);
    const corr = ++this.nextCorr;
    const s = new ReplyStream(this, corr);
    this.calls.set(corr, { replyType: t.reply.type, stream: s });
    this.enqueueMessage(typeName, v, corr, false, opts).catch((e) => {
      this.forgetCall(corr);
      s.finish(e);
    });
    return s;
  }

  forgetCall(corr: number): void {
    const c = this.calls.get(corr);
    if (!c) return;
    this.calls.delete(corr);
    if (c.seq !== undefined) this.seqToCorr.delete(c.seq);
  }

  enqueueMessage(typeName: string, v: Value, corr: number, reply: boolean, opts?: SendOptions): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    const t = this.manifest.type(typeName);
    if (!t) return Promise.reject(new Error(`ifkit: ${this.manifest.name} has no message type ${JSON.stringify(typeName)}`));
    if (t.direction !== 'recv') return Promise.reject(new Error(`ifkit: wrong direction: ${typeName} is a type the server sends`));
    let body: Buffer;
    try {
      body = this.codec.encode(t, v);
    } catch (e) {
      return Promise.reject(e);
    }
    if (body.length > this.manifest.flow.max_message_bytes) {
      return Promise.reject(new Error(`ifkit: a ${typeName} of ${body.length} bytes is over flow.max_message_bytes (${this.manifest.flow.max_message_bytes})`));
    }
    const policy = this.manifest.flow.on_exhausted;
    const queued = this.outbox.filter((o) => !o.end).length;
    if (!reply && queued >= this.sendCredit) {
      if (policy === 'error') return Promise.reject(new NoCreditError());
      if (policy === 'drop_newest') {
        this.counters.dropped++;
        return Promise.reject(new DroppedError());
      }
    }
    return new Promise<void>((resolve, reject) => {
      const item: OutItem = { typeId: t.id, corr, flags: reply ? FlagReply : 0, body, reply, resolve, reject };
      if (policy === 'drop_oldest' && !reply && queued >= this.manifest.flow.credits) {
        const i = this.outbox.findIndex((o) => !o.end && !o.reply);
        if (i < 0) {
          this.counters.dropped++;
          resolve();
          return;
        }
        const [old] = this.outbox.splice(i, 1);
        this.counters.dropped++;
        old!.resolve();
      }
      this.outbox.push(item);
      if (policy === 'drop_oldest' && !reply) {
        const r = item.resolve;
        item.resolve = () => {};
        r();
      }
      opts?.signal?.addEventListener('abort', () => {
        const i = this.outbox.indexOf(item);
        if (i >= 0) {
          this.outbox.splice(i, 1);
          item.reject(opts.signal!.reason ?? new Error('aborted'));
        }
      }, { once: true });
      this.pump();
    });
  }

  enqueueEnd(corr: number): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.outbox.push({ end: true, typeId: 0, corr, flags: 0, body: Buffer.alloc(0), reply: true, resolve, reject });
      this.pump();
    });
  }

  /** pump writes queued messages while credit lasts, and END frames in their place in line. */
  private pump(): void {
    while (this.outbox.length > 0) {
      const item = this.outbox[0]!;
      if (item.end) {
        this.outbox.shift();
        this.writeFrame(encodeFrame({ kind: FrameKind.END, corr: item.corr }));
        item.resolve();
        continue;
      }
      if (this.sendCredit <= 0) return;
      this.outbox.shift();
      this.sendCredit--;
      const seq = ++this.seqOut;
      const f: Frame = { kind: FrameKind.MESSAGE, flags: item.flags, seq, typeId: item.typeId, corr: item.corr, credits: 0, code: 0, reason: '', body: item.body };
      if (this.key) {
        f.flags |= FlagAuth;
        f.tag = tag(this.key, false, f);
      }
      if (item.corr !== 0 && !item.reply) {
        const call = this.calls.get(item.corr);
        if (call) {
          call.seq = seq;
          this.seqToCorr.set(seq, item.corr);
        }
      }
      this.counters.sentMessages++;
      this.counters.sentBytes += item.body.length;
      this.writeFrame(encodeFrame(f));
      item.resolve();
    }
  }

  private writeFrame(b: Buffer): void {
    this.stream.write(b).catch(() => {});
  }

  // --- ending ---

  /** close ends the connection normally: credited messages are sent, then CLOSE with reason (§11.1). */
  async close(reason = ''): Promise<CloseError> {
    this.fail(Code.normal_close, reason);
    return this.closed;
  }

  /** The reason the connection ended, or undefined while it is open. */
  get err(): CloseError | undefined {
    return this.ended;
  }

  /** fail ends the connection from this side with code: flush credited messages, CLOSE, FIN, wait for the peer's FIN. */
  private fail(code: number, reason: string): void {
    if (this.ended) return;
    this.endWith(new CloseError(code, reason, false), false);
    this.writeFrame(encodeFrame({ kind: FrameKind.CLOSE, code, reason }));
    this.stream.closeWrite().catch(() => {});
    const t = setTimeout(() => this.stream.reset(), this.closeTimeout);
    t.unref();
    this.closed.then(() => clearTimeout(t));
  }

  /** endWith records the end, fails what waits, writes what credit allows and drops the rest. */
  private endWith(e: CloseError, remote: boolean): void {
    if (this.ended) return;
    this.pump();
    this.ended = e;
    for (const item of this.outbox.splice(0)) item.reject(e);
    for (const [corr, c] of [...this.calls]) {
      this.forgetCall(corr);
      if (c.stream) c.stream.finish(e);
      else c.reject!(e);
    }
    this.inboxWake?.();
    if (remote) this.stream.closeWrite().catch(() => {});
    if (this.stream.isClosed) this.finish();
  }

  private finish(): void {
    if (this.ended) this.endedResolve(this.ended);
  }

  /** stats returns this end's counters. */
  stats(): LocalStats {
    return {
      connectionId: this.id,
      interface: this.manifest.name,
      ...this.counters,
      creditsHeld: this.sendCredit,
      creditsGranted: this.ledger.granted,
      queued: this.outbox.length,
      peerConsumed: this.peerConsumed,
    };
  }
}

/** tag computes a MESSAGE's authentication tag (§12). */
export function tag(key: Buffer, fromServer: boolean, f: Pick<Frame, 'seq' | 'typeId' | 'corr' | 'flags' | 'body'>): Buffer {
  const head = Buffer.alloc(22);
  head[0] = fromServer ? 1 : 2;
  head.writeBigUInt64BE(BigInt(f.seq), 1);
  head.writeUInt32BE(f.typeId, 9);
  head.writeBigUInt64BE(BigInt(f.corr), 13);
  head[21] = f.flags & FlagReply;
  return createHmac('sha256', key).update(head).update(f.body ?? Buffer.alloc(0)).digest().subarray(0, AuthTagLen);
}
