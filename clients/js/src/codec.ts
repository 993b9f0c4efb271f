// The codecs of spec/MANIFEST.md §7: proto (protobuf binary), json (UTF-8 JSON, checked against
// the type's JSON Schema, else its protobuf JSON mapping) and raw (bytes as they are).

import protobuf from 'protobufjs';
import type { MessageType } from './manifest.js';
import { fromJSON, toJSON } from './protojson.js';

export type CodecName = 'proto' | 'json' | 'raw';
export const codecNames: CodecName[] = ['proto', 'json', 'raw'];

export class CodecError extends Error {}

/**
 * A value a caller sends: a Buffer or Uint8Array is the encoded body as it is (for json, JSON
 * text); anything else is a JSON value (for proto, in protobuf's JSON mapping).
 */
export type Value = unknown;

export interface Codec {
  name: CodecName;
  encode(t: MessageType, v: Value): Buffer;
  /** check throws a CodecError when body is not a valid message of t. */
  check(t: MessageType, body: Buffer): void;
  decode(t: MessageType, body: Buffer): unknown;
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function schemaErrors(t: MessageType): string {
  const e = t.validate?.errors?.[0];
  if (!e) return 'does not satisfy the schema';
  return `${e.instancePath || '/'}: ${e.message}`;
}

const json: Codec = {
  name: 'json',
  encode(t, v) {
    const b = isBytes(v) ? Buffer.from(v) : Buffer.from(JSON.stringify(v), 'utf8');
    this.check(t, b);
    return b;
  },
  check(t, body) {
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new CodecError(`${t.name}: not valid JSON: ${(e as Error).message}`);
    }
    if (t.validate) {
      if (!t.validate(v)) throw new CodecError(`${t.name}: ${schemaErrors(t)}`);
    } else if (t.protoType) {
      try {
        const m = t.protoType.fromObject(fromJSON(t.protoType, v));
        const err = t.protoType.verify(m);
        if (err) throw new Error(err);
      } catch (e) {
        throw new CodecError(`${t.name}: ${(e as Error).message}`);
      }
    }
  },
  decode(_t, body) {
    return JSON.parse(body.toString('utf8'));
  },
};

const proto: Codec = {
  name: 'proto',
  encode(t, v) {
    if (isBytes(v)) {
      const b = Buffer.from(v);
      this.check(t, b);
      return b;
    }
    if (!t.protoType) throw new CodecError(`${t.name}: no protobuf message type for the proto codec`);
    try {
      return Buffer.from(t.protoType.encode(t.protoType.fromObject(fromJSON(t.protoType, v))).finish());
    } catch (e) {
      throw new CodecError(`${t.name}: ${(e as Error).message}`);
    }
  },
  check(t, body) {
    if (!t.protoType) return;
    try {
      t.protoType.decode(body);
    } catch (e) {
      throw new CodecError(`${t.name}: not a valid ${t.protoType.name}: ${(e as Error).message}`);
    }
  },
  decode(t, body) {
    if (!t.protoType) return body;
    return toJSON(t.protoType, t.protoType.decode(body) as protobuf.Message);
  },
};

const raw: Codec = {
  name: 'raw',
  encode(_t, v) {
    if (isBytes(v)) return Buffer.from(v);
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    throw new CodecError('the raw codec sends bytes: pass a Buffer, a Uint8Array or a string');
  },
  check() {},
  decode(_t, body) {
    return body;
  },
};

export const codecs: Record<CodecName, Codec> = { proto, json, raw };
