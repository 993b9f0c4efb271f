// A served manifest: the canonical form of spec/MANIFEST.md §12 as a server sends it, loaded into
// what the data plane needs (type ids, flow, codecs) and the codecs' checks (protobuf descriptors,
// JSON Schemas). Nothing is generated: the manifest describes itself.

import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

// ajv-formats is CommonJS whose module.exports is the plugin.
const addFormats = createRequire(import.meta.url)('ajv-formats') as typeof import('ajv-formats').default;
const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(d: unknown): protobuf.Root }).fromDescriptor;

export type Direction = 'send' | 'recv' | 'duplex';
export type OnExhausted = 'block' | 'error' | 'drop_newest' | 'drop_oldest';

export interface Flow {
  credits: number;
  max_message_bytes: number;
  on_exhausted: OnExhausted;
}

export interface MessageType {
  name: string;
  /** Who sends it, from the server's side: 'send' (server → client) or 'recv' (client → server). */
  direction: 'send' | 'recv';
  /** Its 1-based id among its direction's types (§6.4). */
  id: number;
  description?: string;
  proto?: string;
  schema?: unknown;
  examples: unknown[];
  reply?: { type: string; stream: boolean };
  /** The protobuf message type, when the type names one. */
  protoType?: protobuf.Type;
  /** The JSON Schema check, when the type has a schema. */
  validate?: ValidateFunction;
}

/** sha256Hash returns the content hash of canonical bytes (MANIFEST.md §12.5). */
export function sha256Hash(canonical: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(canonical).digest('hex');
}

export class Manifest {
  readonly name: string;
  readonly version: string;
  readonly title?: string;
  readonly description?: string;
  readonly direction: Direction;
  readonly codecs: string[];
  readonly control: string[];
  readonly flow: Flow;
  readonly messageAuth: boolean;
  readonly metadata?: Record<string, unknown>;
  readonly send: MessageType[];
  readonly recv: MessageType[];
  readonly hash: string;
  readonly canonical: Buffer;
  readonly root?: protobuf.Root;
  private byName = new Map<string, MessageType>();

  /**
   * load loads a canonical manifest. With expectedHash, its bytes must hash to it (a server that
   * sends a manifest under another hash is not trusted).
   */
  static load(canonical: Uint8Array, expectedHash?: string): Manifest {
    const hash = sha256Hash(canonical);
    if (expectedHash !== undefined && expectedHash !== hash) {
      throw new Error(`the manifest's bytes hash to ${hash}, not the ${expectedHash} the server named`);
    }
    return new Manifest(Buffer.from(canonical), hash);
  }

  private constructor(canonical: Buffer, hash: string) {
    const v = JSON.parse(canonical.toString('utf8'));
    if (v.ifkit !== 1) throw new Error(`manifest: ifkit format ${JSON.stringify(v.ifkit)} is not 1`);
    this.canonical = canonical;
    this.hash = hash;
    this.name = v.name;
    this.version = v.version;
    this.title = v.title;
    this.description = v.description;
    this.direction = v.direction;
    this.codecs = v.codecs ?? [];
    this.control = v.control ?? [];
    this.flow = { credits: 256, max_message_bytes: 65536, on_exhausted: 'block', ...v.flow };
    this.messageAuth = v.message_auth === 'hmac-sha256';
    this.metadata = v.metadata;
    if (typeof v.descriptors === 'string' && v.descriptors.length > 0) {
      const set = descriptor.FileDescriptorSet.decode(Buffer.from(v.descriptors, 'base64'));
      const root = fromDescriptor(set);
      root.resolveAll();
      this.root = root;
    }
    let ajv: Ajv2020 | undefined;
    const load = (dir: 'send' | 'recv'): MessageType[] => {
      const types = v.messages?.[dir] ?? {};
      const names = Object.keys(types).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      return names.map((name, i) => {
        const t = types[name];
        const mt: MessageType = { name, direction: dir, id: i + 1, description: t.description, proto: t.proto, schema: t.schema, examples: t.examples ?? [], reply: t.reply && { type: t.reply.type, stream: !!t.reply.stream } };
        if (t.proto) {
          if (!this.root) throw new Error(`manifest: ${name} names proto ${t.proto} and the manifest has no descriptors`);
          mt.protoType = this.root.lookupType(t.proto);
        }
        if (t.schema !== undefined) {
          ajv ??= newAjv();
          mt.validate = ajv.compile(t.schema as object);
        }
        this.byName.set(name, mt);
        return mt;
      });
    };
    this.send = load('send');
    this.recv = load('recv');
  }

  /** type returns a message type by name. */
  type(name: string): MessageType | undefined {
    return this.byName.get(name);
  }

  offers(op: string): boolean {
    return this.control.includes(op);
  }
}

function newAjv() {
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: true });
  addFormats(ajv);
  return ajv;
}
