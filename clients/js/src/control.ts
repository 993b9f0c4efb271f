// The control sub-interface (spec/PROTOCOL.md §10): requests and their responses, matched by id,
// and the server's notifications, on one CONTROL stream.

import { Code, RemoteError, IfkitError } from './codes.js';
import { ControlFrame, decode, encode } from './pb.js';
import { ld, LDReader } from './wire.js';
import { Manifest, sha256Hash } from './manifest.js';
import type { Stream } from './yamux.js';
import type { Counters } from './conn.js';

const ControlMax = 32 << 20;
const NotificationBuffer = 64;

export interface InterfaceInfo {
  name: string;
  version: string;
  title: string;
  direction: string;
  manifestHash: string;
}

export interface ManifestResult {
  hash: string;
  notModified: boolean;
  /** The manifest, loaded and checked against hash (absent when notModified). */
  manifest?: Manifest;
}

/** The server's counters of a connection (§10.2). */
export interface ConnStats extends Counters {
  paused: boolean;
  uptimeMs: number;
  /** Messages the connection's filter selected (sent), and those it did not (never sent). */
  matched: number;
  filteredOut: number;
}

/** Notification is one server event (§10.3), with its kind in `type`. */
export type Notification =
  | { type: 'draining'; deadlineUnixMs: number }
  | { type: 'interfaces_changed'; added: string[]; removed: string[] }
  | { type: 'manifest_changed'; interface: string; hash: string }
  | { type: 'connection_closed'; connectionId: number; code: number; reason: string; interface: string }
  | { type: 'connection_opened'; connectionId: number; interface: string; codec: string; client: string }
  | { type: 'notifications_lost'; count: number };

function toNotification(n: Record<string, any>): Notification | undefined {
  if (n.draining) return { type: 'draining', deadlineUnixMs: n.draining.deadline_unix_ms ?? 0 };
  if (n.interfaces_changed) return { type: 'interfaces_changed', added: n.interfaces_changed.added ?? [], removed: n.interfaces_changed.removed ?? [] };
  if (n.manifest_changed) return { type: 'manifest_changed', interface: n.manifest_changed.interface ?? '', hash: n.manifest_changed.hash ?? '' };
  if (n.connection_closed) {
    const c = n.connection_closed;
    return { type: 'connection_closed', connectionId: c.connection_id ?? 0, code: c.code ?? 0, reason: c.reason ?? '', interface: c.interface ?? '' };
  }
  if (n.connection_opened) {
    const c = n.connection_opened;
    return { type: 'connection_opened', connectionId: c.connection_id ?? 0, interface: c.interface ?? '', codec: c.codec ?? '', client: c.client ?? '' };
  }
  if (n.notifications_lost) return { type: 'notifications_lost', count: n.notifications_lost.count ?? 0 };
  return undefined; // an event this client does not know
}

export class Control {
  private reader = new LDReader(ControlMax);
  private nextId = 0;
  private waiting = new Map<number, { resolve: (r: Record<string, any>) => void; reject: (e: Error) => void }>();
  private notes: Notification[] = [];
  private lost = 0;
  private noteWake?: () => void;
  private listeners: ((n: Notification) => void)[] = [];
  private ended?: Error;

  constructor(
    private stream: Stream,
    rest: Buffer,
    /** The stream's interface ('' for a standalone stream). */
    readonly interfaceName: string,
    /** The interface's manifest hash, when the stream named one. */
    readonly manifestHash?: string,
  ) {
    stream.on({
      data: (b) => this.onBytes(b),
      end: () => {
        this.stop(new IfkitError(Code.transport_error, 'the server closed the control stream'));
        stream.closeWrite().catch(() => {});
      },
      close: (e) => this.stop(e ?? new IfkitError(Code.transport_error, 'the control stream closed')),
    });
    if (rest.length > 0) this.onBytes(rest);
  }

  private onBytes(b: Buffer): void {
    this.reader.push(b);
    try {
      for (let m = this.reader.next(); m; m = this.reader.next()) {
        const f = decode(ControlFrame, m);
        if (f.response) {
          const w = this.waiting.get(f.response.id ?? 0);
          if (w) {
            this.waiting.delete(f.response.id ?? 0);
            w.resolve(f.response);
          }
        } else if (f.notification) {
          const n = toNotification(f.notification);
          if (n) this.deliver(n);
        }
      }
    } catch (e) {
      this.stream.reset();
      this.stop(e as Error);
    }
  }

  private deliver(n: Notification): void {
    for (const l of this.listeners) l(n);
    if (this.notes.length >= NotificationBuffer) {
      // Buffer 64; beyond, count what was lost and tell the reader in their place (§10.3).
      this.lost += n.type === 'notifications_lost' ? n.count : 1;
      return;
    }
    if (this.lost > 0 && this.notes.length < NotificationBuffer) {
      this.notes.push({ type: 'notifications_lost', count: this.lost });
      this.lost = 0;
    }
    this.notes.push(n);
    this.noteWake?.();
  }

  private stop(e: Error): void {
    if (this.ended) return;
    this.ended = e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
    this.noteWake?.();
  }

  /** onNotification calls f for every notification as it arrives. */
  onNotification(f: (n: Notification) => void): void {
    this.listeners.push(f);
  }

  /** notifications yields notifications (64 buffered; a notifications_lost stands for those dropped) until the stream ends. */
  async *notifications(): AsyncGenerator<Notification> {
    for (;;) {
      const n = this.notes.shift();
      if (n) {
        yield n;
        continue;
      }
      if (this.lost > 0) {
        const count = this.lost;
        this.lost = 0;
        yield { type: 'notifications_lost', count };
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.noteWake = r));
      this.noteWake = undefined;
    }
  }

  /** request sends one request and resolves with the response's result; a non-zero code is a RemoteError. */
  async request(op: Record<string, unknown>): Promise<Record<string, any>> {
    if (this.ended) throw this.ended;
    const id = ++this.nextId;
    const p = new Promise<Record<string, any>>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    await this.stream.write(ld(encode(ControlFrame, { request: { id, ...op } })));
    const r = await p;
    if (r.code) throw new RemoteError(r.code, r.reason ?? '');
    return r;
  }

  async list(): Promise<InterfaceInfo[]> {
    const r = await this.request({ list: {} });
    return (r.interfaces?.interfaces ?? []).map((i: Record<string, string>) => ({ name: i.name ?? '', version: i.version ?? '', title: i.title ?? '', direction: i.direction ?? '', manifestHash: i.manifest_hash ?? '' }));
  }

  /** manifest fetches a manifest ('' : the stream's interface) and checks that its bytes hash to the served hash. */
  async manifest(name = '', knownHash = ''): Promise<ManifestResult> {
    const r = await this.request({ manifest: { interface: name, known_hash: knownHash } });
    const m = r.manifest ?? {};
    if (m.not_modified) return { hash: m.hash, notModified: true };
    const canonical: Buffer = m.canonical ?? Buffer.alloc(0);
    const got = sha256Hash(canonical);
    if (got !== m.hash) throw new IfkitError(Code.manifest_mismatch, `the server's manifest of ${name || this.interfaceName} hashes to ${got}, not the ${m.hash} it named`);
    return { hash: m.hash, notModified: false, manifest: Manifest.load(canonical, m.hash) };
  }

  async ping(payload: Uint8Array = Buffer.alloc(0)): Promise<Buffer> {
    const r = await this.request({ ping: { payload } });
    return r.pong ?? Buffer.alloc(0);
  }

  async stats(connectionId = 0): Promise<ConnStats> {
    const s = (await this.request({ stats: { connection_id: connectionId } })).stats ?? {};
    return {
      connectionId: s.connection_id ?? 0,
      interface: s.interface ?? '',
      sentMessages: s.sent_messages ?? 0,
      receivedMessages: s.received_messages ?? 0,
      sentBytes: s.sent_bytes ?? 0,
      receivedBytes: s.received_bytes ?? 0,
      refused: s.refused ?? 0,
      dropped: s.dropped ?? 0,
      creditsHeld: s.credits_held ?? 0,
      creditsGranted: s.credits_granted ?? 0,
      queued: s.queued ?? 0,
      paused: !!s.paused,
      uptimeMs: s.uptime_ms ?? 0,
      authFailures: s.auth_failures ?? 0,
      matched: s.matched ?? 0,
      filteredOut: s.filtered_out ?? 0,
    };
  }

  async pause(connectionId = 0): Promise<void> {
    await this.request({ pause: { connection_id: connectionId } });
  }

  async resume(connectionId = 0): Promise<void> {
    await this.request({ resume: { connection_id: connectionId } });
  }

  async reset(position = '', connectionId = 0): Promise<void> {
    await this.request({ reset: { connection_id: connectionId, position } });
  }

  /** setFilter replaces a connection's filter (§10.2); all empty: no filter. */
  async setFilter(filter: { type?: string; cel?: string; structured?: string }, connectionId = 0): Promise<void> {
    await this.request({ filter: { connection_id: connectionId, ...filter } });
  }

  /** closeConnection asks the server to end a connection with normal_close and reason. */
  async closeConnection(reason = '', connectionId = 0): Promise<void> {
    await this.request({ close: { connection_id: connectionId, reason } });
  }

  /** close closes the control stream (FIN); the connection it may be attached to goes on. */
  async close(): Promise<void> {
    if (this.ended) return;
    await this.stream.closeWrite().catch(() => {});
    const t = setTimeout(() => this.stream.reset(), 5000);
    t.unref();
  }
}
